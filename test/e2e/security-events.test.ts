/**
 * Security events (white paper A04) end to end: raised where the charge point detects them,
 * recorded in the security log, and delivered as SecurityEventNotification through the outbox,
 * in order with the transaction messages, after outages, restarts and a SIGKILL.
 */
import { describe, expect, it } from 'vitest';
import type { SecurityLogReport } from '../../src/cli/api.js';
import { request } from '../../src/cli/client.js';
import {
  answered,
  charging,
  goOffline,
  goOnline,
  listed,
  whenEngine,
  whenOutbox,
} from '../support/charging.js';
import { cpctl } from '../support/cpctl-process.js';
import { chargeOnConnector1, cutPowerAndRestart, useDaemonEnv } from '../support/daemon-process.js';
import { CP_ID, type Harness, useHarness } from '../support/harness.js';

const TAG = 'VALID01';
/** The AuthorizationKey is the hex of the Basic-auth password (docs/security.md). */
const KEY = '4F43415F4F4354545F61646D696E5F74657374';
const PASSWORD = 'OCA_OCTT_admin_test';

type EventReq = { type: string; timestamp: string; techInfo?: string };

/** The SecurityEventNotifications the central system received since `since`, in order. */
function events(h: Harness, since = 0): EventReq[] {
  return h.csms.calls(CP_ID, 'SecurityEventNotification', since).map((c) => c.payload as EventReq);
}

function waitForEvent(h: Harness, type: string, since = 0): Promise<EventReq> {
  return h.csms
    .waitForCall(CP_ID, 'SecurityEventNotification', { since, where: (p: EventReq) => p.type === type })
    .then((call) => call.payload as EventReq);
}

