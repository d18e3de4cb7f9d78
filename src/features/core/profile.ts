import { AlignedMetering } from '../../station/aligned-metering.js';
import type { Profile } from '../profile.js';
import { registerChangeAvailability } from './change-availability.js';
import { registerChangeConfiguration } from './change-configuration.js';
import { registerClearCache } from './clear-cache.js';
import { clockAlignedSampleHandler } from './clock-aligned-meter-values.js';
import { registerDataTransfer } from './data-transfer.js';
import { registerGetConfiguration } from './get-configuration.js';
import { registerRemoteStartTransaction } from './remote-start-transaction.js';
import { registerRemoteStopTransaction } from './remote-stop-transaction.js';
import { registerReset } from './reset.js';
import { coreTriggers, idleFirmwareTriggers } from './triggered-messages.js';
import { registerUnlockConnector } from './unlock-connector.js';

/**
 * Core (spec 3.3): the central system's Core calls, clock-aligned metering, and the Core messages a
 * TriggerMessage may ask for. Registration, heartbeat and status reporting are the link's session
 * with the central system and live in the runtime, which every profile shares.
 */
export const coreProfile: Profile = {
  name: 'Core',
  capabilities: ['authCache', 'maxEnergyOnInvalidId', 'offlineUnknownId'],
  install(ctx, services) {
    const { engine, authCache, vendors, chargingProfiles } = services;
    registerGetConfiguration(ctx);
    registerChangeConfiguration(ctx);
    registerDataTransfer(ctx, vendors);
    registerChangeAvailability(ctx);
    registerReset(ctx);
    registerClearCache(ctx, authCache);
    registerRemoteStartTransaction(ctx, engine, chargingProfiles);
    registerRemoteStopTransaction(ctx, engine);
    registerUnlockConnector(ctx, engine);
    const aligned = new AlignedMetering({
      station: ctx.station,
      config: ctx.config,
      clock: ctx.clock,
      time: ctx.time,
      log: ctx.log,
      onSample: clockAlignedSampleHandler(ctx, engine),
      marks: services.marks,
    });
    return {
      // Until the Firmware Management profile installs its own, its status messages report Idle.
      triggers: { ...idleFirmwareTriggers(ctx), ...coreTriggers(ctx, services) },
      start: () => aligned.start(),
      stop: () => aligned.stop(),
    };
  },
};
