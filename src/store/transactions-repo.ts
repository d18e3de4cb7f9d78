import type Database from 'better-sqlite3';
import { type Atomically, atomicallyOn } from './sql-transaction.js';

export interface TransactionRow {
  localId: number;
  connectorId: number;
  idTag: string;
  parentIdTag?: string;
  reservationId?: number;
  transactionId?: number;
  meterStart: number;
  startedAt: string;
  lastMeter: number;
  lastMeterAt: string;
  stopReason?: string;
  stopIdTag?: string;
  meterStop?: number;
  stoppedAt?: string;
}

interface Raw {
  local_id: number;
  connector_id: number;
  id_tag: string;
  parent_id_tag: string | null;
  reservation_id: number | null;
  transaction_id: number | null;
  meter_start: number;
  started_at: string;
  last_meter: number;
  last_meter_at: string;
  stop_reason: string | null;
  stop_id_tag: string | null;
  meter_stop: number | null;
  stopped_at: string | null;
}

function fromRaw(r: Raw): TransactionRow {
  return {
    localId: r.local_id,
    connectorId: r.connector_id,
    idTag: r.id_tag,
    meterStart: r.meter_start,
    startedAt: r.started_at,
    lastMeter: r.last_meter,
    lastMeterAt: r.last_meter_at,
    ...(r.parent_id_tag === null ? {} : { parentIdTag: r.parent_id_tag }),
    ...(r.reservation_id === null ? {} : { reservationId: r.reservation_id }),
    ...(r.transaction_id === null ? {} : { transactionId: r.transaction_id }),
    ...(r.stop_reason === null ? {} : { stopReason: r.stop_reason }),
    ...(r.stop_id_tag === null ? {} : { stopIdTag: r.stop_id_tag }),
    ...(r.meter_stop === null ? {} : { meterStop: r.meter_stop }),
    ...(r.stopped_at === null ? {} : { stoppedAt: r.stopped_at }),
  };
}

/** Transactions as the charger ran them; the source of truth after a power cut. */
export class TransactionsRepo {
  private readonly insertStmt;
  private readonly runningStmt;
  private readonly byLocalStmt;
  private readonly byTransactionIdStmt;
  private readonly setTransactionIdStmt;
  private readonly meterStmt;
  private readonly stopStmt;
  private readonly recentStmt;
  private readonly inTransaction: Atomically;

  constructor(private readonly db: Database.Database) {
    this.inTransaction = atomicallyOn(db);
    this.insertStmt = db.prepare(
      `INSERT INTO transactions (connector_id, id_tag, parent_id_tag, reservation_id, meter_start, started_at, last_meter, last_meter_at)
       VALUES (@connectorId, @idTag, @parentIdTag, @reservationId, @meterStart, @startedAt, @meterStart, @startedAt)`,
    );
    this.runningStmt = db.prepare('SELECT * FROM transactions WHERE stopped_at IS NULL ORDER BY local_id');
    this.byLocalStmt = db.prepare('SELECT * FROM transactions WHERE local_id = ?');
    this.byTransactionIdStmt = db.prepare(
      'SELECT * FROM transactions WHERE transaction_id = ? ORDER BY local_id DESC LIMIT 1',
    );
    this.setTransactionIdStmt = db.prepare('UPDATE transactions SET transaction_id = ? WHERE local_id = ?');
    this.meterStmt = db.prepare(
      'UPDATE transactions SET last_meter = ?, last_meter_at = ? WHERE local_id = ?',
    );
    this.stopStmt = db.prepare(
      `UPDATE transactions SET stop_reason = @stopReason, stop_id_tag = @stopIdTag, meter_stop = @meterStop, stopped_at = @stoppedAt
       WHERE local_id = @localId AND stopped_at IS NULL`,
    );
    this.recentStmt = db.prepare('SELECT * FROM transactions ORDER BY local_id DESC LIMIT ?');
  }

  /**
   * Runs `fn` as one SQL transaction (a savepoint inside an enclosing one): a transaction row and
   * what its sink queues with it commit together or not at all. `fn` must be synchronous.
   */
  atomically<T>(fn: () => T): T {
    return this.inTransaction(fn);
  }

  /**
   * Checkpoints the WAL and starts it over with one commit that changes nothing (the header's
   * user_version, unused, written back as it is). The commits after it then overwrite frames the
   * file already has: a sync that need not also record a grown file costs about half as much,
   * and the start over (which syncs the log header once more) is paid here. Durability is the
   * same: every commit still syncs the log (synchronous=FULL).
   */
  restartWal(): void {
    this.db.pragma('wal_checkpoint(PASSIVE)');
    const version = Number(this.db.pragma('user_version', { simple: true }));
    this.db.pragma(`user_version = ${version}`);
  }

  insert(row: {
    connectorId: number;
    idTag: string;
    parentIdTag?: string;
    reservationId?: number;
    meterStart: number;
    startedAt: string;
  }): TransactionRow {
    const result = this.insertStmt.run({
      parentIdTag: null,
      reservationId: null,
      ...row,
    });
    return this.get(Number(result.lastInsertRowid)) as TransactionRow;
  }

  get(localId: number): TransactionRow | undefined {
    const raw = this.byLocalStmt.get(localId) as Raw | undefined;
    return raw && fromRaw(raw);
  }

  byTransactionId(transactionId: number): TransactionRow | undefined {
    const raw = this.byTransactionIdStmt.get(transactionId) as Raw | undefined;
    return raw && fromRaw(raw);
  }

  running(): TransactionRow[] {
    return (this.runningStmt.all() as Raw[]).map(fromRaw);
  }

  recent(limit: number): TransactionRow[] {
    return (this.recentStmt.all(limit) as Raw[]).map(fromRaw);
  }

  setTransactionId(localId: number, transactionId: number): void {
    this.setTransactionIdStmt.run(transactionId, localId);
  }

  recordMeter(localId: number, wh: number, at: string): void {
    this.meterStmt.run(wh, at, localId);
  }

  stop(
    localId: number,
    stop: { stopReason: string; stopIdTag?: string; meterStop: number; stoppedAt: string },
  ): boolean {
    return this.stopStmt.run({ localId, stopIdTag: null, ...stop }).changes === 1;
  }
}
