import type { OcppTime } from '../../clock.js';
import type { GetCompositeScheduleResponse } from '../../ocpp/generated/messages.js';
import { MAX_COMPOSITE_DURATION_S } from '../../station/charging-profile-types.js';
import type { ChargingProfiles } from '../../station/charging-profiles.js';
import { compositeSchedule, toUnit } from '../../station/composite-schedule.js';
import type { FeatureContext } from '../context.js';

/**
 * GetCompositeSchedule (spec 5.7): the composite from now (the next whole second) for the
 * duration asked, in the unit asked (A when absent), periods merged where equal after the
 * conversion; scheduleStart and startSchedule are that instant. An unknown connector is Rejected;
 * connector 0 is the charge point. The answer covers at most MAX_COMPOSITE_DURATION_S and holds at
 * most ChargingScheduleMaxPeriods periods (the most a schedule of ours has); its duration then says
 * how far it reaches.
 */
export function registerGetCompositeSchedule(
  ctx: Pick<FeatureContext, 'rpc' | 'log' | 'config'> & { time: Pick<OcppTime, 'nowMs'> },
  profiles: Pick<ChargingProfiles, 'compositeFor'>,
): void {
  ctx.rpc.handle('GetCompositeSchedule', (req): GetCompositeScheduleResponse => {
    // From the next whole second, never back: a profile started a moment ago must not show the
    // time before it, and the central system's clock and ours agree only to some milliseconds, so
    // one it starts "now" may begin a moment after our now and is in the composite from period 0.
    const now = Math.ceil(ctx.time.nowMs() / 1000) * 1000;
    const request = profiles.compositeFor(
      req.connectorId,
      now,
      Math.min(req.duration, MAX_COMPOSITE_DURATION_S),
    );
    if (!request) {
      ctx.log.info({ connectorId: req.connectorId }, 'GetCompositeSchedule for an unknown connector');
      return { status: 'Rejected' };
    }
    const schedule = toUnit(compositeSchedule(request), req.chargingRateUnit ?? 'A', request.electrical);
    const maxPeriods = ctx.config.getInt('ChargingScheduleMaxPeriods');
    const cut = schedule.periods[maxPeriods];
    const duration = cut === undefined ? request.durationS : cut.startPeriod;
    if (duration < req.duration) {
      ctx.log.info(
        { connectorId: req.connectorId, requested: req.duration, duration, periods: schedule.periods.length },
        'GetCompositeSchedule answered for a shorter duration',
      );
    }
    const start = new Date(now).toISOString();
    return {
      status: 'Accepted',
      connectorId: req.connectorId,
      scheduleStart: start,
      chargingSchedule: {
        duration,
        startSchedule: start,
        chargingRateUnit: schedule.unit,
        // toUnit's periods are already the frame's (startPeriod, limit, numberPhases).
        chargingSchedulePeriod: schedule.periods.slice(0, maxPeriods),
      },
    };
  });
}
