import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import forge from 'node-forge';

/** A certificate and its private key, both PEM. */
export interface Pem {
  cert: string;
  key: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export interface KeyPair {
  keyPem: string;
  publicKey: forge.pki.PublicKey;
  privateKey: forge.pki.rsa.PrivateKey;
}

// forge's own RSA generator is pure JS and takes about a second per 2048-bit key; Node's native one
// takes milliseconds, so forge is only used to build and sign the certificates.
export function newKeyPair(): KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  return {
    keyPem: privateKey,
    publicKey: forge.pki.publicKeyFromPem(publicKey),
    privateKey: forge.pki.privateKeyFromPem(privateKey),
  };
}

// A leading 0 nibble keeps the DER INTEGER positive, which RFC 5280 requires of serial numbers.
function serialNumber(): string {
  return '0' + randomBytes(16).toString('hex').slice(1);
}

function baseCertificate(
  keys: KeyPair,
  subject: forge.pki.CertificateField[],
  notBefore: Date,
  notAfter: Date,
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  cert.setSubject(subject);
  return cert;
}

function issueWithCa(cert: forge.pki.Certificate, ca: Pem, extensions: object[]): void {
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const caKey = forge.pki.privateKeyFromPem(ca.key);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    ...extensions,
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
}

/** A self-signed root CA. */
export function createCa(opts: { commonName?: string; validDays?: number } = {}): Pem {
  const keys = newKeyPair();
  const now = Date.now();
  const subject = [
    { name: 'commonName', value: opts.commonName ?? 'chargepoint-runtime dev CA' },
    { name: 'organizationName', value: 'chargepoint-runtime tests' },
  ];
  const cert = baseCertificate(
    keys,
    subject,
    new Date(now - DAY_MS),
    new Date(now + (opts.validDays ?? 365) * DAY_MS),
  );
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keys.keyPem };
}

/**
 * A TLS server (central system) certificate signed by `ca`. Defaults: CN=localhost, SAN DNS:localhost and
 * IP:127.0.0.1, valid from yesterday for a year. Pass past dates for an expired one, other names for a
 * wrong-host one.
 */
export function createServerCert(
  ca: Pem,
  opts: { commonName?: string; altNames?: string[]; notBefore?: Date; notAfter?: Date } = {},
): Pem {
  const keys = newKeyPair();
  const now = Date.now();
  const cert = baseCertificate(
    keys,
    [
      { name: 'commonName', value: opts.commonName ?? 'localhost' },
      { name: 'organizationName', value: 'chargepoint-runtime tests' },
    ],
    opts.notBefore ?? new Date(now - DAY_MS),
    opts.notAfter ?? new Date(now + 365 * DAY_MS),
  );
  const altNames = (opts.altNames ?? ['localhost', '127.0.0.1']).map((name) =>
    isIP(name) ? { type: 7, ip: name } : { type: 2, value: name },
  );
  issueWithCa(cert, ca, [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames },
  ]);
  return { cert: forge.pki.certificateToPem(cert), key: keys.keyPem };
}

/**
 * A charge point (TLS client, security profile 3) certificate signed by `ca`: CN = the charge point's
 * serial number, O = the CPO, no subjectAltName (the white paper advises against one).
 */
export function createClientCert(
  ca: Pem,
  opts: { commonName: string; organization?: string; notBefore?: Date; notAfter?: Date },
): Pem {
  const keys = newKeyPair();
  const now = Date.now();
  const cert = baseCertificate(
    keys,
    [
      { name: 'commonName', value: opts.commonName },
      { name: 'organizationName', value: opts.organization ?? 'chargepoint-runtime tests' },
    ],
    opts.notBefore ?? new Date(now - DAY_MS),
    opts.notAfter ?? new Date(now + 365 * DAY_MS),
  );
  issueWithCa(cert, ca, [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', clientAuth: true },
  ]);
  return { cert: forge.pki.certificateToPem(cert), key: keys.keyPem };
}

/** Writes `<name>.pem` (certificate) and `<name>.key` (private key, mode 0600) into `dir`. */
export function writePemFiles(dir: string, name: string, pem: Pem): { certFile: string; keyFile: string } {
  mkdirSync(dir, { recursive: true });
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  writeFileSync(certFile, pem.cert);
  writeFileSync(keyFile, pem.key, { mode: 0o600 });
  // mode only applies when the file is created; an overwritten key must not stay readable.
  chmodSync(keyFile, 0o600);
  return { certFile, keyFile };
}
