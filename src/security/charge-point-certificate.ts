import { createPublicKey, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OcppTime } from '../clock.js';
import { errorMessage } from '../error-message.js';
import { removeFileDurably, renameFileDurably, writeFileDurably } from '../fs/durable-file.js';
import type { Logger } from '../log.js';
import { validityProblem, verifyChargePointChain } from './certificate-chain.js';
import type { CertificateSubject, KeyType } from './csr.js';
import { certificateOf, pemBlocks } from './root-certificate.js';

/** A client certificate (chain, PEM) and its private key (PEM), for TLS. */
export interface ClientCredentials {
  cert: string;
  key: string;
}

export interface ChargePointCertificateOptions {
  /** Where the certificates and keys live: `<stateDir>/certs`, kept 0700, keys 0600. */
  dir: string;
  /** The provisioned certificate (csms.certFile / keyFile): used until one is installed over OCPP. */
  provisioned?: { certFile: string; keyFile: string };
  keyType: KeyType;
  time: Pick<OcppTime, 'nowMs'>;
  log: Logger;
}

/**
 * A Rejected install is `invalid` when the certificate itself is refused (InvalidChargePointCertificate,
 * TC_077: anything but a valid chain for the pending request), and not when a valid one could
 * not be stored.
 */
export type InstallResult =
  | { status: 'Accepted'; trial: boolean }
  | { status: 'Rejected'; reason: string; invalid: boolean };

const PRIVATE_KEY = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n?/;

/** The file names under `dir` (see the class). */
const IN_USE = 'charge-point.pem';
const ON_TRIAL = 'charge-point-new.pem';
const PREVIOUS = 'charge-point-previous.pem';
const REQUEST_KEY = 'request.key';
/** The files written whole through a temporary `<name>.tmp`. */
const WRITTEN = [IN_USE, ON_TRIAL, PREVIOUS, REQUEST_KEY];

/**
 * The charge point certificate and its key (white paper A02/A03) in the state directory:
 *
 * - `charge-point.pem` the certificate in use (none: the provisioned files serve);
 * - `request.key` the key of the signing request last sent, waiting for CertificateSigned;
 * - `charge-point-new.pem` a certificate just signed, on trial: used for the next connections; it
 *   replaces the one in use once a connection with it opens, and is dropped if `abandonTrial` is
 *   called (the central system will not take it);
 * - `charge-point-previous.pem` the one replaced last (A02.FR.10: keep the old one a while).
 *
 * Each certificate file holds the chain and its private key (mode 0600), so a certificate never
 * parts from its key: every change is one file written whole (temporary file, fsync, rename) or one
 * rename, and a power cut leaves either the old or the new state; a trial found at start goes on.
 * A power cut mid-write leaves a `<name>.tmp` instead, possibly holding a private key: those of
 * our own names are removed at start (the root certificates' files in the same directory are the
 * certificate store's).
 */
export class ChargePointCertificate {
  private readonly current: string;
  private readonly trialFile: string;
  private readonly requestKey: string;

  constructor(private readonly opts: ChargePointCertificateOptions) {
    const { dir } = opts;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    this.current = join(dir, IN_USE);
    this.trialFile = join(dir, ON_TRIAL);
    this.requestKey = join(dir, REQUEST_KEY);
    this.sweepTemporaryFiles();
  }

  /** Whether a certificate signed for us is on trial (used for the next connections). */
  get onTrial(): boolean {
    return existsSync(this.trialFile);
  }

  /** Whether a signing request waits for its certificate. */
  get requestPending(): boolean {
    return existsSync(this.requestKey);
  }

  /**
   * Why the charge point has no valid certificate to authenticate with, or undefined when it has
   * (security profile 3's prerequisite, A05.FR.04): the one the next connection presents must be
   * there, readable and valid now.
   */
  certificateProblem(): string | undefined {
    let credentials: ClientCredentials | undefined;
    try {
      credentials = this.credentials();
    } catch (error) {
      return `charge point certificate unreadable: ${errorMessage(error)}`;
    }
    if (!credentials) return 'no charge point certificate installed';
    const cert = certificateOf(pemBlocks(credentials.cert)[0] ?? '');
    if (!cert) return 'charge point certificate unreadable';
    return validityProblem(cert, this.opts.time.nowMs(), 'the charge point certificate');
  }

  /** What the next TLS connection presents: the certificate on trial, else the one in use, else the provisioned one. */
  credentials(): ClientCredentials | undefined {
    for (const file of [this.trialFile, this.current]) {
      if (existsSync(file)) return split(readFileSync(file, 'utf8'));
    }
    const provisioned = this.opts.provisioned;
    return provisioned
      ? { cert: readFileSync(provisioned.certFile, 'utf8'), key: readFileSync(provisioned.keyFile, 'utf8') }
      : undefined;
  }

  /** The end of validity of the certificate in use (not one on trial), or undefined without one. */
  notAfterMs(): number | undefined {
    const file = existsSync(this.current) ? this.current : this.opts.provisioned?.certFile;
    if (!file) return undefined;
    try {
      return Date.parse(new X509Certificate(readFileSync(file)).validTo);
    } catch {
      this.opts.log.warn({ file }, 'charge point certificate unreadable');
      return undefined;
    }
  }

