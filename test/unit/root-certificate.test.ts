import { describe, expect, it } from 'vitest';
import {
  HASH_ALGORITHMS,
  hashDataOf,
  issuerHashes,
  parseCertificate,
  sameHashData,
  serialNumberHex,
} from '../../src/security/root-certificate.js';
import { createServerCert } from '../csms/certs.js';
import { ecCa, ecServerCert, opensslCertId, rsaCa } from '../support/pki.js';

/** Our CertificateHashData of `cert` issued by `issuer` (both PEM). */
function ours(cert: string, issuer: string, algorithm: (typeof HASH_ALGORITHMS)[number]) {
  const parsed = parseCertificate(cert);
  const parsedIssuer = parseCertificate(issuer);
  if (!parsed || !parsedIssuer) throw new Error('test certificate did not parse');
  return hashDataOf(issuerHashes(parsed, parsedIssuer), serialNumberHex(parsed), algorithm);
}

describe('CertificateHashData (RFC 6960 CertID, whitepaper edition 3) against openssl ocsp', () => {
  const rsaRoot = rsaCa({ commonName: 'RSA Root' });
  const ecRoot = ecCa('EC Root');

  for (const algorithm of HASH_ALGORITHMS) {
    it(`${algorithm}: a self-signed RSA root`, () => {
      expect(ours(rsaRoot.cert, rsaRoot.cert, algorithm)).toEqual(
        opensslCertId(rsaRoot.cert, rsaRoot.cert, algorithm),
      );
    });

    it(`${algorithm}: a self-signed ECDSA root`, () => {
      expect(ours(ecRoot.cert, ecRoot.cert, algorithm)).toEqual(
        opensslCertId(ecRoot.cert, ecRoot.cert, algorithm),
      );
    });
  }

  it('the issuer key hash is over the key of the issuer: RSA and ECDSA leaves of an RSA root, an ECDSA leaf of an ECDSA root', () => {
    const rsaLeaf = createServerCert(rsaRoot).cert;
    const ecLeaf = ecServerCert(rsaRoot).cert;
    const ecIssued = ecServerCert(ecRoot).cert;
    expect(ours(rsaLeaf, rsaRoot.cert, 'SHA256')).toEqual(opensslCertId(rsaLeaf, rsaRoot.cert, 'SHA256'));
    expect(ours(ecLeaf, rsaRoot.cert, 'SHA384')).toEqual(opensslCertId(ecLeaf, rsaRoot.cert, 'SHA384'));
    expect(ours(ecIssued, ecRoot.cert, 'SHA512')).toEqual(opensslCertId(ecIssued, ecRoot.cert, 'SHA512'));
  });

  it('serialNumber is hex without leading zeroes (4095 -> FFF) and compares case-insensitively', () => {
    const root = rsaCa({ commonName: 'Serial Root', serialNumber: '0fff' });
    const data = ours(root.cert, root.cert, 'SHA256');
    expect(data.serialNumber).toBe('FFF');
    expect(
      sameHashData(data, {
        ...data,
        issuerNameHash: data.issuerNameHash.toLowerCase(),
        issuerKeyHash: data.issuerKeyHash.toLowerCase(),
        serialNumber: '0fff',
      }),
    ).toBe(true);
    expect(sameHashData(data, { ...data, serialNumber: 'FFE' })).toBe(false);
  });

  it('is not a certificate: text, two certificates, a truncated one', () => {
    expect(parseCertificate('hello')).toBeUndefined();
    expect(parseCertificate(rsaRoot.cert + ecRoot.cert)).toBeUndefined();
    const lines = rsaRoot.cert.trim().split('\n');
    const truncated = [...lines.slice(0, 5), lines.at(-1)].join('\n');
    expect(parseCertificate(truncated)).toBeUndefined();
  });
});
