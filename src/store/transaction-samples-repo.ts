import type Database from 'better-sqlite3';
import type { StopTransactionRequest } from '../ocpp/generated/messages.js';

/** One meterValue of a StopTransaction's transactionData. */
export type TransactionMeterValue = NonNullable<StopTransactionRequest['transactionData']>[number];
type SampledValue = TransactionMeterValue['sampledValue'][number];

/** The readings kept for transactionData: the start, and the periodic and clock-aligned samples. */
export type KeptContext = 'Transaction.Begin' | 'Sample.Periodic' | 'Sample.Clock';

/**
 * At most this many periodic and clock-aligned samples are kept per transaction (the
 * Transaction.Begin values are kept besides): a day at one sample every 6 minutes, or 2.5 days of
 * 15-minute clock-aligned values. A longer transaction keeps its newest samples, so its
 * StopTransaction stays a size a central system accepts (each meterValue holds up to
 * StopTxn*DataMaxLength measurands, per phase).
 */
export const MAX_SAMPLES_PER_TRANSACTION = 240;

interface Row {
  taken_at: number;
  sampled_value: string;
}

/**
 * The meter values a transaction's StopTransaction will carry (StopTxnSampledData,
 * StopTxnAlignedData), written with the sample that produced them so they survive a power cut.
 * Rows go when that StopTransaction is delivered (or given up on), and with their transaction.
 */
export class TransactionSamplesRepo {
  private readonly insertStmt: Database.Statement<[number, KeptContext, number, string]>;
  private readonly trimStmt: Database.Statement<[number, number]>;
  private readonly selectStmt: Database.Statement<[number], Row>;
  private readonly deleteStmt: Database.Statement<[number]>;

  constructor(
    db: Database.Database,
    private readonly maxSamples = MAX_SAMPLES_PER_TRANSACTION,
  ) {
    this.insertStmt = db.prepare(
      'INSERT INTO transaction_samples (local_tx_id, context, taken_at, sampled_value) VALUES (?, ?, ?, ?)',
    );
    this.trimStmt = db.prepare(
      `DELETE FROM transaction_samples WHERE seq IN (
         SELECT seq FROM transaction_samples
         WHERE local_tx_id = ? AND context != 'Transaction.Begin'
         ORDER BY taken_at DESC, seq DESC LIMIT -1 OFFSET ?)`,
    );
    this.selectStmt = db.prepare(
      'SELECT taken_at, sampled_value FROM transaction_samples WHERE local_tx_id = ? ORDER BY taken_at, seq',
    );
    this.deleteStmt = db.prepare('DELETE FROM transaction_samples WHERE local_tx_id = ?');
  }

  /** Commits with the caller's SQL transaction; past the cap the oldest sample goes. */
  add(
    localTxId: number,
    context: KeptContext,
    takenAtMs: number,
    sampledValue: readonly SampledValue[],
  ): void {
    this.insertStmt.run(localTxId, context, takenAtMs, JSON.stringify(sampledValue));
    if (context !== 'Transaction.Begin') this.trimStmt.run(localTxId, this.maxSamples);
  }

  /** In time order. */
  forTransaction(localTxId: number): TransactionMeterValue[] {
    return this.selectStmt.all(localTxId).map((row) => ({
      timestamp: new Date(row.taken_at).toISOString(),
      // Written by add() from the same type.
      sampledValue: JSON.parse(row.sampled_value) as SampledValue[],
    }));
  }

  deleteTransaction(localTxId: number): void {
    this.deleteStmt.run(localTxId);
  }
}
