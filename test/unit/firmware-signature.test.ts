import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { imageSignatureValid, signingCertificateProblem } from '../../src/firmware/signature.js';
import { rsaCa } from '../support/pki.js';

const DAY_MS = 86_400_000;
const NOW = Date.now();
const dir = mkdtempSync(join(tmpdir(), 'cp-fw-sig-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const root = rsaCa({ commonName: 'Manufacturer Root' });
const signer = rsaCa({ commonName: 'Signer', issuer: root, ca: false });

describe('signingCertificateProblem (L01.FR.02/.23)', () => {
  it('accepts a certificate issued by an installed root, and the root itself', () => {
    expect(signingCertificateProblem(signer.cert, [root.cert], NOW)).toBeUndefined();
    expect(signingCertificateProblem(root.cert, [root.cert], NOW)).toBeUndefined();
  });

  it.each([
    ['no PEM certificate', () => 'not a certificate', 'no PEM certificate'],
    ['a chain', () => `${signer.cert}${root.cert}`, 'more than one certificate'],
    [
      'an expired certificate',
      () =>
        rsaCa({
          commonName: 'Old Signer',
          issuer: root,
          ca: false,
          notBefore: new Date(NOW - 10 * DAY_MS),
          notAfter: new Date(NOW - DAY_MS),
        }).cert,
      'expired',
    ],
    [
      'a certificate not valid yet',
      () => rsaCa({ commonName: 'Future', issuer: root, ca: false, notBefore: new Date(NOW + DAY_MS) }).cert,
      'not valid before',
    ],
    [
      'a certificate of another root',
      () => rsaCa({ commonName: 'Stranger', issuer: rsaCa({ commonName: 'Other Root' }), ca: false }).cert,
      'not issued by an installed ManufacturerRootCertificate',
    ],
  ])('refuses %s', (_what, pem, reason) => {
    expect(signingCertificateProblem(pem(), [root.cert], NOW)).toContain(reason);
  });

  it('refuses a certificate whose root has expired, or when no root is installed', () => {
    const oldRoot = rsaCa({
      commonName: 'Old Root',
      notBefore: new Date(NOW - 10 * DAY_MS),
      notAfter: new Date(NOW - DAY_MS),
    });
    const child = rsaCa({ commonName: 'Child', issuer: oldRoot, ca: false });
    expect(signingCertificateProblem(child.cert, [oldRoot.cert], NOW)).toContain('not issued by');
    expect(signingCertificateProblem(signer.cert, [], NOW)).toContain('not issued by');
  });
});

describe('imageSignatureValid', () => {
  const image = join(dir, 'image.bin');
  writeFileSync(image, Buffer.alloc(100_000, 7));
  const key = join(dir, 'signer.key');
  writeFileSync(key, signer.key);
  const sign = (...opts: string[]) =>
    execFileSync('openssl', ['dgst', '-sha256', ...opts, '-sign', key, image]).toString('base64');

  it('verifies RSA-PSS (any salt length) and PKCS#1 v1.5 signatures of the whole file', async () => {
    for (const saltLength of ['32', 'max', 'digest']) {
      const pss = sign('-sigopt', 'rsa_padding_mode:pss', '-sigopt', `rsa_pss_saltlen:${saltLength}`);
      expect(await imageSignatureValid(image, pss, signer.cert)).toBe(true);
    }
    expect(await imageSignatureValid(image, sign(), signer.cert)).toBe(true);
  });

  it('refuses another file, another key, an empty or garbled signature', async () => {
    const signature = sign();
    const other = join(dir, 'other.bin');
    writeFileSync(other, Buffer.alloc(100_000, 8));
    expect(await imageSignatureValid(other, signature, signer.cert)).toBe(false);
    expect(await imageSignatureValid(image, signature, root.cert)).toBe(false);
    expect(await imageSignatureValid(image, '', signer.cert)).toBe(false);
    expect(await imageSignatureValid(image, 'AAAA', signer.cert)).toBe(false);
    expect(await imageSignatureValid(image, signature, 'no certificate')).toBe(false);
  });
});
