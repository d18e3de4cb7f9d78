import type { FeatureContext } from '../context.js';
import type { ChargePointServices, InstalledProfile } from '../profile.js';
import type { SecurityEvents } from './security-events.js';

/** What the security extension builds on: the charger's services and the security event service. */
export interface SecurityExtensionServices extends ChargePointServices {
  securityEvents: SecurityEvents;
}

/**
 * Installs the security extension ("Improved security for OCPP 1.6-J"): its handlers and event
 * sources. Not an OCPP 1.6 feature profile, so SupportedFeatureProfiles does not list it and it is
 * installed beside PROFILES rather than among them.
 */
export function installSecurityExtension(
  ctx: FeatureContext,
  services: SecurityExtensionServices,
): InstalledProfile {
  const { securityEvents } = services;
  ctx.config.onChange('SecurityProfile', (value, previous) =>
    securityEvents.raise(
      'ReconfigurationOfSecurityParameters',
      `SecurityProfile ${previous ?? '?'} -> ${value}`,
    ),
  );
  // Never the value: the AuthorizationKey is a secret.
  ctx.config.onChange('AuthorizationKey', () =>
    securityEvents.raise('ReconfigurationOfSecurityParameters', 'AuthorizationKey changed'),
  );
  return {};
}
