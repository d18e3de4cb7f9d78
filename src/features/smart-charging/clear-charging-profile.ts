import type { ChargingProfiles } from '../../station/charging-profiles.js';
import type { FeatureContext } from '../context.js';

/** ClearChargingProfile: by id, or by connector, purpose and stack level (any given); Unknown when none matched. */
export function registerClearChargingProfile(ctx: FeatureContext, profiles: ChargingProfiles): void {
  ctx.rpc.handle('ClearChargingProfile', (req) => ({
    status: profiles.clear({
      ...(req.id === undefined ? {} : { id: req.id }),
      ...(req.connectorId === undefined ? {} : { connectorId: req.connectorId }),
      ...(req.chargingProfilePurpose ? { purpose: req.chargingProfilePurpose } : {}),
      ...(req.stackLevel === undefined ? {} : { stackLevel: req.stackLevel }),
    }),
  }));
}