describe('security events raised where they are detected', () => {
  const start = useHarness();

  it('StartupOfTheDevice at every start, after the BootNotification, and in the security log', async () => {
    const h = await start();
    await h.booted();
    const first = await waitForEvent(h, 'StartupOfTheDevice');
    expect(first.techInfo).toMatch(/^firmware /);
    await h.runtime.stop();
    const mark = h.csms.mark();
    await h.startRuntime();
    await waitForEvent(h, 'StartupOfTheDevice', mark);
    const boot = h.csms.calls(CP_ID, 'BootNotification', mark)[0];
    const startup = h.csms.calls(CP_ID, 'SecurityEventNotification', mark)[0];
    expect(boot!.at).toBeLessThanOrEqual(startup!.at);
    expect(h.runtime.securityEvents.newest(10).map((e) => [e.type, e.critical])).toEqual([
      ['StartupOfTheDevice', true],
      ['StartupOfTheDevice', true],
    ]);
  });

  it('a 401 on the upgrade is FailedToAuthenticateAtCentralSystem, delivered after the next successful connect', async () => {
    const h = await start({
      csms: { basicAuth: { [CP_ID]: 'another-password-1234' } },
      ocpp: { AuthorizationKey: KEY },
      config: () => ({ csms: { securityProfile: 1 } }),
    });
    await h.sink.waitFor(
      (l) => l.msg === 'security event recorded' && l.securityEvent === 'FailedToAuthenticateAtCentralSystem',
    );
    // Refused again and again: recorded and queued once, the next refusals counted for the
    // hour's summary (the rate limit), so an outage neither rolls the log over nor floods the queue.
    await h.sink.waitFor((l) => l.msg === 'will retry connecting' && Number(l.attempt) >= 3);
    const refusals = h.runtime.securityEvents
      .newest(100)
      .filter((e) => e.type === 'FailedToAuthenticateAtCentralSystem');
    expect(refusals).toEqual([expect.objectContaining({ techInfo: 'HTTP 401 on upgrade', critical: false })]);

    await h.restartCsms({ basicAuth: { [CP_ID]: PASSWORD } });
    const event = await waitForEvent(h, 'FailedToAuthenticateAtCentralSystem');
    expect(event.techInfo).toBe('HTTP 401 on upgrade');
    await whenOutbox(h, () => h.runtime.outbox.size() === 0, 'the queue emptied');
    expect(events(h).filter((e) => e.type === 'FailedToAuthenticateAtCentralSystem')).toHaveLength(1);
    const log = JSON.stringify(h.runtime.securityEvents.newest(100));
    expect(log).not.toContain(KEY);
    expect(log).not.toContain(PASSWORD);
  });

  it('SettingSystemTime when the central system sets a clock that is off', async () => {
    const ahead = new Date(Date.now() + 3600_000).toISOString();
    const h = await start({
      csms: {
        rules: {
          onCall: (_cp, action) =>
            action === 'BootNotification'
              ? { status: 'Accepted', currentTime: ahead, interval: 300 }
              : undefined,
        },
      },
    });
    const event = await waitForEvent(h, 'SettingSystemTime');
    expect(event.techInfo).toMatch(/^time set by the central system, 3[0-9]{6} ms$/);
    // Stamped on the time the central system set.
    expect(Date.parse(event.timestamp)).toBeGreaterThanOrEqual(Date.parse(ahead));
  });

  it('the tamper input: TamperDetectionActivated once per opening, critical', async () => {
    const h = await start();
    await h.booted();
    const mark = h.csms.mark();
    h.board.tamper(true);
    const event = await waitForEvent(h, 'TamperDetectionActivated', mark);
    expect(event.techInfo).toBe('tamper input active');
    h.board.tamper(false);
    h.board.tamper(true);
    await h.status(1, 'Faulted', mark);
    await whenOutbox(
      h,
      () => events(h, mark).filter((e) => e.type === 'TamperDetectionActivated').length === 2,
      'the second opening',
    );
  });

  it('ResetOrReboot for an accepted Reset, delivered at the latest after the restart', async () => {
    const h = await start();
    await h.booted();
    await waitForEvent(h, 'StartupOfTheDevice');
    const mark = h.csms.mark();
    expect(await h.csms.call(CP_ID, 'Reset', { type: 'Soft' })).toEqual({ status: 'Accepted' });
    await h.runtime.done;
    await h.startRuntime();
    await waitForEvent(h, 'StartupOfTheDevice', mark);
    await whenOutbox(h, () => h.runtime.outbox.size() === 0, 'the queue emptied');
    expect(events(h, mark)).toEqual([
      { type: 'ResetOrReboot', timestamp: expect.any(String), techInfo: 'Soft reset' },
      {
        type: 'StartupOfTheDevice',
        timestamp: expect.any(String),
        techInfo: expect.stringMatching(/^firmware /),
      },
    ]);
  });

  it('ReconfigurationOfSecurityParameters for a new AuthorizationKey, without the key', async () => {
    const h = await start({
      ocpp: { AuthorizationKey: KEY },
      config: () => ({ csms: { securityProfile: 1 } }),
    });
    await h.booted();
    const next = '00112233445566778899AABBCCDDEEFF';
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'ChangeConfiguration', { key: 'AuthorizationKey', value: next });
    const event = await waitForEvent(h, 'ReconfigurationOfSecurityParameters', mark);
    expect(event.techInfo).toBe('AuthorizationKey changed');
    expect(JSON.stringify(h.csms.calls(CP_ID, 'SecurityEventNotification'))).not.toContain(next);
  });

  it('a techInfo never carries the AuthorizationKey, as configured or as the password it stands for', async () => {
    const h = await start({
      csms: { basicAuth: { [CP_ID]: PASSWORD } },
      ocpp: { AuthorizationKey: KEY },
      config: () => ({ csms: { securityProfile: 1 } }),
    });
    await h.booted();
    const mark = h.csms.mark();
    h.runtime.securityEvents.raise('MemoryExhaustion', `write of ${KEY} and ${PASSWORD} refused`);
    const event = await waitForEvent(h, 'MemoryExhaustion', mark);
    expect(event.techInfo).toBe('write of [redacted] and [redacted] refused');
  });

  it('InvalidMessages for a malformed frame, at most one a minute however many come', async () => {
    const h = await start();
    await h.booted();
    const mark = h.csms.mark();
    for (let i = 0; i < 50; i++) h.csms.sendRaw(CP_ID, `[2,"bad-${i}","Reset",{"type":`);
    const event = await waitForEvent(h, 'InvalidMessages', mark);
    expect(event.techInfo).toMatch(/^malformed frame: /);
    // An answered CALL after the flood: every bad frame has been looked at.
    await h.csms.call(CP_ID, 'GetConfiguration', { key: ['HeartbeatInterval'] });
    expect(h.runtime.securityEvents.newest(100).filter((e) => e.type === 'InvalidMessages')).toHaveLength(1);
  });
});

