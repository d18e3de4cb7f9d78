import type { Logger } from '../../log.js';
import type { Link } from '../../ocpp/link.js';
import type { ChargePointCertificate } from '../../security/charge-point-certificate.js';
import type { FeatureContext } from '../context.js';
import { TRIAL_ATTEMPTS, watchConnectionTrial } from './connection-trial.js';

/** Narrowed from SecurityEventType: the event a refused certificate raises. */
export type ChargePointCertificateEvent = 'InvalidChargePointCertificate';

export interface CertificateSignedOptions {
  certificate: ChargePointCertificate;
  /** The installed central-system roots (PEM), the provisioned caFile's included. */
  centralSystemRoots: () => string[];
  link: Pick<Link, 'reconnect'>;
  raise: (type: ChargePointCertificateEvent, techInfo?: string) => void;
}

/**
 * CertificateSigned (white paper A02/A03): the chain for our pending request is verified and
 * installed, else Rejected with an InvalidChargePointCertificate security event (A02.FR.07,
 * TC_077), also without a pending request; a valid one that cannot be stored is Rejected (and
 * logged) without the event, never answered with a CALLERROR. On security profile 3 the connection presents
 * the client certificate, so the new one is tried at once on a new connection, after the answer;
 * the old one stays until that connection opens (see `watchCertificateTrial`).
 */
export function registerCertificateSigned(
  ctx: Pick<FeatureContext, 'rpc' | 'config' | 'log'>,
  opts: CertificateSignedOptions,
): void {
  ctx.rpc.handle('CertificateSigned', (req, call) => {
    const trial = ctx.config.getInt('SecurityProfile') === 3;
    const result = opts.certificate.install(req.certificateChain, {
      roots: opts.centralSystemRoots(),
      maxChainSize: ctx.config.getInt('CertificateSignedMaxChainSize'),
      trial,
    });
    if (result.status === 'Rejected') {
      ctx.log.warn({ reason: result.reason }, 'CertificateSigned rejected');
      if (result.invalid) opts.raise('InvalidChargePointCertificate', result.reason);
      return { status: 'Rejected' };
    }
    if (result.trial) call.afterAnswer(() => opts.link.reconnect('new charge point certificate'));
    return { status: 'Accepted' };
  });
}

/**
 * The certificate on trial proves itself by a connection that opens with it, and then replaces the
 * old one; after as many failed attempts as a new security profile gets, it is dropped and the old
 * certificate and key come back (A02.FR.08-10: keep the old one until the new one works).
 */
export function watchCertificateTrial(
  certificate: ChargePointCertificate,
  link: Pick<Link, 'on' | 'reconnect'>,
  log: Logger,
): void {
  watchConnectionTrial(link, {
    onTrial: () => certificate.onTrial,
    confirm: () => certificate.confirmTrial(),
    giveUp: () => {
      log.error(
        { attempts: TRIAL_ATTEMPTS },
        'cannot connect with the new charge point certificate; back to the previous one',
      );
      certificate.abandonTrial();
      link.reconnect('charge point certificate fallback');
    },
  });
}
