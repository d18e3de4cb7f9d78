import { constants, createVerify, type KeyObject, type VerifyKeyObjectInput } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { validityProblem } from '../security/certificate-chain.js';
import { certificateOf, isIssuedBy, pemBlocks, rootProblem } from '../security/root-certificate.js';

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
  const [first, ...more] = pemBlocks(pem);
  if (!first) return 'no PEM certificate';
  if (more.length > 0) return 'more than one certificate';
  const cert = certificateOf(first);
  if (!cert) return 'the certificate cannot be parsed';
  const validity = validityProblem(cert, nowMs, 'the signing certificate');
  if (validity) return validity;
  const anchored = manufacturerRoots.flatMap(pemBlocks).some((rootPem) => {
    const root = certificateOf(rootPem);
    return (
      root !== undefined &&
      rootProblem(root, nowMs) === undefined &&
      (root.raw.equals(cert.raw) || isIssuedBy(cert, root))
    );
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
  const [pem] = pemBlocks(signingCertificatePem);
  const cert = pem === undefined ? undefined : certificateOf(pem);
  if (!cert) return false;
  for (const input of verifyInputs(cert.publicKey)) {
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
