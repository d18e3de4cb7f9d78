import type { CompositeSource } from './charging-limit.js';
import type { ChargingProfiles } from './charging-profiles.js';
import { compositeSchedule, nextChange } from './composite-schedule.js';

/** The composite schedules of the installed profiles, as the owner of the offered current reads them. */
export function profileComposites(profiles: Pick<ChargingProfiles, 'compositeFor'>): CompositeSource {
  return {
    compositeFor(connectorId, now, durationS) {
      const request = profiles.compositeFor(connectorId, now, durationS);
      return request ? compositeSchedule(request) : { start: now, durationS, periods: [] };
    },
    nextChange(connectorId, now) {
      const request = profiles.compositeFor(connectorId, now, 0);
      return request ? nextChange(request) : undefined;
    },
  };
}
