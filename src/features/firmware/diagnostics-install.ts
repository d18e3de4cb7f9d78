import type { FeatureContext } from '../context.js';
import type { ChargePointServices, InstalledProfile } from '../profile.js';
import { registerGetDiagnostics } from './get-diagnostics.js';

/**
 * The diagnostics half of the Firmware Management profile: GetDiagnostics and the real
 * DiagnosticsStatusNotification for TriggerMessage (replacing Core's Idle one). The profile's
 * install (profile.ts) calls it and merges what it returns.
 */
export function installDiagnostics(
  ctx: FeatureContext,
  services: Pick<ChargePointServices, 'diagnostics' | 'outbox'>,
): Required<Pick<InstalledProfile, 'triggers' | 'stop'>> {
  const getDiagnostics = registerGetDiagnostics(ctx, services.diagnostics, services.outbox);
  return {
    triggers: { DiagnosticsStatusNotification: getDiagnostics.trigger },
    stop: () => getDiagnostics.stop(),
  };
}
