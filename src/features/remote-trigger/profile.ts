import type { Profile } from '../profile.js';
import { registerTriggerMessage } from './trigger-message.js';

/** Remote Trigger (spec 3.3): TriggerMessage, answered by whatever the installed profiles can send. */
export const remoteTriggerProfile: Profile = {
  name: 'RemoteTrigger',
  capabilities: [],
  install(ctx, services) {
    registerTriggerMessage(ctx, services.triggers);
    return {};
  },
};
