import { execFileSync } from 'node:child_process';
import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCa, createClientCert, createServerCert, type Pem, writePemFiles } from '../csms/certs.js';
import type { CsmsOptions, CsmsRules, HandshakeInfo } from '../csms/server.js';
import { cpctl } from '../support/cpctl-process.js';
import { HttpFileServer } from '../support/file-servers.js';
import { CP_ID, type Harness, useHarness } from '../support/harness.js';
import { Mosquitto, MqttWatcher } from '../support/mosquitto.js';
import { waitForStatus } from '../support/status-calls.js';

const SERIAL = 'SN-TEST-01';
const CPO = 'TestCPO';
const DAY_MS = 86_400_000;

let work: string;

/** The test CA signs a request as a central system's CA would: a client certificate for its key and subject. */
function signCsr(ca: Pem, csrPem: string, days = 365): string {
  const dir = mkdtempSync(join(work, 'sign-'));
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const out = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      file('req.csr', csrPem),
      '-CA',
      file('ca.pem', ca.cert),
      '-CAkey',
      file('ca.key', ca.key),
      '-set_serial',
      `0x${randomBytes(8).toString('hex')}`,
      '-days',
      String(days),
      '-sha256',
      '-extfile',
      file(
        'ext.cnf',
        'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n',
      ),
      '-out',
      out,
    ],
    { stdio: 'pipe' },
  );
  return readFileSync(out, 'utf8');
}

