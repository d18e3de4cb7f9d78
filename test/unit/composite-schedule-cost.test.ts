import { describe, expect, it, vi } from 'vitest';
import type { ChargingProfile, CompositeRequest } from '../../src/station/charging-profile-types.js';
import { compositeSchedule } from '../../src/station/composite-schedule.js';

// Every lookup of a profile's period at an instant: what the composite's sweep costs.
const { lookups } = vi.hoisted(() => ({ lookups: { count: 0 } }));
vi.mock('../../src/station/schedule-periods.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/station/schedule-periods.js')>();
  return {
    ...actual,
    periodAt: (...args: Parameters<typeof actual.periodAt>) => {
      lookups.count += 1;
      return actual.periodAt(...args);
    },
  };
});

const T0 = Date.parse('2024-05-01T00:00:00.000Z');
const DAY_S = 86_400;

/** A TxDefaultProfile for connector 1 at `stackLevel`: a day of periods `stepS` long, limits changing. */
function profile(stackLevel: number, stepS: number, extra: Partial<ChargingProfile> = {}): ChargingProfile {
  return {
    id: 100 + stackLevel,
    connectorId: 1,
    stackLevel,
    purpose: 'TxDefaultProfile',
    kind: 'Absolute',
    schedule: {
      startSchedule: T0,
      duration: DAY_S,
      unit: 'A',
      periods: Array.from({ length: DAY_S / stepS }, (_, i) => ({
        startPeriod: i * stepS,
        limit: 6 + ((i * 7 + stackLevel) % 26),
      })),
    },
    ...extra,
  };
}

function day(profiles: ChargingProfile[]): CompositeRequest {
  return {
    profiles,
    connectorId: 1,
    now: T0,
    durationS: DAY_S,
    electrical: { maxCurrentA: 32, phases: 3, voltageV: 230 },
  };
}

describe('composite schedule cost', () => {
  it('does not look at the boundaries of profiles below the one in effect', () => {
    // The top profile changes hourly; the nine below it every 10 minutes, 1,296 boundaries a day.
    const profiles = [profile(9, 3600), ...Array.from({ length: 9 }, (_, level) => profile(level, 600))];
    lookups.count = 0;
    const { periods } = compositeSchedule(day(profiles));
    expect(periods.length).toBeGreaterThan(1);
    expect(periods.every((p) => p.source.kind === 'profile' && p.source.profileId === 109)).toBe(true);
    // The top profile at the start and at each of its 23 boundaries inside the day.
    expect(lookups.count).toBeLessThanOrEqual(24);
  });

  it('looks a profile above the one in effect up again only at its own boundaries', () => {
    // Nine profiles above the one in effect start only tomorrow.
    const tomorrow = T0 + DAY_S * 1000;
    const above = Array.from({ length: 9 }, (_, i) => profile(i + 1, 3600, { validFrom: tomorrow }));
    const profiles = [...above, profile(0, 3600)];
    lookups.count = 0;
    const { periods } = compositeSchedule(day(profiles));
    expect(periods.every((p) => p.source.kind === 'profile' && p.source.profileId === 100)).toBe(true);
    // Each profile once at the start, then the one in effect at each of its 23 boundaries.
    expect(lookups.count).toBeLessThanOrEqual(10 + 23);
  });
});
