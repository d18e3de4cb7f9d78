import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCa, createServerCert, type Pem } from '../csms/certs.js';
import { type CsmsOptions, DevCsms } from '../csms/server.js';
import { useDaemonEnv } from '../support/daemon-process.js';
import { CP_ID, type Harness, type HarnessOptions, useHarness } from '../support/harness.js';
import { type CertId, ecCa, ecServerCert, opensslCertId, rsaCa } from '../support/pki.js';

/** OCTT TC_073's AuthorizationKey: the hex of the Basic-auth password "OCA_OCTT_admin_test" (docs/security.md). */
const KEY = '4F43415F4F4354545F61646D696E5F74657374';
const PASSWORD = 'OCA_OCTT_admin_test';
const DAY_MS = 86_400_000;

type Installed = { status: string; certificateHashData?: CertId[] };

const isEvent =
  (type: string) =>
  (payload: { type: string }): boolean =>
    payload.type === type;

/** A central system on a chain the charger no longer trusts: refused in the TLS handshake, with the event logged. */
async function refusedOnTls(h: Harness, tls: CsmsOptions['tls']): Promise<void> {
  const logged = h.sink.lines.length;
  const rogue = await h.restartCsms({ tls, basicAuth: { [CP_ID]: PASSWORD } });
  await h.sink.waitFor(
    (l) =>
      h.sink.lines.indexOf(l) >= logged &&
      l.msg === 'security event recorded' &&
      l.securityEvent === 'InvalidCentralSystemCertificate',
  );
  expect(rogue.handshakes).toEqual([]);
}

