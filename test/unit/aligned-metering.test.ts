import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SIM_SPEC, SimBoard } from '../../hal/sim/board.js';
import { OcppTime } from '../../src/clock.js';
import { ConfigurationRegistry } from '../../src/config/registry.js';
import { silentLogger } from '../../src/log.js';
import { AlignedMetering, nextAlignedBoundary } from '../../src/station/aligned-metering.js';
import { Station } from '../../src/station/station.js';
import { FakeClock } from '../support/fake-clock.js';
import { MemoryAvailability, MemoryConfig } from '../support/memory-stores.js';

const midnight = Date.parse('2026-11-21T00:00:00.000Z');
const SECOND = 1000;
const MINUTE = 60 * SECOND;

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

describe('clock-aligned boundaries', () => {
  it('counts intervals from midnight', () => {
    expect(nextAlignedBoundary(midnight + 5_000, 20_000)).toBe(midnight + 20_000);
    expect(nextAlignedBoundary(midnight + 20_000, 20_000)).toBe(midnight + 40_000);
    expect(nextAlignedBoundary(midnight + 3_599_999, 900_000)).toBe(midnight + 3_600_000);
  });

  it('restarts at midnight for an interval that does not divide a day', () => {
    const sevenHours = 7 * 3_600_000;
    expect(nextAlignedBoundary(midnight + 22 * 3_600_000, sevenHours)).toBe(midnight + 86_400_000);
  });
});

/** Every clock-aligned reading the service took, as connector and boundary timestamp. */
function setupAligned(opts: { followCentralSystem: boolean; start: number; marks?: Map<string, string> }) {
  const clock = new FakeClock(opts.start);
  const log = silentLogger();
  const board = new SimBoard(DEFAULT_SIM_SPEC, clock);
  const station = new Station({ board, availability: new MemoryAvailability(), clock, log });
  const config = new ConfigurationRegistry({
    store: new MemoryConfig(),
    initial: { ClockAlignedDataInterval: 900 },
    capabilities: new Set(),
    fixed: { NumberOfConnectors: '2', SupportedFeatureProfiles: 'Core' },
    log,
  });
  const time = new OcppTime(clock, opts.followCentralSystem);
  const samples: string[] = [];
  const aligned = new AlignedMetering({
    station,
    config,
    clock,
    time,
    log,
    onSample: (connectorId, _reading, timestampMs) => {
      if (connectorId === 1) samples.push(new Date(timestampMs).toISOString().slice(11, 19));
    },
    ...(opts.marks ? { marks: persistedIn(opts.marks) } : {}),
  });
  cleanups.push(() => {
    aligned.stop();
    time.stop();
    station.close();
  });
  time.start();
  aligned.start();
  const advance = async (ms: number) => {
    clock.advance(ms);
    // Meter reads resolve in microtasks.
    for (let turn = 0; turn < 5; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
  };
  return { clock, config, time, samples, advance };
}

/** Marks kept in a map that outlives one AlignedMetering, as the setting-floors file outlives a run. */
function persistedIn(map: Map<string, string>) {
  return {
    get: (key: string) => map.get(key),
    set: (key: string, value: string) => {
      map.set(key, value);
      return true;
    },
  };
}

describe('clock-aligned readings: each boundary at most once', () => {
  it('a restart whose clock reads earlier than the last run reported: no boundary again', async () => {
    const marks = new Map<string, string>();
    const first = setupAligned({ followCentralSystem: false, start: midnight + 10 * MINUTE, marks });
    await first.advance(5 * MINUTE);
    expect(first.samples).toEqual(['00:15:00']);
    for (const cleanup of cleanups.splice(0).reverse()) cleanup();
    // The board restarts without an RTC: its clock reads 00:10 again.
    const second = setupAligned({ followCentralSystem: false, start: midnight + 10 * MINUTE, marks });
    await second.advance(50 * MINUTE);
    expect(second.samples).toEqual(['00:30:00', '00:45:00', '01:00:00']);
  });

  it('the system clock set back after a boundary: no boundary again, the next one on time', async () => {
    const { clock, samples, advance } = setupAligned({
      followCentralSystem: false,
      start: midnight + 10 * MINUTE,
    });
    await advance(5 * MINUTE);
    expect(samples).toEqual(['00:15:00']);
    clock.stepWall(-10 * MINUTE);
    // The wall clock reads 00:05 now: 00:15 is not taken again, 00:30 is taken when the clock reads it.
    await advance(60 * MINUTE);
    expect(samples).toEqual(['00:15:00', '00:30:00', '00:45:00', '01:00:00']);
  });

  it('the central system sets the time back, then a new interval is planned: no boundary again', async () => {
    const start = midnight + 10 * MINUTE;
    const { config, time, samples, advance } = setupAligned({ followCentralSystem: true, start });
    time.syncTo(new Date(start).toISOString());
    await advance(5 * MINUTE);
    expect(samples).toEqual(['00:15:00']);
    time.syncTo(new Date(midnight + 15 * MINUTE - 5 * SECOND).toISOString());
    expect(config.change('ClockAlignedDataInterval', '300', 'csms')).toBe('Accepted');
    await advance(10 * MINUTE);
    expect(samples).toEqual(['00:15:00', '00:20:00']);
  });

  it('a step forward re-plans the pending boundary to when the time reaches it', async () => {
    const { clock, samples, advance } = setupAligned({
      followCentralSystem: false,
      start: midnight + 10 * MINUTE,
    });
    clock.stepWall(4 * MINUTE);
    await advance(MINUTE);
    expect(samples).toEqual(['00:15:00']);
  });
});
