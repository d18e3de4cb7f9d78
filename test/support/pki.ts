import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';
import { newKeyPair, type Pem } from '../csms/certs.js';

/**
 * Certificates the root-certificate tests need beyond test/csms/certs.ts: CAs with any validity,
 * non-CA certificates, a root signed by another root, and ECDSA (P-256) CAs and server
 * certificates. RSA ones are built with node-forge; EC ones with `openssl`, as forge has no EC.
 * `openssl` also gives the reference CertID hashes (RFC 6960) the charge point must report.
 */

const DAY_MS = 86_400_000;

export interface RsaCaOptions {
  commonName: string;
  notBefore?: Date;
  notAfter?: Date;
  /** basicConstraints CA:TRUE (default true). */
  ca?: boolean;
  /** Signed by this CA instead of by itself. */
  issuer?: Pem;
  /** A serial number in hex (default random, positive). */
  serialNumber?: string;
}

/** An RSA 2048 certificate meant as a root: self-signed unless `issuer` is given. */
export function rsaCa(opts: RsaCaOptions): Pem {
  const keys = newKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = opts.serialNumber ?? `0${randomBytes(16).toString('hex').slice(1)}`;
  cert.validity.notBefore = opts.notBefore ?? new Date(Date.now() - DAY_MS);
  cert.validity.notAfter = opts.notAfter ?? new Date(Date.now() + 365 * DAY_MS);
  const subject = [
    { name: 'commonName', value: opts.commonName },
    { name: 'organizationName', value: 'chargepoint-runtime tests' },
  ];
  cert.setSubject(subject);
  const issuerCert = opts.issuer ? forge.pki.certificateFromPem(opts.issuer.cert) : undefined;
  cert.setIssuer(issuerCert ? issuerCert.subject.attributes : subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: opts.ca ?? true, critical: true },
    { name: 'keyUsage', keyCertSign: opts.ca ?? true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  const signer = opts.issuer ? forge.pki.privateKeyFromPem(opts.issuer.key) : keys.privateKey;
  cert.sign(signer, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keys.keyPem };
}

function openssl(args: string[], input?: string): string {
  return execFileSync('openssl', args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Runs `fn` with a scratch directory that is removed afterwards. */
function inScratch<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'cp-pki-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** openssl `req` arguments for a new unencrypted P-256 key written to `keyFile`. */
function newP256Key(keyFile: string): string[] {
  return ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile];
}

/** The certificate `<name>.pem` and its key `<name>.key` that openssl wrote to `dir`. */
function readPem(dir: string, name: string): Pem {
  return {
    cert: readFileSync(join(dir, `${name}.pem`), 'utf8'),
    key: readFileSync(join(dir, `${name}.key`), 'utf8'),
  };
}

/** A self-signed ECDSA P-256 root CA, valid from now for a year. */
export function ecCa(commonName: string): Pem {
  return inScratch((dir) => {
    openssl([
      'req',
      '-x509',
      ...newP256Key(join(dir, 'ca.key')),
      '-out',
      join(dir, 'ca.pem'),
      '-days',
      '365',
      '-sha256',
      '-subj',
      `/CN=${commonName}/O=chargepoint-runtime tests`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    return readPem(dir, 'ca');
  });
}

/** An ECDSA P-256 TLS server certificate for localhost / 127.0.0.1 signed by `ca` (RSA or EC). */
export function ecServerCert(ca: Pem): Pem {
  return inScratch((dir) => {
    writeFileSync(join(dir, 'ca.pem'), ca.cert);
    writeFileSync(join(dir, 'ca.key'), ca.key, { mode: 0o600 });
    writeFileSync(
      join(dir, 'ext.cnf'),
      'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n',
    );
    openssl([
      'req',
      '-new',
      ...newP256Key(join(dir, 'server.key')),
      '-out',
      join(dir, 'server.csr'),
      '-subj',
      '/CN=localhost/O=chargepoint-runtime tests',
    ]);
    openssl([
      'x509',
      '-req',
      '-in',
      join(dir, 'server.csr'),
      '-CA',
      join(dir, 'ca.pem'),
      '-CAkey',
      join(dir, 'ca.key'),
      '-CAcreateserial',
      '-days',
      '30',
      '-sha256',
      '-extfile',
      join(dir, 'ext.cnf'),
      '-out',
      join(dir, 'server.pem'),
    ]);
    return readPem(dir, 'server');
  });
}

export interface CertId {
  hashAlgorithm: 'SHA256' | 'SHA384' | 'SHA512';
  issuerNameHash: string;
  issuerKeyHash: string;
  serialNumber: string;
}

/**
 * The OCSP CertID of `cert` issued by `issuer` as `openssl ocsp` builds it, in the whitepaper's
 * form (hex; serial number without leading zeroes): the independent reference for the hash data.
 */
export function opensslCertId(cert: string, issuer: string, hashAlgorithm: CertId['hashAlgorithm']): CertId {
  return inScratch((dir) => {
    writeFileSync(join(dir, 'cert.pem'), cert);
    writeFileSync(join(dir, 'issuer.pem'), issuer);
    const request = join(dir, 'req.der');
    openssl([
      'ocsp',
      '-issuer',
      join(dir, 'issuer.pem'),
      `-${hashAlgorithm.toLowerCase()}`,
      '-cert',
      join(dir, 'cert.pem'),
      '-no_nonce',
      '-reqout',
      request,
    ]);
    const text = openssl(['ocsp', '-reqin', request, '-req_text']).replace(/\\\n\s*/g, '');
    const field = (name: string) => {
      const value = new RegExp(`${name}: ([0-9A-F]+)`).exec(text)?.[1];
      if (!value) throw new Error(`openssl printed no ${name}:\n${text}`);
      return value;
    };
    return {
      hashAlgorithm,
      issuerNameHash: field('Issuer Name Hash'),
      issuerKeyHash: field('Issuer Key Hash'),
      serialNumber: field('Serial Number').replace(/^0+(?=.)/, ''),
    };
  });
}
