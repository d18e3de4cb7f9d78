import { type Clock, type OcppTime, Schedule } from '../../clock.js';
import type { ConfigurationRegistry } from '../../config/registry.js';
import { errorMessage } from '../../error-message.js';
import type { Logger } from '../../log.js';
import type { SignCertificateRequest, SignCertificateResponse } from '../../ocpp/generated/messages.js';
import type { CallOptions } from '../../ocpp/rpc.js';
import type { ChargePointCertificate } from '../../security/charge-point-certificate.js';
import type { CertificateSubject } from '../../security/csr.js';
import { sendQuietly } from '../context.js';

/** A03: a certificate that ends within this is renewed. */
export const RENEW_BEFORE_EXPIRY_MS = 30 * 24 * 3600 * 1000;
/** How often the certificate's end of validity is looked at. */
export const EXPIRY_CHECK_INTERVAL_MS = 24 * 3600 * 1000;

/** What renewal needs of the feature context. */
export interface RenewalContext {
  rpc: {
    call(
      action: 'SignCertificate',
      payload: SignCertificateRequest,
      opts: CallOptions,
    ): Promise<SignCertificateResponse>;
  };
  config: Pick<ConfigurationRegistry, 'get'>;
  clock: Clock;
  time: Pick<OcppTime, 'nowMs'>;
  log: Logger;
}

export interface CertificateRenewalOptions {
  certificate: ChargePointCertificate;
  /** The CN of the certificate: DESIGN.md item 7 (chargeBoxSerialNumber, else chargePointSerialNumber). */
  serialNumber: string | undefined;
  /** Whether the central system has accepted us on an open connection: SignCertificate can go now. */
  online: () => boolean;
}

/**
 * Renewal of the charge point certificate (white paper A02 and A03): a new key pair and a signing
 * request sent as SignCertificate.req, when the central system asks (ExtendedTriggerMessage
 * SignChargePointCertificate) or when the certificate in use ends within 30 days (looked at once a
 * day, and at start). A request found due while offline goes once the central system accepts us
 * again; one that got no certificate is not retried before the next daily look (A02's error
 * handling: the central system decides).
 */
export class CertificateRenewal {
  private readonly daily: Schedule;
  private due = false;

  constructor(
    private readonly ctx: RenewalContext,
    private readonly opts: CertificateRenewalOptions,
  ) {
    this.daily = new Schedule(ctx.clock, () => ({
      inMs: EXPIRY_CHECK_INTERVAL_MS,
      run: () => {
        this.checkExpiry();
        this.daily.replan();
      },
    }));
  }

  start(): void {
    this.daily.start();
    this.checkExpiry();
  }

  stop(): void {
    this.daily.stop();
  }

  /** Why no signing request can be made now (A02's prerequisite: CpoName), or undefined. */
  refusal(): string | undefined {
    if (!this.ctx.config.get('CpoName')) return 'CpoName is not set';
    if (!this.opts.serialNumber)
      return 'no serial number (identity.chargeBoxSerialNumber / chargePointSerialNumber)';
    return undefined;
  }

  /** Registration Accepted: a renewal found due while offline goes now. */
  onAccepted(): void {
    if (!this.due) return;
    this.due = false;
    void this.request(false);
  }

  /**
   * Makes a key pair and a request and sends SignCertificate.req. `triggered`: the central system
   * asked for it, so it passes the gate while registration is Pending (A00.FR.806 lets a central
   * system hold a charger in Pending until its credentials are renewed). Never throws: a failure is
   * logged.
   */
  async request(triggered: boolean): Promise<void> {
    const { log, rpc } = this.ctx;
    const refusal = this.refusal();
    const organization = this.ctx.config.get('CpoName');
    const commonName = this.opts.serialNumber;
    if (refusal || !organization || !commonName) {
      log.warn({ reason: refusal }, 'no certificate signing request');
      return;
    }
    const subject: CertificateSubject = { organization, commonName };
    let csr: string;
    try {
      csr = await this.opts.certificate.newRequest(subject);
    } catch (error) {
      log.error({ err: errorMessage(error) }, 'certificate signing request failed');
      return;
    }
    const answer = await sendQuietly(log, 'SignCertificate', () =>
      rpc.call('SignCertificate', { csr }, { triggered }),
    );
    if (answer?.status === 'Accepted') log.info('SignCertificate accepted; waiting for CertificateSigned');
    else log.warn({ status: answer?.status }, 'SignCertificate not accepted');
  }

  private checkExpiry(): void {
    const notAfterMs = this.opts.certificate.notAfterMs();
    if (notAfterMs === undefined) return;
    const leftMs = notAfterMs - this.ctx.time.nowMs();
    if (leftMs > RENEW_BEFORE_EXPIRY_MS) return;
    this.ctx.log.warn(
      { notAfter: new Date(notAfterMs).toISOString() },
      'charge point certificate ends within 30 days; renewing it',
    );
    if (this.opts.online()) void this.request(false);
    else this.due = true;
  }
}
