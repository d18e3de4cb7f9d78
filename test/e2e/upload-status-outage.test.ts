/**
 * The final status of a GetDiagnostics or GetLog upload (Uploaded, UploadFailed, LogStatusNotification's
 * failures with the requestId) reaches the central system whatever the link did meanwhile: it goes
 * through the durable outbox, once, in queue order, after a reconnect or a restart. Uploading stays
 * best effort. Real loopback file server (test/support/file-servers.ts), real runtime and SQLite.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { DeadLetter } from '../../src/ocpp/outbox.js';
import { goOffline, goOnline, OutboxWatch, whenOutbox } from '../support/charging.js';
import { DiskFull, startOnFillingDisk } from '../support/disk-full.js';
import { HttpFileServer } from '../support/file-servers.js';
import { CP_ID, type Harness, useHarness } from '../support/harness.js';
import { type Status, statuses, waitForStatus } from '../support/status-calls.js';

/** Resolves with the payload of the first `action` the runtime queued since `watch` was made. */
async function queuedPayload(watch: OutboxWatch, action: string): Promise<Record<string, unknown>> {
  await watch.waitFor((entries) => entries.some((e) => e.action === action), `${action} queued`);
  return watch.entries.find((e) => e.action === action)!.payload;
}

/** Whether the central system got `action` only after an accepted BootNotification, since `since`. */
function afterTheBoot(h: Harness, action: string, since: number): boolean {
  const actions = h.csms.calls(CP_ID, undefined, since).map((c) => c.action);
  const boot = actions.indexOf('BootNotification');
  return boot >= 0 && actions.indexOf(action) > boot;
}

const servers: HttpFileServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

/** A file server that answers 503 until the test says otherwise: the upload ends when the test decides. */
async function unavailableServer(): Promise<HttpFileServer> {
  const server = await HttpFileServer.start();
  server.knobs.status = 503;
  servers.push(server);
  return server;
}

/** Retried every second until the file server lets it through (or refuses it for good). */
const HELD = { retries: 30, retryInterval: 1 };

/** Both uploads, asked for with HELD retries, and how their statuses read. */
const UPLOADS = [
  {
    request: 'GetLog',
    payload: (server: HttpFileServer) => ({
      logType: 'SecurityLog',
      requestId: 42,
      ...HELD,
      log: { remoteLocation: server.url('logs') },
    }),
    action: 'LogStatusNotification',
    status: (status: string): Status => ({ status, requestId: 42 }),
    refused: 'PermissionDenied',
  },
  {
    request: 'GetDiagnostics',
    payload: (server: HttpFileServer) => ({ location: server.url('uploads'), ...HELD }),
    action: 'DiagnosticsStatusNotification',
    status: (status: string): Status => ({ status }),
    refused: 'UploadFailed',
  },
];

