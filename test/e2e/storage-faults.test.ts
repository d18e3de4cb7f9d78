import { describe, expect, it, vi } from 'vitest';
import type { StatusReport } from '../../src/cli/api.js';
import { request } from '../../src/cli/client.js';
import { charging, energyOf, type MeterValuesReq, type StopReq } from '../support/charging.js';
import { cpctl } from '../support/cpctl-process.js';
import { DiskFull, startOnFillingDisk } from '../support/disk-full.js';
import { CP_ID, useHarness } from '../support/harness.js';

const TAG = 'VALID01';

describe('disk full (ENOSPC) while charging', () => {
  const start = useHarness();

  it('charging goes on from memory, the condition shows in the log and cpctl status, and it recovers without a restart', async () => {
    const h = await start({ deferStart: true, ocpp: { MeterValueSampleInterval: 1 } });
    const disk = new DiskFull();
    const runtime = await startOnFillingDisk(h, disk);
    await h.booted();
    const transactionId = await charging(h, TAG);

    disk.fill();
    await h.sink.waitFor((l) => /state store cannot write/.test(l.msg));
    expect(runtime.store.health.snapshot()).toMatchObject({
      state: 'degraded',
      reason: expect.stringMatching(/SQLITE_FULL/),
    });
    const status = (await request(h.config.cli.socket, 'status', {})) as StatusReport;
    expect(status.store.state).toBe('degraded');
    // Samples keep failing to be written, and the session is untouched by it.
    const refused = disk.refused;
    await h.sink.waitFor((l) => l.msg === 'state store write failed' && disk.refused > refused + 1);
    expect(h.board.connector(1)?.devices.relay.isClosed()).toBe(true);
    expect(runtime.station.status(1)?.status).toBe('Charging');

    // The driver stops while the disk is still full: the contactor opens at once; the stop waits in memory.
    const mark = h.csms.mark();
    h.board.swipe(TAG);
    await h.status(1, 'Finishing', mark);
    expect(h.board.connector(1)?.devices.relay.isClosed()).toBe(false);
    expect(h.csms.calls(CP_ID, 'StopTransaction')).toHaveLength(0);

    // Space comes back: the next probe notices, the stop is recorded and sent, and the episode reported.
    disk.free();
    expect(runtime.store.health.probe()).toBe(true);
    const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    expect(stop.payload as StopReq).toMatchObject({ transactionId, reason: 'Local' });
    const samples = h.csms.calls(CP_ID, 'MeterValues').map((c) => c.payload as MeterValuesReq);
    const lastSent = samples.length > 0 ? energyOf(samples.at(-1)!) : 0;
    expect((stop.payload as StopReq).meterStop).toBeGreaterThanOrEqual(lastSent);
    // The episode's recovery (its detection was sent when the disk filled, test/e2e/memory-exhaustion.test.ts).
    const event = await h.csms.waitForCall(CP_ID, 'SecurityEventNotification', {
      since: mark,
      where: (p: { techInfo?: string }) => p.techInfo?.startsWith('state store degraded since') === true,
    });
    expect(event.payload).toMatchObject({
      type: 'MemoryExhaustion',
      techInfo: expect.stringMatching(/degraded since .*SQLITE_FULL/),
    });
    expect(runtime.store.health.snapshot().state).toBe('ok');
    expect(((await request(h.config.cli.socket, 'status', {})) as StatusReport).store.state).toBe('ok');
  });

  it('a start is refused while the disk is full: no transaction that could not be billed', async () => {
    const h = await start({ deferStart: true });
    const disk = new DiskFull();
    await startOnFillingDisk(h, disk);
    await h.booted();
    disk.fill();
    const mark = h.csms.mark();
    h.board.plug(1);
    await h.status(1, 'Preparing', mark);
    h.board.swipe(TAG);
    await h.sink.waitFor((l) => l.msg === 'transaction could not be recorded; not started');
    expect(h.board.connector(1)?.devices.relay.isClosed()).toBe(false);
    // The cable locked for the start that did not happen is released again.
    await vi.waitFor(() => expect(h.board.connector(1)?.lock?.isLocked()).toBe(false));
    expect(h.csms.calls(CP_ID, 'StartTransaction')).toHaveLength(0);
    // The central system's Accepted stands although the cache could not remember it.
    expect(h.sink.find((l) => l.msg === 'id tag not authorized')).toBeUndefined();
  });
});

describe('secrets over the wire', () => {
  const start = useHarness();
  const SECRET = 'f00dfeedC0ffeeBabe4242C0ffeeBabe';

  it('an AuthorizationKey sent with an escaped key name is applied, and is in neither the trace, cpctl, the logs nor the database text', async () => {
    const h = await start();
    await h.booted();
    const mark = h.csms.mark();
    // "Authorization\u004bey" is "AuthorizationKey" to every JSON parser, ours included.
    h.csms.sendRaw(
      CP_ID,
      `[2,"esc-1","ChangeConfiguration",{"key":"Authorization\\u004bey","value":"${SECRET}"}]`,
    );
    await h.csms.waitForFrame(
      CP_ID,
      (f) => f.direction === 'in' && f.message?.type === 'result' && f.message.id === 'esc-1',
      {
        since: mark,
        what: 'the answer to esc-1',
      },
    );
    expect(h.runtime.config.get('AuthorizationKey')).toBe(SECRET);
    const traced = h.runtime.trace.query({ limit: 1000 });
    expect(traced.some((e) => e.messageId === 'esc-1')).toBe(true);
    expect(JSON.stringify(traced)).not.toContain(SECRET);
    const out = await cpctl(h.config.cli.socket, 'trace', '--limit', '1000', '--json');
    expect(out.stdout).not.toContain(SECRET);
    const config = await cpctl(h.config.cli.socket, 'config', 'get');
    expect(config.stdout).not.toContain(SECRET);
    expect(JSON.stringify(h.sink.lines)).not.toContain(SECRET);
  });
});
