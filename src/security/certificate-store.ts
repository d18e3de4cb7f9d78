import type { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../error-message.js';
import { removeFileDurably, writeFileDurably } from '../fs/durable-file.js';
import type { Logger } from '../log.js';
import type {
  CertificateHashDataType,
  DeleteCertificateStatusEnumType,
  InstallCertificateStatusEnumType,
} from '../ocpp/generated/messages.js';
import {
  type CertificateMark,
  type CertificatesRepo,
  type InstalledCertificateRow,
  markKey,
} from '../store/certificates-repo.js';
import {
  certificateOf,
  fingerprintOf,
  hashDataOf,
  type IssuerHashes,
  isIssuedBy,
  isSelfSigned,
  issuerHashes,
  parseCertificate,
  pemBlocks,
  type RootCertificateType,
  rootProblem,
  sameHashData,
  serialNumberHex,
} from './root-certificate.js';

/** The security events this store raises (narrowed from SecurityEventType). */
export type CertificateStoreEvent = 'InvalidCentralSystemCertificate';

export interface CertificateStoreOptions {
  /** Installed PEM files go to `<stateDir>/certs`. */
  stateDir: string;
  repo: CertificatesRepo;
  /** The provisioned csms.caFile: the base set of central-system roots, never edited by us. */
  caFile?: string;
  /** CertificateStoreMaxLength, read at each install. */
  maxLength: () => number;
  /** AdditionalRootCertificateCheck, read at each install. */
  additionalRootCertificateCheck: () => boolean;
  /** Wall-clock epoch ms for validity checks. */
  now: () => number;
  /** The server chain (DER, leaf first) the current connection was verified with; empty when none. */
  connectionChain: () => readonly Buffer[];
  /**
   * An install refused: one event per InstallCertificate CALL, each of which must reach the
   * central system (TC_078), so it is no flood to rate limit.
   */
  raise: (type: CertificateStoreEvent, techInfo?: string) => void;
  log: Logger;
}

interface RootEntry {
  certificateType: RootCertificateType;
  cert: X509Certificate;
  pem: string;
  fingerprint: string;
  serialNumber: string;
  /** Undefined for a provisioned root whose issuer is not at hand (trusted, but not listed). */
  hashes: IssuerHashes | undefined;
  /** The file under certs/ of an installed root; undefined for a provisioned one. */
  file: string | undefined;
}

const PEM_SUFFIX = '.pem';

/**
 * The root certificates (whitepaper M03-M05): the provisioned csms.caFile plus the roots the
 * central system installs over OCPP. An installed root is its PEM file under stateDir/certs and a
 * row with its hash data; the file is written durably before the row, so a crash leaves at most a
 * file without row, which the next start adopts (or a row without file, which it drops).
 * A provisioned root deleted over OCPP is hidden by a mark, as the config file is not ours to edit.
 */
export class CertificateStore {
  private readonly dir: string;
  private readonly provisioned: RootEntry[];
  private installed: RootEntry[] = [];

  constructor(private readonly opts: CertificateStoreOptions) {
    this.dir = join(opts.stateDir, 'certs');
    this.provisioned = this.loadProvisioned();
    this.loadInstalled();
  }

  /** PEM of every trusted root of the kind (fallbacks included), for TLS and chain checks. */
  rootsPem(kind: RootCertificateType): string[] {
    return this.visible(kind).map((entry) => entry.pem);
  }

  /** Whether a root of the kind is trusted and valid now (SecurityProfile 2/3, whitepaper A05.FR.03). */
  hasValidRoot(kind: RootCertificateType): boolean {
    const now = this.opts.now();
    return this.visible(kind).some((entry) => rootProblem(entry.cert, now) === undefined);
  }

  /** GetInstalledCertificateIds: one SHA256 CertificateHashData per listed root of the kind. */
  installedIds(kind: RootCertificateType): CertificateHashDataType[] {
    return this.visible(kind).flatMap((entry) =>
      entry.hashes ? [hashDataOf(entry.hashes, entry.serialNumber, 'SHA256')] : [],
    );
  }

  install(kind: RootCertificateType, pem: string): InstallCertificateStatusEnumType {
    const { log } = this.opts;
    const cert = parseCertificate(pem);
    if (!cert) return this.reject(kind, 'malformed PEM certificate');
    const problem = rootProblem(cert, this.opts.now());
    if (problem) return this.reject(kind, problem, cert);
    const fingerprint = fingerprintOf(cert);
    const held = this.visible(kind);
    if (held.some((entry) => entry.fingerprint === fingerprint)) return 'Accepted';
    const replaced =
      kind === 'CentralSystemRootCertificate' && this.opts.additionalRootCertificateCheck()
        ? held.filter((entry) => this.markOf(entry) !== 'fallback')
        : [];
    if (replaced.length > 0 && !replaced.some((entry) => isIssuedBy(cert, entry.cert)))
      return this.reject(kind, 'AdditionalRootCertificateCheck: not signed by the installed root', cert);
    const issuer = isSelfSigned(cert) ? cert : held.find((entry) => isIssuedBy(cert, entry.cert))?.cert;
    if (!issuer) return this.reject(kind, 'neither self-signed nor issued by an installed root', cert);
    if (this.count() >= this.opts.maxLength()) {
      log.warn({ certificateType: kind, subject: cert.subject }, 'certificate store full; install refused');
      return 'Rejected';
    }
    const entry = rootEntry(kind, cert, issuer, fileName(kind, fingerprint));
    try {
      this.persist(
        entry,
        replaced.map((old) => old.fingerprint),
      );
    } catch (error) {
      log.error({ certificateType: kind, err: errorMessage(error) }, 'certificate could not be stored');
      return 'Failed';
    }
    this.installed.push(entry);
    log.info(
      { certificateType: kind, subject: cert.subject, replaced: replaced.length },
      'root certificate installed',
    );
    if (replaced.length > 0) this.keepOneFallback(entry);
    return 'Accepted';
  }

  /**
   * AdditionalRootCertificateCheck allows one root plus one temporary fallback (M05.FR.08): the
   * root a new one replaces, which signed it. Every other central-system root, an older fallback
   * included, is deleted as DeleteCertificate deletes. The new root and the fallback marks of all
   * it replaced were stored first, in one transaction, so a power cut before the deletion leaves
   * fallbacks, which the new root's first connection removes. A root the current connection was
   * verified with may go too: that connection stays up (trust is read before each attempt), the
   * next one trusts the new root and its fallback only.
   */
  private keepOneFallback(current: RootEntry): void {
    const { log } = this.opts;
    const inUse = this.chainRoots(this.opts.connectionChain());
    const surplus = this.visible(current.certificateType).filter(
      (entry) => entry !== current && !isIssuedBy(current.cert, entry.cert),
    );
    for (const entry of surplus) {
      try {
        this.drop(entry);
      } catch (error) {
        log.error({ err: errorMessage(error) }, 'surplus root certificate not removed');
        continue;
      }
      log.info(
        { subject: entry.cert.subject },
        'surplus root certificate removed (one root and one fallback)',
      );
      if (inUse.includes(entry))
        log.warn(
          { subject: entry.cert.subject },
          'the current connection was verified with a root no longer trusted: the next one needs the new root or its fallback',
        );
    }
  }

  remove(hashData: CertificateHashDataType): DeleteCertificateStatusEnumType {
    const matches = [
      ...this.visible('CentralSystemRootCertificate'),
      ...this.visible('ManufacturerRootCertificate'),
    ].filter(
      (entry) =>
        entry.hashes &&
        sameHashData(hashDataOf(entry.hashes, entry.serialNumber, hashData.hashAlgorithm), hashData),
    );
    if (matches.length === 0) return 'NotFound';
    const inUse = this.chainRoots(this.opts.connectionChain());
    if (matches.some((entry) => inUse.includes(entry))) {
      this.opts.log.warn('refusing to delete the root certificate the current connection was verified with');
      return 'Failed';
    }
    try {
      for (const entry of matches) this.drop(entry);
    } catch (error) {
      this.opts.log.error({ err: errorMessage(error) }, 'certificate could not be deleted');
      return 'Failed';
    }
    return 'Accepted';
  }

  /**
   * After a connection is verified: under AdditionalRootCertificateCheck a replaced root stays as a
   * fallback until a connection succeeds with a root nearer the server than it; then it goes.
   */
  connected(chain: readonly Buffer[]): void {
    const nearest = this.chainRoots(chain)[0];
    if (!nearest || this.markOf(nearest) === 'fallback') return;
    for (const entry of this.visible('CentralSystemRootCertificate')) {
      if (this.markOf(entry) !== 'fallback') continue;
      try {
        this.drop(entry);
        this.opts.log.info({ subject: entry.cert.subject }, 'fallback root certificate removed');
      } catch (error) {
        this.opts.log.error({ err: errorMessage(error) }, 'fallback root certificate not removed');
      }
    }
  }

  /**
   * The central-system roots the chain runs through, nearest the server first: a root that is in
   * the chain (Node completes a peer chain with the anchor from our CA list) or that issued one of
   * its certificates.
   */
  private chainRoots(chain: readonly Buffer[]): RootEntry[] {
    const roots = this.visible('CentralSystemRootCertificate');
    const found: RootEntry[] = [];
    for (const der of chain) {
      const cert = certificateOf(der);
      if (!cert) continue;
      const fingerprint = fingerprintOf(cert);
      for (const root of roots) {
        if (found.includes(root)) continue;
        if (root.fingerprint === fingerprint || isIssuedBy(cert, root.cert)) found.push(root);
      }
    }
    return found;
  }

  private reject(
    kind: RootCertificateType,
    reason: string,
    cert?: X509Certificate,
  ): InstallCertificateStatusEnumType {
    this.opts.log.warn(
      { certificateType: kind, subject: cert?.subject, reason },
      'certificate install rejected',
    );
    if (kind === 'CentralSystemRootCertificate') this.opts.raise('InvalidCentralSystemCertificate', reason);
    return 'Rejected';
  }

  private markOf(entry: RootEntry): CertificateMark | undefined {
    return this.opts.repo.marks().get(markKey(entry.certificateType, entry.fingerprint));
  }

  /** Listed and trusted roots of the kind: installed ones, then provisioned ones not deleted. */
  private visible(kind: RootCertificateType): RootEntry[] {
    const marks = this.opts.repo.marks();
    const installed = this.installed.filter((entry) => entry.certificateType === kind);
    const provisioned = this.provisioned.filter(
      (entry) =>
        entry.certificateType === kind &&
        marks.get(markKey(kind, entry.fingerprint)) !== 'hidden' &&
        !installed.some((other) => other.fingerprint === entry.fingerprint),
    );
    return [...provisioned, ...installed];
  }

  /** Roots counted against CertificateStoreMaxLength: every listed root of both kinds. */
  private count(): number {
    return (
      this.visible('CentralSystemRootCertificate').length + this.visible('ManufacturerRootCertificate').length
    );
  }

  /** The file durably first, then its row (with the fallback marks of the roots it replaces). */
  private persist(entry: RootEntry, fallbacks: readonly string[]): void {
    const row = this.rowOf(entry);
    writeFileDurably(this.dir, row.file, entry.pem, 0o644);
    try {
      this.opts.repo.add(row, fallbacks);
    } catch (error) {
      removeFileDurably(this.dir, row.file);
      throw error;
    }
  }

  private rowOf(entry: RootEntry): InstalledCertificateRow {
    if (!entry.file || !entry.hashes) throw new Error('only an installed root with hash data has a row');
    return {
      certificateType: entry.certificateType,
      fingerprint: entry.fingerprint,
      file: entry.file,
      subject: entry.cert.subject,
      serialNumber: entry.serialNumber,
      hashes: entry.hashes,
      notAfter: Date.parse(entry.cert.validTo),
      installedAt: new Date(this.opts.now()).toISOString(),
    };
  }

  /** File first, then row: a crash between leaves a row without file, dropped at the next start. */
  private drop(entry: RootEntry): void {
    const { repo } = this.opts;
    const sameInstalled = this.installed.filter(
      (other) => other.certificateType === entry.certificateType && other.fingerprint === entry.fingerprint,
    );
    for (const other of sameInstalled) {
      if (other.file) removeFileDurably(this.dir, other.file);
      repo.remove(other.certificateType, other.fingerprint);
    }
    this.installed = this.installed.filter((other) => !sameInstalled.includes(other));
    if (
      this.provisioned.some(
        (other) => other.certificateType === entry.certificateType && other.fingerprint === entry.fingerprint,
      )
    )
      repo.setMark(entry.certificateType, entry.fingerprint, 'hidden');
  }

  private loadProvisioned(): RootEntry[] {
    const { caFile, log } = this.opts;
    if (!caFile) return [];
    const certs = pemBlocks(fs.readFileSync(caFile, 'utf8')).flatMap((pem) => {
      const cert = parseCertificate(pem);
      if (!cert) log.warn({ caFile }, 'an unreadable certificate in csms.caFile is ignored');
      return cert ? [cert] : [];
    });
    return certs.map((cert) => {
      const issuer = isSelfSigned(cert) ? cert : certs.find((other) => isIssuedBy(cert, other));
      if (!issuer)
        log.warn(
          { caFile, subject: cert.subject },
          'provisioned root not listed: its issuer is not in csms.caFile',
        );
      return rootEntry('CentralSystemRootCertificate', cert, issuer, undefined);
    });
  }

  /**
   * Rows with their files; a row whose file is gone is dropped, a file without row (a crash after
   * the rename) is adopted when it is still a root we can list, else removed, as is a `.tmp`.
   * Only files named for a root kind are the store's: the charge point certificate and its keys
   * live in the same directory.
   */
  private loadInstalled(): void {
    const { repo, log } = this.opts;
    const files = new Set(listDirectory(this.dir).filter((file) => fileKind(file) !== undefined));
    const entries: RootEntry[] = [];
    for (const row of repo.all()) {
      const cert = files.has(row.file)
        ? parseCertificate(fs.readFileSync(join(this.dir, row.file), 'utf8'))
        : undefined;
      files.delete(row.file);
      if (!cert || fingerprintOf(cert) !== row.fingerprint) {
        log.warn({ file: row.file }, 'installed certificate file missing or changed; its entry is dropped');
        repo.remove(row.certificateType, row.fingerprint);
        if (cert) removeFileDurably(this.dir, row.file);
        continue;
      }
      entries.push({ ...row, cert, pem: cert.toString(), file: row.file });
    }
    // Adopting a file looks for its issuer among the roots already loaded.
    this.installed = entries;
    for (const file of files) this.adopt(file);
  }

  private adopt(file: string): void {
    const { log } = this.opts;
    const kind = file.endsWith(PEM_SUFFIX) ? fileKind(file) : undefined;
    const cert = kind ? parseCertificate(fs.readFileSync(join(this.dir, file), 'utf8')) : undefined;
    const issuer =
      cert && kind
        ? isSelfSigned(cert)
          ? cert
          : this.visible(kind).find((entry) => isIssuedBy(cert, entry.cert))?.cert
        : undefined;
    if (!kind || !cert || !issuer || file !== fileName(kind, fingerprintOf(cert))) {
      log.warn({ file }, 'stray file in the certificate directory removed');
      removeFileDurably(this.dir, file);
      return;
    }
    const entry = rootEntry(kind, cert, issuer, file);
    this.opts.repo.add(this.rowOf(entry));
    this.installed.push(entry);
    log.info({ file }, 'certificate file without entry adopted (install interrupted after the write)');
  }
}

/** A root's entry; without its issuer at hand it has no hash data (provisioned, trusted, not listed). */
function rootEntry(
  certificateType: RootCertificateType,
  cert: X509Certificate,
  issuer: X509Certificate | undefined,
  file: string | undefined,
): RootEntry {
  return {
    certificateType,
    cert,
    pem: cert.toString(),
    fingerprint: fingerprintOf(cert),
    serialNumber: serialNumberHex(cert),
    hashes: issuer ? issuerHashes(cert, issuer) : undefined,
    file,
  };
}

/** The file under certs/ of an installed root. */
function fileName(kind: RootCertificateType, fingerprint: string): string {
  return `${kind}-${fingerprint}${PEM_SUFFIX}`;
}

function fileKind(file: string): RootCertificateType | undefined {
  if (file.startsWith('CentralSystemRootCertificate-')) return 'CentralSystemRootCertificate';
  if (file.startsWith('ManufacturerRootCertificate-')) return 'ManufacturerRootCertificate';
  return undefined;
}

function listDirectory(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}