describe('Security extension: root certificates over OCPP and TLS trust', () => {
  const start = useHarness();
  let dir: string;
  /** The provisioned central-system root (csms.caFile) and the server certificate it issued. */
  let root: Pem;
  let server: Pem;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cp-roots-'));
    root = createCa({ commonName: 'Provisioned CSMS Root' });
    server = createServerCert(root);
  });

  function writeBundle(name: string, ...pems: string[]): string {
    const file = join(dir, `${name}.pem`);
    writeFileSync(file, pems.join(''));
    return file;
  }

  const tlsOf = (pem: Pem, extra: Partial<NonNullable<CsmsOptions['tls']>> = {}): CsmsOptions['tls'] => ({
    key: pem.key,
    cert: pem.cert,
    ...extra,
  });

  /**
   * A charge point on security profile 2, connected and registered, its StartupOfTheDevice event
   * delivered: a mark taken afterwards sees only the events the test causes.
   */
  async function connected(
    opts: { caFile?: string; tls?: CsmsOptions['tls']; ocpp?: HarnessOptions['ocpp'] } = {},
  ): Promise<Harness> {
    const caFile = opts.caFile ?? writeBundle('provisioned', root.cert);
    const h = await start({
      csms: { tls: opts.tls ?? tlsOf(server), basicAuth: { [CP_ID]: PASSWORD } },
      ocpp: { AuthorizationKey: KEY, ...opts.ocpp },
      config: () => ({ csms: { securityProfile: 2, caFile } }),
    });
    await h.booted();
    await h.csms.waitForCall(CP_ID, 'SecurityEventNotification', { where: isEvent('StartupOfTheDevice') });
    return h;
  }

  /** Answered TriggerMessage(Heartbeat) and its Heartbeat: an event queued before it has left by then. */
  async function fence(h: Harness, mark: number): Promise<void> {
    await h.csms.call(CP_ID, 'TriggerMessage', { requestedMessage: 'Heartbeat' });
    await h.csms.waitForCall(CP_ID, 'Heartbeat', { since: mark });
  }

  const install = (h: Harness, certificateType: string, certificate: string) =>
    h.csms.call<{ status: string }>(CP_ID, 'InstallCertificate', { certificateType, certificate });
  const installed = (h: Harness, certificateType: string) =>
    h.csms.call<Installed>(CP_ID, 'GetInstalledCertificateIds', { certificateType });
  const remove = (h: Harness, certificateHashData: CertId) =>
    h.csms.call<{ status: string }>(CP_ID, 'DeleteCertificate', { certificateHashData });
  const selfId = (pem: Pem) => opensslCertId(pem.cert, pem.cert, 'SHA256');

  it('the certificate store keys exist, read-only (SupportedFeatureProfiles does not list the extension)', async () => {
    const h = await connected();
    type Conf = { configurationKey: Array<{ key: string; readonly: boolean; value?: string }> };
    const conf = await h.csms.call<Conf>(CP_ID, 'GetConfiguration', {
      key: ['CertificateStoreMaxLength', 'AdditionalRootCertificateCheck', 'SupportedFeatureProfiles'],
    });
    expect(conf.configurationKey).toEqual([
      { key: 'CertificateStoreMaxLength', readonly: true, value: '10' },
      { key: 'AdditionalRootCertificateCheck', readonly: true, value: 'false' },
      {
        key: 'SupportedFeatureProfiles',
        readonly: true,
        value: 'Core,FirmwareManagement,LocalAuthListManagement,RemoteTrigger,Reservation,SmartCharging',
      },
    ]);
  });

  it('TC_075_1_CS InstallCertificate(ManufacturerRootCertificate) -> Accepted; listed with the hash data openssl computes', async () => {
    const h = await connected();
    expect(await installed(h, 'ManufacturerRootCertificate')).toEqual({ status: 'NotFound' });
    const manufacturer = rsaCa({ commonName: 'Manufacturer Root' });
    expect(await install(h, 'ManufacturerRootCertificate', manufacturer.cert)).toEqual({
      status: 'Accepted',
    });
    expect(await installed(h, 'ManufacturerRootCertificate')).toEqual({
      status: 'Accepted',
      certificateHashData: [selfId(manufacturer)],
    });
    // A manufacturer root is no central-system root: it neither lists nor trusts as one.
    expect(await installed(h, 'CentralSystemRootCertificate')).toEqual({
      status: 'Accepted',
      certificateHashData: [selfId(root)],
    });
  });

  it('TC_075_2_CS InstallCertificate(CentralSystemRootCertificate, ECDSA) -> Accepted; listed beside the provisioned one', async () => {
    const h = await connected();
    const ecRoot = ecCa('EC CSMS Root');
    expect(await install(h, 'CentralSystemRootCertificate', ecRoot.cert)).toEqual({ status: 'Accepted' });
    expect(await installed(h, 'CentralSystemRootCertificate')).toEqual({
      status: 'Accepted',
      certificateHashData: [selfId(root), selfId(ecRoot)],
    });
    // Installing it again changes nothing.
    expect(await install(h, 'CentralSystemRootCertificate', ecRoot.cert)).toEqual({ status: 'Accepted' });
    expect((await installed(h, 'CentralSystemRootCertificate')).certificateHashData).toHaveLength(2);
  });

  it('TC_076_CS DeleteCertificate with the reported hash data -> Accepted, no longer listed; unknown -> NotFound', async () => {
    const h = await connected();
    const other = rsaCa({ commonName: 'Second CSMS Root' });
    await install(h, 'CentralSystemRootCertificate', other.cert);
    const listed = await installed(h, 'CentralSystemRootCertificate');
    const target = listed.certificateHashData?.find((id) => id.serialNumber === selfId(other).serialNumber);
    if (!target) throw new Error('installed root not listed');
    expect(await remove(h, target)).toEqual({ status: 'Accepted' });
    expect(await installed(h, 'CentralSystemRootCertificate')).toEqual({
      status: 'Accepted',
      certificateHashData: [selfId(root)],
    });
    expect(await remove(h, target)).toEqual({ status: 'NotFound' });
    // The same certificate named with another hash algorithm (and lower case) is found too.
    await install(h, 'CentralSystemRootCertificate', other.cert);
    const sha512 = opensslCertId(other.cert, other.cert, 'SHA512');
    expect(await remove(h, { ...sha512, issuerNameHash: sha512.issuerNameHash.toLowerCase() })).toEqual({
      status: 'Accepted',
    });
  });

  it('DeleteCertificate of the root the current connection was verified with -> Failed, and it stays', async () => {
    const h = await connected();
    expect(await remove(h, selfId(root))).toEqual({ status: 'Failed' });
    expect((await installed(h, 'CentralSystemRootCertificate')).certificateHashData).toEqual([selfId(root)]);
  });

  it('DeleteCertificate of the charge point certificate -> NotFound (M04.FR.05: not deletable this way)', async () => {
    const h = await connected();
    const cpCert = createServerCert(root);
    expect(await remove(h, opensslCertId(cpCert.cert, root.cert, 'SHA256'))).toEqual({ status: 'NotFound' });
  });

  it('a provisioned root deleted over OCPP stays deleted after a restart (the caFile is not edited)', async () => {
    const spare = rsaCa({ commonName: 'Spare Provisioned Root' });
    const caFile = writeBundle('two-roots', root.cert, spare.cert);
    const h = await connected({ caFile });
    expect(await remove(h, selfId(spare))).toEqual({ status: 'Accepted' });
    const mark = h.csms.mark();
    await h.runtime.stop();
    await h.startRuntime();
    await h.booted(mark);
    expect(await installed(h, 'CentralSystemRootCertificate')).toEqual({
      status: 'Accepted',
      certificateHashData: [selfId(root)],
    });
  });

  const invalid: Array<[string, () => string]> = [
    [
      'expired',
      () =>
        rsaCa({
          commonName: 'Expired Root',
          notBefore: new Date(Date.now() - 20 * DAY_MS),
          notAfter: new Date(Date.now() - DAY_MS),
        }).cert,
    ],
    [
      'not yet valid',
      () =>
        rsaCa({
          commonName: 'Future Root',
          notBefore: new Date(Date.now() + DAY_MS),
          notAfter: new Date(Date.now() + 20 * DAY_MS),
        }).cert,
    ],
    ['not a CA', () => rsaCa({ commonName: 'Leaf', ca: false }).cert],
    ['malformed PEM', () => '-----BEGIN CERTIFICATE-----\nMIIBnotbase64really\n-----END CERTIFICATE-----\n'],
  ];
  for (const [what, make] of invalid) {
    it(`TC_078_CS an ${what} CentralSystemRootCertificate -> Rejected + SecurityEventNotification InvalidCentralSystemCertificate`, async () => {
      const h = await connected();
      const mark = h.csms.mark();
      expect(await install(h, 'CentralSystemRootCertificate', make())).toEqual({ status: 'Rejected' });
      await h.csms.waitForCall(CP_ID, 'SecurityEventNotification', {
        since: mark,
        where: isEvent('InvalidCentralSystemCertificate'),
      });
      expect(h.csms.calls(CP_ID, 'SecurityEventNotification', mark)).toHaveLength(1);
      expect((await installed(h, 'CentralSystemRootCertificate')).certificateHashData).toEqual([
        selfId(root),
      ]);
    });
  }

  /** An expired root, one the install refuses (as TC_078 sends). */
  const expiredRoot = () =>
    rsaCa({
      commonName: 'Expired Root',
      notBefore: new Date(Date.now() - 20 * DAY_MS),
      notAfter: new Date(Date.now() - DAY_MS),
    }).cert;

  /** A refused central-system root and its InvalidCentralSystemCertificate notification. */
  async function refusedWithEvent(h: Harness): Promise<void> {
    const mark = h.csms.mark();
    expect(await install(h, 'CentralSystemRootCertificate', expiredRoot())).toEqual({ status: 'Rejected' });
    await h.csms.waitForCall(CP_ID, 'SecurityEventNotification', {
      since: mark,
      where: isEvent('InvalidCentralSystemCertificate'),
    });
  }

  it('TC_078_CS run twice on one charger: each refused install has its InvalidCentralSystemCertificate', async () => {
    const h = await connected();
    await refusedWithEvent(h);
    await refusedWithEvent(h);
  });

  it('TC_078_CS after a TLS failure (InvalidCentralSystemCertificate from the reconnect loop): the refused install still has its event', async () => {
    const rogue = createServerCert(createCa({ commonName: 'Rogue Root' }));
    const h = await start({
      csms: { tls: tlsOf(rogue), basicAuth: { [CP_ID]: PASSWORD } },
      ocpp: { AuthorizationKey: KEY },
      config: () => ({ csms: { securityProfile: 2, caFile: writeBundle('provisioned', root.cert) } }),
    });
    await h.sink.waitFor(
      (l) => l.msg === 'security event recorded' && l.securityEvent === 'InvalidCentralSystemCertificate',
    );
    await h.restartCsms({ tls: tlsOf(server), basicAuth: { [CP_ID]: PASSWORD } });
    await h.booted();
    // The TLS failure's own notification, queued while the charger could not connect.
    await h.csms.waitForCall(CP_ID, 'SecurityEventNotification', {
      where: isEvent('InvalidCentralSystemCertificate'),
    });
    await refusedWithEvent(h);
  });

  it('an invalid ManufacturerRootCertificate -> Rejected, without a central-system event', async () => {
    const h = await connected();
    const mark = h.csms.mark();
    expect(
      await install(h, 'ManufacturerRootCertificate', rsaCa({ commonName: 'Leaf', ca: false }).cert),
    ).toEqual({ status: 'Rejected' });
    await fence(h, mark);
    expect(h.csms.calls(CP_ID, 'SecurityEventNotification', mark)).toEqual([]);
    expect(await installed(h, 'ManufacturerRootCertificate')).toEqual({ status: 'NotFound' });
  });

  it('CertificateStoreMaxLength: a full store -> Rejected (the provisioned root counts)', async () => {
    const h = await connected({ ocpp: { CertificateStoreMaxLength: 2 } });
    expect(await install(h, 'ManufacturerRootCertificate', rsaCa({ commonName: 'M1' }).cert)).toEqual({
      status: 'Accepted',
    });
    const mark = h.csms.mark();
    expect(await install(h, 'CentralSystemRootCertificate', rsaCa({ commonName: 'C2' }).cert)).toEqual({
      status: 'Rejected',
    });
    expect((await installed(h, 'CentralSystemRootCertificate')).certificateHashData).toHaveLength(1);
    await fence(h, mark);
    expect(h.csms.calls(CP_ID, 'SecurityEventNotification', mark)).toEqual([]);
  });

  it('schema violations -> CALLERROR: unknown certificateType, certificate over 5500 characters, extra field', async () => {
    const h = await connected();
    await expect(install(h, 'ChargePointCertificate', root.cert)).rejects.toMatchObject({
      code: 'PropertyConstraintViolation',
    });
    await expect(install(h, 'ManufacturerRootCertificate', 'x'.repeat(5501))).rejects.toMatchObject({
      code: 'PropertyConstraintViolation',
    });
    await expect(
      h.csms.call(CP_ID, 'GetInstalledCertificateIds', {
        certificateType: 'CentralSystemRootCertificate',
        x: 1,
      }),
    ).rejects.toMatchObject({ code: 'FormationViolation' });
    await expect(
      h.csms.call(CP_ID, 'DeleteCertificate', {
        certificateHashData: { ...selfId(root), hashAlgorithm: 'MD5' },
      }),
    ).rejects.toMatchObject({ code: 'PropertyConstraintViolation' });
  });

  it('installed roots survive a restart, and an installed central-system root verifies the first connection after it', async () => {
    const h = await connected();
    const manufacturer = rsaCa({ commonName: 'Kept Manufacturer Root' });
    const ecRoot = ecCa('Kept EC CSMS Root');
    expect(await install(h, 'ManufacturerRootCertificate', manufacturer.cert)).toEqual({
      status: 'Accepted',
    });
    expect(await install(h, 'CentralSystemRootCertificate', ecRoot.cert)).toEqual({ status: 'Accepted' });
    await h.runtime.stop();
    await h.restartCsms({ tls: tlsOf(ecServerCert(ecRoot)), basicAuth: { [CP_ID]: PASSWORD } });
    await h.startRuntime();
    await h.booted();
    expect(await installed(h, 'ManufacturerRootCertificate')).toEqual({
      status: 'Accepted',
      certificateHashData: [selfId(manufacturer)],
    });
    expect((await installed(h, 'CentralSystemRootCertificate')).certificateHashData).toEqual([
      selfId(root),
      selfId(ecRoot),
    ]);
  });

  it('TC_084_CS on profile 2, lowering SecurityProfile is Rejected and the connection stays', async () => {
    const h = await connected();
    const handshakes = h.csms.handshakes.length;
    expect(await h.csms.call(CP_ID, 'ChangeConfiguration', { key: 'SecurityProfile', value: '1' })).toEqual({
      status: 'Rejected',
    });
    expect(await h.csms.call(CP_ID, 'ChangeConfiguration', { key: 'SecurityProfile', value: '0' })).toEqual({
      status: 'Rejected',
    });
    // A call answered on the same connection: no reconnect happened meanwhile.
    await h.csms.call(CP_ID, 'GetInstalledCertificateIds', {
      certificateType: 'CentralSystemRootCertificate',
    });
    expect(h.csms.handshakes).toHaveLength(handshakes);
  });

  it('a root installed over OCPP is trusted on the next TLS connect (a central system moving to an ECDSA certificate)', async () => {
    const h = await connected();
    const ecRoot = ecCa('New EC CSMS Root');
    const tls = tlsOf(ecServerCert(ecRoot), {
      maxVersion: 'TLSv1.2',
      ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384',
    });
    expect(await install(h, 'CentralSystemRootCertificate', ecRoot.cert)).toEqual({ status: 'Accepted' });
    // The central system comes back with a server certificate only the installed root vouches for.
    await h.restartCsms({ tls, basicAuth: { [CP_ID]: PASSWORD } });
    const info = await h.csms.waitForConnection(CP_ID);
    expect(info.tls?.cipher.name).toBe('ECDHE-ECDSA-AES256-GCM-SHA384');
    await h.csms.waitForCall(CP_ID, 'StatusNotification');
  });

  for (const suite of ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384']) {
    it(`TC_086_CS an ECDSA server certificate over TLS 1.2 with ${suite}`, async () => {
      const ecRoot = ecCa('EC CSMS Root');
      const h = await connected({
        caFile: writeBundle('ec-root', ecRoot.cert),
        tls: tlsOf(ecServerCert(ecRoot), { maxVersion: 'TLSv1.2', ciphers: suite }),
      });
      const info = h.csms.handshakes.at(-1);
      expect(info?.tls?.protocol).toBe('TLSv1.2');
      expect(info?.tls?.cipher.name).toBe(suite);
      expect(info?.headers.authorization).toBeDefined();
    });
  }

  it('TC_086_CS an ECDSA server certificate over TLS 1.3', async () => {
    const ecRoot = ecCa('EC CSMS Root 1.3');
    const h = await connected({
      caFile: writeBundle('ec-root-13', ecRoot.cert),
      tls: tlsOf(ecServerCert(ecRoot), { minVersion: 'TLSv1.3' }),
    });
    expect(h.csms.handshakes.at(-1)?.tls?.protocol).toBe('TLSv1.3');
  });

  it('AdditionalRootCertificateCheck: a new root must be signed by the installed one, replaces it, and the old one is dropped once the new one has connected', async () => {
    const h = await connected({ ocpp: { AdditionalRootCertificateCheck: true } });
    const mark = h.csms.mark();
    const unrelated = rsaCa({ commonName: 'Unrelated Root' });
    expect(await install(h, 'CentralSystemRootCertificate', unrelated.cert)).toEqual({ status: 'Rejected' });
    await h.csms.waitForCall(CP_ID, 'SecurityEventNotification', {
      since: mark,
      where: isEvent('InvalidCentralSystemCertificate'),
    });
    const successor = rsaCa({ commonName: 'Successor Root', issuer: root });
    expect(await install(h, 'CentralSystemRootCertificate', successor.cert)).toEqual({ status: 'Accepted' });
    const successorId = opensslCertId(successor.cert, root.cert, 'SHA256');
    // The old root stays as the fallback while the connection still runs on it.
    expect((await installed(h, 'CentralSystemRootCertificate')).certificateHashData).toEqual([
      selfId(root),
      successorId,
    ]);
    await h.restartCsms({ tls: tlsOf(createServerCert(successor)), basicAuth: { [CP_ID]: PASSWORD } });
    // Statuses are reported after every reconnect: the connection is up and past the open handler.
    await h.csms.waitForCall(CP_ID, 'StatusNotification');
    expect(await installed(h, 'CentralSystemRootCertificate')).toEqual({
      status: 'Accepted',
      certificateHashData: [successorId],
    });
    // The successor alone anchors the chain (partial chain check) on the next connection too.
    const again = h.csms.mark();
    h.runtime.link.reconnect('test');
    await h.csms.waitForCall(CP_ID, 'StatusNotification', { since: again });
  });

  it('AdditionalRootCertificateCheck: the replaced root is the fallback a server not yet switched connects through; once the new root has verified a connection it is gone and a server on it is refused', async () => {
    const h = await connected({ ocpp: { AdditionalRootCertificateCheck: true } });
    const successor = rsaCa({ commonName: 'Successor Root', issuer: root });
    const successorId = opensslCertId(successor.cert, root.cert, 'SHA256');
    expect(await install(h, 'CentralSystemRootCertificate', successor.cert)).toEqual({ status: 'Accepted' });

    // The central system still presents a chain to the old root, which only the fallback verifies.
    for (let i = 0; i < 2; i++) {
      const mark = h.csms.mark();
      const handshakes = h.csms.handshakes.length;
      h.runtime.link.reconnect('test');
      await h.csms.waitForCall(CP_ID, 'StatusNotification', { since: mark });
      expect(h.csms.handshakes.length).toBeGreaterThan(handshakes);
      expect(await installed(h, 'CentralSystemRootCertificate')).toEqual({
        status: 'Accepted',
        certificateHashData: [selfId(root), successorId],
      });
    }
    expect(h.sink.count((l) => l.msg === 'fallback root certificate removed')).toBe(0);

    // The central system switches to a chain to the new root: the fallback goes.
    await h.restartCsms({ tls: tlsOf(createServerCert(successor)), basicAuth: { [CP_ID]: PASSWORD } });
    await h.csms.waitForCall(CP_ID, 'StatusNotification');
    expect(await installed(h, 'CentralSystemRootCertificate')).toEqual({
      status: 'Accepted',
      certificateHashData: [successorId],
    });

    // A server on the old chain is no longer trusted: refused during the TLS handshake, with the event.
    await refusedOnTls(h, tlsOf(server));
    await h.restartCsms({ tls: tlsOf(createServerCert(successor)), basicAuth: { [CP_ID]: PASSWORD } });
    await h.csms.waitForCall(CP_ID, 'SecurityEventNotification', {
      where: isEvent('InvalidCentralSystemCertificate'),
    });
    expect((await installed(h, 'CentralSystemRootCertificate')).certificateHashData).toEqual([successorId]);
  });

  it('AdditionalRootCertificateCheck: one root and one fallback; a third root before any connection through the second drops the first, the current connection stays and the next one refuses its chain', async () => {
    const h = await connected({ ocpp: { AdditionalRootCertificateCheck: true } });
    const second = rsaCa({ commonName: 'Second Root', issuer: root });
    const third = rsaCa({ commonName: 'Third Root', issuer: second });
    const secondId = opensslCertId(second.cert, root.cert, 'SHA256');
    const thirdId = opensslCertId(third.cert, second.cert, 'SHA256');
    expect(await install(h, 'CentralSystemRootCertificate', second.cert)).toEqual({ status: 'Accepted' });
    const handshakes = h.csms.handshakes.length;
    expect(await install(h, 'CentralSystemRootCertificate', third.cert)).toEqual({ status: 'Accepted' });

    // The replaced root is the one fallback; the first, verifying this very connection, is gone
    // from the store, and the connection it verified stays up.
    expect(await installed(h, 'CentralSystemRootCertificate')).toEqual({
      status: 'Accepted',
      certificateHashData: [secondId, thirdId],
    });
    expect(h.csms.handshakes).toHaveLength(handshakes);

    // The next connection trusts the new set only: a server on the first root's chain is refused.
    await refusedOnTls(h, tlsOf(server));

    // The fallback still verifies a server not yet switched; the new root then removes it.
    await h.restartCsms({ tls: tlsOf(createServerCert(second)), basicAuth: { [CP_ID]: PASSWORD } });
    await h.csms.waitForCall(CP_ID, 'StatusNotification');
    expect((await installed(h, 'CentralSystemRootCertificate')).certificateHashData).toEqual([
      secondId,
      thirdId,
    ]);
    await h.restartCsms({ tls: tlsOf(createServerCert(third)), basicAuth: { [CP_ID]: PASSWORD } });
    await h.csms.waitForCall(CP_ID, 'StatusNotification');
    expect((await installed(h, 'CentralSystemRootCertificate')).certificateHashData).toEqual([thirdId]);
  });

  it('SecurityProfile 2 needs a central-system root: Rejected without one, Accepted once one is installed over OCPP, which then verifies the TLS endpoint', async () => {
    const tlsCsms = new DevCsms({ tls: tlsOf(server), basicAuth: { [CP_ID]: PASSWORD } });
    const { url: tlsUrl } = await tlsCsms.start();
    try {
      const h = await start({
        ocpp: { AuthorizationKey: KEY },
        config: () => ({ csms: { securityProfile: 1, urlBySecurityProfile: { '2': tlsUrl } } }),
      });
      await h.booted();
      const raise = () => h.csms.call(CP_ID, 'ChangeConfiguration', { key: 'SecurityProfile', value: '2' });
      expect(await raise()).toEqual({ status: 'Rejected' });
      expect(await install(h, 'CentralSystemRootCertificate', root.cert)).toEqual({ status: 'Accepted' });
      expect(await raise()).toEqual({ status: 'Accepted' });
      const info = await tlsCsms.waitForConnection(CP_ID);
      expect(['TLSv1.2', 'TLSv1.3']).toContain(info.tls?.protocol);
      await tlsCsms.waitForCall(CP_ID, 'StatusNotification');
    } finally {
      await tlsCsms.stop();
    }
  });
});

