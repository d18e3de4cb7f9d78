import type { MeterReading } from '../../hal/types.js';
import type { TransactionRow } from '../store/transactions-repo.js';

/**
 * The vocabulary of charging sessions that other layers share with the engine: why a transaction
 * ended, where its events go, and what is announced when it starts or stops.
 */

/** Why a transaction ended (OCPP 1.6 Reason). */
export type StopReason =
  | 'EmergencyStop'
  | 'EVDisconnected'
  | 'HardReset'
  | 'Local'
  | 'Other'
  | 'PowerLoss'
  | 'Reboot'
  | 'Remote'
  | 'SoftReset'
  | 'UnlockCommand'
  | 'DeAuthorized';

export type ReadingContext =
  | 'Transaction.Begin'
  | 'Transaction.End'
  | 'Sample.Periodic'
  | 'Sample.Clock'
  | 'Trigger';

/**
 * Where transaction events go. Called inside the SQL transaction that records them, so a
 * message about a transaction is queued if and only if the transaction's row says so.
 */
export interface TransactionSink {
  /** `reading`: the meter reading the transaction started from (meterStart), for Transaction.Begin values. */
  started(tx: TransactionRow, timestampMs: number, reading: MeterReading | undefined): void;
  stopped(
    tx: TransactionRow,
    stop: { reason: StopReason; idTag?: string; meterStop: number; timestampMs: number },
  ): void;
  sampled(tx: TransactionRow, reading: MeterReading, context: ReadingContext, timestampMs: number): void;
}

export interface TransactionStop {
  reason: StopReason;
  idTag?: string;
  meterStop: number;
  timestampMs: number;
  /** The meter as the transaction ended, when it could be read (for transactionData). */
  reading?: MeterReading;
}

/** A start or a stop, once recorded. */
export type TransactionEvent =
  | { kind: 'started'; row: TransactionRow; timestampMs: number }
  | { kind: 'stopped'; row: TransactionRow; stop: TransactionStop };
