import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MAX_TIMER_MS, systemClock } from '../../src/clock.js';

/** The system clock's timers, on faked time: Node's own timers keep at most MAX_TIMER_MS. */

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('systemClock.setTimeout', () => {
  it('waits the whole of a delay longer than a Node timer keeps (an UpdateFirmware retryInterval of decades)', () => {
    const fired = vi.fn();
    const delay = 1_131_626_099_000; // 36 years, as a fuzzed retryInterval asked
    systemClock.setTimeout(fired, delay);

    vi.advanceTimersByTime(1000);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(delay - 1001);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fired).toHaveBeenCalledOnce();
  });

  it('cancels a long wait in any of its parts', () => {
    const fired = vi.fn();
    const timer = systemClock.setTimeout(fired, 3 * MAX_TIMER_MS);
    vi.advanceTimersByTime(MAX_TIMER_MS + 10);
    timer.cancel();
    vi.advanceTimersByTime(3 * MAX_TIMER_MS);
    expect(fired).not.toHaveBeenCalled();
  });

  it('keeps short and negative delays as they were (negative: at once)', () => {
    const fired = vi.fn();
    systemClock.setTimeout(fired, -5);
    vi.advanceTimersByTime(0);
    expect(fired).toHaveBeenCalledOnce();
    systemClock.setTimeout(fired, 50);
    vi.advanceTimersByTime(49);
    expect(fired).toHaveBeenCalledOnce();
    vi.advanceTimersByTime(1);
    expect(fired).toHaveBeenCalledTimes(2);
  });
});
