/**
 * Diagnostics and logs out (OCPP 1.6 GetDiagnostics, white paper N01 GetLog) against real loopback
 * file servers (test/support/file-servers.ts): the bundle built from the daemon's own log ring, the
 * frame trace, the security log, the configuration without secrets and the store's state; uploaded
 * by HTTP PUT or FTP STOR; the status notifications and triggers; cpctl diagnostics.
 */
import { createReadStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract } from 'tar-stream';
import { afterEach, describe, expect, it } from 'vitest';
import { BUNDLES_KEPT, diagnosticsDirectory } from '../../src/diagnostics/bundle.js';
import { LOG_RING_FILE, logRingDirectory } from '../../src/log.js';
import { cpctl } from '../support/cpctl-process.js';
import { useDaemonEnv } from '../support/daemon-process.js';
import { FTP_PASSWORD, HttpFileServer, REFUSED_FTP_PASSWORD, Vsftpd } from '../support/file-servers.js';
import { CP_ID, type Harness, useHarness } from '../support/harness.js';
import { type Status, statuses, waitForStatus } from '../support/status-calls.js';

/** The bundle's files by their name inside its folder, as text. */
async function readBundle(path: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const tar = extract();
  const read = (async () => {
    for await (const entry of tar) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      files.set(entry.header.name.split('/').slice(1).join('/'), Buffer.concat(chunks).toString('utf8'));
    }
  })();
  await Promise.all([pipeline(createReadStream(path), createGunzip(), tar), read]);
  return files;
}

/** The status notification each trigger asks for: the 1.6 one and the security extension's. */
const UPLOAD_STATUS = {
  TriggerMessage: 'DiagnosticsStatusNotification',
  ExtendedTriggerMessage: 'LogStatusNotification',
} as const;

/** Triggers the upload status and waits for it to come as `status`: the trigger's answer and what came. */
async function triggerUploadStatus(
  h: Harness,
  trigger: keyof typeof UPLOAD_STATUS,
  status: string,
): Promise<{ answer: unknown; sent: Status }> {
  const since = h.csms.mark();
  const answer = await h.csms.call(CP_ID, trigger, { requestedMessage: UPLOAD_STATUS[trigger] });
  return { answer, sent: await waitForStatus(h, UPLOAD_STATUS[trigger], status, since) };
}

/** A frame of the bundle's trace, a line of its daemon log. */
type TraceLine = { at: number; action?: string };
type LogLine = { time: string; msg?: string };

function traceOf(bundle: Map<string, string>): TraceLine[] {
  const text = bundle.get('ocpp-trace.ndjson')!.trim();
  return text === '' ? [] : text.split('\n').map((line) => JSON.parse(line) as TraceLine);
}

function logOf(bundle: Map<string, string>): LogLine[] {
  const text = bundle.get('daemon.log')!.trim();
  return text === '' ? [] : text.split('\n').map((line) => JSON.parse(line) as LogLine);
}

/**
 * A moment in the past from which on everything is later: resolves once the wall clock (the log's
 * and the trace's) has moved past it, so no frame or line can share its millisecond.
 */
async function afterNow(): Promise<number> {
  const at = Date.now();
  while (Date.now() <= at) await new Promise((resolve) => setImmediate(resolve));
  return at;
}

/** GetDiagnostics for a window, uploaded to `server`: the bundle it sent. */
async function diagnostics(
  h: Harness,
  server: HttpFileServer,
  window: { startTime?: string; stopTime?: string },
): Promise<Map<string, string>> {
  const mark = h.csms.mark();
  const { fileName } = (await h.csms.call(CP_ID, 'GetDiagnostics', {
    location: server.url('uploads'),
    ...window,
  })) as { fileName: string };
  await waitForStatus(h, 'DiagnosticsStatusNotification', 'Uploaded', mark);
  return readBundle(server.file(`uploads/${fileName}`));
}

const servers: Array<{ close(): Promise<void> } | { dispose(): Promise<void> }> = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await ('close' in server ? server.close() : server.dispose());
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function httpServer(): Promise<HttpFileServer> {
  const server = await HttpFileServer.start();
  servers.push(server);
  return server;
}

async function ftpServer(): Promise<Vsftpd> {
  const server = await Vsftpd.start();
  servers.push(server);
  return server;
}

