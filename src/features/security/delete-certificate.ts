import type { CertificateStore } from '../../security/certificate-store.js';
import type { FeatureContext } from '../context.js';

/**
 * DeleteCertificate (whitepaper M04): looks the hash data up among the root certificates with the
 * hashAlgorithm given. The charge point certificate is not among them, so its hash is NotFound
 * (M04.FR.05: it cannot be deleted this way).
 */
export function registerDeleteCertificate(ctx: FeatureContext, store: CertificateStore): void {
  ctx.rpc.handle('DeleteCertificate', ({ certificateHashData }) => ({
    status: store.remove(certificateHashData),
  }));
}
