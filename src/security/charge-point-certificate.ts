import { createPublicKey, X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  chmodSync,
  closeSync,
  existsSync,
  fchmodSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { OcppTime } from '../clock.js';
import type { Logger } from '../log.js';
import { verifyChargePointChain } from './certificate-chain.js';
import { type CertificateSubject, createCertificateRequest, type KeyType } from './csr.js';

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

export interface ChargePointCertificateEvents {
  /** A certificate was installed (or a trial ended): the credentials changed. */
  changed: [];
}

export type InstallResult =
  | { status: 'Accepted'; trial: boolean }
  | { status: 'Rejected'; reason: string; invalid: boolean };

/** The files of one certificate and its key under the directory. */
interface Slot {
  cert: string;
  key: string;
}

/**
 * The charge point certificate and its key (white paper A02/A03) in the state directory:
 *
 * - `charge-point.pem/.key` the certificate in use (none: the provisioned files serve);
 * - `request.key` the key of the signing request last sent, waiting for CertificateSigned;
 * - `charge-point-new.pem/.key` a certificate just signed, on trial: used for the next
 *   connections; it replaces the one in use once a connection with it opens, and is dropped if
 *   `abandonTrial` is called (the central system will not take it);
 * - `charge-point-previous.pem/.key` the one replaced last (A02.FR.10: keep the old one a while).
 *
 * Every state is a set of files, written whole (temporary file, then rename), so a power cut leaves
 * either the old or the new state; a trial found at start goes on.
 */
export class ChargePointCertificate extends EventEmitter<ChargePointCertificateEvents> {
  private readonly current: Slot;
  private readonly trialSlot: Slot;
  private readonly previous: Slot;
  private readonly requestKey: string;

  constructor(private readonly opts: ChargePointCertificateOptions) {
    super();
    const { dir } = opts;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    const slot = (name: string): Slot => ({ cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) });
    this.current = slot('charge-point');
    this.trialSlot = slot('charge-point-new');
    this.previous = slot('charge-point-previous');
    this.requestKey = join(dir, 'request.key');
  }

  /** Whether a certificate signed for us is on trial (used for the next connections). */
  get onTrial(): boolean {
    return hasBoth(this.trialSlot);
  }

  /** Whether a signing request waits for its certificate. */
  get requestPending(): boolean {
    return existsSync(this.requestKey);
  }

  /** Whether the charge point has a certificate to authenticate with (security profile 3's prerequisite). */
  installed(): boolean {
    return this.credentials() !== undefined;
  }

  /** What the next TLS connection presents: the certificate on trial, else the one in use, else the provisioned one. */
  credentials(): ClientCredentials | undefined {
    for (const slot of [this.trialSlot, this.current]) {
      if (hasBoth(slot)) return read(slot);
    }
    const provisioned = this.opts.provisioned;
    return provisioned ? read({ cert: provisioned.certFile, key: provisioned.keyFile }) : undefined;
  }

  /** The end of validity of the certificate in use (not one on trial), or undefined without one. */
  notAfterMs(): number | undefined {
    const slot = hasBoth(this.current) ? this.current : this.opts.provisioned;
    const file = slot && ('cert' in slot ? slot.cert : slot.certFile);
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
    const request = await createCertificateRequest(this.opts.keyType, subject);
    writeAtomically(this.requestKey, request.privateKeyPem, 0o600);
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
    if (!this.requestPending)
      return { status: 'Rejected', reason: 'no certificate signing request pending', invalid: false };
    const keyPem = readFileSync(this.requestKey, 'utf8');
    const publicKeyDer = publicKeyOf(keyPem);
    const verdict = verifyChargePointChain(chain, {
      roots: check.roots,
      publicKeyDer,
      nowMs: this.opts.time.nowMs(),
      maxChainSize: check.maxChainSize,
    });
    if (!verdict.ok) return { status: 'Rejected', reason: verdict.reason, invalid: true };
    const target = check.trial ? this.trialSlot : this.current;
    if (!check.trial) this.keepAsPrevious();
    writeAtomically(target.cert, verdict.chainPem, 0o644);
    renameSync(this.requestKey, target.key);
    this.opts.log.info(
      { notAfter: new Date(verdict.notAfterMs).toISOString(), trial: check.trial },
      check.trial
        ? 'new charge point certificate installed; the next connection tries it'
        : 'new charge point certificate installed',
    );
    this.emit('changed');
    return { status: 'Accepted', trial: check.trial };
  }

  /** A connection presenting the certificate on trial opened: it becomes the one in use. */
  confirmTrial(): void {
    if (!this.onTrial) return;
    this.keepAsPrevious();
    renameSync(this.trialSlot.key, this.current.key);
    renameSync(this.trialSlot.cert, this.current.cert);
    this.opts.log.info('connected with the new charge point certificate; it replaces the old one');
    this.emit('changed');
  }

  /** The certificate on trial could not connect: it is dropped and the one in use comes back. */
  abandonTrial(): void {
    if (!this.onTrial) return;
    rmSync(this.trialSlot.cert, { force: true });
    rmSync(this.trialSlot.key, { force: true });
    this.emit('changed');
  }

  private keepAsPrevious(): void {
    if (!hasBoth(this.current)) return;
    renameSync(this.current.key, this.previous.key);
    renameSync(this.current.cert, this.previous.cert);
  }
}

function hasBoth(slot: Slot): boolean {
  return existsSync(slot.cert) && existsSync(slot.key);
}

function read(slot: Slot): ClientCredentials {
  return { cert: readFileSync(slot.cert, 'utf8'), key: readFileSync(slot.key, 'utf8') };
}

/** The public half of a private key as SubjectPublicKeyInfo DER: how a certificate's key is compared. */
function publicKeyOf(privateKeyPem: string): Buffer {
  return createPublicKey(privateKeyPem).export({ type: 'spki', format: 'der' });
}

/** Writes a whole file or nothing: a temporary file with its mode, synced, then renamed over the target. */
function writeAtomically(path: string, text: string, mode: number): void {
  const temporary = `${path}.tmp`;
  const fd = openSync(temporary, 'w', mode);
  try {
    fchmodSync(fd, mode);
    writeFileSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
}
