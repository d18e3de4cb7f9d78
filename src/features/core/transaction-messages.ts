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
import type { IdTagInfo } from '../../station/auth-types.js';
import type {
  ReadingContext,
  TransactionEngine,
  TransactionSink,
  TransactionStop,
} from '../../station/transactions.js';
import type { TransactionRow } from '../../store/transactions-repo.js';
import { sampledValues } from './meter-values.js';

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Turns the engine's transaction events into StartTransaction, MeterValues and StopTransaction
 * messages on the durable outbox. transactionId is left out here: the outbox fills it in at send
 * time, because a transaction started offline does not have one yet.
 */
export class TransactionMessages implements TransactionSink {
  private engine: TransactionEngine | undefined;

  constructor(
    private readonly outbox: () => Outbox,
    private readonly config: ConfigurationRegistry,
    private readonly reportIdTagInfo: (idTag: string, info: IdTagInfo) => void,
  ) {}

  /** The engine the answers go back to (set once both exist). */
  bind(engine: TransactionEngine): void {
    this.engine = engine;
  }

  started(tx: TransactionRow, timestampMs: number, _reading: MeterReading | undefined): void {
    const req: StartTransactionRequest = {
      connectorId: tx.connectorId,
      idTag: tx.idTag,
      meterStart: tx.meterStart,
      timestamp: iso(timestampMs),
      ...(tx.reservationId === undefined ? {} : { reservationId: tx.reservationId }),
    };
    this.outbox().enqueue('StartTransaction', { ...req }, tx.localId);
  }

  sampled(tx: TransactionRow, reading: MeterReading, context: ReadingContext, timestampMs: number): void {
    const key = context === 'Sample.Clock' ? 'MeterValuesAlignedData' : 'MeterValuesSampledData';
    const req: Omit<MeterValuesRequest, 'transactionId'> = {
      connectorId: tx.connectorId,
      meterValue: [
        {
          timestamp: iso(timestampMs),
          sampledValue: sampledValues(reading, this.config.getList(key), context),
        },
      ],
    };
    this.outbox().enqueue('MeterValues', { ...req }, tx.localId);
  }

  stopped(tx: TransactionRow, stop: TransactionStop): void {
    const transactionData = this.transactionData(tx, stop);
    const req: Omit<StopTransactionRequest, 'transactionId'> = {
      meterStop: stop.meterStop,
      timestamp: iso(stop.timestampMs),
      reason: stop.reason,
      ...(stop.idTag ? { idTag: stop.idTag } : {}),
      ...(transactionData.length > 0 ? { transactionData } : {}),
    };
    this.outbox().enqueue('StopTransaction', { ...req }, tx.localId);
  }

  /**
   * StopTxnSampledData: the configured measurands at the start and the end of the transaction.
   * Only the energy register is kept from the start (it is the transaction's meterStart).
   */
  private transactionData(
    tx: TransactionRow,
    stop: TransactionStop,
  ): NonNullable<StopTransactionRequest['transactionData']> {
    const measurands = this.config.getList('StopTxnSampledData');
    if (measurands.length === 0) return [];
    const begin = sampledValues(
      { at: Date.parse(tx.startedAt), energyImportWh: tx.meterStart },
      measurands.filter((m) => m === 'Energy.Active.Import.Register'),
      'Transaction.Begin',
    );
    const end = stop.reading ? sampledValues(stop.reading, measurands, 'Transaction.End') : [];
    return [
      ...(begin.length > 0 ? [{ timestamp: tx.startedAt, sampledValue: begin }] : []),
      ...(end.length > 0 ? [{ timestamp: iso(stop.timestampMs), sampledValue: end }] : []),
    ];
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
    }
  }
}