/** What openssl reads in a request: its subject (one line) and whether its signature holds. */
function describeCsr(csrPem: string): { subject: string; text: string } {
  const dir = mkdtempSync(join(work, 'csr-'));
  writeFileSync(join(dir, 'req.csr'), csrPem);
  const text = execFileSync(
    'openssl',
    ['req', '-in', join(dir, 'req.csr'), '-noout', '-verify', '-subject', '-text'],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  return { subject: /subject=(.*)/.exec(text)?.[1]?.trim() ?? '', text };
}

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

describe('Charge point certificate (A02/A03) and ExtendedTriggerMessage', () => {
  const start = useHarness();
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });
  let ca: Pem;
  let caFile: string;
  let server: Pem;
  let provisioned: Pem;
  let client: { certFile: string; keyFile: string };

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'cp-csr-'));
    ca = createCa({ commonName: 'Test CSMS Root' });
    caFile = writePemFiles(work, 'ca', ca).certFile;
    server = createServerCert(ca);
    provisioned = createClientCert(ca, { commonName: SERIAL, organization: CPO });
    client = writePemFiles(work, 'client', provisioned);
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const tls = (extra: Partial<NonNullable<CsmsOptions['tls']>> = {}): CsmsOptions['tls'] => ({
    key: server.key,
    cert: server.cert,
    ca: ca.cert,
    requestCert: true,
    ...extra,
  });

  /** A charge point on security profile 3 with the provisioned certificate, booted. */
  async function profile3(
    opts: {
      ocpp?: Record<string, string | number>;
      rules?: CsmsRules;
      /** Its MQTT bridge's broker; its own log ring (for a diagnostics bundle). */
      mqttUrl?: string;
      logRing?: boolean;
    } = {},
  ): Promise<Harness> {
    const h = await start({
      csms: { tls: tls(), ...(opts.rules ? { rules: opts.rules } : {}) },
      ocpp: opts.ocpp ?? { CpoName: CPO },
      config: () => ({
        csms: { securityProfile: 3, caFile, ...client },
        ...(opts.mqttUrl ? { mqtt: { url: opts.mqttUrl } } : {}),
      }),
      ...(opts.logRing ? { logRing: true } : {}),
    });
    await h.booted();
    return h;
  }

  /** ExtendedTriggerMessage(SignChargePointCertificate) and the SignCertificate it causes: the CSR. */
  async function requestCsr(h: Harness): Promise<string> {
    const mark = h.csms.mark();
    expect(
      await h.csms.call(CP_ID, 'ExtendedTriggerMessage', { requestedMessage: 'SignChargePointCertificate' }),
    ).toEqual({ status: 'Accepted' });
    const sign = await h.csms.waitForCall(CP_ID, 'SignCertificate', { since: mark });
    return (sign.payload as { csr: string }).csr;
  }

  it('TC_074_CS / TC_087_CS: a new EC key and CSR, the signed certificate accepted and presented on the reconnect, kept across a restart', async () => {
    const broker = await Mosquitto.start({ persistent: false });
    cleanup.push(() => broker.dispose());
    const watcher = await MqttWatcher.connect(broker.url, `chargepoint/${CP_ID}/#`);
    cleanup.push(() => watcher.close());
    const uploads = await HttpFileServer.start();
    cleanup.push(() => uploads.close());
    const h = await profile3({ mqttUrl: broker.url, logRing: true });
    expect(h.csms.handshakes.at(-1)?.tls?.peerCertificate?.fingerprint256).toBe(
      fingerprint(provisioned.cert),
    );
    const csr = await requestCsr(h);
    // The key waits for its certificate in a file of its own, the charger's alone.
    expect(statSync(join(h.stateDir, 'certs', 'request.key')).mode & 0o777).toBe(0o600);
    const { subject, text } = describeCsr(csr);
    expect(subject).toBe(`O = ${CPO}, CN = ${SERIAL}`);
    expect(text).toContain('id-ecPublicKey');
    expect(text).toContain('NIST CURVE: P-256');

    const chain = signCsr(ca, csr);
    const reconnected = once(h.csms, 'connection');
    expect(await h.csms.call(CP_ID, 'CertificateSigned', { certificateChain: chain })).toEqual({
      status: 'Accepted',
    });
    const [info] = (await reconnected) as [HandshakeInfo];
    const peer = info.tls?.peerCertificate;
    expect(peer?.fingerprint256).toBe(fingerprint(chain));
    expect(info.tls?.authorized).toBe(true);
    // TC_087: CN = the serial number, a serial number, an EC key of at least 224 bits.
    expect(peer?.subject.CN).toBe(SERIAL);
    expect(peer?.subject.O).toBe(CPO);
    expect(peer?.serialNumber).toBeTruthy();
    expect(peer?.bits).toBeGreaterThanOrEqual(224);

    await h.sink.waitFor(
      (l) => l.msg === 'connected with the new charge point certificate; it replaces the old one',
    );
    // The key is the charger's alone: 0600 (with its certificate) in a 0700 directory under the state directory.
    const certs = join(h.stateDir, 'certs');
    const inUse = join(certs, 'charge-point.pem');
    expect(statSync(certs).mode & 0o777).toBe(0o700);
    expect(statSync(inUse).mode & 0o777).toBe(0o600);
    expect(readFileSync(inUse, 'utf8')).toContain(chain.trim());

    // A restart keeps presenting the new certificate.
    await h.runtime.stop();
    const again = once(h.csms, 'connection');
    await h.startRuntime();
    const [afterRestart] = (await again) as [HandshakeInfo];
    expect(afterRestart.tls?.peerCertificate?.fingerprint256).toBe(fingerprint(chain));

    // No private key material in the log, the trace, cpctl's output, MQTT or an uploaded bundle
    // built while the key exists: the key's PEM body (as written, and on one line) and the private
    // scalar in any spelling. Not a line of the body on its own: the last one holds only the public
    // point, which the certificate, and so the trace, carries too.
    const keyBody = /-----BEGIN PRIVATE KEY-----\n([\s\S]+?)\n-----END PRIVATE KEY-----/.exec(
      readFileSync(inUse, 'utf8'),
    )?.[1];
    expect(keyBody).toBeDefined();
    const jwk = createPrivateKey(readFileSync(inUse)).export({ format: 'jwk' });
    const scalar = Buffer.from(jwk.d ?? '', 'base64url');
    expect(scalar.length).toBe(32);
    const secrets = [
      jwk.d ?? '',
      scalar.toString('hex'),
      scalar.toString('base64'),
      keyBody ?? '',
      JSON.stringify(keyBody ?? '').slice(1, -1),
      (keyBody ?? '').replaceAll('\n', ''),
      'PRIVATE KEY',
    ];
    const socket = h.config.cli.socket;
    const since = h.csms.mark();
    const { fileName } = await h.csms.call<{ fileName: string }>(CP_ID, 'GetDiagnostics', {
      location: uploads.url('uploads'),
    });
    await waitForStatus(h, 'DiagnosticsStatusNotification', 'Uploaded', since);
    const outputs: Record<string, string> = {
      log: JSON.stringify(h.sink.lines),
      trace: (await cpctl(socket, 'trace', '--limit', '1000', '--json')).stdout,
      status: (await cpctl(socket, 'status', '--json')).stdout,
      mqtt: JSON.stringify(watcher.messages.map((m) => [m.topic, m.text])),
      // The bundle's tar stream as it was uploaded, every file and header in it.
      upload: gunzipSync(readFileSync(uploads.file(`uploads/${fileName}`))).toString('latin1'),
    };
    // The outputs are real: the exchange is in the trace and the bundle, the link state in MQTT.
    expect(outputs.trace).toContain('CertificateSigned');
    expect(outputs.upload).toContain('CertificateSigned');
    expect(outputs.upload).toContain('daemon.log');
    expect(outputs.mqtt).toContain('state/link');
    for (const [where, text] of Object.entries(outputs))
      for (const secret of secrets)
        expect(text.includes(secret), `${where} contains private key material`).toBe(false);
  });

  const serialCases: Array<[string, Record<string, string>, string]> = [
    [
      'both serial numbers set: chargeBoxSerialNumber',
      { chargeBoxSerialNumber: 'BOX-SN-7', chargePointSerialNumber: SERIAL },
      'BOX-SN-7',
    ],
    ['only chargePointSerialNumber set: it', { chargePointSerialNumber: SERIAL }, SERIAL],
  ];
  for (const [what, serials, commonName] of serialCases) {
    it(`the CSR's CN (DESIGN item 7), ${what}`, async () => {
      const h = await start({
        ocpp: { CpoName: CPO },
        config: () => ({ identity: { vendor: 'TestVendor', model: 'TestModel', ...serials } }),
      });
      await h.booted();
      expect(describeCsr(await requestCsr(h)).subject).toBe(`O = ${CPO}, CN = ${commonName}`);
    });
  }

  it('RSA keys when configured (security.keyType rsa-3072)', async () => {
    const h = await start({
      csms: { tls: tls() },
      ocpp: { CpoName: CPO },
      config: () => ({ csms: { securityProfile: 3, caFile, ...client }, security: { keyType: 'rsa-3072' } }),
    });
    await h.booted();
    const { text } = describeCsr(await requestCsr(h));
    expect(text).toContain('rsaEncryption');
    expect(text).toContain('Public-Key: (3072 bit)');
  });

  it('TC_077_CS: an invalid certificate is Rejected with an InvalidChargePointCertificate security event', async () => {
    const h = await profile3({ ocpp: { CpoName: CPO, CertificateSignedMaxChainSize: 2500 } });
    const csr = await requestCsr(h);
    const rogue = createCa({ commonName: 'Rogue Root' });
    const invalid = [
      ['signed by an unknown CA', signCsr(rogue, csr)],
      ['for another key', createClientCert(ca, { commonName: SERIAL, organization: CPO }).cert],
      [
        'not a certificate',
        '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n',
      ],
      ['longer than CertificateSignedMaxChainSize', signCsr(ca, csr).padEnd(2501, '\n')],
    ];
    for (const [what, chain] of invalid) {
      const mark = h.csms.mark();
      expect(await h.csms.call(CP_ID, 'CertificateSigned', { certificateChain: chain }), what).toEqual({
        status: 'Rejected',
      });
      await h.csms.waitForCall(CP_ID, 'SecurityEventNotification', {
        since: mark,
        where: (p: { type: string }) => p.type === 'InvalidChargePointCertificate',
      });
    }
    // Still on the provisioned certificate, and the pending request still takes its right certificate.
    expect(existsSync(join(h.stateDir, 'certs', 'charge-point-new.pem'))).toBe(false);
    expect(await h.csms.call(CP_ID, 'CertificateSigned', { certificateChain: signCsr(ca, csr) })).toEqual({
      status: 'Accepted',
    });
  });

  it('TC_077_CS CertificateSigned without a pending request is Rejected with InvalidChargePointCertificate; ExtendedTriggerMessage without CpoName is Rejected and logged', async () => {
    const h = await profile3({ ocpp: {} });
    const chain = createClientCert(ca, { commonName: SERIAL, organization: CPO }).cert;
    const mark = h.csms.mark();
    expect(await h.csms.call(CP_ID, 'CertificateSigned', { certificateChain: chain })).toEqual({
      status: 'Rejected',
    });
    const event = await h.csms.waitForCall(CP_ID, 'SecurityEventNotification', {
      since: mark,
      where: (p: { type: string }) => p.type === 'InvalidChargePointCertificate',
    });
    expect(event.payload).toMatchObject({ techInfo: 'no certificate signing request pending' });
    expect(
      await h.csms.call(CP_ID, 'ExtendedTriggerMessage', { requestedMessage: 'SignChargePointCertificate' }),
    ).toEqual({ status: 'Rejected' });
    await h.sink.waitFor(
      (l) => l.msg.includes('SignChargePointCertificate rejected') && l.reason === 'CpoName is not set',
    );
    expect(h.csms.calls(CP_ID, 'SignCertificate')).toEqual([]);
  });

  it('a valid certificate that cannot be stored is Rejected and logged, not a CALLERROR; the request still takes it later', async () => {
    const h = await profile3();
    const chain = signCsr(ca, await requestCsr(h));
    // The file the certificate on trial is written through cannot be made: a storage failure.
    const blocker = join(h.stateDir, 'certs', 'charge-point-new.pem.tmp');
    mkdirSync(blocker);
    const mark = h.csms.mark();
    expect(await h.csms.call(CP_ID, 'CertificateSigned', { certificateChain: chain })).toEqual({
      status: 'Rejected',
    });
    await h.sink.waitFor(
      (l) => l.msg === 'new charge point certificate could not be stored; the old one stays',
    );
    // Valid, so no InvalidChargePointCertificate; and no reconnect: the provisioned certificate stays.
    await h.csms.call(CP_ID, 'TriggerMessage', { requestedMessage: 'Heartbeat' });
    await h.csms.waitForCall(CP_ID, 'Heartbeat', { since: mark });
    expect(h.csms.calls(CP_ID, 'SecurityEventNotification', mark)).toEqual([]);
    expect(existsSync(join(h.stateDir, 'certs', 'charge-point-new.pem'))).toBe(false);
    expect(h.csms.handshakes).toHaveLength(1);

    rmdirSync(blocker);
    const reconnected = once(h.csms, 'connection');
    expect(await h.csms.call(CP_ID, 'CertificateSigned', { certificateChain: chain })).toEqual({
      status: 'Accepted',
    });
    const [info] = (await reconnected) as [HandshakeInfo];
    expect(info.tls?.peerCertificate?.fingerprint256).toBe(fingerprint(chain));
  });

  it('falls back to the old certificate and key when the central system refuses the new one', async () => {
    let refused: string | undefined;
    const h = await profile3({
      rules: {
        acceptConnection: (info) => info.tls?.peerCertificate?.fingerprint256 !== refused || 403,
      },
    });
    const chain = signCsr(ca, await requestCsr(h));
    refused = fingerprint(chain);
    expect(await h.csms.call(CP_ID, 'CertificateSigned', { certificateChain: chain })).toEqual({
      status: 'Accepted',
    });
    await h.sink.waitFor(
      (l) => l.msg === 'cannot connect with the new charge point certificate; back to the previous one',
    );
    const info = await h.csms.waitForConnection(CP_ID);
    expect(info.tls?.peerCertificate?.fingerprint256).toBe(fingerprint(provisioned.cert));
    expect(h.csms.handshakes.filter((hs) => hs.refusedStatus === 403)).toHaveLength(3);
    expect(existsSync(join(h.stateDir, 'certs', 'charge-point-new.pem'))).toBe(false);
  });

  it('A03: a certificate ending within 30 days is renewed once the central system accepts the boot', async () => {
    const ending = createClientCert(ca, {
      commonName: SERIAL,
      organization: CPO,
      notBefore: new Date(Date.now() - 300 * DAY_MS),
      notAfter: new Date(Date.now() + 10 * DAY_MS),
    });
    const files = writePemFiles(work, 'ending', ending);
    const h = await start({
      csms: { tls: tls() },
      ocpp: { CpoName: CPO },
      config: () => ({ csms: { securityProfile: 3, caFile, ...files } }),
    });
    const sign = await h.csms.waitForCall(CP_ID, 'SignCertificate');
    expect(describeCsr((sign.payload as { csr: string }).csr).subject).toBe(`O = ${CPO}, CN = ${SERIAL}`);
    const boot = h.csms.calls(CP_ID, 'BootNotification')[0];
    expect(boot?.at).toBeLessThanOrEqual(h.csms.calls(CP_ID, 'SignCertificate')[0]?.at ?? 0);
  });

  it('TC_083_CS 2 -> 3: Rejected without a charge point certificate; with one renewed over OCPP, Accepted and presented', async () => {
    const password = 'sixteen-chars-pw';
    const h = await start({
      csms: {
        tls: tls({ rejectUnauthorized: false }),
        rules: {
          acceptConnection: (info) => info.tls?.authorized === true || info.basicAuth?.password === password,
        },
      },
      ocpp: { CpoName: CPO, AuthorizationKey: password },
      config: () => ({ csms: { securityProfile: 2, caFile } }),
    });
    await h.booted();
    const raise = () => h.csms.call(CP_ID, 'ChangeConfiguration', { key: 'SecurityProfile', value: '3' });
    expect(await raise()).toEqual({ status: 'Rejected' });
    const chain = signCsr(ca, await requestCsr(h));
    // On profile 2 no connection presents it: installed at once, no reconnect.
    expect(await h.csms.call(CP_ID, 'CertificateSigned', { certificateChain: chain })).toEqual({
      status: 'Accepted',
    });
    expect(h.csms.handshakes.filter((hs) => hs.chargePointId === CP_ID)).toHaveLength(1);
    const reconnected = once(h.csms, 'connection');
    expect(await raise()).toEqual({ status: 'Accepted' });
    const [info] = (await reconnected) as [HandshakeInfo];
    expect(info.headers.authorization).toBeUndefined();
    expect(info.tls?.authorized).toBe(true);
    expect(info.tls?.peerCertificate?.fingerprint256).toBe(fingerprint(chain));
  });

  const invalidCertificates: Array<[string, { notBefore: Date; notAfter: Date }]> = [
    ['expired', { notBefore: new Date(Date.now() - 400 * DAY_MS), notAfter: new Date(Date.now() - DAY_MS) }],
    [
      'not yet valid',
      { notBefore: new Date(Date.now() + DAY_MS), notAfter: new Date(Date.now() + 400 * DAY_MS) },
    ],
  ];
  for (const [what, validity] of invalidCertificates) {
    it(`TC_083_CS 2 -> 3: Rejected while the charge point certificate is ${what} (A05.FR.04: a valid one)`, async () => {
      const password = 'sixteen-chars-pw';
      const files = writePemFiles(
        mkdtempSync(join(work, 'invalid-')),
        'client',
        createClientCert(ca, { commonName: SERIAL, organization: CPO, ...validity }),
      );
      const h = await start({
        csms: { tls: tls({ rejectUnauthorized: false }), basicAuth: { [CP_ID]: password } },
        ocpp: { CpoName: CPO, AuthorizationKey: password },
        config: () => ({ csms: { securityProfile: 2, caFile, ...files } }),
      });
      await h.booted();
      expect(await h.csms.call(CP_ID, 'ChangeConfiguration', { key: 'SecurityProfile', value: '3' })).toEqual(
        {
          status: 'Rejected',
        },
      );
      expect(h.runtime.config.changeWithReason('SecurityProfile', '3', 'csms')).toEqual({
        status: 'Rejected',
        reason: expect.stringMatching(/^the charge point certificate (expired|is not valid before) /),
      });
      expect(h.runtime.config.get('SecurityProfile')).toBe('2');
    });
  }

  it('ExtendedTriggerMessage: every requestedMessage is answered and sent, connectors checked where the message has one', async () => {
    const h = await start({ ocpp: { CpoName: CPO } });
    await h.booted();
    const cases: Array<[Record<string, unknown>, string, (p: Record<string, unknown>) => boolean]> = [
      [{ requestedMessage: 'BootNotification' }, 'BootNotification', () => true],
      [{ requestedMessage: 'Heartbeat', connectorId: 9 }, 'Heartbeat', () => true],
      [{ requestedMessage: 'LogStatusNotification' }, 'LogStatusNotification', (p) => p.status === 'Idle'],
      [
        { requestedMessage: 'FirmwareStatusNotification' },
        'SignedFirmwareStatusNotification',
        (p) => p.status === 'Idle',
      ],
      [{ requestedMessage: 'MeterValues', connectorId: 1 }, 'MeterValues', (p) => p.connectorId === 1],
      [
        { requestedMessage: 'StatusNotification', connectorId: 2 },
        'StatusNotification',
        (p) => p.connectorId === 2,
      ],
      [
        { requestedMessage: 'SignChargePointCertificate' },
        'SignCertificate',
        (p) => typeof p.csr === 'string',
      ],
    ];
    for (const [request, action, where] of cases) {
      const mark = h.csms.mark();
      expect(await h.csms.call(CP_ID, 'ExtendedTriggerMessage', request), action).toEqual({
        status: 'Accepted',
      });
      await h.csms.waitForCall(CP_ID, action, { since: mark, where });
    }
    for (const requestedMessage of ['StatusNotification', 'MeterValues']) {
      const mark = h.csms.mark();
      expect(
        await h.csms.call(CP_ID, 'ExtendedTriggerMessage', { requestedMessage, connectorId: 9 }),
      ).toEqual({
        status: 'Rejected',
      });
      expect(h.csms.calls(CP_ID, requestedMessage, mark)).toEqual([]);
    }
  });
});
