import type { CompositeSource } from './charging-limit.js';
import type { ChargingProfiles } from './charging-profiles.js';
import { compositeSchedule, limitNowAndNextChange } from './composite-schedule.js';

/** The composite schedules of the installed profiles, as the owner of the offered current reads them. */
export function profileComposites(profiles: Pick<ChargingProfiles, 'compositeFor'>): CompositeSource {
  return {
    limitNow(connectorId, now) {
      const request = profiles.compositeFor(connectorId, now, 0);
      return request ? compositeSchedule(request).periods[0] : undefined;
    },
    limitNowAndNextChange(connectorId, now) {
      const request = profiles.compositeFor(connectorId, now, 0);
      if (!request) return { period: undefined, nextChangeMs: undefined };
      return limitNowAndNextChange(request);
    },
  };
}
