import type { DeadLetter, DeliveryHandler, OutboxEntry, Prepared } from './outbox.js';

export interface TransactionDeliveryOptions {
  /** The central system's id of a local transaction, once its StartTransaction was answered. */
  resolveTransactionId(localTxId: number): number | undefined;
  /** The seq of a dead-lettered StartTransaction of this local transaction, if there is one. */
  deadLetteredStart(localTxId: number): number | undefined;
  /** Applies the answer; runs inside the outbox's delivering SQL transaction (see DeliveryHandler). */
  delivered(entry: OutboxEntry, response: unknown): void;
  deadLettered(entry: DeadLetter): void;
}

/**
 * The outbox's handler of transaction messages. A transaction started offline has no transactionId
 * when its MeterValues and StopTransaction are queued: it is filled in at send time from the
 * StartTransaction's answer, which in-order delivery has applied by then.
 */
export function transactionDelivery(opts: TransactionDeliveryOptions): DeliveryHandler {
  return {
    prepare: (entry) => withTransactionId(entry, opts),
    delivered: (entry, response) => opts.delivered(entry, response),
    deadLettered: (entry) => opts.deadLettered(entry),
  };
}

function withTransactionId(entry: OutboxEntry, opts: TransactionDeliveryOptions): Prepared {
  const { action, localTxId, payload } = entry;
  if (localTxId === undefined || action === 'StartTransaction') return { payload };
  if (action === 'MeterValues' && payload.transactionId !== undefined) return { payload };
  const transactionId = opts.resolveTransactionId(localTxId);
  if (transactionId !== undefined) return { payload: { ...payload, transactionId } };
  // Delivery is in order, so this transaction's StartTransaction has already been answered or given up.
  const deadStart = opts.deadLetteredStart(localTxId);
  return {
    refused:
      deadStart === undefined
        ? `no transactionId known for local transaction ${localTxId}`
        : `no transactionId for local transaction ${localTxId}: its StartTransaction (seq ${deadStart}) was dead-lettered`,
  };
}
