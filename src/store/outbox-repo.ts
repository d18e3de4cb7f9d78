import type Database from 'better-sqlite3';

/**
 * Every action the outbox carries, with the kind of message it is: the kind says which consumer
 * the answer goes to. Transaction messages are bound to a local transaction (their transactionId
 * is filled in at send time); the security extension's messages (security events, a signed
 * update's statuses, a GetLog's outcome) and the Firmware Management profile's (a GetDiagnostics'
 * outcome) must reach the central system as surely, but their answers carry nothing.
 */
export const KIND_OF = {
  StartTransaction: 'transaction',
  StopTransaction: 'transaction',
  MeterValues: 'transaction',
  SecurityEventNotification: 'security',
  SignedFirmwareStatusNotification: 'security',
  LogStatusNotification: 'security',
  DiagnosticsStatusNotification: 'firmware',
} as const;

export type QueuedAction = keyof typeof KIND_OF;
export type MessageKind = (typeof KIND_OF)[QueuedAction];

export interface OutboxEntry {
  /** Delivery order: AUTOINCREMENT, so a seq is never reused even after the row is gone. */
  seq: number;
  kind: MessageKind;
  action: QueuedAction;
  /** Only a transaction message has one: the local transaction it belongs to. */
  localTxId?: number;
  payload: Record<string, unknown>;
  /** Failed transmissions so far (not counting those refused for want of a connection). */
  attempts: number;
  /** Epoch milliseconds before which the next transmission must not happen; 0 = at once. */
  nextAttemptAt: number;
  createdAt: string;
}

/** A message given up on. `nextAttemptAt` is always 0: there is no next attempt. */
export interface DeadLetter extends OutboxEntry {
  lastError: string;
  failedAt: string;
}

interface OutboxRow {
  seq: number;
  kind: MessageKind;
  action: QueuedAction;
  local_tx_id: number | null;
  payload: string;
  attempts: number;
  next_attempt_at: number;
  created_at: string;
}

interface DeadLetterRow extends OutboxRow {
  last_error: string;
  failed_at: string;
}

const COLUMNS = 'seq, kind, action, local_tx_id, payload, attempts, next_attempt_at, created_at';
/** A dead letter read as an entry (it has no next attempt) with why and when it failed. */
const DEAD_LETTER_COLUMNS =
  'seq, kind, action, local_tx_id, payload, attempts, 0 AS next_attempt_at, created_at, last_error, failed_at';

/**
 * The SQL of the outbox: messages of every kind in one queue, in one order. Every statement that runs per delivered message goes
 * through the primary key (seq), so draining a long queue costs the same per message whatever
 * its length.
 */
export class OutboxRepo {
  private readonly insertRow: Database.Statement<
    [MessageKind, QueuedAction, number | null, string, string],
    OutboxRow
  >;
  private readonly selectHead: Database.Statement<[], OutboxRow>;
  private readonly selectAll: Database.Statement<[], OutboxRow>;
  private readonly selectFirst: Database.Statement<[number], OutboxRow>;
  private readonly selectNewestDead: Database.Statement<[number], DeadLetterRow>;
  private readonly countDead: Database.Statement<[], { n: number }>;
  private readonly requeueTx: Database.Transaction<() => number>;
  private readonly pruneTx: Database.Transaction<(failedBefore: string, keep: number) => number>;
  private readonly countRows: Database.Statement<[], { n: number }>;
  private readonly updateSchedule: Database.Statement<[number, number, number]>;
  private readonly deleteRow: Database.Statement<[number]>;
  private readonly copyToDeadLetter: Database.Statement<[number, string, string, number]>;
  private readonly selectDeadLetters: Database.Statement<[], DeadLetterRow>;
  private readonly selectDeadStart: Database.Statement<[number], { seq: number }>;
  private readonly completeTx: Database.Transaction<(seq: number, hook: () => void) => void>;
  private readonly moveTx: Database.Transaction<
    (seq: number, attempts: number, lastError: string, failedAt: string) => boolean
  >;

