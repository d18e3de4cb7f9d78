import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { CertificateStore, type CertificateStoreOptions } from '../../src/security/certificate-store.js';
import { CertificatesRepo } from '../../src/store/certificates-repo.js';
import { openStore, type Store } from '../../src/store/index.js';
import { rsaCa } from '../support/pki.js';

describe('CertificateStore: files and rows', () => {
  let dir: string;
  let store: Store;
  const events: string[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cp-certstore-'));
    store = openStore({ dir, log: silentLogger() });
    events.length = 0;
  });

  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function certificates(extra: Partial<CertificateStoreOptions> = {}): CertificateStore {
    return new CertificateStore({
      stateDir: dir,
      repo: new CertificatesRepo(store.db),
      maxLength: () => 10,
      additionalRootCertificateCheck: () => false,
      now: () => Date.now(),
      connectionChain: () => [],
      raise: (type) => events.push(type),
      log: silentLogger(),
      ...extra,
    });
  }

  const certsDir = () => join(dir, 'certs');

  it('an installed root is a PEM file under stateDir/certs and a row; a new store reads it back', () => {
    const root = rsaCa({ commonName: 'M Root' });
    expect(certificates().install('ManufacturerRootCertificate', root.cert)).toBe('Accepted');
    const files = readdirSync(certsDir());
    expect(files).toEqual([expect.stringMatching(/^ManufacturerRootCertificate-[0-9a-f]{64}\.pem$/)]);
    // docs/security.md: a root is public (0644) in a directory that also holds private keys (0700).
    expect(statSync(join(certsDir(), files[0] ?? '')).mode & 0o777).toBe(0o644);
    expect(statSync(certsDir()).mode & 0o777).toBe(0o700);
    expect(new CertificatesRepo(store.db).all()).toHaveLength(1);
    expect(certificates().rootsPem('ManufacturerRootCertificate')).toEqual([root.cert.replace(/\r/g, '')]);
  });

  it('a file without its row (a crash after the rename) is adopted at start; a leftover .tmp is removed', () => {
    const root = rsaCa({ commonName: 'Crash Root' });
    certificates().install('CentralSystemRootCertificate', root.cert);
    const [file] = readdirSync(certsDir());
    store.db.prepare('DELETE FROM certificates').run();
    writeFileSync(join(certsDir(), `${file}.tmp`), 'half written');
    const reopened = certificates();
    expect(reopened.installedIds('CentralSystemRootCertificate')).toHaveLength(1);
    expect(new CertificatesRepo(store.db).all().map((row) => row.file)).toEqual([file]);
    expect(readdirSync(certsDir())).toEqual([file]);
  });

  it('a row whose file is gone is dropped at start', () => {
    certificates().install('ManufacturerRootCertificate', rsaCa({ commonName: 'Gone Root' }).cert);
    rmSync(certsDir(), { recursive: true });
    expect(certificates().installedIds('ManufacturerRootCertificate')).toEqual([]);
    expect(new CertificatesRepo(store.db).all()).toEqual([]);
  });

  it('a file that is no certificate of ours is removed at start', () => {
    certificates().install('ManufacturerRootCertificate', rsaCa({ commonName: 'Real' }).cert);
    writeFileSync(join(certsDir(), 'ManufacturerRootCertificate-00.pem'), 'not a certificate');
    certificates();
    expect(existsSync(join(certsDir(), 'ManufacturerRootCertificate-00.pem'))).toBe(false);
    expect(readdirSync(certsDir())).toHaveLength(1);
  });

  it("the charge point certificate's files beside the roots are not the store's to remove", () => {
    certificates().install('ManufacturerRootCertificate', rsaCa({ commonName: 'Kept' }).cert);
    const own = ['charge-point.pem', 'charge-point-new.pem', 'charge-point-previous.pem', 'request.key'];
    for (const name of own) writeFileSync(join(certsDir(), name), 'a chain and its key');
    certificates();
    expect(
      readdirSync(certsDir())
        .filter((name) => own.includes(name))
        .sort(),
    ).toEqual([...own].sort());
  });

  it('a valid central-system root is one trusted and within its validity (an expired provisioned one is not)', () => {
    const expired = rsaCa({
      commonName: 'Expired Provisioned',
      notBefore: new Date(Date.now() - 20 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, expired.cert);
    const certs = certificates({ caFile });
    expect(certs.rootsPem('CentralSystemRootCertificate')).toHaveLength(1);
    expect(certs.hasValidRoot('CentralSystemRootCertificate')).toBe(false);
    expect(certs.install('CentralSystemRootCertificate', rsaCa({ commonName: 'Fresh' }).cert)).toBe(
      'Accepted',
    );
    expect(certs.hasValidRoot('CentralSystemRootCertificate')).toBe(true);
    expect(certs.hasValidRoot('ManufacturerRootCertificate')).toBe(false);
  });

  it('a storage failure answers Failed and leaves nothing behind', () => {
    const certs = certificates();
    writeFileSync(certsDir(), 'a file where the directory should be');
    expect(certs.install('ManufacturerRootCertificate', rsaCa({ commonName: 'No Room' }).cert)).toBe(
      'Failed',
    );
    expect(certs.installedIds('ManufacturerRootCertificate')).toEqual([]);
    expect(new CertificatesRepo(store.db).all()).toEqual([]);
    expect(events).toEqual([]);
  });
});
