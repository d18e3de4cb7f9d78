import type { CertificateStore } from '../../security/certificate-store.js';
import type { FeatureContext } from '../context.js';

/**
 * InstallCertificate (whitepaper M05): a root of the named kind goes into the store; the store
 * decides Accepted / Rejected (invalid, or full) / Failed (valid, but not stored).
 */
export function registerInstallCertificate(ctx: FeatureContext, store: CertificateStore): void {
  ctx.rpc.handle('InstallCertificate', ({ certificateType, certificate }) => ({
    status: store.install(certificateType, certificate),
  }));
}
