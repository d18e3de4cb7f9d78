import type { ChargingProfiles } from '../../station/charging-profiles.js';
import type { FeatureContext } from '../context.js';
import { profileFromFrame } from './profile-frames.js';

/**
 * SetChargingProfile: the station's profiles decide (spec 3.13 / 5.16 rules, the configured
 * limits, a TxProfile's transaction) and persist before the answer leaves.
 */
export function registerSetChargingProfile(ctx: FeatureContext, profiles: ChargingProfiles): void {
  ctx.rpc.handle('SetChargingProfile', (req) => ({
    status: profiles.install(profileFromFrame(req.csChargingProfiles, req.connectorId)),
  }));
}
