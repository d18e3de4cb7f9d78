import { createHash, X509Certificate } from 'node:crypto';
import type {
  CertificateHashDataType,
  CertificateUseEnumType,
  HashAlgorithmEnumType,
} from '../ocpp/generated/messages.js';
import { certificateFields } from './x509-der.js';

/** The root kinds InstallCertificate / GetInstalledCertificateIds name (the whitepaper's CertificateUse). */
export type RootCertificateType = CertificateUseEnumType;

export const ROOT_CERTIFICATE_TYPES = [
  'CentralSystemRootCertificate',
  'ManufacturerRootCertificate',
] as const satisfies readonly RootCertificateType[];

export const HASH_ALGORITHMS = [
  'SHA256',
  'SHA384',
  'SHA512',
] as const satisfies readonly HashAlgorithmEnumType[];

/** issuerNameHash and issuerKeyHash (RFC 6960 CertID) for every hash algorithm the whitepaper names. */
export type IssuerHashes = Record<HashAlgorithmEnumType, { issuerNameHash: string; issuerKeyHash: string }>;

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM bundle, each as its own PEM block. */
export function pemBlocks(text: string): string[] {
  return text.match(PEM_BLOCK) ?? [];
}

/** One PEM certificate, or undefined when the text is not exactly one parseable certificate. */
export function parseCertificate(pem: string): X509Certificate | undefined {
  const blocks = pemBlocks(pem);
  if (blocks.length !== 1 || !blocks[0]) return undefined;
  try {
    const cert = new X509Certificate(blocks[0]);
    // The hash data must be computable; a certificate whose DER we cannot walk is malformed for us.
    certificateFields(cert.raw);
    return cert;
  } catch {
    return undefined;
  }
}

/** A certificate as PEM (one block) or DER (as the link saw it in a server chain), or undefined when unreadable. */
export function certificateOf(encoded: string | Buffer): X509Certificate | undefined {
  try {
    return new X509Certificate(encoded);
  } catch {
    return undefined;
  }
}

/** A serial number's hex as the whitepaper writes it: upper case, no leading zeroes (4095 -> "FFF"). */
function canonicalSerial(hex: string): string {
  return hex.toUpperCase().replace(/^0+(?=.)/, '');
}

/** The whitepaper's serialNumber of `cert`. */
export function serialNumberHex(cert: X509Certificate): string {
  return canonicalSerial(cert.serialNumber);
}

const NODE_HASH: Record<HashAlgorithmEnumType, string> = {
  SHA256: 'sha256',
  SHA384: 'sha384',
  SHA512: 'sha512',
};

/**
 * Hashes over the certificate's issuer Name (DER) and the issuer's subjectPublicKey bytes, as
 * RFC 6960 CertID and whitepaper edition 3 define them. `issuer` is the certificate that signed
 * `cert` (itself for a self-signed root).
 */
export function issuerHashes(cert: X509Certificate, issuer: X509Certificate): IssuerHashes {
  const name = certificateFields(cert.raw).issuerName;
  const key = certificateFields(issuer.raw).subjectPublicKey;
  const digest = (algorithm: HashAlgorithmEnumType, data: Buffer) =>
    createHash(NODE_HASH[algorithm]).update(data).digest('hex').toUpperCase();
  const pair = (algorithm: HashAlgorithmEnumType) => ({
    issuerNameHash: digest(algorithm, name),
    issuerKeyHash: digest(algorithm, key),
  });
  return { SHA256: pair('SHA256'), SHA384: pair('SHA384'), SHA512: pair('SHA512') };
}

export function hashDataOf(
  hashes: IssuerHashes,
  serialNumber: string,
  hashAlgorithm: HashAlgorithmEnumType,
): CertificateHashDataType {
  return { hashAlgorithm, ...hashes[hashAlgorithm], serialNumber };
}

/** The fields are case-insensitive (CiString); a serial number may come with leading zeroes. */
export function sameHashData(a: CertificateHashDataType, b: CertificateHashDataType): boolean {
  return (
    a.hashAlgorithm === b.hashAlgorithm &&
    a.issuerNameHash.toUpperCase() === b.issuerNameHash.toUpperCase() &&
    a.issuerKeyHash.toUpperCase() === b.issuerKeyHash.toUpperCase() &&
    canonicalSerial(a.serialNumber) === canonicalSerial(b.serialNumber)
  );
}

/** `issuer` names and signed `cert`. */
export function isIssuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

export function isSelfSigned(cert: X509Certificate): boolean {
  return isIssuedBy(cert, cert);
}

/** Why `cert` is not a usable root right now, or undefined when it is. */
export function rootProblem(cert: X509Certificate, nowMs: number): string | undefined {
  if (!cert.ca) return 'not a CA certificate (basicConstraints CA:TRUE missing)';
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  if (!Number.isFinite(from) || !Number.isFinite(to)) return 'unreadable validity period';
  if (nowMs < from) return `not valid before ${new Date(from).toISOString()}`;
  if (nowMs > to) return `expired at ${new Date(to).toISOString()}`;
  return undefined;
}

/** The SHA-256 fingerprint of the DER: a certificate's identity in the store. */
export function fingerprintOf(cert: X509Certificate): string {
  return createHash('sha256').update(cert.raw).digest('hex');
}