describe('security events on the outbox across outages', () => {
  const start = useHarness();

  it('queued offline, they arrive after the reconnect in queue order with the transaction messages', async () => {
    const h = await start();
    await h.booted();
    await waitForEvent(h, 'StartupOfTheDevice');
    await listed(h, TAG);
    await goOffline(h);
    const mark = h.csms.mark();
    h.board.plug(1);
    h.board.swipe(TAG);
    await whenEngine(h, () => h.runtime.transactions.transactionOn(1) !== undefined, 'an offline start');
    // The enclosure opened during the session: an event, and a fault that ends the session.
    h.board.tamper(true);
    await whenEngine(h, () => h.runtime.transactions.transactionOn(1) === undefined, 'the stop on the fault');
    const queued = h.runtime.outbox.pending().map((e) => e.action);
    expect(queued).toEqual(
      expect.arrayContaining(['StartTransaction', 'SecurityEventNotification', 'StopTransaction']),
    );
    const order = h.runtime.outbox.pending().map((e) => [e.action, e.payload.type ?? '']);

    await goOnline(h);
    await whenOutbox(h, () => h.runtime.outbox.size() === 0, 'the queue emptied');
    const kinds = new Set([
      'StartTransaction',
      'MeterValues',
      'StopTransaction',
      'SecurityEventNotification',
    ]);
    const sent = h.csms
      .calls(CP_ID, undefined, mark)
      .filter((c) => kinds.has(c.action))
      .map((c) => [c.action, (c.payload as { type?: string }).type ?? '']);
    expect(sent).toEqual(order);
  });

  it('cpctl security-log: aligned human output, --json, and --clear recorded and reported', async () => {
    const h = await start();
    await h.booted();
    await waitForEvent(h, 'StartupOfTheDevice');
    h.board.tamper(true);
    await waitForEvent(h, 'TamperDetectionActivated');
    const socket = h.config.cli.socket;

    const human = await cpctl(socket, 'security-log');
    expect(human.code).toBe(0);
    const lines = human.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('security log: 2 entries');
    expect(lines[1]).toMatch(/^ID +TIME +TYPE +CRITICAL +TECH INFO$/);
    expect(lines[2]).toMatch(/^1 +\S+Z +StartupOfTheDevice +yes +firmware /);
    expect(lines[3]).toMatch(/^2 +\S+Z +TamperDetectionActivated +yes +tamper input active$/);

    const json = await cpctl(socket, 'security-log', '--limit', '1', '--json');
    const report = JSON.parse(json.stdout) as SecurityLogReport;
    expect(report).toMatchObject({ total: 2, entries: [{ id: 2, type: 'TamperDetectionActivated' }] });

    const mark = h.csms.mark();
    const cleared = await cpctl(socket, 'security-log', '--clear');
    expect(cleared.stdout.split('\n')[0]).toBe('security log cleared: 2 entries removed');
    const event = await waitForEvent(h, 'SecurityLogWasCleared', mark);
    expect(event.techInfo).toBe('cleared by cpctl');
    await h.sink.waitFor((l) => l.msg === 'security log cleared' && l.removed === 2);
    expect(await request(socket, 'securityLog', {})).toMatchObject({
      total: 1,
      entries: [{ type: 'SecurityLogWasCleared', critical: true }],
    });
  });

  it('a transaction and an event queued offline, then a restart: the event is delivered once, in order', async () => {
    const h = await start();
    await h.booted();
    await waitForEvent(h, 'StartupOfTheDevice');
    const transactionId = await charging(h, TAG);
    await goOffline(h);
    const mark = h.csms.mark();
    h.runtime.securityEvents.raise('InvalidCentralSystemCertificate', 'queued offline');
    h.board.swipe(TAG);
    await whenEngine(h, () => h.runtime.transactions.transactionOn(1) === undefined, 'the local stop');
    await h.runtime.stop();

    h.csms.refuseConnections(false);
    await h.startRuntime();
    const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    await answered(h.csms, stop.id);
    expect(stop.payload).toMatchObject({ transactionId });
    await whenOutbox(h, () => h.runtime.outbox.size() === 0, 'the queue emptied');
    const sent = h.csms
      .calls(CP_ID, undefined, mark)
      .filter((c) => c.action === 'StopTransaction' || c.action === 'SecurityEventNotification')
      .map((c) => [c.action, (c.payload as { type?: string }).type ?? '']);
    expect(sent).toEqual([
      ['SecurityEventNotification', 'InvalidCentralSystemCertificate'],
      ['StopTransaction', ''],
      ['SecurityEventNotification', 'StartupOfTheDevice'],
    ]);
  });
});

