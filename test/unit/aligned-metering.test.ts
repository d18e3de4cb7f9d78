import { describe, expect, it } from 'vitest';
import { nextAlignedBoundary } from '../../src/station/aligned-metering.js';

const midnight = Date.parse('2026-11-21T00:00:00.000Z');

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