describe('GetDiagnostics (TC_045)', () => {
  const start = useHarness();

  it('TC_045_1: fileName in the answer, Uploading -> Uploaded, the bundle PUT at the location', async () => {
    const server = await httpServer();
    const h = await start({ logRing: true });
    await h.booted();
    const mark = h.csms.mark();
    const { fileName } = (await h.csms.call(CP_ID, 'GetDiagnostics', {
      location: server.url('uploads'),
    })) as {
      fileName: string;
    };
    expect(fileName).toMatch(/^diagnostics-CP-TEST-01-\d{8}T\d{6}\.\d{3}Z\.tar\.gz$/);
    await waitForStatus(h, 'DiagnosticsStatusNotification', 'Uploaded', mark);
    expect(statuses(h, 'DiagnosticsStatusNotification', mark)).toEqual([
      { status: 'Uploading' },
      { status: 'Uploaded' },
    ]);
    expect(server.requests.filter((r) => r.method === 'PUT').map((r) => r.path)).toEqual([
      `/uploads/${fileName}`,
    ]);
    const bundle = await readBundle(server.file(`uploads/${fileName}`));
    expect([...bundle.keys()].sort()).toEqual([
      'configuration.json',
      'daemon.log',
      'manifest.json',
      'ocpp-trace.ndjson',
      'queue.json',
      'security-log.ndjson',
      'status.json',
      'transactions.json',
      'versions.json',
    ]);
  });

  it('TC_045_1 over FTP: the bundle is stored into the location directory', async () => {
    const ftp = await ftpServer();
    const h = await start();
    await h.booted();
    const mark = h.csms.mark();
    const { fileName } = (await h.csms.call(CP_ID, 'GetDiagnostics', { location: ftp.url('files/') })) as {
      fileName: string;
    };
    await waitForStatus(h, 'DiagnosticsStatusNotification', 'Uploaded', mark);
    const bundle = await readBundle(ftp.file(`files/${fileName}`));
    expect(JSON.parse(bundle.get('manifest.json')!)).toMatchObject({
      kind: 'diagnostics',
      chargePointId: CP_ID,
    });
  });

  it('HTTPS: a server whose CA is an installed central-system root is trusted, an unknown one is not', async () => {
    const server = await HttpFileServer.start({ tls: true });
    servers.push(server);
    const h = await start();
    await h.booted();
    const untrusted = h.csms.mark();
    await h.csms.call(CP_ID, 'GetDiagnostics', { location: server.url('uploads'), retries: 0 });
    await waitForStatus(h, 'DiagnosticsStatusNotification', 'UploadFailed', untrusted);
    expect(
      await h.csms.call(CP_ID, 'InstallCertificate', {
        certificateType: 'CentralSystemRootCertificate',
        certificate: server.tls!.ca.cert,
      }),
    ).toEqual({ status: 'Accepted' });
    const trusted = h.csms.mark();
    const { fileName } = (await h.csms.call(CP_ID, 'GetDiagnostics', {
      location: server.url('uploads'),
      retries: 0,
    })) as { fileName: string };
    await waitForStatus(h, 'DiagnosticsStatusNotification', 'Uploaded', trusted);
    expect(existsSync(server.file(`uploads/${fileName}`))).toBe(true);
  });

  it('startTime / stopTime: the daemon log and the frame trace of the bundle hold only the window', async () => {
    const server = await httpServer();
    const h = await start({ logRing: true });
    await h.booted();
    const boundary = await afterNow();
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'TriggerMessage', { requestedMessage: 'Heartbeat' });
    await h.csms.waitForCall(CP_ID, 'Heartbeat', { since: mark });

    // A stopTime in the past: nothing after it, what came before it is there.
    const before = await diagnostics(h, server, { stopTime: new Date(boundary).toISOString() });
    const beforeTrace = traceOf(before);
    expect(beforeTrace.map((frame) => frame.action)).toContain('BootNotification');
    expect(beforeTrace.every((frame) => frame.at <= boundary)).toBe(true);
    for (const action of ['TriggerMessage', 'Heartbeat', 'GetDiagnostics'])
      expect(beforeTrace.map((frame) => frame.action)).not.toContain(action);
    const beforeLog = logOf(before);
    expect(beforeLog.map((line) => line.msg)).toContain('BootNotification answered');
    expect(beforeLog.every((line) => Date.parse(line.time) <= boundary)).toBe(true);
    // The ring itself has lines after the stopTime: they were left out, not missing.
    const ring = readFileSync(join(logRingDirectory(h.stateDir), LOG_RING_FILE), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as LogLine);
    expect(ring.some((line) => Date.parse(line.time) > boundary)).toBe(true);

    // From a startTime on: what came after it is there, the boot before it is not.
    const after = await diagnostics(h, server, { startTime: new Date(boundary).toISOString() });
    const afterTrace = traceOf(after);
    expect(afterTrace.map((frame) => frame.action)).toEqual(
      expect.arrayContaining(['TriggerMessage', 'Heartbeat', 'GetDiagnostics']),
    );
    expect(afterTrace.map((frame) => frame.action)).not.toContain('BootNotification');
    expect(afterTrace.every((frame) => frame.at >= boundary)).toBe(true);
    const afterLog = logOf(after);
    expect(afterLog.length).toBeGreaterThan(0);
    expect(afterLog.map((line) => line.msg)).not.toContain('BootNotification answered');
    expect(afterLog.every((line) => Date.parse(line.time) >= boundary)).toBe(true);
  });

  it('TC_045_2: a location that refuses the upload, retries 0: Uploading -> UploadFailed, the charger carries on', async () => {
    const ftp = await ftpServer();
    const h = await start();
    await h.booted();
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'GetDiagnostics', {
      location: ftp.url('files/failedLocation', REFUSED_FTP_PASSWORD),
      retries: 0,
    });
    await waitForStatus(h, 'DiagnosticsStatusNotification', 'UploadFailed', mark);
    expect(statuses(h, 'DiagnosticsStatusNotification', mark)).toEqual([
      { status: 'Uploading' },
      { status: 'UploadFailed' },
    ]);
    expect(await h.csms.call(CP_ID, 'TriggerMessage', { requestedMessage: 'Heartbeat' })).toEqual({
      status: 'Accepted',
    });
    await h.csms.waitForCall(CP_ID, 'Heartbeat', { since: mark });
  });

  it('a server that keeps failing: every retry is tried, then UploadFailed; the trigger tells Uploading meanwhile, Idle after', async () => {
    const server = await httpServer();
    server.knobs.status = 503;
    const h = await start();
    await h.booted();
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'GetDiagnostics', {
      location: server.url('uploads'),
      retries: 2,
      retryInterval: 1,
    });
    await waitForStatus(h, 'DiagnosticsStatusNotification', 'Uploading', mark);
    const during = await triggerUploadStatus(h, 'TriggerMessage', 'Uploading');
    expect(during.answer).toEqual({ status: 'Accepted' });
    expect(during.sent).toEqual({ status: 'Uploading' });
    await waitForStatus(h, 'DiagnosticsStatusNotification', 'UploadFailed', mark);
    expect(server.requests.filter((r) => r.method === 'PUT')).toHaveLength(3);
    expect((await triggerUploadStatus(h, 'TriggerMessage', 'Idle')).sent).toEqual({ status: 'Idle' });
  });
});

