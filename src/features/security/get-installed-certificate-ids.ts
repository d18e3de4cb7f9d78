import type { CertificateStore } from '../../security/certificate-store.js';
import type { FeatureContext } from '../context.js';

/** GetInstalledCertificateIds (whitepaper M03): the hash data of every root of the kind, else NotFound. */
export function registerGetInstalledCertificateIds(ctx: FeatureContext, store: CertificateStore): void {
  ctx.rpc.handle('GetInstalledCertificateIds', ({ certificateType }) => {
    const [first, ...rest] = store.installedIds(certificateType);
    return first ? { status: 'Accepted', certificateHashData: [first, ...rest] } : { status: 'NotFound' };
  });
}