describe('final upload statuses survive an outage', () => {
  const start = useHarness();

  it('GetDiagnostics ending offline: Uploaded arrives once after the reconnect, behind what was queued before it', async () => {
    const server = await unavailableServer();
    const h = await start();
    await h.booted();
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'GetDiagnostics', { location: server.url('uploads'), ...HELD });
    await waitForStatus(h, 'DiagnosticsStatusNotification', 'Uploading', mark);
    await goOffline(h);
    const watch = new OutboxWatch(h.runtime.outbox);
    h.runtime.securityEvents.raise('InvalidCentralSystemCertificate', 'queued offline');
    server.knobs.status = undefined;
    expect(await queuedPayload(watch, 'DiagnosticsStatusNotification')).toEqual({ status: 'Uploaded' });

    const offline = h.csms.mark();
    await goOnline(h);
    await waitForStatus(h, 'DiagnosticsStatusNotification', 'Uploaded', offline);
    await whenOutbox(h, () => h.runtime.outbox.size() === 0, 'the queue emptied');
    expect(statuses(h, 'DiagnosticsStatusNotification', mark)).toEqual([
      { status: 'Uploading' },
      { status: 'Uploaded' },
    ]);
    const sent = h.csms
      .calls(CP_ID, undefined, offline)
      .filter((c) => c.action === 'DiagnosticsStatusNotification' || c.action === 'SecurityEventNotification')
      .map((c) => [
        c.action,
        (c.payload as { type?: string; status?: string }).type ?? (c.payload as Status).status,
      ]);
    expect(sent).toEqual([
      ['SecurityEventNotification', 'InvalidCentralSystemCertificate'],
      ['DiagnosticsStatusNotification', 'Uploaded'],
    ]);
  });

  it.each(UPLOADS)(
    '$request refused offline, then a restart: $refused arrives once after the boot',
    async (upload) => {
      const server = await unavailableServer();
      const h = await start();
      await h.booted();
      const mark = h.csms.mark();
      await h.csms.call(CP_ID, upload.request, upload.payload(server));
      await waitForStatus(h, upload.action, 'Uploading', mark);
      await goOffline(h);
      const watch = new OutboxWatch(h.runtime.outbox);
      // A refusal ends the upload at once: no more retries.
      server.knobs.status = 403;
      expect(await queuedPayload(watch, upload.action)).toEqual(upload.status(upload.refused));
      await h.runtime.stop();

      const restarted = h.csms.mark();
      h.csms.refuseConnections(false);
      await h.startRuntime();
      await waitForStatus(h, upload.action, upload.refused, restarted);
      await whenOutbox(h, () => h.runtime.outbox.size() === 0, 'the queue emptied');
      expect(statuses(h, upload.action, mark)).toEqual([
        upload.status('Uploading'),
        upload.status(upload.refused),
      ]);
      expect(afterTheBoot(h, upload.action, restarted)).toBe(true);
    },
  );

  it('GetLog ending offline: Uploaded with its requestId arrives once after the reconnect', async () => {
    const server = await unavailableServer();
    const h = await start();
    await h.booted();
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'GetLog', {
      logType: 'DiagnosticsLog',
      requestId: 9,
      ...HELD,
      log: { remoteLocation: server.url('logs') },
    });
    await waitForStatus(h, 'LogStatusNotification', 'Uploading', mark);
    await goOffline(h);
    const watch = new OutboxWatch(h.runtime.outbox);
    server.knobs.status = undefined;
    expect(await queuedPayload(watch, 'LogStatusNotification')).toEqual({ status: 'Uploaded', requestId: 9 });

    const offline = h.csms.mark();
    await goOnline(h);
    await waitForStatus(h, 'LogStatusNotification', 'Uploaded', offline);
    await whenOutbox(h, () => h.runtime.outbox.size() === 0, 'the queue emptied');
    expect(statuses(h, 'LogStatusNotification', mark)).toEqual([
      { status: 'Uploading', requestId: 9 },
      { status: 'Uploaded', requestId: 9 },
    ]);
  });

  it('a final status the central system leaves unanswered is sent again after the retry interval', async () => {
    const server = await HttpFileServer.start();
    servers.push(server);
    let ignored = false;
    const h = await start({
      config: () => ({ csms: { callTimeoutSeconds: 0.5 } }),
      ocpp: { TransactionMessageRetryInterval: 1 },
      csms: {
        rules: {
          // The first Uploaded goes unanswered, as from a central system that lost it.
          onCall: (_cp, action, payload) => {
            if (ignored || action !== 'DiagnosticsStatusNotification') return undefined;
            if ((payload as Status).status !== 'Uploaded') return undefined;
            ignored = true;
            return 'ignore';
          },
        },
      },
    });
    await h.booted();
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'GetDiagnostics', { location: server.url('uploads'), retries: 0 });
    const unanswered = await h.csms.waitForCall(CP_ID, 'DiagnosticsStatusNotification', {
      since: mark,
      where: (p: Status) => p.status === 'Uploaded',
    });
    await waitForStatus(h, 'DiagnosticsStatusNotification', 'Uploaded', unanswered.record.seq);
    await whenOutbox(h, () => h.runtime.outbox.size() === 0, 'the queue emptied');
    expect(statuses(h, 'DiagnosticsStatusNotification', mark)).toEqual([
      { status: 'Uploading' },
      { status: 'Uploaded' },
      { status: 'Uploaded' },
    ]);
  });
});

