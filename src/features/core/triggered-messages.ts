import { TRIGGERED } from '../../ocpp/rpc.js';
import type { TransactionEngine } from '../../station/transactions.js';
import { type FeatureContext, sendQuietly } from '../context.js';
import type { MessageTrigger, TriggerTarget } from '../profile.js';
import type { Heartbeat } from './heartbeat.js';
import { sampledValues } from './meter-values.js';
import type { Registration } from './registration.js';
import type { StatusReporter } from './status-notification.js';

/** The central system asked for it: it may leave while registration is Pending (spec 4.2.1). */

export interface CoreTriggerSources {
  registration: Registration;
  heartbeat: Heartbeat;
  statusReporter: StatusReporter;
  engine: TransactionEngine;
}

/** The Core messages a TriggerMessage may ask for, each sent the way the Core profile sends it. */
export function coreTriggers(
  ctx: FeatureContext,
  sources: CoreTriggerSources,
): Partial<Record<MessageTrigger, TriggerTarget>> {
  const { station } = ctx;
  return {
    BootNotification: async () => sources.registration.trigger(),
    Heartbeat: () => sources.heartbeat.beat(TRIGGERED),
    StatusNotification: async (connectorId) => {
      const ids = connectorId === undefined ? station.statuses().map((s) => s.connectorId) : [connectorId];
      for (const id of ids) {
        const snapshot = station.status(id);
        if (snapshot) await sources.statusReporter.send(snapshot, TRIGGERED);
      }
    },
    MeterValues: (connectorId) => sendMeterValuesNow(ctx, sources.engine, connectorId),
  };
}

/** A fresh reading of each asked connector's meter, with its running transaction's id if any. */
async function sendMeterValuesNow(
  ctx: FeatureContext,
  engine: TransactionEngine,
  connectorId: number | undefined,
): Promise<void> {
  const { rpc, log, station, time } = ctx;
  const ids = connectorId === undefined || connectorId === 0 ? station.connectorIds() : [connectorId];
  const measurands = ctx.config.getList('MeterValuesSampledData');
  for (const id of ids) {
    const meter = station.connector(id)?.meter;
    if (!meter) continue;
    const reading = await meter.read().catch((error: Error) => {
      log.warn({ connectorId: id, err: error.message }, 'meter read failed for triggered MeterValues');
      return undefined;
    });
    if (!reading) continue;
    const sampledValue = sampledValues(reading, measurands, 'Trigger');
    const transactionId = engine.transactionOn(id)?.transactionId;
    await sendQuietly(log, 'MeterValues', () =>
      rpc.call(
        'MeterValues',
        {
          connectorId: id,
          ...(transactionId === undefined ? {} : { transactionId }),
          meterValue: [{ timestamp: time.iso(), sampledValue }],
        },
        TRIGGERED,
      ),
    );
  }
}

/**
 * Diagnostics status while no upload can be running: Idle is the truth (TC_054 expects it). The
 * firmware status is the Firmware Management profile's (src/features/firmware/).
 */
export function idleFirmwareTriggers(ctx: FeatureContext): Partial<Record<MessageTrigger, TriggerTarget>> {
  const { rpc, log } = ctx;
  return {
    DiagnosticsStatusNotification: async () => {
      await sendQuietly(log, 'DiagnosticsStatusNotification', () =>
        rpc.call('DiagnosticsStatusNotification', { status: 'Idle' }, TRIGGERED),
      );
    },
  };
}
