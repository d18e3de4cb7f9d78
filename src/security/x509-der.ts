/**
 * The few fields of an X.509 certificate that node's X509Certificate does not hand out as bytes:
 * the DER of the issuer Name and the subjectPublicKey BIT STRING.
 * A minimal DER walk, so RSA and EC certificates read alike (node-forge parses only RSA keys).
 */

interface Tlv {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  contentStart: number;
  end: number;
}

export class DerError extends Error {
  constructor(message: string) {
    super(`malformed certificate: ${message}`);
    this.name = 'DerError';
  }
}

function readTlv(der: Uint8Array, start: number, limit: number): Tlv {
  if (start + 2 > limit) throw new DerError('truncated element');
  const tag = der[start] ?? 0;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tags are not used in certificates');
  const first = der[start + 1] ?? 0;
  let length = first;
  let contentStart = start + 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > 4) throw new DerError('unsupported length encoding');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (der[contentStart + i] ?? 0);
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > limit) throw new DerError('element runs past its container');
  return { tag, start, contentStart, end };
}

function childrenOf(der: Uint8Array, parent: Tlv): Tlv[] {
  const children: Tlv[] = [];
  for (let at = parent.contentStart; at < parent.end; ) {
    const child = readTlv(der, at, parent.end);
    children.push(child);
    at = child.end;
  }
  return children;
}

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const BIT_STRING = 0x03;
/** [0] EXPLICIT, the optional version of a TBSCertificate. */
const VERSION_TAG = 0xa0;

function expectTag(tlv: Tlv | undefined, tag: number, what: string): Tlv {
  if (!tlv || tlv.tag !== tag) throw new DerError(`${what} missing`);
  return tlv;
}

export interface CertificateFields {
  /** The DER encoding of the issuer Name, tag and length included (RFC 6960 issuerNameHash input). */
  issuerName: Buffer;
  /** The subjectPublicKey BIT STRING's key bytes, without its unused-bits octet (issuerKeyHash input). */
  subjectPublicKey: Buffer;
}

export function certificateFields(der: Buffer): CertificateFields {
  const certificate = expectTag(readTlv(der, 0, der.length), SEQUENCE, 'Certificate');
  const tbs = expectTag(childrenOf(der, certificate)[0], SEQUENCE, 'TBSCertificate');
  const fields = childrenOf(der, tbs);
  const offset = fields[0]?.tag === VERSION_TAG ? 1 : 0;
  expectTag(fields[offset], INTEGER, 'serialNumber');
  expectTag(fields[offset + 1], SEQUENCE, 'signature');
  const issuer = expectTag(fields[offset + 2], SEQUENCE, 'issuer');
  const spki = expectTag(fields[offset + 5], SEQUENCE, 'subjectPublicKeyInfo');
  const key = expectTag(childrenOf(der, spki)[1], BIT_STRING, 'subjectPublicKey');
  if (key.end <= key.contentStart) throw new DerError('empty subjectPublicKey');
  return {
    issuerName: der.subarray(issuer.start, issuer.end),
    subjectPublicKey: der.subarray(key.contentStart + 1, key.end),
  };
}
