import { describe, expect, it } from 'vitest';
import type { Timer } from '../../src/clock.js';
import { OcppTime } from '../../src/clock.js';
import { ConfigurationRegistry } from '../../src/config/registry.js';
import { Heartbeat } from '../../src/features/core/heartbeat.js';
import { silentLogger } from '../../src/log.js';
import { RpcEndpoint } from '../../src/ocpp/rpc.js';
import { FakeClock } from '../support/fake-clock.js';
import { LoopbackCsms } from '../support/loopback-csms.js';
import { MemoryConfig } from '../support/memory-stores.js';

const T0 = Date.parse('2024-05-01T12:00:00.000Z');
const HOUR_MS = 3_600_000;

/** A fake clock that counts the timers set on it. */
class CountingClock extends FakeClock {
  set = 0;

  override setTimeout(fn: () => void, ms: number): Timer {
    this.set += 1;
    return super.setTimeout(fn, ms);
  }
}

/** Two event-loop turns: a CALL sent is answered, and the RPC is ready for the next one. */
async function answered(): Promise<void> {
  for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
}

async function beatAnswered(heartbeat: Heartbeat): Promise<void> {
  await heartbeat.beat();
  await answered();
}

/**
 * A started Heartbeat over the real RPC, its calls answered by a loopback central system. The RPC
 * has a clock of its own (its calls are answered before any timeout), so `clock` holds the
 * heartbeat's timers alone.
 */
function setup(interval: number) {
  const clock = new CountingClock(T0);
  const log = silentLogger();
  const rpc = new RpcEndpoint({ log, clock: new FakeClock(T0), callTimeoutMs: 30_000 });
  const csms = new LoopbackCsms(rpc);
  csms.connect();
  const config = new ConfigurationRegistry({
    store: new MemoryConfig(),
    initial: { HeartbeatInterval: interval },
    capabilities: new Set(),
    fixed: { NumberOfConnectors: '1', SupportedFeatureProfiles: 'Core' },
    log,
  });
  const heartbeat = new Heartbeat({ rpc, config, clock, log, time: new OcppTime(clock, false) });
  heartbeat.start();
  return { clock, csms, config, heartbeat };
}

describe('Heartbeat', () => {
  it('beats every interval, and a triggered beat moves the next one an interval after it', async () => {
    const { clock, csms, heartbeat } = setup(3600);
    clock.advance(HOUR_MS);
    await beatAnswered(heartbeat);
    expect(csms.of('Heartbeat')).toHaveLength(2);
    clock.advance(HOUR_MS / 2);
    await beatAnswered(heartbeat);
    expect(csms.of('Heartbeat')).toHaveLength(3);
    clock.advance(HOUR_MS - 1);
    expect(csms.of('Heartbeat')).toHaveLength(3);
    clock.advance(1);
    expect(csms.of('Heartbeat')).toHaveLength(4);
  });

  it('sets no timer per triggered beat: the armed one looks at the due time when it fires', async () => {
    const { clock, csms, heartbeat } = setup(3600);
    const before = clock.set;
    for (let i = 0; i < 100; i++) {
      clock.advance(10);
      await beatAnswered(heartbeat);
    }
    expect(csms.of('Heartbeat')).toHaveLength(100);
    expect(clock.set - before).toBe(0);
    expect(clock.pending).toBe(1);
    // The first timer fires an hour after the start, and waits on for the last beat's interval.
    clock.advance(HOUR_MS - 1000);
    expect(csms.of('Heartbeat')).toHaveLength(100);
    clock.advance(1000);
    expect(csms.of('Heartbeat')).toHaveLength(101);
    await answered();
    expect(clock.pending).toBe(1);
  });

  it('a shorter interval applies at once; stop plans none', async () => {
    const { clock, csms, config, heartbeat } = setup(3600);
    expect(config.change('HeartbeatInterval', '60', 'csms')).toBe('Accepted');
    clock.advance(60_000);
    expect(csms.of('Heartbeat')).toHaveLength(1);
    await answered();
    expect(clock.pending).toBe(1);
    heartbeat.stop();
    expect(clock.pending).toBe(0);
    clock.advance(HOUR_MS);
    expect(csms.of('Heartbeat')).toHaveLength(1);
  });
});