describe('a central system that refuses the final status', () => {
  const start = useHarness();

  it('NotImplemented (no security extension): dead-lettered after TransactionMessageAttempts, as a signed update status is, and the queue goes on', async () => {
    const server = await HttpFileServer.start();
    servers.push(server);
    const h = await start({
      ocpp: { TransactionMessageAttempts: 1 },
      csms: {
        rules: {
          onCall: (_cp, action) =>
            action === 'LogStatusNotification'
              ? { callError: { code: 'NotImplemented', description: 'no security extension' } }
              : undefined,
        },
      },
    });
    await h.booted();
    const deadLettered = once(h.runtime.outbox, 'deadLettered', { signal: AbortSignal.timeout(10_000) });
    await h.csms.call(CP_ID, 'GetLog', {
      logType: 'SecurityLog',
      requestId: 5,
      retries: 0,
      log: { remoteLocation: server.url('logs') },
    });
    const [letter]: DeadLetter[] = await deadLettered;
    expect(letter).toMatchObject({
      action: 'LogStatusNotification',
      payload: { status: 'Uploaded', requestId: 5 },
      attempts: 1,
    });
    expect(letter?.lastError).toContain('NotImplemented');

    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'GetDiagnostics', { location: server.url('uploads'), retries: 0 });
    await waitForStatus(h, 'DiagnosticsStatusNotification', 'Uploaded', mark);
    await whenOutbox(h, () => h.runtime.outbox.size() === 0, 'the queue emptied');
    expect(h.runtime.outbox.deadLetters().map((d) => d.action)).toEqual(['LogStatusNotification']);
  });
});

describe('a store that cannot write the final status', () => {
  const start = useHarness();

  it('disk full: the outcome is sent at once rather than lost with the refused write', async () => {
    const server = await HttpFileServer.start();
    servers.push(server);
    const h = await start({ deferStart: true });
    const disk = new DiskFull();
    await startOnFillingDisk(h, disk);
    await h.booted();
    const mark = h.csms.mark();
    disk.fill();
    await h.csms.call(CP_ID, 'GetLog', {
      logType: 'SecurityLog',
      requestId: 6,
      retries: 0,
      log: { remoteLocation: server.url('logs') },
    });
    await waitForStatus(h, 'LogStatusNotification', 'Uploaded', mark);
    expect(statuses(h, 'LogStatusNotification', mark)).toEqual([
      { status: 'Uploading', requestId: 6 },
      { status: 'Uploaded', requestId: 6 },
    ]);
    expect(h.sink.find((l) => l.msg === 'status not queued; sent without a retry')).toMatchObject({
      level: 'error',
      action: 'LogStatusNotification',
      requestId: 6,
    });
    expect(h.runtime.outbox.pending().map((e) => e.action)).not.toContain('LogStatusNotification');
  });
});

describe('final upload statuses online', () => {
  const start = useHarness();

  it('GetDiagnostics and GetLog: the final status leaves once, through the outbox', async () => {
    const server = await HttpFileServer.start();
    servers.push(server);
    const h = await start();
    await h.booted();
    const delivered: Array<[string, Record<string, unknown>]> = [];
    h.runtime.outbox.on('delivered', (entry) => delivered.push([entry.action, entry.payload]));
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'GetDiagnostics', { location: server.url('uploads') });
    await waitForStatus(h, 'DiagnosticsStatusNotification', 'Uploaded', mark);
    await h.csms.call(CP_ID, 'GetLog', {
      logType: 'SecurityLog',
      requestId: 3,
      log: { remoteLocation: server.url('logs') },
    });
    await waitForStatus(h, 'LogStatusNotification', 'Uploaded', mark);
    const finals = () => delivered.filter(([action]) => action !== 'SecurityEventNotification');
    await whenOutbox(h, () => finals().length === 2, 'both final statuses delivered by the outbox');
    expect(finals()).toEqual([
      ['DiagnosticsStatusNotification', { status: 'Uploaded' }],
      ['LogStatusNotification', { status: 'Uploaded', requestId: 3 }],
    ]);
    expect(statuses(h, 'DiagnosticsStatusNotification', mark)).toEqual([
      { status: 'Uploading' },
      { status: 'Uploaded' },
    ]);
    expect(statuses(h, 'LogStatusNotification', mark)).toEqual([
      { status: 'Uploading', requestId: 3 },
      { status: 'Uploaded', requestId: 3 },
    ]);
  });
});
