import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/file.js';
import { createCa, createClientCert, createServerCert, type Pem, writePemFiles } from '../csms/certs.js';
import { type CsmsOptions, DevCsms, type HandshakeInfo } from '../csms/server.js';
import { CP_ID, useHarness } from '../support/harness.js';

/** OCTT TC_073's AuthorizationKey: the hex of the password "OCA_OCTT_admin_test". */
const KEY = '4F43415F4F4354545F61646D696E5F74657374';
const PASSWORD = 'OCA_OCTT_admin_test';
const SERIAL = 'SN-TEST-01';

function basic(user: string, password: string | Buffer): string {
  return `Basic ${Buffer.concat([Buffer.from(`${user}:`), Buffer.from(password)]).toString('base64')}`;
}

describe('Security profiles: transport and authentication', () => {
  const start = useHarness();
  let dir: string;
  let ca: Pem;
  let caFile: string;
  let server: Pem;
  let client: { certFile: string; keyFile: string };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cp-certs-'));
    ca = createCa({ commonName: 'Test CSMS Root' });
    caFile = writePemFiles(dir, 'ca', ca).certFile;
    server = createServerCert(ca);
    client = writePemFiles(
      dir,
      'client',
      createClientCert(ca, { commonName: SERIAL, organization: 'TestCPO' }),
    );
  });

  const tlsServer = (
    extra: Partial<NonNullable<CsmsOptions['tls']>> = {},
    pem: Pem = server,
  ): CsmsOptions['tls'] => ({
    key: pem.key,
    cert: pem.cert,
    ca: ca.cert,
    ...extra,
  });

  /** Starts a charge point on profile 2 against a TLS server that must be refused; returns the log line. */
  async function expectRefused(tls: CsmsOptions['tls'], event: string): Promise<void> {
    const h = await start({
      csms: { tls, basicAuth: { [CP_ID]: PASSWORD } },
      ocpp: { AuthorizationKey: KEY },
      config: () => ({ csms: { securityProfile: 2, caFile } }),
    });
    await h.sink.waitFor((l) => l.msg === 'security event' && l.securityEvent === event);
    await h.sink.waitFor((l) => l.msg === 'will retry connecting');
    expect(h.csms.handshakes).toEqual([]);
    expect(h.csms.calls(CP_ID)).toEqual([]);
  }

  it('TC_085_CS Basic authentication on profile 1: <chargePointId>:<AuthorizationKey>', async () => {
    const h = await start({
      csms: { basicAuth: { [CP_ID]: PASSWORD } },
      ocpp: { AuthorizationKey: KEY },
      config: () => ({ csms: { securityProfile: 1 } }),
    });
    const info = await h.csms.waitForConnection(CP_ID);
    expect(info.headers.authorization).toBe(basic(CP_ID, PASSWORD));
    expect(info.tls).toBeUndefined();
    await h.booted();
  });

  it('a wrong password is refused (401), logged as a security event, and retried', async () => {
    const h = await start({
      csms: { basicAuth: { [CP_ID]: 'another-password-1234' } },
      ocpp: { AuthorizationKey: KEY },
      config: () => ({ csms: { securityProfile: 1 } }),
    });
    await h.sink.waitFor(
      (l) => l.msg === 'security event' && l.securityEvent === 'FailedToAuthenticateAtCentralSystem',
    );
    await h.sink.waitFor((l) => l.msg === 'will retry connecting' && Number(l.attempt) >= 2);
    expect(h.csms.calls(CP_ID)).toEqual([]);
  });

  it('TC_073_CS a new AuthorizationKey is accepted, then used on an immediate reconnect', async () => {
    const h = await start({
      ocpp: { AuthorizationKey: 'a text password!' },
      config: () => ({ csms: { securityProfile: 1 } }),
    });
    await h.booted();
    expect(h.csms.handshakes.at(-1)?.headers.authorization).toBe(basic(CP_ID, 'a text password!'));
    const octt = once(h.csms, 'connection');
    expect(await h.csms.call(CP_ID, 'ChangeConfiguration', { key: 'AuthorizationKey', value: KEY })).toEqual({
      status: 'Accepted',
    });
    // The OCTT's hex stands for the password bytes: TC_085's checks (>= 16 characters, hex 20-40) hold for them.
    const [afterOctt] = (await octt) as [HandshakeInfo];
    expect(afterOctt.basicAuth?.password).toBe(PASSWORD);
    expect(afterOctt.headers.authorization).toBe(basic(CP_ID, PASSWORD));
    const next = '00112233445566778899AABBCCDDEEFF';
    const reconnected = once(h.csms, 'connection');
    expect(await h.csms.call(CP_ID, 'ChangeConfiguration', { key: 'AuthorizationKey', value: next })).toEqual(
      {
        status: 'Accepted',
      },
    );
    const [info] = (await reconnected) as [HandshakeInfo];
    expect(info.basicAuth?.passwordHex).toBe(next.toLowerCase());
    expect(info.headers.authorization).toBe(basic(CP_ID, Buffer.from(next, 'hex')));
    // The secret never appears in the log.
    expect(JSON.stringify(h.sink.lines)).not.toContain(next);
  });

  it('TC_085_CS length rules: 16 to 20 bytes, as text or as 32 to 40 hex digits; a refused key leaves the old one in use', async () => {
    const h = await start({
      ocpp: { AuthorizationKey: KEY },
      config: () => ({ csms: { securityProfile: 1 } }),
    });
    await h.booted();
    const change = (value: string) =>
      h.csms.call(CP_ID, 'ChangeConfiguration', { key: 'AuthorizationKey', value });
    for (const value of [
      '0123456789ABCDEF0123', // hex of 10 bytes
      'ab'.repeat(15), // hex of 15 bytes
      'ab'.repeat(21), // hex of 21 bytes
      'fifteen chars!!',
      'twenty-one characters',
    ]) {
      expect(await change(value), value).toEqual({ status: 'Rejected' });
    }
    expect(h.csms.handshakes.filter((hs) => hs.chargePointId === CP_ID)).toHaveLength(1);
    const reconnected = once(h.csms, 'connection');
    expect(await change('ab'.repeat(20))).toEqual({ status: 'Accepted' });
    const [info] = (await reconnected) as [HandshakeInfo];
    expect(info.basicAuth?.passwordHex).toBe('ab'.repeat(20));
  });

  it('TC_086_CS TLS with server certificate: TLS >= 1.2, Basic auth on profile 2, no client certificate', async () => {
    const h = await start({
      csms: {
        tls: tlsServer({ requestCert: true, rejectUnauthorized: false }),
        basicAuth: { [CP_ID]: PASSWORD },
      },
      ocpp: { AuthorizationKey: KEY },
      config: () => ({ csms: { securityProfile: 2, caFile } }),
    });
    const info = await h.csms.waitForConnection(CP_ID);
    expect(['TLSv1.2', 'TLSv1.3']).toContain(info.tls?.protocol);
    expect(info.headers.authorization).toBe(basic(CP_ID, PASSWORD));
    expect(info.tls?.peerCertificate).toBeUndefined();
    await h.booted();
  });

  for (const suite of ['AES128-GCM-SHA256', 'AES256-GCM-SHA384', 'ECDHE-RSA-AES128-GCM-SHA256']) {
    it(`TC_086_CS cipher suite ${suite} over TLS 1.2 is offered by the charge point`, async () => {
      const h = await start({
        csms: { tls: tlsServer({ maxVersion: 'TLSv1.2', ciphers: suite }), basicAuth: { [CP_ID]: PASSWORD } },
        ocpp: { AuthorizationKey: KEY },
        config: () => ({ csms: { securityProfile: 2, caFile } }),
      });
      const info = await h.csms.waitForConnection(CP_ID);
      expect(info.tls?.protocol).toBe('TLSv1.2');
      expect(info.tls?.cipher.name).toBe(suite);
    });
  }

  it('TC_087_CS TLS with client certificate: CN is the serial number, key >= 2048 bits, no Basic header', async () => {
    const h = await start({
      csms: { tls: tlsServer({ requestCert: true }) },
      config: () => ({ csms: { securityProfile: 3, caFile, ...client } }),
    });
    const info = await h.csms.waitForConnection(CP_ID);
    expect(info.headers.authorization).toBeUndefined();
    const peer = info.tls?.peerCertificate;
    expect(peer?.subject.CN).toBe(SERIAL);
    expect(peer?.serialNumber).toBeTruthy();
    expect(peer?.bits).toBeGreaterThanOrEqual(2048);
    await h.booted();
  });

  it('a server certificate from an unknown CA is refused and logged', async () => {
    const otherCa = createCa({ commonName: 'Rogue Root' });
    await expectRefused(tlsServer({}, createServerCert(otherCa)), 'InvalidCentralSystemCertificate');
  });

  it('an expired server certificate is refused and logged', async () => {
    const expired = createServerCert(ca, {
      notBefore: new Date(Date.now() - 20 * 86_400_000),
      notAfter: new Date(Date.now() - 10 * 86_400_000),
    });
    await expectRefused(tlsServer({}, expired), 'InvalidCentralSystemCertificate');
  });

  it('a sound server certificate for another host is refused: the central system failed to authenticate', async () => {
    const wrongHost = createServerCert(ca, {
      commonName: 'csms.other.example',
      altNames: ['csms.other.example'],
    });
    await expectRefused(tlsServer({}, wrongHost), 'CentralSystemFailedToAuthenticate');
  });

  it('a TLS 1.1-only central system is refused and logged', async () => {
    await expectRefused(
      tlsServer({ minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }),
      'InvalidTLSVersion',
    );
  });

  it('a central system offering only CBC suites is refused', async () => {
    const h = await start({
      csms: {
        tls: tlsServer({ maxVersion: 'TLSv1.2', ciphers: 'AES128-SHA:AES256-SHA' }),
        basicAuth: { [CP_ID]: PASSWORD },
      },
      ocpp: { AuthorizationKey: KEY },
      config: () => ({ csms: { securityProfile: 2, caFile } }),
    });
    await h.sink.waitFor((l) => l.msg === 'connection error');
    await h.sink.waitFor((l) => l.msg === 'will retry connecting');
    expect(h.csms.handshakes).toEqual([]);
  });

  it('profile 2 never falls back to a plain ws:// URL: the provisioning file is refused', async () => {
    const h = await start({ deferStart: true });
    expect(() =>
      parseConfig(
        {
          chargePointId: CP_ID,
          identity: { vendor: 'V', model: 'M' },
          csms: { url: h.url, securityProfile: 2, caFile },
          stateDir: h.stateDir,
          ocpp: { AuthorizationKey: KEY },
        },
        h.stateDir,
      ),
    ).toThrow('csms.url: security profile 2 needs a wss:// URL');
    expect(h.csms.handshakes).toEqual([]);
  });

  it('TC_083_CS upgrade 0 -> 1: Accepted, reconnect with Basic auth; TC_084_CS then lowering it is Rejected', async () => {
    const h = await start({ ocpp: { AuthorizationKey: KEY } });
    await h.booted();
    expect(h.csms.handshakes.at(-1)?.headers.authorization).toBeUndefined();
    const mark = h.csms.mark();
    const reconnected = once(h.csms, 'connection');
    expect(await h.csms.call(CP_ID, 'ChangeConfiguration', { key: 'SecurityProfile', value: '1' })).toEqual({
      status: 'Accepted',
    });
    const [info] = (await reconnected) as [HandshakeInfo];
    expect(info.headers.authorization).toBe(basic(CP_ID, PASSWORD));
    const event = await h.csms.waitForCall(CP_ID, 'SecurityEventNotification', {
      since: mark,
      where: (p: { type: string }) => p.type === 'ReconfigurationOfSecurityParameters',
    });
    expect(event.payload).toMatchObject({ techInfo: 'SecurityProfile 0 -> 1' });
    expect(await h.csms.call(CP_ID, 'ChangeConfiguration', { key: 'SecurityProfile', value: '0' })).toEqual({
      status: 'Rejected',
    });
    // The raised profile is persisted: a restart connects with Basic auth again.
    await h.runtime.stop();
    const again = once(h.csms, 'connection');
    await h.startRuntime();
    const [afterRestart] = (await again) as [HandshakeInfo];
    expect(afterRestart.headers.authorization).toBe(basic(CP_ID, PASSWORD));
  });

  it('TC_083_CS upgrade 1 -> 2 moves to the central system TLS endpoint', async () => {
    const tlsCsms = new DevCsms({ tls: tlsServer(), basicAuth: { [CP_ID]: PASSWORD } });
    const { url: tlsUrl } = await tlsCsms.start();
    try {
      const h = await start({
        ocpp: { AuthorizationKey: KEY },
        config: () => ({ csms: { securityProfile: 1, caFile, urlBySecurityProfile: { '2': tlsUrl } } }),
      });
      await h.booted();
      expect(await h.csms.call(CP_ID, 'ChangeConfiguration', { key: 'SecurityProfile', value: '2' })).toEqual(
        {
          status: 'Accepted',
        },
      );
      const info = await tlsCsms.waitForConnection(CP_ID);
      expect(info.headers.authorization).toBe(basic(CP_ID, PASSWORD));
      expect(['TLSv1.2', 'TLSv1.3']).toContain(info.tls?.protocol);
      await tlsCsms.waitForCall(CP_ID, 'StatusNotification', {
        where: (p: { connectorId: number }) => p.connectorId === 2,
      });
    } finally {
      await tlsCsms.stop();
    }
  });

  it('falls back to the previous profile when the central system refuses the new one', async () => {
    const h = await start({
      ocpp: { AuthorizationKey: KEY },
      csms: { rules: { acceptConnection: (info) => (info.headers.authorization ? 401 : true) } },
    });
    await h.booted();
    expect(await h.csms.call(CP_ID, 'ChangeConfiguration', { key: 'SecurityProfile', value: '1' })).toEqual({
      status: 'Accepted',
    });
    await h.sink.waitFor(
      (l) => l.msg === 'cannot connect with the new security profile; falling back to the previous one',
    );
    // No connection is up while the new profile is being refused: the next one is the fallback's.
    const info = await h.csms.waitForConnection(CP_ID);
    expect(info.headers.authorization).toBeUndefined();
    const conf = await h.csms.call<{ configurationKey: Array<{ value: string }> }>(
      CP_ID,
      'GetConfiguration',
      {
        key: ['SecurityProfile'],
      },
    );
    expect(conf.configurationKey[0]?.value).toBe('0');
    expect(h.csms.handshakes.filter((hs) => hs.headers.authorization).length).toBeGreaterThanOrEqual(3);
  });
});
