import { describe, expect, it, vi } from 'vitest';
import type { ChargingProfile, CompositeRequest } from '../../src/station/charging-profile-types.js';
import { nextChange } from '../../src/station/composite-schedule.js';

// Every boundary instant nextChange has a profile list: what its search costs.
const { listed } = vi.hoisted(() => ({ listed: [] as number[] }));
vi.mock('../../src/station/schedule-periods.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/station/schedule-periods.js')>();
  return {
    ...actual,
    forEachBoundary: (...[placed, from, to, emit]: Parameters<typeof actual.forEachBoundary>) =>
      actual.forEachBoundary(placed, from, to, (t) => {
        listed.push(t);
        emit(t);
      }),
  };
});

const T0 = Date.parse('2024-05-01T00:00:00.000Z');
const HOUR_MS = 3_600_000;

/** A Daily TxDefaultProfile of 24 hourly periods: 16 A, but 10 A in hours 1 and 13. */
const daily: ChargingProfile = {
  id: 1,
  connectorId: 1,
  stackLevel: 0,
  purpose: 'TxDefaultProfile',
  kind: 'Recurring',
  recurrency: 'Daily',
  schedule: {
    startSchedule: T0,
    unit: 'A',
    periods: Array.from({ length: 24 }, (_, hour) => ({
      startPeriod: hour * 3600,
      limit: hour % 12 === 1 ? 10 : 16,
    })),
  },
};

const request: CompositeRequest = {
  profiles: [daily],
  connectorId: 1,
  now: T0,
  durationS: 0,
  electrical: { maxCurrentA: 32, phases: 3, voltageV: 230 },
};

describe('nextChange cost', () => {
  it('lists the boundaries up to the first change, not the whole week ahead', () => {
    listed.length = 0;
    expect(nextChange(request)).toBe(T0 + HOUR_MS);
    // A week of this profile is 168 boundaries; the charging limit asks after every profile change.
    expect(listed.length).toBeLessThan(24);
  });

  it('still finds a change days ahead, window after window', () => {
    const flat = { ...daily, schedule: { ...daily.schedule, periods: [{ startPeriod: 0, limit: 16 }] } };
    const weekly: ChargingProfile = {
      ...flat,
      id: 2,
      stackLevel: 1,
      recurrency: 'Weekly',
      schedule: {
        ...flat.schedule,
        periods: [
          { startPeriod: 0, limit: 16 },
          { startPeriod: 5 * 86_400, limit: 8 },
        ],
      },
    };
    expect(nextChange({ ...request, profiles: [flat, weekly] })).toBe(T0 + 5 * 24 * HOUR_MS);
  });
});
