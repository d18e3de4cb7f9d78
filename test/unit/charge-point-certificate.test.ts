import { execFileSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CertificateRenewal,
  EXPIRY_CHECK_INTERVAL_MS,
} from '../../src/features/security/sign-certificate.js';
import { silentLogger } from '../../src/log.js';
import type { SignCertificateRequest } from '../../src/ocpp/generated/messages.js';
import { verifyChargePointChain } from '../../src/security/certificate-chain.js';
import { ChargePointCertificate } from '../../src/security/charge-point-certificate.js';
import { createCertificateRequest, type KeyType } from '../../src/security/csr.js';
import { createCa, createClientCert, type Pem, writePemFiles } from '../csms/certs.js';
import { FakeClock } from '../support/fake-clock.js';

const DAY = 24 * 3600 * 1000;
let work: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'cp-cert-unit-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function openssl(args: string[], input: string): string {
  const file = join(mkdtempSync(join(work, 'ssl-')), 'in.pem');
  writeFileSync(file, input);
  return execFileSync('openssl', [...args, '-in', file], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** A certificate for `publicKeyPem` issued by `issuer` (forge: it signs any key with the CA's RSA key). */
function issue(
  issuer: Pem,
  publicKeyPem: string,
  opts: { notBefore?: Date; notAfter?: Date; ca?: boolean; commonName?: string } = {},
): string {
  const issuerCert = forge.pki.certificateFromPem(issuer.cert);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKeyPem);
  cert.serialNumber = '01' + forge.util.bytesToHex(forge.random.getBytesSync(8));
  cert.validity.notBefore = opts.notBefore ?? new Date(Date.now() - DAY);
  cert.validity.notAfter = opts.notAfter ?? new Date(Date.now() + 365 * DAY);
  cert.setSubject([{ name: 'commonName', value: opts.commonName ?? 'SN-1' }]);
  cert.setIssuer(issuerCert.subject.attributes);
  cert.setExtensions([{ name: 'basicConstraints', cA: opts.ca ?? false }]);
  cert.sign(forge.pki.privateKeyFromPem(issuer.key), forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

describe('PKCS#10 requests (node:crypto keys, DER envelope)', () => {
  const cases: Array<[KeyType, RegExp]> = [
    ['ec-p256', /id-ecPublicKey[\s\S]*Public-Key: \(256 bit\)[\s\S]*NIST CURVE: P-256/],
    ['rsa-2048', /rsaEncryption[\s\S]*Public-Key: \(2048 bit\)/],
  ];
  for (const [type, key] of cases) {
    it(`${type}: openssl verifies the signature; O = CpoName, CN = serial; the public key is the pair's`, async () => {
      const request = await createCertificateRequest(type, {
        organization: 'Ünïcode CPO',
        commonName: 'SN-42',
      });
      const text = openssl(['req', '-noout', '-verify', '-text', '-nameopt', 'utf8'], request.csrPem);
      expect(text).toMatch(/Subject: O=Ünïcode CPO, CN=SN-42/);
      expect(text).toMatch(key);
      expect(text).toMatch(type === 'ec-p256' ? /ecdsa-with-SHA256/ : /sha256WithRSAEncryption/);
      const spki = createPublicKey(request.privateKeyPem).export({ type: 'spki', format: 'der' });
      expect(spki.equals(request.publicKeyDer)).toBe(true);
    });
  }
});

describe('CertificateSigned chain checks', () => {
  let root: Pem;
  let publicKeyPem: string;
  let publicKeyDer: Buffer;
  const now = Date.now();

  beforeAll(async () => {
    root = createCa({ commonName: 'Root' });
    // forge, which plays the CA here, reads RSA public keys only.
    const request = await createCertificateRequest('rsa-2048', { organization: 'CPO', commonName: 'SN-1' });
    publicKeyDer = request.publicKeyDer;
    publicKeyPem = createPublicKey(request.privateKeyPem).export({ type: 'spki', format: 'pem' }).toString();
  });
  const check = (chain: string, nowMs = now) =>
    verifyChargePointChain(chain, { roots: [root.cert], publicKeyDer, nowMs, maxChainSize: 10_000 });

  it('accepts a leaf for the key issued by the root, and one through an intermediate CA', () => {
    expect(check(issue(root, publicKeyPem)).ok).toBe(true);
    const subCa = createCa({ commonName: 'Sub CA' });
    const sub: Pem = {
      key: subCa.key,
      cert: issue(root, createPublicKey(subCa.key).export({ type: 'spki', format: 'pem' }).toString(), {
        ca: true,
        commonName: 'Sub CA',
      }),
    };
    const leaf = issue(sub, publicKeyPem);
    expect(check(`${leaf}${sub.cert}`)).toMatchObject({ ok: true });
    // Without the intermediate the chain leads nowhere.
    expect(check(leaf)).toEqual({
      ok: false,
      reason: 'the chain does not lead to an installed central-system root',
    });
  });

  it('refuses an expired or a not yet valid certificate, allowing a few minutes of clock skew', () => {
    const leaf = issue(root, publicKeyPem, { notBefore: new Date(now), notAfter: new Date(now + DAY) });
    expect(check(leaf, now + 2 * DAY)).toMatchObject({ ok: false, reason: expect.stringMatching(/expired/) });
    expect(check(leaf, now - 60_000).ok).toBe(true);
    expect(check(leaf, now - 3600_000)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/not valid before/),
    });
  });

  it('refuses a CA certificate as the leaf', () => {
    expect(check(issue(root, publicKeyPem, { ca: true }))).toMatchObject({
      ok: false,
      reason: 'the first certificate is a CA certificate',
    });
  });
});

describe('A03: the daily look at the certificate in use (fake clock)', () => {
  it('sends a new request on the first daily check within 30 days of its end, not before', async () => {
    const clock = new FakeClock(Date.now());
    const ca = createCa();
    const ending = createClientCert(ca, {
      commonName: 'SN-1',
      notBefore: new Date(clock.now() - DAY),
      notAfter: new Date(clock.now() + 40 * DAY + 3600_000),
    });
    const certificate = new ChargePointCertificate({
      dir: join(work, 'renewal', 'certs'),
      provisioned: writePemFiles(join(work, 'renewal'), 'cp', ending),
      keyType: 'ec-p256',
      time: { nowMs: () => clock.now() },
      log: silentLogger(),
    });
    const sent: SignCertificateRequest[] = [];
    let delivered: () => void = () => {};
    const renewal = new CertificateRenewal(
      {
        rpc: {
          call: async (_action, payload) => {
            sent.push(payload);
            delivered();
            return { status: 'Accepted' };
          },
        },
        config: { get: (key) => (key === 'CpoName' ? 'CPO' : undefined) },
        clock,
        time: { nowMs: () => clock.now() },
        log: silentLogger(),
      },
      { certificate, serialNumber: 'SN-1', online: () => true },
    );
    renewal.start();
    clock.advance(10 * EXPIRY_CHECK_INTERVAL_MS);
    expect(sent).toEqual([]);
    const arrived = new Promise<void>((resolve) => {
      delivered = resolve;
    });
    clock.advance(EXPIRY_CHECK_INTERVAL_MS);
    await arrived;
    expect(sent).toHaveLength(1);
    expect(certificate.requestPending).toBe(true);
    renewal.stop();
    expect(clock.pending).toBe(0);
  });
});

describe('the certificate files', () => {
  it('a certificate on trial survives a restart, is presented until dropped, and the provisioned one comes back', async () => {
    const ca = createCa();
    const dir = join(work, 'trial');
    const provisioned = writePemFiles(dir, 'provisioned', createClientCert(ca, { commonName: 'SN-1' }));
    const open = () =>
      new ChargePointCertificate({
        dir: join(dir, 'certs'),
        provisioned,
        keyType: 'rsa-2048',
        time: { nowMs: () => Date.now() },
        log: silentLogger(),
      });
    const first = open();
    const csr = await first.newRequest({ organization: 'CPO', commonName: 'SN-1' });
    const publicKeyPem = openssl(['req', '-noout', '-pubkey'], csr);
    const signed = issue(ca, publicKeyPem);
    expect(first.install(signed, { roots: [ca.cert], maxChainSize: 10_000, trial: true })).toEqual({
      status: 'Accepted',
      trial: true,
    });
    expect(first.requestPending).toBe(false);

    const again = open();
    expect(again.onTrial).toBe(true);
    expect(again.credentials()?.cert.trim()).toBe(signed.trim());
    expect(again.credentials()?.key).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    again.abandonTrial();
    expect(again.credentials()?.cert).toBe(readFileSync(provisioned.certFile, 'utf8'));
    // Nothing pending any more: a second copy of the certificate is refused as invalid (TC_077).
    expect(again.install(signed, { roots: [ca.cert], maxChainSize: 10_000, trial: true })).toMatchObject({
      status: 'Rejected',
      invalid: true,
    });
  });

  it('a storage failure: Rejected, not invalid, and the certificate in use, its previous one and the pending request stay', async () => {
    const ca = createCa();
    const dir = join(work, 'storage-failure', 'certs');
    const certificate = new ChargePointCertificate({
      dir,
      keyType: 'rsa-2048',
      time: { nowMs: () => Date.now() },
      log: silentLogger(),
    });
    const signFor = async () => {
      const csr = await certificate.newRequest({ organization: 'CPO', commonName: 'SN-1' });
      return issue(ca, openssl(['req', '-noout', '-pubkey'], csr));
    };
    const check = { roots: [ca.cert], maxChainSize: 10_000, trial: false };
    const first = await signFor();
    expect(certificate.install(first, check)).toEqual({ status: 'Accepted', trial: false });
    const second = await signFor();
    expect(certificate.install(second, check)).toEqual({ status: 'Accepted', trial: false });
    const files = () =>
      Object.fromEntries(
        readdirSync(dir)
          .filter((name) => name.endsWith('.pem') || name.endsWith('.key'))
          .map((name) => [name, readFileSync(join(dir, name), 'utf8')]),
      );

    const third = await signFor();
    const before = files();
    // The new certificate file cannot be made over the one in use.
    mkdirSync(join(dir, 'charge-point.pem.tmp'));
    expect(certificate.install(third, check)).toEqual({
      status: 'Rejected',
      reason: expect.stringMatching(/^not stored: /),
      invalid: false,
    });
    expect(files()).toEqual(before);
    expect(certificate.credentials()?.cert.trim()).toBe(second.trim());
    rmdirSync(join(dir, 'charge-point.pem.tmp'));

    // A request key that cannot be read is a storage failure too.
    rmSync(join(dir, 'request.key'));
    mkdirSync(join(dir, 'request.key'));
    expect(certificate.install(third, check)).toEqual({
      status: 'Rejected',
      reason: expect.stringMatching(/^signing request key unreadable: /),
      invalid: false,
    });
    expect(certificate.credentials()?.cert.trim()).toBe(second.trim());
  });

  it('a power cut mid-write: its own leftover .tmp files are removed at start, nothing else in certs/', () => {
    const dir = join(work, 'leftovers', 'certs');
    mkdirSync(dir, { recursive: true });
    const leftovers = [
      'charge-point.pem.tmp',
      'charge-point-new.pem.tmp',
      'charge-point-previous.pem.tmp',
      'request.key.tmp',
    ];
    // The certificate store's files share the directory and are its own to repair.
    const others = [
      'charge-point.pem',
      'CentralSystemRootCertificate-ab.pem',
      'CentralSystemRootCertificate-cd.pem.tmp',
      'notes.tmp',
    ];
    for (const name of [...leftovers, ...others]) {
      writeFileSync(join(dir, name), '-----BEGIN PRIVATE KEY-----\nhalf\n', { mode: 0o600 });
    }

    new ChargePointCertificate({
      dir,
      keyType: 'ec-p256',
      time: { nowMs: () => Date.now() },
      log: silentLogger(),
    });

    expect(readdirSync(dir).sort()).toEqual([...others].sort());
  });
});
