import type { MeterReading } from '../../../hal/types.js';
import type { TransactionEngine } from '../../station/transactions.js';
import { type FeatureContext, sendQuietly } from '../context.js';
import { configuredValues } from './meter-values.js';

/**
 * Where a clock-aligned reading goes: with the connector's transaction (durably queued, and kept
 * for its StopTxnAlignedData) when one runs, else straight to the central system as a MeterValues
 * without transaction, when MeterValuesAlignedData asks for any measurand.
 */
export function clockAlignedSampleHandler(ctx: FeatureContext, engine: TransactionEngine) {
  return (connectorId: number, reading: MeterReading, timestampMs: number): void => {
    if (engine.recordAligned(connectorId, reading, timestampMs)) return;
    const sampledValue = configuredValues(
      reading,
      ctx.config.getList('MeterValuesAlignedData'),
      'Sample.Clock',
    );
    if (sampledValue.length === 0) return;
    void sendQuietly(ctx.log, 'MeterValues', () =>
      ctx.rpc.call('MeterValues', {
        connectorId,
        meterValue: [{ timestamp: new Date(timestampMs).toISOString(), sampledValue }],
      }),
    );
  };
}