describe('AdditionalRootCertificateCheck across a power cut (the daemon as a process)', () => {
  const CP = 'CP-FALLBACK-01';
  const env = useDaemonEnv('cp-fallback-', CP);
  const root = createCa({ commonName: 'Provisioned CSMS Root' });
  const successor = rsaCa({ commonName: 'Successor Root', issuer: root });
  const onRoot = createServerCert(root);
  const onSuccessor = createServerCert(successor);
  const selfId = opensslCertId(root.cert, root.cert, 'SHA256');
  const successorId = opensslCertId(successor.cert, root.cert, 'SHA256');
  let csms: DevCsms | undefined;

  afterEach(async () => {
    await csms?.stop();
    csms = undefined;
  });

  /** The central system (re)started on `port` (0: a new one) with a server certificate `pem`. */
  async function serve(pem: Pem, port = 0): Promise<{ csms: DevCsms; url: string }> {
    await csms?.stop();
    const next = new DevCsms({
      port,
      tls: { key: pem.key, cert: pem.cert },
      basicAuth: { [CP]: PASSWORD },
    });
    csms = next;
    return { csms: next, url: (await next.start()).url };
  }

  it('the fallback survives SIGKILL and is used after it, until the new root has verified a connection; its removal survives SIGKILL too', async () => {
    const e = env();
    const caFile = join(e.dir, 'provisioned.pem');
    writeFileSync(caFile, root.cert);
    const first = await serve(onRoot);
    const port = Number(new URL(first.url).port);
    const config = e.daemonConfig({
      csms: {
        url: first.url,
        securityProfile: 2,
        caFile,
        reconnect: { initialSeconds: 0.05, maxSeconds: 0.5 },
      },
      ocpp: {
        AuthorizationKey: KEY,
        AdditionalRootCertificateCheck: true,
        HeartbeatInterval: 3600,
        WebSocketPingInterval: 0,
      },
    });
    const daemon = e.spawn(config);
    await first.csms.waitForCall(CP, 'BootNotification');
    const installed = (on: DevCsms) =>
      on.call<Installed>(CP, 'GetInstalledCertificateIds', {
        certificateType: 'CentralSystemRootCertificate',
      });
    expect(
      await first.csms.call(CP, 'InstallCertificate', {
        certificateType: 'CentralSystemRootCertificate',
        certificate: successor.cert,
      }),
    ).toEqual({ status: 'Accepted' });

    // Power cut: the central system has not switched yet, so only the fallback verifies it.
    daemon.child.kill('SIGKILL');
    await daemon.exitCode();
    await first.csms.waitForDisconnect(CP);
    const mark = first.csms.mark();
    const second = e.spawn(config);
    await first.csms.waitForCall(CP, 'BootNotification', { since: mark });
    expect(await installed(first.csms)).toEqual({
      status: 'Accepted',
      certificateHashData: [selfId, successorId],
    });

    // The central system switches: the connection verified by the new root removes the fallback.
    const switched = await serve(onSuccessor, port);
    await switched.csms.waitForCall(CP, 'StatusNotification');
    expect(await installed(switched.csms)).toEqual({
      status: 'Accepted',
      certificateHashData: [successorId],
    });

    // Another power cut, and a server back on the old chain: refused, the old root stays gone.
    second.child.kill('SIGKILL');
    await second.exitCode();
    await switched.csms.waitForDisconnect(CP);
    const old = await serve(onRoot, port);
    const outcome = Promise.race([
      once(old.csms, 'tlsError').then(() => 'refused'),
      old.csms.waitForConnection(CP).then(
        () => 'connected',
        () => 'no attempt',
      ),
    ]);
    e.spawn(config);
    expect(await outcome).toBe('refused');
    expect(old.csms.handshakes).toEqual([]);
    const back = await serve(onSuccessor, port);
    await back.csms.waitForCall(CP, 'SecurityEventNotification', {
      where: isEvent('InvalidCentralSystemCertificate'),
    });
    expect(await installed(back.csms)).toEqual({ status: 'Accepted', certificateHashData: [successorId] });
  });
});