  constructor(db: Database.Database) {
    this.insertRow = db.prepare(
      `INSERT INTO outbox (kind, action, local_tx_id, payload, created_at) VALUES (?, ?, ?, ?, ?)
       RETURNING ${COLUMNS}`,
    );
    this.selectHead = db.prepare(`SELECT ${COLUMNS} FROM outbox ORDER BY seq LIMIT 1`);
    this.selectAll = db.prepare(`SELECT ${COLUMNS} FROM outbox ORDER BY seq`);
    this.countRows = db.prepare('SELECT COUNT(*) AS n FROM outbox');
    this.selectFirst = db.prepare(`SELECT ${COLUMNS} FROM outbox ORDER BY seq LIMIT ?`);
    this.selectNewestDead = db.prepare(
      `SELECT * FROM (SELECT ${DEAD_LETTER_COLUMNS} FROM outbox_dead_letter ORDER BY seq DESC LIMIT ?)
       ORDER BY seq`,
    );
    this.countDead = db.prepare('SELECT COUNT(*) AS n FROM outbox_dead_letter');
    // Back under their own seq: ahead of everything queued since, in the order they were first queued,
    // so a StartTransaction again precedes the MeterValues and StopTransaction of its transaction.
    // A dead letter whose transaction row is gone cannot be bound to it again and stays where it is.
    const requeue = db.prepare(
      `INSERT INTO outbox (seq, kind, action, local_tx_id, payload, attempts, next_attempt_at, created_at)
       SELECT seq, kind, action, local_tx_id, payload, 0, 0, created_at FROM outbox_dead_letter
       WHERE local_tx_id IS NULL OR local_tx_id IN (SELECT local_id FROM transactions)`,
    );
    const dropRequeued = db.prepare('DELETE FROM outbox_dead_letter WHERE seq IN (SELECT seq FROM outbox)');
    this.requeueTx = db.transaction(() => {
      const moved = requeue.run().changes;
      dropRequeued.run();
      return moved;
    });
    const pruneOld = db.prepare('DELETE FROM outbox_dead_letter WHERE failed_at < ?');
    const pruneBeyond = db.prepare(
      'DELETE FROM outbox_dead_letter WHERE seq < (SELECT seq FROM outbox_dead_letter ORDER BY seq DESC LIMIT 1 OFFSET ?)',
    );
    this.pruneTx = db.transaction((failedBefore: string, keep: number) => {
      return pruneOld.run(failedBefore).changes + pruneBeyond.run(Math.max(0, keep - 1)).changes;
    });
    this.updateSchedule = db.prepare('UPDATE outbox SET attempts = ?, next_attempt_at = ? WHERE seq = ?');
    this.deleteRow = db.prepare('DELETE FROM outbox WHERE seq = ?');
    // Copied from the stored row, not from what the caller holds: the dead letter is exactly the message
    // that was queued.
    this.copyToDeadLetter = db.prepare(
      `INSERT INTO outbox_dead_letter
         (seq, kind, action, local_tx_id, payload, attempts, last_error, created_at, failed_at)
       SELECT seq, kind, action, local_tx_id, payload, ?, ?, created_at, ? FROM outbox WHERE seq = ?`,
    );
    this.selectDeadLetters = db.prepare(`SELECT ${DEAD_LETTER_COLUMNS} FROM outbox_dead_letter ORDER BY seq`);
    this.selectDeadStart = db.prepare(
      "SELECT seq FROM outbox_dead_letter WHERE action = 'StartTransaction' AND local_tx_id = ? LIMIT 1",
    );
    this.completeTx = db.transaction((seq: number, hook: () => void) => {
      hook();
      this.deleteRow.run(seq);
    });
    this.moveTx = db.transaction((seq: number, attempts: number, lastError: string, failedAt: string) => {
      if (this.copyToDeadLetter.run(attempts, lastError, failedAt, seq).changes === 0) return false;
      this.deleteRow.run(seq);
      return true;
    });
  }

  /**
   * Commits before it returns (autocommit, or the caller's enclosing transaction). The kind follows
   * from the action; only a transaction message may name a local transaction (the table checks it too).
   */
  add(
    action: QueuedAction,
    payload: Record<string, unknown>,
    localTxId: number | undefined,
    createdAt: string,
  ): OutboxEntry {
    const kind = KIND_OF[action];
    if (localTxId !== undefined && kind !== 'transaction') {
      throw new RangeError(`${action} is not a transaction message: it cannot belong to a transaction`);
    }
    const row = this.insertRow.get(kind, action, localTxId ?? null, JSON.stringify(payload), createdAt);
    if (!row) throw new Error('outbox insert returned no row');
    return toEntry(row);
  }

  /** The oldest queued message. */
  head(): OutboxEntry | undefined {
    const row = this.selectHead.get();
    return row === undefined ? undefined : toEntry(row);
  }

  all(): OutboxEntry[] {
    return this.selectAll.all().map(toEntry);
  }

  count(): number {
    return this.countRows.get()?.n ?? 0;
  }

  /** The first `limit` queued messages, in delivery order: a long queue is never read whole. */
  first(limit: number): OutboxEntry[] {
    return this.selectFirst.all(limit).map(toEntry);
  }

  /** The newest `limit` dead letters, oldest first. */
  newestDeadLetters(limit: number): DeadLetter[] {
    return this.selectNewestDead.all(limit).map(toDeadLetter);
  }

  deadLetterCount(): number {
    return this.countDead.get()?.n ?? 0;
  }

  /** Moves the dead letters back into the queue with fresh attempts; how many moved. */
  requeueDeadLetters(): number {
    return this.requeueTx.immediate();
  }

  /** Deletes dead letters that failed before `failedBefore` (ISO) and all but the newest `keep`; how many went. */
  pruneDeadLetters(failedBefore: string, keep: number): number {
    return this.pruneTx.immediate(failedBefore, keep);
  }

  schedule(seq: number, attempts: number, nextAttemptAt: number): void {
    this.updateSchedule.run(attempts, nextAttemptAt, seq);
  }

  /**
   * Runs `hook` and deletes the row in one write transaction: if the hook throws, both its writes
   * and the delete are rolled back and the exception propagates.
   */
  complete(seq: number, hook: () => void): void {
    this.completeTx.immediate(seq, hook);
  }

  /** Insert into the dead letters and delete from the queue, atomically. False if the row was gone. */
  moveToDeadLetter(seq: number, attempts: number, lastError: string, failedAt: string): boolean {
    return this.moveTx.immediate(seq, attempts, lastError, failedAt);
  }

  deadLetters(): DeadLetter[] {
    return this.selectDeadLetters.all().map(toDeadLetter);
  }

  /** The seq of a dead-lettered StartTransaction of this local transaction, if there is one. */
  deadLetteredStart(localTxId: number): number | undefined {
    return this.selectDeadStart.get(localTxId)?.seq;
  }
}

function toDeadLetter(row: DeadLetterRow): DeadLetter {
  return { ...toEntry(row), lastError: row.last_error, failedAt: row.failed_at };
}

function toEntry(row: OutboxRow): OutboxEntry {
  const entry: OutboxEntry = {
    seq: row.seq,
    kind: row.kind,
    action: row.action,
    payload: JSON.parse(row.payload) as Record<string, unknown>,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    createdAt: row.created_at,
  };
  if (row.local_tx_id !== null) entry.localTxId = row.local_tx_id;
  return entry;
}
