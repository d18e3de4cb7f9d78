/**
 * A simulated week (test/faults/week-simulation.ts): the runtime in process with the fake clock,
 * MeterValues every second while charging, a session every few minutes, a loopback central
 * system. Memory (heap used after a full garbage collection) and the database (pages in use, and
 * the file with its WAL) are measured at the end of every simulated day; once the bounded stores
 * (the frame trace ring, the authorization cache) have filled on the first day, both must stay on
 * that level: what a charger that runs for years on 512 MB and an SD card needs.
 *
 * WEEK_DAYS=<n> sets the length (default 7). WEEK_SEED=<seed> replays another plan of sessions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY_SECONDS, type DaySample, WeekSimulation } from './week-simulation.js';

const DAYS = Number(process.env.WEEK_DAYS ?? 7);
const SEED = Number(process.env.WEEK_SEED ?? 7);
/** What heap used may differ by between two days without a leak (allocator and JIT noise). */
const HEAP_SLACK_MIB = 3;
/** Less than a day of any per-session row (about 300 sessions a day). */
const DB_SLACK_KIB = 32;

describe(`a simulated week of charging (${DAYS} days, seed ${SEED})`, () => {
  let sim: WeekSimulation;
  const samples: DaySample[] = [];

  beforeAll(async () => {
    console.log(`simulated week: ${DAYS} days, seed ${SEED} (WEEK_SEED=${SEED} to reproduce)`);
    sim = await WeekSimulation.start(SEED);
    samples.push(sim.measure(0));
    for (let day = 1; day <= DAYS; day++) {
      await sim.run(DAY_SECONDS);
      samples.push(sim.measure(day));
    }
    console.table(samples);
  }, 3_600_000);
  afterAll(() => sim?.stop());

  it('charges all week: every session started, metered every second and stopped, nothing logged as an error', () => {
    expect(sim.errors.lines).toEqual([]);
    expect(sim.csms.count('StartTransaction')).toBeGreaterThanOrEqual(sim.sessions - 1);
    expect(sim.csms.count('StopTransaction')).toBeGreaterThanOrEqual(sim.sessions - 1);
    expect(sim.csms.count('MeterValues')).toBeGreaterThan(sim.sessions * 50);
  });

  it('keeps heap used on a plateau', () => {
    expect(
      plateauRise(samples, 'heapMiB'),
      `heap used (MiB) at the end of each day: ${series(samples, 'heapMiB')}`,
    ).toBeLessThan(HEAP_SLACK_MIB);
  });

  it('keeps the database on a plateau', () => {
    expect(
      plateauRise(samples, 'dbUsedKiB'),
      `database pages in use (KiB) at the end of each day: ${series(samples, 'dbUsedKiB')}`,
    ).toBeLessThan(DB_SLACK_KIB);
    expect(
      plateauRise(samples, 'dbFileKiB'),
      `database file and WAL (KiB) at the end of each day: ${series(samples, 'dbFileKiB')}`,
    ).toBeLessThan(DB_SLACK_KIB * 4);
  });
});

type Measure = 'heapMiB' | 'dbUsedKiB' | 'dbFileKiB';

/** How far the last day is above the first full day: a leak shows as a rise every day. */
function plateauRise(samples: DaySample[], key: Measure): number {
  const first = samples[1];
  const last = samples.at(-1);
  if (!first || !last || first === last) throw new Error('a plateau needs at least two simulated days');
  return last[key] - first[key];
}

function series(samples: DaySample[], key: Measure): string {
  return samples.map((s) => s[key]).join(', ');
}
