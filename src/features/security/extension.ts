import type { DiagnosticsFiles } from '../../diagnostics/uploads.js';
import type { FirmwareUpdates } from '../../firmware/firmware-updates.js';
import type { Link } from '../../ocpp/link.js';
import type { Outbox } from '../../ocpp/outbox.js';
import type { CertificateStore } from '../../security/certificate-store.js';
import type { ChargePointCertificate } from '../../security/charge-point-certificate.js';
import type { FeatureContext } from '../context.js';
import { sendSignedFirmwareStatusNow } from '../firmware/firmware-status-notification.js';
import type { InstalledProfile, MessageTrigger, TriggerTarget } from '../profile.js';
import { registerCertificateSigned, watchCertificateTrial } from './certificate-signed.js';
import { registerDeleteCertificate } from './delete-certificate.js';
import { registerExtendedTriggerMessage } from './extended-trigger-message.js';
import { registerGetInstalledCertificateIds } from './get-installed-certificate-ids.js';
import { registerGetLog } from './get-log.js';
import { registerInstallCertificate } from './install-certificate.js';
import type { SecurityEvents } from './security-events.js';
import { CertificateRenewal } from './sign-certificate.js';
import { registerSignedUpdateFirmware } from './signed-update-firmware.js';

/**
 * The configuration-key capabilities of the Security extension. It is not a 1.6 feature profile
 * (SupportedFeatureProfiles never lists it), so its keys are enabled here rather than by PROFILES.
 */
export const SECURITY_EXTENSION_CAPABILITIES: readonly string[] = ['certificates'];

/** The station-level services the Security extension's handlers work on. */
export interface SecurityServices {
  certificates: CertificateStore;
  chargePointCertificate: ChargePointCertificate;
  /** The CN of a new charge point certificate: DESIGN.md item 7. */
  serialNumber: string | undefined;
  /** Whether the central system has accepted us on an open connection. */
  online: () => boolean;
  link: Link;
  /** The TriggerMessage targets of the installed profiles (ExtendedTriggerMessage reuses them). */
  triggers: ReadonlyMap<MessageTrigger, TriggerTarget>;
  securityEvents: SecurityEvents;
  /** Builds and uploads the logs GetLog asks for. */
  diagnostics: DiagnosticsFiles;
  /** The durable queue: how a GetLog upload ended reaches the central system across outages. */
  outbox: Pick<Outbox, 'enqueue'>;
  /** The firmware pipeline (signed updates; ManufacturerRootCertificate checks). */
  firmware: FirmwareUpdates;
}

/** What the runtime drives: renewal runs from start to stop and asks again once registration is Accepted. */
export interface InstalledSecurityExtension extends InstalledProfile {
  onAccepted(): void;
}

/**
 * Installs the Security extension's handlers and event sources (whitepaper edition 3), as a profile
 * installs its own.
 */
export function installSecurityExtension(
  ctx: FeatureContext,
  services: SecurityServices,
): InstalledSecurityExtension {
  const { certificates, chargePointCertificate, link, securityEvents } = services;
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
  registerInstallCertificate(ctx, certificates);
  registerDeleteCertificate(ctx, certificates);
  registerGetInstalledCertificateIds(ctx, certificates);
  const renewal = new CertificateRenewal(ctx, {
    certificate: chargePointCertificate,
    serialNumber: services.serialNumber,
    online: services.online,
  });
  registerCertificateSigned(ctx, {
    certificate: chargePointCertificate,
    centralSystemRoots: () => certificates.rootsPem('CentralSystemRootCertificate'),
    link,
    raise: (type, techInfo) => securityEvents.raise(type, techInfo),
  });
  registerSignedUpdateFirmware(ctx, services.firmware);
  const getLog = registerGetLog(ctx, services.diagnostics, services.outbox);
  registerExtendedTriggerMessage(ctx, {
    triggers: services.triggers,
    renewal,
    signedFirmwareStatus: () => sendSignedFirmwareStatusNow(ctx, services.firmware.current()),
    logStatus: getLog.trigger,
  });
  watchCertificateTrial(chargePointCertificate, link, ctx.log);
  return {
    start: () => renewal.start(),
    stop: () => {
      renewal.stop();
      getLog.stop();
    },
    onAccepted: () => renewal.onAccepted(),
  };
}
