import type { TriggerMessageRequest } from '../../ocpp/generated/messages.js';
import { type FeatureContext, sendQuietly } from '../context.js';
import type { Heartbeat } from '../core/heartbeat.js';
import { sampledValues } from '../core/meter-values.js';
import type { Registration } from '../core/registration.js';
import type { StatusReporter } from '../core/status-notification.js';

export interface TriggerTargets {
  registration: Registration;
  heartbeat: Heartbeat;
  status: StatusReporter;
  /** The OCPP id of the transaction running on a connector, if any (MeterValues carry it). */
  transactionIdOn(connectorId: number): number | undefined;
}

type Requested = TriggerMessageRequest['requestedMessage'];

/**
 * TriggerMessage: answer first, then send the requested message. A connector id that does not
 * exist is Rejected for every message type, and nothing is sent. The message is sent even while
 * registration is Pending: the central system asked for it (spec 4.2.1), so it passes the gate.
 */
export function registerTriggerMessage(ctx: FeatureContext, targets: TriggerTargets): void {
  ctx.rpc.handle('TriggerMessage', (req, call) => {
    const { connectorId } = req;
    if (connectorId !== undefined && connectorId !== 0 && !ctx.station.hasConnector(connectorId)) {
      ctx.log.info(
        { requestedMessage: req.requestedMessage, connectorId },
        'TriggerMessage for an unknown connector',
      );
      return { status: 'Rejected' };
    }
    call.afterAnswer(() => void send(ctx, targets, req.requestedMessage, connectorId));
    return { status: 'Accepted' };
  });
}

async function send(
  ctx: FeatureContext,
  targets: TriggerTargets,
  requested: Requested,
  connectorId?: number,
): Promise<void> {
  const { rpc, log, station, time } = ctx;
  const triggered = { triggered: true };
  switch (requested) {
    case 'BootNotification':
      targets.registration.trigger();
      return;
    case 'Heartbeat':
      await targets.heartbeat.beat(triggered);
      return;
    case 'StatusNotification': {
      const ids = connectorId === undefined ? station.statuses().map((s) => s.connectorId) : [connectorId];
      for (const id of ids) {
        const snapshot = station.status(id);
        if (snapshot) await targets.status.send(snapshot, triggered);
      }
      return;
    }
    case 'MeterValues': {
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
        const transactionId = targets.transactionIdOn(id);
        await sendQuietly(log, 'MeterValues', () =>
          rpc.call(
            'MeterValues',
            {
              connectorId: id,
              ...(transactionId === undefined ? {} : { transactionId }),
              meterValue: [{ timestamp: time.iso(), sampledValue }],
            },
            triggered,
          ),
        );
      }
      return;
    }
    case 'DiagnosticsStatusNotification':
      // No diagnostics upload runs before the firmware-management profile exists: Idle is the truth.
      await sendQuietly(log, requested, () =>
        rpc.call('DiagnosticsStatusNotification', { status: 'Idle' }, triggered),
      );
      return;
    case 'FirmwareStatusNotification':
      await sendQuietly(log, requested, () =>
        rpc.call('FirmwareStatusNotification', { status: 'Idle' }, triggered),
      );
      return;
  }
}
