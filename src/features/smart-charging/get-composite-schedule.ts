import type { GetCompositeScheduleResponse } from '../../ocpp/generated/messages.js';
import type { ChargingProfiles } from '../../station/charging-profiles.js';
import { compositeSchedule, toUnit } from '../../station/composite-schedule.js';
import type { FeatureContext } from '../context.js';

/**
 * GetCompositeSchedule (spec 5.7): the composite from now for the duration asked, in the unit
 * asked (A when absent), periods merged where equal after the conversion; scheduleStart and
 * startSchedule are now. An unknown connector is Rejected; connector 0 is the charge point.
 */
export function registerGetCompositeSchedule(ctx: FeatureContext, profiles: ChargingProfiles): void {
  ctx.rpc.handle('GetCompositeSchedule', (req): GetCompositeScheduleResponse => {
    // Not rounded to the second: a profile that started a moment ago would show the time before it.
    const now = ctx.time.nowMs();
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
        chargingSchedulePeriod: schedule.periods.map((period) => ({
          startPeriod: period.startPeriod,
          limit: period.limit,
          numberPhases: period.numberPhases,
        })),
      },
    };
  });
}
