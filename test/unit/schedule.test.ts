import { describe, expect, it } from 'vitest';
import { Schedule } from '../../src/clock.js';
import { FakeClock } from '../support/fake-clock.js';

describe('Schedule: one pending timeout, re-planned', () => {
  it('runs at the planned interval while started, and re-plans after each run', () => {
    const clock = new FakeClock();
    const runs: number[] = [];
    let schedule: Schedule | undefined;
    schedule = new Schedule(clock, () => ({
      inMs: 1000,
      run: () => {
        runs.push(clock.now());
        schedule?.replan();
      },
    }));
    schedule.start();
    clock.advance(3500);
    expect(runs).toEqual([1000, 2000, 3000]);
    expect(clock.pending).toBe(1);
  });

  it('a new plan replaces the pending timeout instead of adding one', () => {
    const clock = new FakeClock();
    let intervalMs = 10_000;
    const runs: number[] = [];
    const schedule = new Schedule(clock, () => ({ inMs: intervalMs, run: () => runs.push(clock.now()) }));
    schedule.start();
    clock.advance(2000);
    intervalMs = 1000;
    schedule.replan();
    schedule.replan();
    expect(clock.pending).toBe(1);
    clock.advance(20_000);
    expect(runs).toEqual([3000]);
  });

  it('an undefined plan arms nothing; stop cancels and replan does not re-arm a stopped schedule', () => {
    const clock = new FakeClock();
    let off = true;
    const runs: number[] = [];
    const schedule = new Schedule(clock, () => (off ? undefined : { inMs: 500, run: () => runs.push(1) }));
    schedule.start();
    expect(clock.pending).toBe(0);
    off = false;
    schedule.replan();
    expect(schedule.running).toBe(true);
    schedule.stop();
    schedule.replan();
    clock.advance(5000);
    expect(runs).toEqual([]);
    expect(schedule.running).toBe(false);
  });
});
