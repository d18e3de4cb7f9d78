import type { Profile } from '../profile.js';
import { registerClearChargingProfile } from './clear-charging-profile.js';
import { registerGetCompositeSchedule } from './get-composite-schedule.js';
import { registerSetChargingProfile } from './set-charging-profile.js';

/**
 * Smart Charging (spec 3.13): SetChargingProfile, ClearChargingProfile and GetCompositeSchedule
 * over the station's charging profiles; a remote start's TxProfile goes through them too (Core's
 * RemoteStartTransaction).
 */
export const smartChargingProfile: Profile = {
  name: 'SmartCharging',
  capabilities: ['smartCharging'],
  install(ctx, { chargingProfiles }) {
    registerSetChargingProfile(ctx, chargingProfiles);
    registerClearChargingProfile(ctx, chargingProfiles);
    registerGetCompositeSchedule(ctx, chargingProfiles);
    return {};
  },
};
