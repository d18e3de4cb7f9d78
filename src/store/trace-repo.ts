import type Database from 'better-sqlite3';
import { Sqlite } from '../commonjs.js';
import { type Store, WAL_SIZE_LIMIT_BYTES } from './database.js';

export type TraceDirection = 'in' | 'out';

/** One OCPP frame as the trace keeps it. `text` is already redacted. */
export interface TraceEntry {
  /** Grows by one per frame; a follower resumes after the last seq it saw. */
  seq: number;
  /** Epoch milliseconds. */
  at: number;
  direction: TraceDirection;
  /** 2 CALL, 3 CALLRESULT, 4 CALLERROR; absent for a frame that is not OCPP-J. */
  messageType?: number;
  /** A CALL's action; for an answer, the action of the CALL it answers, when known. */
  action?: string;
  messageId?: string;
  text: string;
}

export interface TraceQuery {
  /** Only frames of this action (any case). */
  action?: string;
  /** The newest `limit` matching frames. */
  limit: number;
}

interface TraceRow {
  seq: number;
  at: number;
  direction: TraceDirection;
  message_type: number | null;
  action: string | null;
  message_id: string | null;
  text: string;
}

/**
 * WAL pages after which the trace's own commit checkpoints (PASSIVE). The trace checkpoints in
 * the link's quiet moments (`TraceConnection.checkpoint`, ocpp/trace.ts), so this only bounds the
 * WAL of a flood that leaves none: a checkpoint (two syncs) per 2 MB of WAL. Below the store
 * connection's mark (SQLite's default, 1000 pages), so that it is the trace's write, off the
 * message path, that folds a WAL the trace filled, not a commit a call's answer waits for.
 */
const TRACE_AUTOCHECKPOINT_PAGES = 512;

/** Pages the trace connection may cache: it only appends and reads recent rows. */
const TRACE_CACHE_PAGES = 64;

/**
 * A second connection to the store's file for the frame trace. The trace is diagnostic, written
 * on every frame, and must not pay the fsync per commit that `synchronous=FULL` costs the
 * transaction data: with WAL, NORMAL makes a commit a plain write, still safe from corruption
 * (the WAL is synced before each checkpoint); a power cut may lose the last frames, nothing more.
 * An in-memory store cannot be shared, so the trace then uses the store's own connection.
 */
export function openTraceConnection(store: Pick<Store, 'db' | 'path'>): TraceConnection {
  if (store.path === ':memory:') return traceConnection(store.db, () => {}, false);
  const db = new Sqlite(store.path, { timeout: 2000 });
  db.pragma('synchronous = NORMAL');
  db.pragma(`cache_size = ${TRACE_CACHE_PAGES}`);
  db.pragma(`wal_autocheckpoint = ${TRACE_AUTOCHECKPOINT_PAGES}`);
  db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
  return traceConnection(
    db,
    () => {
      if (db.open) db.close();
    },
    true,
  );
}

/** The trace's connection as its user needs it: the raw database stays in the store layer. */
export interface TraceConnection {
  /** False once this connection (or, in memory, the store's) has been closed. */
  isOpen(): boolean;
  /** Folds the WAL into the database file as far as no reader needs it (PASSIVE), syncing both. */
  checkpoint(): void;
  repo(maxFrames: number, maxBytes: number): TraceRepo;
  close(): void;
}

function traceConnection(db: Database.Database, close: () => void, onFile: boolean): TraceConnection {
  return {
    isOpen: () => db.open,
    checkpoint: () => {
      if (onFile && db.open) db.pragma('wal_checkpoint(PASSIVE)');
    },
    repo: (maxFrames, maxBytes) => new TraceRepo(db, maxFrames, maxBytes),
    close,
  };
}

/**
 * The `ocpp_trace` table as a ring of the newest `maxFrames` frames holding at most `maxBytes` of
 * text (the newest frame always stays). A batch's inserts and the removal of what falls out of the
 * ring are one SQL transaction, through the rowid, so the table never holds more than the ring and
 * each frame costs the same however full it is; the ring is trimmed once per batch, not per frame
 * (the same rows go: always the oldest). The byte total is kept in memory, counted from the table
 * at open and after a failed write.
 */
export class TraceRepo {
  private readonly insertRow: Database.Statement<
    [number, TraceDirection, number | null, string | null, string | null, string]
  >;
  private readonly trimRows: Database.Statement<[number], { n: number }>;
  private readonly trimOldest: Database.Statement<[number], { n: number }>;
  private readonly sumBytes: Database.Statement<[], { n: number }>;
  private bytes: number;
  private readonly appendTx: Database.Transaction<
    (entries: ReadonlyArray<Omit<TraceEntry, 'seq'>>) => number[]
  >;
  private readonly selectAfter: Database.Statement<[number, number], TraceRow>;
  private readonly selectAfterOfAction: Database.Statement<[number, string, number], TraceRow>;
  private readonly selectNth: Database.Statement<[number], { seq: number }>;
  private readonly selectNthOfAction: Database.Statement<[string, number], { seq: number }>;
  private readonly selectLast: Database.Statement<[], { seq: number | null }>;
  private readonly countRows: Database.Statement<[], { n: number }>;

