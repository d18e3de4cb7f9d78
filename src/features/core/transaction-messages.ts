import type { MeterReading } from '../../../hal/types.js';
import type { ConfigurationRegistry } from '../../config/registry.js';
import type {
  MeterValuesRequest,
  StartTransactionRequest,
  StartTransactionResponse,
  StopTransactionRequest,
  StopTransactionResponse,
} from '../../ocpp/generated/messages.js';
import type { Outbox, OutboxEntry } from '../../ocpp/outbox.js';
import { transactionDelivery } from '../../ocpp/transaction-delivery.js';
import type { IdTagInfo } from '../../station/auth-types.js';
import type {
  ReadingContext,
  TransactionEngine,
  TransactionSink,
  TransactionStop,
} from '../../station/transactions.js';
import type { KeptContext, TransactionSamplesRepo } from '../../store/transaction-samples-repo.js';
import type { TransactionRow } from '../../store/transactions-repo.js';
import { configuredValues } from './meter-values.js';

const iso = (ms: number) => new Date(ms).toISOString();

/** Which keys select the measurands of a scheduled reading: for MeterValues, and for transactionData. */
const MEASURAND_KEYS = {
  'Sample.Periodic': { meterValues: 'MeterValuesSampledData', stopTxn: 'StopTxnSampledData' },
  'Sample.Clock': { meterValues: 'MeterValuesAlignedData', stopTxn: 'StopTxnAlignedData' },
} as const;

/**
 * Turns the engine's transaction events into StartTransaction, MeterValues and StopTransaction
 * messages on the durable outbox. transactionId is left out here: the outbox fills it in at send
 * time, because a transaction started offline does not have one yet.
 *
 * transactionData (OCPP 1.6 section 9.1, StopTxnSampledData / StopTxnAlignedData): the start's,
 * every periodic and every clock-aligned reading are kept in `transaction_samples` in the SQL
 * transaction that records them, so the StopTransaction (also one after a power cut) carries them
 * with the Transaction.End values, each meterValue with its own timestamp, in time order.
 */
export class TransactionMessages implements TransactionSink {
  private engine: TransactionEngine | undefined;

  constructor(
    private readonly outbox: () => Outbox,
    private readonly config: ConfigurationRegistry,
    private readonly reportIdTagInfo: (idTag: string, info: IdTagInfo) => void,
    private readonly samples: TransactionSamplesRepo,
  ) {}

  /** The engine the answers go back to (set once both exist). */
  bind(engine: TransactionEngine): void {
    this.engine = engine;
  }

  started(tx: TransactionRow, timestampMs: number, reading: MeterReading | undefined): void {
    const req: StartTransactionRequest = {
      connectorId: tx.connectorId,
      idTag: tx.idTag,
      meterStart: tx.meterStart,
      timestamp: iso(timestampMs),
      ...(tx.reservationId === undefined ? {} : { reservationId: tx.reservationId }),
    };
    this.outbox().enqueue('StartTransaction', { ...req }, tx.localId);
    if (reading) this.keep(tx, reading, 'Transaction.Begin', 'StopTxnSampledData', timestampMs);
  }

  sampled(tx: TransactionRow, reading: MeterReading, context: ReadingContext, timestampMs: number): void {
    // The engine samples only on its interval and on the clock: no other context has measurand keys.
    if (context !== 'Sample.Periodic' && context !== 'Sample.Clock') return;
    const keys = MEASURAND_KEYS[context];
    const sampledValue = configuredValues(reading, this.config.getList(keys.meterValues), context);
    if (sampledValue.length > 0) {
      const req: Omit<MeterValuesRequest, 'transactionId'> = {
        connectorId: tx.connectorId,
        meterValue: [{ timestamp: iso(timestampMs), sampledValue }],
      };
      this.outbox().enqueue('MeterValues', { ...req }, tx.localId);
    }
    // A boundary passed while the transaction was starting is not one "during the transaction".
    if (timestampMs >= Date.parse(tx.startedAt)) this.keep(tx, reading, context, keys.stopTxn, timestampMs);
  }

  stopped(tx: TransactionRow, stop: TransactionStop): void {
    const end = stop.reading
      ? configuredValues(stop.reading, this.config.getList('StopTxnSampledData'), 'Transaction.End')
      : [];
    const transactionData = [
      ...this.samples.forTransaction(tx.localId),
      ...(end.length > 0 ? [{ timestamp: iso(stop.timestampMs), sampledValue: end }] : []),
    ];
    const req: Omit<StopTransactionRequest, 'transactionId'> = {
      meterStop: stop.meterStop,
      timestamp: iso(stop.timestampMs),
      reason: stop.reason,
      ...(stop.idTag ? { idTag: stop.idTag } : {}),
      ...(transactionData.length > 0 ? { transactionData } : {}),
    };
    this.outbox().enqueue('StopTransaction', { ...req }, tx.localId);
  }

  /** Runs inside the outbox's delivering SQL transaction: only synchronous bookkeeping. */
  onDelivered(entry: OutboxEntry, response: unknown): void {
    if (entry.action === 'StartTransaction' && entry.localTxId !== undefined) {
      const conf = response as StartTransactionResponse;
      this.engine?.onStartConfirmed(entry.localTxId, conf.transactionId, conf.idTagInfo);
    } else if (entry.action === 'StopTransaction') {
      const conf = response as StopTransactionResponse;
      const idTag = (entry.payload as { idTag?: string }).idTag;
      if (conf.idTagInfo && idTag) this.reportIdTagInfo(idTag, conf.idTagInfo);
      this.forgetSamples(entry);
    }
  }

  /** A StopTransaction given up on keeps its transactionData in the dead letter; the samples go. */
  onDeadLettered(entry: OutboxEntry): void {
    if (entry.action === 'StopTransaction') this.forgetSamples(entry);
  }

  private forgetSamples(entry: OutboxEntry): void {
    if (entry.localTxId !== undefined) this.samples.deleteTransaction(entry.localTxId);
  }

  /** Keeps a reading for transactionData, with the measurands `key` asks for (none: nothing kept). */
  private keep(
    tx: TransactionRow,
    reading: MeterReading,
    context: KeptContext,
    key: 'StopTxnSampledData' | 'StopTxnAlignedData',
    timestampMs: number,
  ): void {
    const sampledValue = configuredValues(reading, this.config.getList(key), context);
    if (sampledValue.length > 0) this.samples.add(tx.localId, context, timestampMs, sampledValue);
  }
}

/**
 * Wires the transaction messages to their outbox and engine: the outbox fills in the central
 * system's transactionId from the engine and applies the answers through `messages`.
 */
export function deliverTransactionMessages(
  outbox: Outbox,
  engine: Pick<TransactionEngine, 'transactionIdOf'>,
  messages: TransactionMessages,
): void {
  outbox.register(
    'transaction',
    transactionDelivery({
      resolveTransactionId: (localId) => engine.transactionIdOf(localId),
      deadLetteredStart: (localId) => outbox.deadLetteredStart(localId),
      delivered: (entry, response) => messages.onDelivered(entry, response),
      deadLettered: (entry) => messages.onDeadLettered(entry),
    }),
  );
}
