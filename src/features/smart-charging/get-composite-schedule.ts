import type { OcppTime } from '../../clock.js';
import type { GetCompositeScheduleResponse } from '../../ocpp/generated/messages.js';
import type { ChargingProfiles } from '../../station/charging-profiles.js';
import { compositeSchedule, toUnit } from '../../station/composite-schedule.js';
import type { FeatureContext } from '../context.js';

/**
 * GetCompositeSchedule (spec 5.7): the composite from now (the next whole second) for the
 * duration asked, in the unit asked (A when absent), periods merged where equal after the
 * conversion; scheduleStart and startSchedule are that instant. An unknown connector is Rejected;
 * connector 0 is the charge point.
 */
export function registerGetCompositeSchedule(
  ctx: Pick<FeatureContext, 'rpc' | 'log'> & { time: Pick<OcppTime, 'nowMs'> },
  profiles: Pick<ChargingProfiles, 'compositeFor'>,
): void {
  ctx.rpc.handle('GetCompositeSchedule', (req): GetCompositeScheduleResponse => {
    // From the next whole second, never back: a profile started a moment ago must not show the
    // time before it, and the central system's clock and ours agree only to some milliseconds, so
    // one it starts "now" may begin a moment after our now and is in the composite from period 0.
    const now = Math.ceil(ctx.time.nowMs() / 1000) * 1000;
    const request = profiles.compositeFor(req.connectorId, now, req.duration);
    if (!request) {
      ctx.log.info({ connectorId: req.connectorId }, 'GetCompositeSchedule for an unknown connector');
      return { status: 'Rejected' };
    }
    const schedule = toUnit(compositeSchedule(request), req.chargingRateUnit ?? 'A', request.electrical);
    const start = new Date(now).toISOString();
    return {
      status: 'Accepted',
      connectorId: req.connectorId,
      scheduleStart: start,
      chargingSchedule: {
        duration: req.duration,
        startSchedule: start,
        chargingRateUnit: schedule.unit,
        // toUnit's periods are already the frame's (startPeriod, limit, numberPhases).
        chargingSchedulePeriod: [...schedule.periods],
      },
    };
  });
}
