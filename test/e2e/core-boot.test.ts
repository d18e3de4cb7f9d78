import { describe, expect, it } from 'vitest';
import { charging } from '../support/charging.js';
import { CP_ID, useHarness } from '../support/harness.js';

type Status = { connectorId: number; status: string; errorCode: string };

describe('Core: boot and liveness', () => {
  const start = useHarness();

  it('TC_001_CS cold boot: Rejected, retry after the interval, then Accepted, statuses and heartbeats', async () => {
    const h = await start({
      csms: {
        rules: {
          boot: (_req, count) =>
            count === 1 ? { status: 'Rejected', interval: 1 } : { status: 'Accepted', interval: 1 },
        },
      },
    });
    const csms = h.csms;
    const first = await csms.waitForCall(CP_ID, 'BootNotification');
    expect(first.payload).toMatchObject({
      chargePointVendor: 'TestVendor',
      chargePointModel: 'TestModel',
      chargePointSerialNumber: 'SN-TEST-01',
    });
    expect((first.payload as { firmwareVersion: string }).firmwareVersion).toMatch(/^\d+\.\d+\.\d+/);
    const second = await csms.waitForCall(CP_ID, 'BootNotification', { since: first.record.seq });
    // Nothing at all may be sent while rejected, and the retry waits the whole interval.
    const between = csms.calls(CP_ID, undefined, first.record.seq).filter((c) => c.at < second.record.at);
    expect(between).toEqual([]);
    expect(second.record.at - first.record.at).toBeGreaterThanOrEqual(950);

    await h.booted(first.record.seq);
    const statuses = csms.calls(CP_ID, 'StatusNotification').map((c) => c.payload as Status);
    expect(statuses.map((s) => s.connectorId).sort()).toEqual([0, 1, 2]);
    for (const s of statuses) expect(s).toMatchObject({ status: 'Available', errorCode: 'NoError' });

    const hb1 = await csms.waitForCall(CP_ID, 'Heartbeat');
    const hb2 = await csms.waitForCall(CP_ID, 'Heartbeat', { since: hb1.record.seq });
    expect(hb2.record.at - hb1.record.at).toBeGreaterThanOrEqual(900);
    expect(h.runtime.config.get('HeartbeatInterval')).toBe('1');
  });

  it('TC_002_CS cold boot Pending: configuration answered while pending, nothing else sent, then Accepted', async () => {
    const h = await start({
      csms: {
        rules: {
          boot: (_req, count) =>
            count === 1 ? { status: 'Pending', interval: 2 } : { status: 'Accepted', interval: 60 },
        },
      },
    });
    const csms = h.csms;
    const first = await csms.waitForCall(CP_ID, 'BootNotification');
    const all = await csms.call<{ configurationKey: unknown[] }>(CP_ID, 'GetConfiguration', {});
    expect(all.configurationKey.length).toBeGreaterThan(20);
    const changed = await csms.call(CP_ID, 'ChangeConfiguration', {
      key: 'MeterValueSampleInterval',
      value: '17',
    });
    expect(changed).toEqual({ status: 'Accepted' });
    const second = await csms.waitForCall(CP_ID, 'BootNotification', { since: first.record.seq });
    const between = csms.calls(CP_ID, undefined, first.record.seq).filter((c) => c.at < second.record.at);
    expect(between).toEqual([]);
    await h.booted(first.record.seq);
    expect(h.runtime.config.get('MeterValueSampleInterval')).toBe('17');
    expect(h.runtime.config.get('HeartbeatInterval')).toBe('60');
  });

  it('while Rejected, central-system CALLs are dropped unanswered (spec 4.2), and logged', async () => {
    const h = await start({
      csms: {
        rules: {
          boot: (_req, count) =>
            count === 1 ? { status: 'Rejected', interval: 1 } : { status: 'Accepted', interval: 3600 },
        },
      },
    });
    const { csms } = h;
    const first = await csms.waitForCall(CP_ID, 'BootNotification');
    csms.sendRaw(CP_ID, '[2,"while-rejected","GetConfiguration",{}]');
    csms.sendRaw(CP_ID, '[2,"bad-while-rejected","Reset",{"type":"Now"}]');
    await h.sink.waitFor(
      (l) => l.msg === 'central-system CALL dropped unanswered' && l.messageId === 'bad-while-rejected',
    );
    await csms.waitForCall(CP_ID, 'BootNotification', { since: first.record.seq });
    expect(
      csms.frames.filter((f) => f.direction === 'in' && f.message?.type !== 'call').map((f) => f.text),
    ).toEqual([]);
    // Accepted: answered again.
    await h.booted(first.record.seq);
    expect(await csms.call(CP_ID, 'ClearCache', {})).toEqual({ status: 'Accepted' });
  });

  it('while Pending, a triggered message is sent and remote start/stop are Rejected', async () => {
    const h = await start({
      csms: {
        rules: {
          boot: (_req, count) =>
            count === 2 ? { status: 'Pending', interval: 3600 } : { status: 'Accepted', interval: 3600 },
        },
      },
    });
    const { csms } = h;
    await h.booted();
    const transactionId = await charging(h, 'VALID01', 1);
    let mark = csms.mark();
    expect(await csms.call(CP_ID, 'TriggerMessage', { requestedMessage: 'BootNotification' })).toEqual({
      status: 'Accepted',
    });
    await h.sink.waitFor((l) => l.msg === 'BootNotification answered' && l.status === 'Pending');

    expect(await csms.call(CP_ID, 'RemoteStopTransaction', { transactionId })).toEqual({
      status: 'Rejected',
    });
    expect(await csms.call(CP_ID, 'RemoteStartTransaction', { connectorId: 2, idTag: 'VALID01' })).toEqual({
      status: 'Rejected',
    });
    expect(h.runtime.transactions.transactionOn(1)?.transactionId).toBe(transactionId);

    mark = csms.mark();
    expect(
      await csms.call(CP_ID, 'TriggerMessage', { requestedMessage: 'StatusNotification', connectorId: 2 }),
    ).toEqual({ status: 'Accepted' });
    const status = await csms.waitForCall(CP_ID, 'StatusNotification', { since: mark });
    expect(status.payload).toMatchObject({ connectorId: 2, status: 'Available' });
    expect(await csms.call(CP_ID, 'TriggerMessage', { requestedMessage: 'Heartbeat' })).toEqual({
      status: 'Accepted',
    });
    await csms.waitForCall(CP_ID, 'Heartbeat', { since: mark });
    // Only what was asked for left while Pending.
    expect(csms.calls(CP_ID, undefined, mark).map((c) => c.action)).toEqual([
      'StatusNotification',
      'Heartbeat',
    ]);

    // Accepted again (third boot): what was held while Pending may leave, and the runtime can stop.
    const linesBefore = h.sink.lines.length;
    await csms.call(CP_ID, 'TriggerMessage', { requestedMessage: 'BootNotification' });
    await h.sink.waitFor(
      (l) =>
        l.msg === 'BootNotification answered' &&
        l.status === 'Accepted' &&
        h.sink.lines.indexOf(l) >= linesBefore,
    );
  });

  it('a BootNotification without an answer is retried, and the charge point stays silent meanwhile', async () => {
    const h = await start({
      csms: {
        rules: { onCall: (_cp, action, _p) => (action === 'BootNotification' ? 'ignore' : undefined) },
      },
      config: () => ({ csms: { callTimeoutSeconds: 0.3, bootRetrySeconds: 0.2 } }),
    });
    const first = await h.csms.waitForCall(CP_ID, 'BootNotification');
    await h.csms.waitForCall(CP_ID, 'BootNotification', { since: first.record.seq });
    h.csms.rules.onCall = undefined;
    await h.booted();
    const beforeAccept = h.csms.calls(CP_ID).findIndex((c) => c.action !== 'BootNotification');
    expect(
      h.csms
        .calls(CP_ID)
        .slice(0, beforeAccept)
        .every((c) => c.action === 'BootNotification'),
    ).toBe(true);
  });

  it('timestamps follow the central system clock', async () => {
    const h = await start();
    await h.booted();
    const status = h.csms.calls(CP_ID, 'StatusNotification')[0]?.payload as { timestamp: string };
    expect(Math.abs(Date.parse(status.timestamp) - Date.now())).toBeLessThan(60_000);
    // The central system's clock is an hour ahead: after a Heartbeat our stamps follow it.
    const ahead = new Date(Date.now() + 3_600_000).toISOString();
    h.csms.rules.heartbeatCurrentTime = () => ahead;
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'TriggerMessage', { requestedMessage: 'Heartbeat' });
    await h.csms.waitForCall(CP_ID, 'Heartbeat', { since: mark });
    await h.csms.call(CP_ID, 'TriggerMessage', { requestedMessage: 'StatusNotification', connectorId: 1 });
    const after = await h.csms.waitForCall(CP_ID, 'StatusNotification', { since: mark });
    expect(Date.parse((after.payload as { timestamp: string }).timestamp) - Date.now()).toBeGreaterThan(
      3_500_000,
    );
  });

  it('with an NTP-synchronised system clock the central system clock is ignored', async () => {
    const h = await start({ config: () => ({ clock: { ntpSynchronized: true } }) });
    await h.booted();
    h.csms.rules.heartbeatCurrentTime = () => new Date(Date.now() + 3_600_000).toISOString();
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'TriggerMessage', { requestedMessage: 'Heartbeat' });
    await h.csms.waitForCall(CP_ID, 'Heartbeat', { since: mark });
    await h.csms.call(CP_ID, 'TriggerMessage', { requestedMessage: 'StatusNotification', connectorId: 1 });
    const after = await h.csms.waitForCall(CP_ID, 'StatusNotification', { since: mark });
    expect(
      Math.abs(Date.parse((after.payload as { timestamp: string }).timestamp) - Date.now()),
    ).toBeLessThan(60_000);
  });
});