  /**
   * A new key pair and its signing request; the key waits (0600) for the certificate. A request
   * made earlier is forgotten: only the newest one's certificate is accepted.
   */
  async newRequest(subject: CertificateSubject): Promise<string> {
    const started = performance.now();
    // csr.ts and its DER writer load with the first request: a key renewal is rare.
    const { createCertificateRequest } = await import('./csr.js');
    const request = await createCertificateRequest(this.opts.keyType, subject);
    writeFileDurably(this.opts.dir, REQUEST_KEY, request.privateKeyPem, 0o600);
    this.opts.log.info(
      { keyType: this.opts.keyType, ...subject, ms: Math.round(performance.now() - started) },
      'new key pair and certificate signing request',
    );
    return request.csrPem;
  }

  /**
   * Checks a CertificateSigned chain against the pending request and the roots, and installs it:
   * on trial when `trial` (the connection will present it: it must prove itself), otherwise at once.
   */
  install(
    chain: string,
    check: { roots: readonly string[]; maxChainSize: number; trial: boolean },
  ): InstallResult {
    // A certificate nobody asked for is as invalid as a wrong one (A02, TC_077: anything else).
    if (!this.requestPending)
      return { status: 'Rejected', reason: 'no certificate signing request pending', invalid: true };
    let keyPem: string;
    let publicKeyDer: Buffer;
    try {
      keyPem = readFileSync(this.requestKey, 'utf8');
      publicKeyDer = publicKeyOf(keyPem);
    } catch (error) {
      const reason = `signing request key unreadable: ${errorMessage(error)}`;
      this.opts.log.error({ reason }, 'CertificateSigned cannot be checked');
      return { status: 'Rejected', reason, invalid: false };
    }
    const verdict = verifyChargePointChain(chain, {
      roots: check.roots,
      publicKeyDer,
      nowMs: this.opts.time.nowMs(),
      maxChainSize: check.maxChainSize,
    });
    if (!verdict.ok) return { status: 'Rejected', reason: verdict.reason, invalid: true };
    try {
      this.store(`${verdict.chainPem}${keyPem}`, check.trial);
    } catch (error) {
      const reason = `not stored: ${errorMessage(error)}`;
      this.opts.log.error({ reason }, 'new charge point certificate could not be stored; the old one stays');
      return { status: 'Rejected', reason, invalid: false };
    }
    try {
      removeFileDurably(this.opts.dir, REQUEST_KEY);
    } catch (error) {
      // The certificate is in place; a key left behind only lets the same certificate in again.
      this.opts.log.warn({ err: errorMessage(error) }, 'signing request key not removed');
    }
    this.opts.log.info(
      { notAfter: new Date(verdict.notAfterMs).toISOString(), trial: check.trial },
      check.trial
        ? 'new charge point certificate installed; the next connection tries it'
        : 'new charge point certificate installed',
    );
    return { status: 'Accepted', trial: check.trial };
  }

  /**
   * Writes a new certificate file: on trial beside the one in use, or over the one in use. Each
   * write replaces its file whole or not at all, so a write that fails (it throws) leaves the
   * certificate in use as it was. The replaced one is kept as the previous one after the new one
   * is in place, so a failure then costs only that copy, and is logged.
   */
  private store(text: string, trial: boolean): void {
    if (trial) {
      writeFileDurably(this.opts.dir, ON_TRIAL, text, 0o600);
      return;
    }
    const replaced = existsSync(this.current) ? readFileSync(this.current, 'utf8') : undefined;
    writeFileDurably(this.opts.dir, IN_USE, text, 0o600);
    if (replaced === undefined) return;
    try {
      writeFileDurably(this.opts.dir, PREVIOUS, replaced, 0o600);
    } catch (error) {
      this.opts.log.warn({ err: errorMessage(error) }, 'replaced charge point certificate not kept');
    }
  }

  /** A connection presenting the certificate on trial opened: it becomes the one in use. */
  confirmTrial(): void {
    if (!this.onTrial) return;
    this.keepAsPrevious();
    renameFileDurably(this.opts.dir, ON_TRIAL, IN_USE);
    this.opts.log.info('connected with the new charge point certificate; it replaces the old one');
  }

  /** The certificate on trial could not connect: it is dropped and the one in use comes back. */
  abandonTrial(): void {
    if (!this.onTrial) return;
    removeFileDurably(this.opts.dir, ON_TRIAL);
  }

  /** What an interrupted write left: never renamed, so never in use, and maybe a private key. */
  private sweepTemporaryFiles(): void {
    for (const name of WRITTEN) {
      const temporary = `${name}.tmp`;
      if (!existsSync(join(this.opts.dir, temporary))) continue;
      removeFileDurably(this.opts.dir, temporary);
      this.opts.log.warn({ file: temporary }, 'removed a charge point certificate file left half-written');
    }
  }

  private keepAsPrevious(): void {
    if (existsSync(this.current)) renameFileDurably(this.opts.dir, IN_USE, PREVIOUS);
  }
}

/** A certificate file of ours: the chain, then the private key. */
function split(text: string): ClientCredentials {
  return { cert: text.replace(PRIVATE_KEY, ''), key: PRIVATE_KEY.exec(text)?.[0] ?? '' };
}

/** The public half of a private key as SubjectPublicKeyInfo DER: how a certificate's key is compared. */
function publicKeyOf(privateKeyPem: string): Buffer {
  return createPublicKey(privateKeyPem).export({ type: 'spki', format: 'der' });
}