describe('GetLog (N01, TC_079)', () => {
  const start = useHarness();

  it('TC_079: SecurityLog -> Accepted with the filename, Uploading -> Uploaded with the requestId; the file holds the security log of the window', async () => {
    const server = await httpServer();
    const h = await start();
    await h.booted();
    await h.csms.waitForCall(CP_ID, 'SecurityEventNotification', {
      where: (p: { type: string }) => p.type === 'StartupOfTheDevice',
    });
    const mark = h.csms.mark();
    const answer = (await h.csms.call(CP_ID, 'GetLog', {
      logType: 'SecurityLog',
      requestId: 7,
      log: {
        remoteLocation: server.url('logs'),
        oldestTimestamp: new Date(Date.now() - 3_600_000).toISOString(),
      },
    })) as { status: string; filename: string };
    expect(answer.status).toBe('Accepted');
    expect(answer.filename).toMatch(/^securitylog-CP-TEST-01-\d{8}T\d{6}\.\d{3}Z\.tar\.gz$/);
    await waitForStatus(h, 'LogStatusNotification', 'Uploaded', mark);
    expect(statuses(h, 'LogStatusNotification', mark)).toEqual([
      { status: 'Uploading', requestId: 7 },
      { status: 'Uploaded', requestId: 7 },
    ]);
    const bundle = await readBundle(server.file(`logs/${answer.filename}`));
    expect([...bundle.keys()].sort()).toEqual(['manifest.json', 'security-log.ndjson']);
    const entries = bundle
      .get('security-log.ndjson')!
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; critical: boolean });
    expect(entries).toContainEqual(expect.objectContaining({ type: 'StartupOfTheDevice', critical: true }));

    // A window before anything happened holds nothing.
    const empty = h.csms.mark();
    const old = (await h.csms.call(CP_ID, 'GetLog', {
      logType: 'SecurityLog',
      requestId: 8,
      log: { remoteLocation: server.url('logs'), latestTimestamp: '2020-01-01T00:00:00Z' },
    })) as { filename: string };
    await waitForStatus(h, 'LogStatusNotification', 'Uploaded', empty);
    expect((await readBundle(server.file(`logs/${old.filename}`))).get('security-log.ndjson')).toBe('');
  });

  it('a GetLog during an upload cancels it: AcceptedCanceled, only the new requestId finishes; ExtendedTriggerMessage tells the real status', async () => {
    const failing = await httpServer();
    failing.knobs.status = 503;
    const good = await httpServer();
    const h = await start();
    await h.booted();
    const mark = h.csms.mark();
    const first = await h.csms.call(CP_ID, 'GetLog', {
      logType: 'DiagnosticsLog',
      requestId: 1,
      retries: 3,
      retryInterval: 30,
      log: { remoteLocation: failing.url('logs') },
    });
    expect(first).toMatchObject({ status: 'Accepted' });
    await waitForStatus(h, 'LogStatusNotification', 'Uploading', mark);
    const during = await triggerUploadStatus(h, 'ExtendedTriggerMessage', 'Uploading');
    expect(during.answer).toEqual({ status: 'Accepted' });
    expect(during.sent).toEqual({ status: 'Uploading', requestId: 1 });

    const second = (await h.csms.call(CP_ID, 'GetLog', {
      logType: 'DiagnosticsLog',
      requestId: 2,
      log: { remoteLocation: good.url('logs') },
    })) as { status: string; filename: string };
    expect(second.status).toBe('AcceptedCanceled');
    await waitForStatus(h, 'LogStatusNotification', 'Uploaded', mark);
    expect(statuses(h, 'LogStatusNotification', mark)).toEqual([
      { status: 'Uploading', requestId: 1 },
      { status: 'Uploading', requestId: 1 },
      { status: 'Uploading', requestId: 2 },
      { status: 'Uploaded', requestId: 2 },
    ]);
    expect(existsSync(good.file(`logs/${second.filename}`))).toBe(true);

    expect((await triggerUploadStatus(h, 'ExtendedTriggerMessage', 'Idle')).sent).toEqual({ status: 'Idle' });
  });

  it('why an upload failed, in the enum of LogStatusNotification', async () => {
    const ftp = await ftpServer();
    const server = await httpServer();
    server.knobs.status = 503;
    // Servers that refuse the request itself: the upload is a bad message to them.
    const badRequest = await httpServer();
    badRequest.knobs.status = 400;
    const noPut = await httpServer();
    noPut.knobs.status = 405;
    const h = await start();
    await h.booted();
    const cases: Array<[string, string]> = [
      ['gopher://127.0.0.1/logs', 'NotSupportedOperation'],
      [ftp.url('files/', REFUSED_FTP_PASSWORD), 'PermissionDenied'],
      [server.url('logs'), 'UploadFailure'],
      [badRequest.url('logs'), 'BadMessage'],
      [noPut.url('logs'), 'BadMessage'],
    ];
    for (const [i, [remoteLocation, failure]] of cases.entries()) {
      const mark = h.csms.mark();
      await h.csms.call(CP_ID, 'GetLog', {
        logType: 'SecurityLog',
        requestId: 10 + i,
        retries: 0,
        log: { remoteLocation },
      });
      await h.csms.waitForCall(CP_ID, 'LogStatusNotification', {
        since: mark,
        where: (p: Status) => p.status !== 'Uploading',
      });
      expect(statuses(h, 'LogStatusNotification', mark)).toEqual([
        { status: 'Uploading', requestId: 10 + i },
        { status: failure, requestId: 10 + i },
      ]);
    }
  });
});