  constructor(
    db: Database.Database,
    private readonly maxFrames: number,
    private readonly maxBytes: number,
  ) {
    this.insertRow = db.prepare(
      'INSERT INTO ocpp_trace (at, direction, message_type, action, message_id, text) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.trimRows = db.prepare(
      'DELETE FROM ocpp_trace WHERE seq <= ? RETURNING length(CAST(text AS BLOB)) AS n',
    );
    this.trimOldest = db.prepare(
      `DELETE FROM ocpp_trace WHERE seq = (SELECT MIN(seq) FROM ocpp_trace) AND seq < ?
       RETURNING length(CAST(text AS BLOB)) AS n`,
    );
    this.sumBytes = db.prepare('SELECT COALESCE(SUM(length(CAST(text AS BLOB))), 0) AS n FROM ocpp_trace');
    this.bytes = this.sumBytes.get()!.n;
    this.appendTx = db.transaction((entries: ReadonlyArray<Omit<TraceEntry, 'seq'>>) => {
      const seqs = entries.map((entry) => {
        this.bytes += Buffer.byteLength(entry.text);
        return Number(
          this.insertRow.run(
            entry.at,
            entry.direction,
            entry.messageType ?? null,
            entry.action ?? null,
            entry.messageId ?? null,
            entry.text,
          ).lastInsertRowid,
        );
      });
      const newest = seqs.at(-1);
      if (newest === undefined) return seqs;
      for (const row of this.trimRows.all(newest - this.maxFrames)) this.bytes -= row.n;
      while (this.bytes > this.maxBytes) {
        const removed = this.trimOldest.get(newest);
        if (removed === undefined) break;
        this.bytes -= removed.n;
      }
      return seqs;
    });
    this.selectAfter = db.prepare('SELECT * FROM ocpp_trace WHERE seq > ? ORDER BY seq LIMIT ?');
    this.selectAfterOfAction = db.prepare(
      'SELECT * FROM ocpp_trace WHERE seq > ? AND action = ? COLLATE NOCASE ORDER BY seq LIMIT ?',
    );
    this.selectNth = db.prepare('SELECT seq FROM ocpp_trace ORDER BY seq DESC LIMIT 1 OFFSET ?');
    this.selectNthOfAction = db.prepare(
      'SELECT seq FROM ocpp_trace WHERE action = ? COLLATE NOCASE ORDER BY seq DESC LIMIT 1 OFFSET ?',
    );
    this.selectLast = db.prepare('SELECT MAX(seq) AS seq FROM ocpp_trace');
    this.countRows = db.prepare('SELECT COUNT(*) AS n FROM ocpp_trace');
  }

  /** Stores the frames, oldest first, and drops those older than the ring; returns their seqs. */
  appendAll(entries: ReadonlyArray<Omit<TraceEntry, 'seq'>>): number[] {
    try {
      return this.appendTx(entries);
    } catch (err) {
      // The batch rolled back: the ring's byte count must come from the table again.
      this.recount();
      throw err;
    }
  }

  /**
   * Counts the ring's bytes from the table: after a write that may have rolled back. Never throws:
   * a table that cannot be read now fails the next append, which reports it.
   */
  recount(): void {
    try {
      this.bytes = this.sumBytes.get()!.n;
    } catch {
      // Keep the old count until the table answers again.
    }
  }

  /** Up to `max` frames after `afterSeq`, oldest first: a page of a reader that resumes by seq. */
  after(afterSeq: number, max: number, action?: string): TraceEntry[] {
    const rows =
      action === undefined
        ? this.selectAfter.all(afterSeq, max)
        : this.selectAfterOfAction.all(afterSeq, action, max);
    return rows.map(toEntry);
  }

  /** The seq after which the newest `limit` matching frames begin (0 when there are fewer). */
  startOfNewest(limit: number, action?: string): number {
    if (limit === 0) return this.lastSeq();
    const nth =
      action === undefined ? this.selectNth.get(limit - 1) : this.selectNthOfAction.get(action, limit - 1);
    return nth === undefined ? 0 : nth.seq - 1;
  }

  /** The newest frame's seq; 0 when the trace is empty. */
  lastSeq(): number {
    return this.selectLast.get()!.seq ?? 0;
  }

  /** The newest matching frames, oldest first (the order they happened in). */
  newest(query: TraceQuery): TraceEntry[] {
    return this.after(this.startOfNewest(query.limit, query.action), query.limit, query.action);
  }

  size(): number {
    return this.countRows.get()!.n;
  }
}

function toEntry(row: TraceRow): TraceEntry {
  return {
    seq: row.seq,
    at: row.at,
    direction: row.direction,
    ...(row.message_type === null ? {} : { messageType: row.message_type }),
    ...(row.action === null ? {} : { action: row.action }),
    ...(row.message_id === null ? {} : { messageId: row.message_id }),
    text: row.text,
  };
}
