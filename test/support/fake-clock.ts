import type { Clock, Timer } from '../../src/clock.js';

/**
 * A clock the test moves by hand: timers fire in order as `advance` passes them. Wall and monotonic
 * time start equal and move together, until `stepWall` steps the wall clock alone (an NTP step, a
 * manual date change).
 */
export class FakeClock implements Clock {
  private time: number;
  /** How far the wall clock has been stepped away from the monotonic one. */
  private wallStepMs = 0;
  private timers: { at: number; fn: () => void; cancelled: boolean }[] = [];

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time + this.wallStepMs;
  }

  monotonic(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const timer = { at: this.time + ms, fn, cancelled: false };
    this.timers.push(timer);
    return { cancel: () => (timer.cancelled = true) };
  }

  /** Steps the wall clock by `ms` (negative: back); monotonic time and the timers are not moved. */
  stepWall(ms: number): void {
    this.wallStepMs += ms;
  }

  advance(ms: number): void {
    const until = this.time + ms;
    for (;;) {
      // Fired and cancelled timers are dropped, so a run of millions of timers stays linear.
      this.timers = this.timers.filter((t) => !t.cancelled);
      // The earliest due timer; among equal times, the first set (as a stable sort would give).
      let due: (typeof this.timers)[number] | undefined;
      for (const t of this.timers) if (t.at <= until && (!due || t.at < due.at)) due = t;
      if (!due) break;
      this.time = due.at;
      due.cancelled = true;
      due.fn();
    }
    this.time = until;
  }

  /** Timers set and neither fired nor cancelled. */
  get pending(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }
}