describe('bundle contents and cpctl diagnostics', () => {
  const start = useHarness();
  const hex = (text: string) => Buffer.from(text).toString('hex').toUpperCase();
  const PASSWORD = 'bundle-password-0001';

  it('cpctl diagnostics writes the bundle: log, trace, security log, configuration, state, health, versions; no secret in it', async () => {
    const h = await start({
      logRing: true,
      csms: { basicAuth: { [CP_ID]: PASSWORD } },
      ocpp: { AuthorizationKey: hex(PASSWORD) },
      config: () => ({ csms: { securityProfile: 1 } }),
    });
    await h.booted();
    // A location with the file server's password: it reaches the trace as the central system sent it.
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'GetDiagnostics', {
      location: `ftp://anonymous:${FTP_PASSWORD}@127.0.0.1:1/files/`,
      retries: 0,
    });
    await waitForStatus(h, 'DiagnosticsStatusNotification', 'UploadFailed', mark);

    const dir = mkdtempSync(join(tmpdir(), 'cp-bundle-'));
    dirs.push(dir);
    const file = join(dir, 'support.tar.gz');
    const result = await cpctl(h.config.cli.socket, 'diagnostics', file);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^wrote .*support\.tar\.gz \(\d+ bytes, diagnostics-CP-TEST-01-.*\.tar\.gz\)\n$/,
    );
    const bundle = await readBundle(file);

    const log = bundle.get('daemon.log')!;
    expect(log).toContain('"msg":"BootNotification answered"');
    const trace = bundle
      .get('ocpp-trace.ndjson')!
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { action?: string; text: string });
    expect(trace.some((frame) => frame.action === 'BootNotification')).toBe(true);
    const getDiagnostics = trace.find((frame) => frame.action === 'GetDiagnostics');
    expect(getDiagnostics?.text).toContain('ftp://anonymous:[redacted]@127.0.0.1:1/files/');
    expect(bundle.get('security-log.ndjson')).toContain('StartupOfTheDevice');
    const configuration = JSON.parse(bundle.get('configuration.json')!) as {
      ocppKeys: Array<{ key: string; value?: string }>;
      provisioning: { chargePointId: string; ocpp: Record<string, unknown> };
    };
    expect(configuration.ocppKeys.find((k) => k.key === 'WebSocketPingInterval')?.value).toBe('0');
    expect(configuration.provisioning.chargePointId).toBe(CP_ID);
    expect(configuration.provisioning.ocpp.AuthorizationKey).toBe('[redacted]');
    const status = JSON.parse(bundle.get('status.json')!) as {
      connectors: unknown[];
      store: { state: string };
    };
    expect(status.connectors).toHaveLength(2);
    expect(status.store.state).toBe('ok');
    expect(JSON.parse(bundle.get('queue.json')!)).toMatchObject({ pendingTotal: expect.any(Number) });
    expect(JSON.parse(bundle.get('transactions.json')!)).toMatchObject({ running: [], recent: [] });
    expect(JSON.parse(bundle.get('versions.json')!)).toMatchObject({ node: process.versions.node });

    // Bounded on the state disk: only the newest bundles stay.
    for (let i = 0; i < BUNDLES_KEPT + 1; i++) await h.runtime.diagnostics.build('securityLog', {});
    const kept = readdirSync(diagnosticsDirectory(h.stateDir));
    expect(kept.filter((name) => name.endsWith('.tar.gz'))).toHaveLength(BUNDLES_KEPT);
    expect(kept.some((name) => name.startsWith('.'))).toBe(false);

    const everything = [...bundle.values()].join('\n');
    const basic = Buffer.from(`${CP_ID}:${PASSWORD}`).toString('base64');
    for (const secret of [
      PASSWORD,
      hex(PASSWORD),
      hex(PASSWORD).toLowerCase(),
      basic,
      FTP_PASSWORD,
      'PRIVATE KEY',
    ])
      expect(everything.includes(secret), `the bundle contains ${secret}`).toBe(false);
  });
});

describe('the daemon as a process keeps its own log ring', () => {
  const env = useDaemonEnv('cp-diag-proc-', 'CP-DIAG-01');

  it('every line also lands in <stateDir>/logs, and the bundle of cpctl diagnostics carries it', async () => {
    const { csms, stateDir, socket } = env();
    const daemon = env().spawn(env().daemonConfig());
    await csms.waitForCall('CP-DIAG-01', 'BootNotification');
    const file = join(env().dir, 'support.tar.gz');
    expect((await cpctl(socket, 'diagnostics', file)).code).toBe(0);
    const log = (await readBundle(file)).get('daemon.log')!;
    expect(log).toContain('"msg":"chargepointd starting"');
    daemon.child.kill('SIGTERM');
    expect(await daemon.exitCode()).toBe(0);
    const ring = readFileSync(join(logRingDirectory(stateDir), LOG_RING_FILE), 'utf8');
    // Flushed at the exit: the last line of stdout is the last line of the ring.
    expect(ring.trim().split('\n').at(-1)).toContain('"msg":"chargepointd stopped"');
    expect(daemon.lines.at(-1)?.msg).toBe('chargepointd stopped');
  });
});