describe('security events across a power cut (the daemon as a process)', () => {
  const env = useDaemonEnv('cp-secevents-', 'CP-SEC-01');

  it('an event queued offline with the transaction messages survives SIGKILL and arrives in queue order', async () => {
    const e = env();
    const config = e.daemonConfig({
      ocpp: { MeterValueSampleInterval: 1, HeartbeatInterval: 3600, WebSocketPingInterval: 0 },
    });
    const daemon = e.spawn(config);
    await chargeOnConnector1(e, 'CARD01');
    await e.csms.waitForCall(e.chargePointId, 'SecurityEventNotification', {
      where: (p: EventReq) => p.type === 'StartupOfTheDevice',
    });
    e.csms.refuseConnections(true);
    e.csms.dropConnection(e.chargePointId);
    await e.csms.waitForDisconnect(e.chargePointId);
    const offline = e.csms.mark();
    await request(e.socket, 'sim.tamper', { active: true });
    // The fault ends the session: its StopTransaction follows the event into the queue.
    const queue = async () => (await request(e.socket, 'queue', {})).pending.map((m) => m.action);
    for (let i = 0; !(await queue()).includes('StopTransaction'); i++) {
      expect(i, 'StopTransaction queued').toBeLessThan(5000);
      await new Promise((resolve) => setImmediate(resolve));
    }
    const order = (await request(e.socket, 'queue', {})).pending.map((m) => m.action);
    expect(order).toContain('SecurityEventNotification');

    e.csms.refuseConnections(false);
    const { daemon: next } = await cutPowerAndRestart(e, daemon, config);
    await e.csms.waitForCall(e.chargePointId, 'StopTransaction', { since: offline });
    await e.csms.waitForCall(e.chargePointId, 'SecurityEventNotification', {
      since: offline,
      where: (p: EventReq) => p.type === 'StartupOfTheDevice',
    });
    const queued = new Set<string>(order);
    const sent = e.csms
      .calls(e.chargePointId, undefined, offline)
      .map((c) => c.action)
      .filter((action) => queued.has(action));
    // The queue of the killed run, in its order, then the new run's StartupOfTheDevice.
    expect(sent.slice(0, order.length)).toEqual(order);
    const types = e.csms
      .calls(e.chargePointId, 'SecurityEventNotification', offline)
      .map((c) => (c.payload as EventReq).type);
    expect(types).toEqual(['TamperDetectionActivated', 'StartupOfTheDevice']);
    expect(next.exited).toBe(false);
  });
});
