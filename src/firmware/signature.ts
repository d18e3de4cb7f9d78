import {
  constants,
  createVerify,
  type KeyObject,
  type VerifyKeyObjectInput,
  X509Certificate,
} from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { CLOCK_SKEW_MS, pemCertificates } from '../security/certificate-chain.js';
import { isIssuedBy, rootProblem } from '../security/root-certificate.js';

/**
 * Why a firmware signing certificate is not to be trusted now, or undefined when it is (white
 * paper L01.FR.02/.23): one PEM certificate, within its validity, issued by (or being) a valid
 * installed ManufacturerRootCertificate. The manufacturer signs with no intermediate (L01 remark).
 */
export function signingCertificateProblem(
  pem: string,
  manufacturerRoots: readonly string[],
  nowMs: number,
): string | undefined {
  const [first, ...more] = pemCertificates(pem);
  if (!first) return 'no PEM certificate';
  if (more.length > 0) return 'more than one certificate';
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(first);
  } catch {
    return 'the certificate cannot be parsed';
  }
  if (Date.parse(cert.validFrom) - CLOCK_SKEW_MS > nowMs) return `not valid before ${cert.validFrom}`;
  if (Date.parse(cert.validTo) < nowMs) return `expired ${cert.validTo}`;
  const anchored = manufacturerRoots.flatMap(pemCertificates).some((rootPem) => {
    const root = new X509Certificate(rootPem);
    return rootProblem(root, nowMs) === undefined && (root.raw.equals(cert.raw) || isIssuedBy(cert, root));
  });
  return anchored ? undefined : 'not issued by an installed ManufacturerRootCertificate';
}

/**
 * The ways a signature over SHA-256 may be encoded for the key's type: RSA-PSS (L01.FR.04; any
 * salt length) or PKCS#1 v1.5 for RSA, ECDSA as DER or as r||s for EC.
 */
function verifyInputs(key: KeyObject): VerifyKeyObjectInput[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return [
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO },
        { key, padding: constants.RSA_PKCS1_PADDING },
      ];
    case 'rsa-pss':
      return [{ key, saltLength: constants.RSA_PSS_SALTLEN_AUTO }];
    case 'ec':
      return [
        { key, dsaEncoding: 'der' },
        { key, dsaEncoding: 'ieee-p1363' },
      ];
    default:
      return [];
  }
}

/**
 * Whether `signatureBase64` signs the file with the signing certificate's key (SHA-256). The file
 * is streamed, never held in memory; each encoding the key allows is tried in turn.
 */
export async function imageSignatureValid(
  file: string,
  signatureBase64: string,
  signingCertificatePem: string,
): Promise<boolean> {
  const signature = Buffer.from(signatureBase64, 'base64');
  if (signature.length === 0) return false;
  const [pem] = pemCertificates(signingCertificatePem);
  if (!pem) return false;
  for (const input of verifyInputs(new X509Certificate(pem).publicKey)) {
    const verifier = createVerify('sha256');
    await pipeline(createReadStream(file), verifier);
    try {
      if (verifier.verify(input, signature)) return true;
    } catch {
      // An encoding the signature is not in (e.g. malformed DER) is a mismatch, not an error.
    }
  }
  return false;
}
