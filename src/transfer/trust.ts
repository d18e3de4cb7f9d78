import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';

/**
 * Where distributions keep the operating system's CA bundle, the one `update-ca-certificates` (or
 * `update-ca-trust`) maintains: Debian, Ubuntu and Alpine; Fedora and RHEL; the BSDs and others.
 */
export const SYSTEM_CA_BUNDLES: readonly string[] = [
  '/etc/ssl/certs/ca-certificates.crt',
  '/etc/pki/tls/certs/ca-bundle.crt',
  '/etc/ssl/cert.pem',
];

const PEM_CERTIFICATE = '-----BEGIN CERTIFICATE-----';

/**
 * "The system's CAs" an HTTPS / FTPS file server may chain to: the operating system's bundle, so a
 * CA the operator added to the system is trusted, or Node's built-in list where the system has
 * none. Read once, at the first transfer that asks, not at boot.
 */
export class SystemCas {
  private pem: readonly string[] | undefined;

  /** `bundles`: the paths to look at, first found wins (a test gives its own). */
  constructor(private readonly bundles: readonly string[] = SYSTEM_CA_BUNDLES) {}

  /** The system's CAs as PEM: the first bundle that holds a certificate, else Node's list. */
  certificates(): readonly string[] {
    this.pem ??= this.read();
    return this.pem;
  }

  /**
   * What a server must chain to: the system's CAs and `extra` (the central-system roots). Undefined
   * when that is Node's own list alone: TLS then uses it without building a context of its own.
   */
  anchors(extra: string | readonly string[] | undefined): string[] | undefined {
    const more = extra === undefined ? [] : typeof extra === 'string' ? [extra] : [...extra];
    const system = this.certificates();
    if (system === rootCertificates && more.length === 0) return undefined;
    return [...system, ...more];
  }

  private read(): readonly string[] {
    for (const path of this.bundles) {
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch {
        continue;
      }
      if (text.includes(PEM_CERTIFICATE)) return [text];
    }
    return rootCertificates;
  }
}

/** The operating system's, shared by every transfer of the process. */
export const systemCas = new SystemCas();
