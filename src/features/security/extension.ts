import type { CertificateStore } from '../../security/certificate-store.js';
import type { FeatureContext } from '../context.js';
import type { InstalledProfile } from '../profile.js';
import { registerDeleteCertificate } from './delete-certificate.js';
import { registerGetInstalledCertificateIds } from './get-installed-certificate-ids.js';
import { registerInstallCertificate } from './install-certificate.js';

/**
 * The configuration-key capabilities of the Security extension. It is not a 1.6 feature profile
 * (SupportedFeatureProfiles never lists it), so its keys are enabled here rather than by PROFILES.
 */
export const SECURITY_EXTENSION_CAPABILITIES: readonly string[] = ['certificates'];

/** The station-level services the Security extension's handlers work on. */
export interface SecurityServices {
  certificates: CertificateStore;
}

/** Installs the Security extension's handlers (whitepaper edition 3), as a profile installs its own. */
export function installSecurityExtension(ctx: FeatureContext, services: SecurityServices): InstalledProfile {
  registerInstallCertificate(ctx, services.certificates);
  registerDeleteCertificate(ctx, services.certificates);
  registerGetInstalledCertificateIds(ctx, services.certificates);
  return {};
}
