/**
 * MemoryExhaustion (white paper: "the Flash or RAM memory of the Charge Point is getting full") end
 * to end: the daemon's RAM running short (a memory reader injected through the runtime's options)
 * and its disk filling, each reported to the central system when it is detected.
 */
import { describe, expect, it } from 'vitest';
import { readMemory } from '../../src/station/memory-watch.js';
import { goOffline, goOnline } from '../support/charging.js';
import { DiskFull, startOnFillingDisk } from '../support/disk-full.js';
import { CP_ID, type Harness, useHarness } from '../support/harness.js';

const MIB = 2 ** 20;

type EventReq = { type: string; timestamp: string; techInfo?: string };

function memoryEvents(h: Harness, since = 0): EventReq[] {
  return h.csms
    .calls(CP_ID, 'SecurityEventNotification', since)
    .map((c) => c.payload as EventReq)
    .filter((e) => e.type === 'MemoryExhaustion');
}

describe('MemoryExhaustion', () => {
  const start = useHarness();

  it('system RAM running short is raised once, logged, kept in the security log and delivered after StartupOfTheDevice', async () => {
    const h = await start({
      memory: () => ({
        heap: readMemory().heap,
        system: { availableBytes: 10 * MIB, totalBytes: 512 * MIB },
      }),
    });
    await h.booted();
    const call = await h.csms.waitForCall(CP_ID, 'SecurityEventNotification', {
      where: (p: EventReq) => p.type === 'MemoryExhaustion',
    });
    expect(call.payload).toMatchObject({
      techInfo: 'system RAM MemAvailable 10.0 MiB of MemTotal 512.0 MiB (2.0 %)',
    });
    expect(h.sink.find((l) => l.msg === 'memory running short')).toMatchObject({
      level: 'warn',
      memory: 'system',
    });
    const logged = h.runtime.securityEvents.newest(10).map((e) => [e.type, e.critical]);
    expect(logged).toEqual([
      ['StartupOfTheDevice', true],
      ['MemoryExhaustion', true],
    ]);
    const startup = await h.csms.waitForCall(CP_ID, 'SecurityEventNotification', {
      where: (p: EventReq) => p.type === 'StartupOfTheDevice',
    });
    expect(startup.record.seq).toBeLessThan(call.record.seq);
    expect(memoryEvents(h)).toHaveLength(1);
  });

  it('a disk that fills is reported at once, sent unqueued while it refuses writes; its recovery is reported too', async () => {
    const h = await start({ deferStart: true });
    const disk = new DiskFull();
    const runtime = await startOnFillingDisk(h, disk);
    await h.booted();
    const mark = h.csms.mark();
    disk.fill();
    expect(runtime.store.health.probe()).toBe(false);
    const detected = await h.csms.waitForCall(CP_ID, 'SecurityEventNotification', {
      since: mark,
      where: (p: EventReq) => p.type === 'MemoryExhaustion',
    });
    expect(detected.payload).toMatchObject({
      techInfo: expect.stringMatching(/^state store degraded: SQLITE_FULL/),
    });
    // Sent while the disk still refuses writes: neither logged nor queued, which it could not be.
    expect(disk.full).toBe(true);
    expect(runtime.outbox.pending().filter((e) => e.payload.type === 'MemoryExhaustion')).toEqual([]);
    expect(runtime.securityEvents.newest(10).map((e) => e.type)).not.toContain('MemoryExhaustion');

    disk.free();
    expect(runtime.store.health.probe()).toBe(true);
    const recovered = await h.csms.waitForCall(CP_ID, 'SecurityEventNotification', {
      since: detected.record.seq,
      where: (p: EventReq) => p.type === 'MemoryExhaustion',
    });
    expect(recovered.payload).toMatchObject({
      techInfo: expect.stringMatching(/^state store degraded since .*SQLITE_FULL/),
    });
    expect(runtime.securityEvents.newest(10).filter((e) => e.type === 'MemoryExhaustion')).toHaveLength(1);
    expect(memoryEvents(h, mark)).toHaveLength(2);
  });

  it('a disk that fills while offline is logged, and only its recovery reaches the central system', async () => {
    const h = await start({ deferStart: true });
    const disk = new DiskFull();
    const runtime = await startOnFillingDisk(h, disk);
    await h.booted();
    await goOffline(h);
    const mark = h.csms.mark();
    disk.fill();
    expect(runtime.store.health.probe()).toBe(false);
    await h.sink.waitFor((l) => l.msg === 'security event neither recorded nor sent: offline');
    disk.free();
    expect(runtime.store.health.probe()).toBe(true);
    await goOnline(h);
    const recovered = await h.csms.waitForCall(CP_ID, 'SecurityEventNotification', {
      since: mark,
      where: (p: EventReq) => p.type === 'MemoryExhaustion',
    });
    expect(recovered.payload).toMatchObject({
      techInfo: expect.stringMatching(/^state store degraded since /),
    });
    expect(memoryEvents(h, mark)).toHaveLength(1);
  });
});
