/**
 * A simulated week (test/faults/week-simulation.ts): the runtime in process with the fake clock,
 * MeterValues every second while charging, a session every few minutes, a central system
 * that keeps only counters. Memory (heap used after a full garbage collection) and the database (pages in use, and
 * the file, and its WAL apart) are measured at the end of every simulated day; once the bounded stores
 * (the frame trace ring, the authorization cache) have filled and settled, both must stay on that
 * level: what a charger that runs for years on 512 MB and an SD card needs. The one table allowed
 * to grow in a week is the transaction history, one small row a session, which retention bounds
 * by count and age over months.
 *
 * WEEK_DAYS=<n> sets the length (default 7). WEEK_SEED=<seed> replays another plan of sessions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WAL_SIZE_LIMIT_BYTES } from '../../src/store/database.js';
import { DAY_SECONDS, type DaySample, WeekSimulation } from './week-simulation.js';

const DAYS = Number(process.env.WEEK_DAYS ?? 7);
const SEED = Number(process.env.WEEK_SEED ?? 7);
/** What heap used may differ by between two days without a leak (allocator and JIT noise). */
const HEAP_SLACK_MIB = 3;
/** Less than a day of any per-session row (about 300 sessions a day). */
const DB_SLACK_KIB = 32;
/**
 * Days for the bounded stores to reach their steady size: the trace ring fills within hours, but
 * its pages settle (free pages reused, b-tree shape) over the second day.
 */
const SETTLE_DAYS = 2;
/** A finished transaction's row with its indexes; the table is bounded by retention, not by time. */
const MAX_TRANSACTION_ROW_KIB = 0.5;

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
      plateauRise(samples, (s) => s.heapMiB),
      `heap used (MiB) at the end of each day: ${series(samples, (s) => s.heapMiB)}`,
    ).toBeLessThan(HEAP_SLACK_MIB);
  });

  it('keeps the database on a plateau, but for the transaction history that retention bounds', () => {
    // A week of sessions every few minutes stays below the retention's row count: the history is
    // allowed to grow, by one small row a session; everything else must not.
    const others = (s: DaySample) => s.dbUsedKiB - s.transactionsKiB;
    expect(
      plateauRise(samples, others),
      `database pages in use besides the transaction history (KiB) each day: ${series(samples, others)}`,
    ).toBeLessThan(DB_SLACK_KIB);
    const file = (s: DaySample) => s.dbFileKiB - s.transactionsKiB;
    expect(
      plateauRise(samples, file),
      `database file besides the transaction history (KiB) each day: ${series(samples, file)}`,
    ).toBeLessThan(DB_SLACK_KIB * 4);
    // The WAL's size on disk is the high-water mark of what was written between two checkpoints,
    // which depends on how busy the machine was, not on a trend: it is bounded by the size a
    // checkpoint cuts it back to (plus what accumulates until the next one), not by a plateau.
    const wal = (s: DaySample) => s.walKiB;
    expect(Math.max(...samples.map(wal)), `WAL (KiB) each day: ${series(samples, wal)}`).toBeLessThanOrEqual(
      (2 * WAL_SIZE_LIMIT_BYTES) / 1024,
    );
    const last = samples.at(-1)!;
    expect(last.transactions, 'transaction rows').toBeLessThanOrEqual(last.sessions);
    expect(last.transactionsKiB / last.transactions, 'KiB per transaction row').toBeLessThan(
      MAX_TRANSACTION_ROW_KIB,
    );
  });
});

type Measure = (s: DaySample) => number;

/** How far the last day is above the first settled day: a leak shows as a rise every day. */
function plateauRise(samples: DaySample[], measure: Measure): number {
  const first = samples[SETTLE_DAYS];
  const last = samples.at(-1);
  if (!first || !last || first === last)
    throw new Error(`a plateau needs more than ${SETTLE_DAYS} simulated days (WEEK_DAYS)`);
  return measure(last) - measure(first);
}

function series(samples: DaySample[], measure: Measure): string {
  return samples.map((s) => Math.round(measure(s) * 10) / 10).join(', ');
}
