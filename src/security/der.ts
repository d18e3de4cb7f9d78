/**
 * The few DER (X.690) encodings a PKCS#10 request needs. Node's crypto makes the key pair, the
 * SubjectPublicKeyInfo and the signature; only the request's envelope is built here, so no ASN.1
 * library (and none of its memory) is loaded on the charger.
 */

/** One encoded TLV. */
export type Der = Buffer;

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, content: Buffer): Der {
  return Buffer.concat([Buffer.from([tag]), length(content.length), content]);
}

export function sequence(...items: Der[]): Der {
  return tlv(0x30, Buffer.concat(items));
}

/** A SET OF; DER orders its elements by their encodings. */
export function set(...items: Der[]): Der {
  return tlv(0x31, Buffer.concat([...items].sort(Buffer.compare)));
}

/** A small non-negative INTEGER (versions). */
export function smallInteger(n: number): Der {
  if (!Number.isInteger(n) || n < 0 || n > 0x7f) throw new RangeError(`unsupported INTEGER ${n}`);
  return tlv(0x02, Buffer.from([n]));
}

export function objectIdentifier(dotted: string): Der {
  const arcs = dotted.split('.').map(Number);
  const [first = 0, second = 0, ...rest] = arcs;
  const bytes: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    const base128: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) base128.unshift(0x80 | (v & 0x7f));
    bytes.push(...base128);
  }
  return tlv(0x06, Buffer.from(bytes));
}

export function utf8String(text: string): Der {
  return tlv(0x0c, Buffer.from(text, 'utf8'));
}

export function nullValue(): Der {
  return Buffer.from([0x05, 0x00]);
}

/** A BIT STRING of whole bytes (no unused bits), as signatures are. */
export function bitString(bytes: Buffer): Der {
  return tlv(0x03, Buffer.concat([Buffer.from([0]), bytes]));
}

/** [n] IMPLICIT, constructed: a context-specific tag around already encoded contents. */
export function contextConstructed(n: number, ...items: Der[]): Der {
  return tlv(0xa0 | n, Buffer.concat(items));
}

/** PEM armour of DER bytes, 64 characters a line (RFC 7468). */
export function toPem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
