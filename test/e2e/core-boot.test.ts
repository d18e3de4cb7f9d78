import { describe, expect, it } from 'vitest';
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
