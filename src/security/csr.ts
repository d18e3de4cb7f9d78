import { generateKeyPair, type KeyObject, sign } from 'node:crypto';
import { promisify } from 'node:util';
import {
  bitString,
  contextConstructed,
  nullValue,
  objectIdentifier,
  sequence,
  set,
  smallInteger,
  toPem,
  utf8String,
} from './der.js';

/** The charge point's key: EC P-256 (default) or RSA of 2048 / 3072 bits, all above A00.FR.501's floor. */
export const KEY_TYPES = ['ec-p256', 'rsa-2048', 'rsa-3072'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

/** The subject a charge point certificate must carry (A00.FR.508/511): O = CpoName, CN = serial number. */
export interface CertificateSubject {
  organization: string;
  commonName: string;
}

export interface CertificateRequest {
  /** PKCS#8 PEM; written only to a 0600 file, never logged. */
  privateKeyPem: string;
  /** SubjectPublicKeyInfo DER, to recognise the certificate signed for this request. */
  publicKeyDer: Buffer;
  /** PKCS#10 (RFC 2986) PEM, as SignCertificate.req carries it. */
  csrPem: string;
}

const OID = {
  organizationName: '2.5.4.10',
  commonName: '2.5.4.3',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  sha256WithRsaEncryption: '1.2.840.113549.1.1.11',
} as const;

const generate = promisify(generateKeyPair);

/** A fresh key pair (in the thread pool: an RSA key takes long enough to stall the event loop). */
async function newKeyPair(type: KeyType): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  if (type === 'ec-p256') return generate('ec', { namedCurve: 'P-256' });
  return generate('rsa', { modulusLength: type === 'rsa-2048' ? 2048 : 3072 });
}

/** O before CN, one attribute per RDN, as X.500 names list them from the top. */
function name(subject: CertificateSubject): Buffer {
  const rdn = (oid: string, value: string) => set(sequence(objectIdentifier(oid), utf8String(value)));
  return sequence(rdn(OID.organizationName, subject.organization), rdn(OID.commonName, subject.commonName));
}

/**
 * A new key pair and its PKCS#10 request (RFC 2986): version 0, the subject, the public key, no
 * attributes, signed with SHA-256 (ECDSA for EC keys, PKCS#1 v1.5 for RSA keys).
 */
export async function createCertificateRequest(
  type: KeyType,
  subject: CertificateSubject,
): Promise<CertificateRequest> {
  const { privateKey, publicKey } = await newKeyPair(type);
  const publicKeyDer = publicKey.export({ type: 'spki', format: 'der' });
  const info = sequence(smallInteger(0), name(subject), publicKeyDer, contextConstructed(0));
  const algorithm =
    type === 'ec-p256'
      ? sequence(objectIdentifier(OID.ecdsaWithSha256))
      : sequence(objectIdentifier(OID.sha256WithRsaEncryption), nullValue());
  // Node signs ECDSA in DER (r, s) by default, the encoding X.509 and PKCS#10 expect.
  const signature = sign('sha256', info, privateKey);
  const csr = sequence(info, algorithm, bitString(signature));
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyDer,
    csrPem: toPem('CERTIFICATE REQUEST', csr),
  };
}
