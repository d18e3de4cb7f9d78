/**
 * The composite schedule against a brute force written independently here: every second of the
 * span is evaluated on its own (which profiles apply and are valid then, the highest stack level
 * per purpose, the TxProfile override, the conversion to A, the minimum), then equal neighbours are
 * merged; nextChange against the same values at every whole second from now and from the
 * profiles' times, to the millisecond. fast-check's failure message carries the seed and path;
 * `FC_SEED=<seed>` replays the run.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type {
  ChargingProfile,
  ChargingProfilePurpose,
  ChargingRateUnit,
  CompositePeriod,
  CompositeRatePeriod,
  CompositeRequest,
  ConnectorElectrical,
  ConstantLimit,
  LimitSource,
  SchedulePeriod,
} from '../../src/station/charging-profile-types.js';
import {
  compositeSchedule,
  limitNowAndNextChange,
  nextChange,
  toUnit,
} from '../../src/station/composite-schedule.js';

const DAY_S = 86_400;
const WEEK_S = 7 * DAY_S;
/** A Sunday, half an hour before midnight: spans cross the calendar's day and week ends too. */
const BASE = Date.parse('2024-05-05T23:30:00.000Z');
const SEED = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);
/** `FC_RUNS=<n>` runs the 30-minute property n times instead (a local hunt for rare cases). */
const RUNS = process.env.FC_RUNS === undefined ? 10_000 : Number(process.env.FC_RUNS);

// ---------------------------------------------------------------- the per-second reference

interface Value {
  exactA: number;
  limitA: number;
  numberPhases: number;
  source: LimitSource;
  minChargingRateA?: number;
}

const tenthDown = (x: number): number => Math.floor(x * 10 + 1e-6) / 10;

function referenceApplies(p: ChargingProfile, req: CompositeRequest): boolean {
  switch (p.purpose) {
    case 'ChargePointMaxProfile':
      return p.connectorId === 0;
    case 'TxDefaultProfile':
      return req.connectorId !== 0 && (p.connectorId === 0 || p.connectorId === req.connectorId);
    case 'TxProfile': {
      const tx = req.transaction;
      if (req.connectorId === 0 || tx === undefined || p.connectorId !== req.connectorId) return false;
      if (p.transactionLocalId !== undefined) return p.transactionLocalId === tx.localId;
      return p.transactionId !== undefined && p.transactionId === tx.transactionId;
    }
  }
}

/** The period of `p` in effect at instant `t` (ms), computed from scratch. */
function referencePeriod(p: ChargingProfile, req: CompositeRequest, t: number): SchedulePeriod | undefined {
  if (p.validFrom !== undefined && t < p.validFrom) return undefined;
  if (p.validTo !== undefined && t >= p.validTo) return undefined;
  const txStart = req.transaction?.startedAt ?? req.now;
  const start = p.kind === 'Relative' ? txStart : (p.schedule.startSchedule ?? txStart);
  if (t < start) return undefined;
  let elapsedMs = t - start;
  let lastsMs = p.schedule.duration === undefined ? Number.POSITIVE_INFINITY : p.schedule.duration * 1000;
  if (p.kind === 'Recurring') {
    const cycleMs = (p.recurrency === 'Weekly' ? WEEK_S : DAY_S) * 1000;
    elapsedMs -= Math.floor(elapsedMs / cycleMs) * cycleMs;
    lastsMs = Math.min(lastsMs, cycleMs);
  }
  if (elapsedMs >= lastsMs) return undefined;
  let found: SchedulePeriod | undefined;
  for (const period of p.schedule.periods) if (period.startPeriod * 1000 <= elapsedMs) found = period;
  return found;
}

interface Winner {
  profile: ChargingProfile;
  period: SchedulePeriod;
}

function outranks(a: ChargingProfile, b: ChargingProfile): boolean {
  if (a.stackLevel !== b.stackLevel) return a.stackLevel > b.stackLevel;
  if ((a.connectorId === 0) !== (b.connectorId === 0)) return a.connectorId !== 0;
  return a.id > b.id;
}

function referenceWinner(
  req: CompositeRequest,
  purpose: ChargingProfilePurpose,
  t: number,
): Winner | undefined {
  let best: Winner | undefined;
  for (const profile of req.profiles) {
    if (profile.purpose !== purpose || !referenceApplies(profile, req)) continue;
    const period = referencePeriod(profile, req, t);
    if (period === undefined) continue;
    if (best === undefined || outranks(profile, best.profile)) best = { profile, period };
  }
  return best;
}

function ampsOf(w: Winner, electrical: ConnectorElectrical, rate = w.period.limit): number {
  const phases = Math.min(w.period.numberPhases ?? 3, electrical.phases);
  return w.profile.schedule.unit === 'A' ? rate : rate / (electrical.voltageV * phases);
}

function referenceAt(req: CompositeRequest, t: number): Value {
  const { electrical } = req;
  const txOverride = req.profiles.some((p) => p.purpose === 'TxProfile' && referenceApplies(p, req));
  const charging = referenceWinner(req, txOverride ? 'TxProfile' : 'TxDefaultProfile', t);
  const max = referenceWinner(req, 'ChargePointMaxProfile', t);
  const candidates: ConstantLimit[] = [];
  for (const w of [charging, max]) {
    if (w === undefined) continue;
    candidates.push({
      limitA: ampsOf(w, electrical),
      source: { kind: 'profile', profileId: w.profile.id, purpose: w.profile.purpose },
    });
  }
  const tieOrder: ReadonlyArray<LimitSource['kind']> = ['local', 'loadSharing'];
  for (const kind of tieOrder) {
    for (const l of req.limits ?? []) if (l.source.kind === kind) candidates.push(l);
  }
  candidates.push({ limitA: electrical.maxCurrentA, source: { kind: 'hardware' } });
  let min = candidates[0]!;
  for (const c of candidates) if (c.limitA < min.limitA) min = c;
  const shaping = charging ?? max;
  const value: Value = {
    exactA: min.limitA,
    limitA: tenthDown(min.limitA),
    numberPhases:
      shaping === undefined
        ? electrical.phases
        : Math.min(shaping.period.numberPhases ?? 3, electrical.phases),
    source: min.source,
  };
  const minRate = charging?.profile.schedule.minChargingRate;
  if (charging !== undefined && minRate !== undefined) {
    value.minChargingRateA = tenthDown(ampsOf(charging, electrical, minRate));
  }
  return value;
}

function sameValue(a: Value, b: Value): boolean {
  return (
    a.limitA === b.limitA &&
    a.numberPhases === b.numberPhases &&
    a.minChargingRateA === b.minChargingRateA &&
    JSON.stringify(a.source) === JSON.stringify(b.source)
  );
}

/** The value at now, now + 1 s, ... for the span (at least now). */
function referenceSeconds(req: CompositeRequest): Value[] {
  const values: Value[] = [];
  for (let s = 0; s < Math.max(1, req.durationS); s++) values.push(referenceAt(req, req.now + s * 1000));
  return values;
}

function referenceSchedule(seconds: readonly Value[]): CompositePeriod[] {
  const periods: CompositePeriod[] = [];
  let previous: Value | undefined;
  for (const [s, value] of seconds.entries()) {
    const last = periods[periods.length - 1];
    if (last !== undefined && previous !== undefined && sameValue(previous, value)) {
      last.exactLimitA = Math.min(last.exactLimitA ?? value.exactA, value.exactA);
    } else {
      const { exactA, ...rest } = value;
      periods.push({ startPeriod: s, ...rest, exactLimitA: exactA });
    }
    previous = value;
  }
  return periods;
}

/**
 * The first instant in (now, now + durationS) at which the value differs from the value now, else
 * the end. Every time the generator makes is a whole second from BASE (startSchedule, validity,
 * transaction start) or from now (a schedule anchored at now), so the value can change only on
 * those two grids: walking both, in order, finds the exact millisecond, also a change that is gone
 * before the composite's next whole second.
 */
function referenceNextChange(req: CompositeRequest, seconds: readonly Value[]): number {
  const end = req.now + req.durationS * 1000;
  const first = seconds[0]!;
  // Now's grid is now + s * 1000 (its values are `seconds`); BASE's starts at its first second after now.
  let s = 1;
  let onBase = BASE + (Math.floor((req.now - BASE) / 1000) + 1) * 1000;
  while (Math.min(onBase, req.now + s * 1000) < end) {
    const onNow = req.now + s * 1000;
    const t = Math.min(onBase, onNow);
    const value = t === onNow ? seconds[s]! : referenceAt(req, t);
    if (!sameValue(value, first)) return t;
    if (onBase === t) onBase += 1000;
    if (onNow === t) s++;
  }
  return end;
}

function referenceInUnit(
  periods: CompositePeriod[],
  unit: ChargingRateUnit,
  electrical: ConnectorElectrical,
): CompositeRatePeriod[] {
  const out: CompositeRatePeriod[] = [];
  for (const p of periods) {
    const limit =
      unit === 'A' ? p.limitA : tenthDown((p.exactLimitA ?? p.limitA) * electrical.voltageV * p.numberPhases);
    const last = out[out.length - 1];
    if (last?.limit !== limit || last.numberPhases !== p.numberPhases) {
      out.push({ startPeriod: p.startPeriod, limit, numberPhases: p.numberPhases });
    }
  }
  return out;
}

// ---------------------------------------------------------------- random profile sets

const at = (offsetS: number): number => BASE + offsetS * 1000;

const recurrenceOf = (kind: 'Absolute' | 'Relative' | 'Daily' | 'Weekly'): number =>
  kind === 'Daily' ? DAY_S : kind === 'Weekly' ? WEEK_S : 0;

/** Period starts after 0: near the start and near the end of a recurrence, or anywhere. */
function laterStarts(cycleS: number, windowS: number): fc.Arbitrary<number[]> {
  const near =
    cycleS > 0
      ? fc.oneof(
          fc.integer({ min: 1, max: windowS }),
          fc.integer({ min: cycleS - windowS, max: cycleS + 600 }),
          fc.integer({ min: 1, max: cycleS }),
        )
      : fc.integer({ min: 1, max: 2 * windowS });
  return fc.uniqueArray(near, { maxLength: 4 }).map((starts) => starts.sort((a, b) => a - b));
}

function profileArb(windowS: number): fc.Arbitrary<Omit<ChargingProfile, 'id'>> {
  return fc
    .record({
      purpose: fc.constantFrom<ChargingProfilePurpose>(
        'ChargePointMaxProfile',
        'TxDefaultProfile',
        'TxProfile',
      ),
      connector: fc.constantFrom(0, 1, 2, 1),
      stackLevel: fc.integer({ min: 0, max: 2 }),
      kind: fc.constantFrom('Absolute', 'Relative', 'Daily', 'Weekly'),
      unit: fc.constantFrom<ChargingRateUnit>('A', 'W'),
      cycles: fc.constantFrom(0, 1, 2, 5),
      startDelta: fc.integer({ min: -windowS, max: windowS }),
      hasStart: fc.boolean(),
      duration: fc.option(
        fc.oneof(fc.integer({ min: 1, max: 2 * windowS }), fc.integer({ min: -windowS, max: windowS })),
        {
          nil: undefined,
        },
      ),
      validFrom: fc.option(fc.integer({ min: -windowS, max: 2 * windowS }), { nil: undefined }),
      validTo: fc.option(fc.integer({ min: -windowS, max: 2 * windowS }), { nil: undefined }),
      minChargingRate: fc.option(fc.integer({ min: 0, max: 120 }), { nil: undefined }),
      transactionLocalId: fc.option(fc.constantFrom(1, 2), { nil: undefined }),
      transactionId: fc.option(fc.constantFrom(100, 200), { nil: undefined }),
      seed: fc.integer({ min: 0, max: 1_000_000 }),
    })
    .chain((r) => {
      const cycleS = recurrenceOf(r.kind);
      // W limits sometimes a few W apart: equal once rounded to 0.1 A, not in W.
      const limit =
        r.unit === 'A'
          ? fc.integer({ min: 0, max: 400 }).map((x) => x / 10)
          : fc.oneof(fc.integer({ min: 0, max: 30_000 }), {
              arbitrary: fc.integer({ min: 6900, max: 6960 }),
              weight: 2,
            });
      const period = fc.record({
        limit,
        numberPhases: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
      });
      return fc.tuple(
        fc.constant(r),
        laterStarts(cycleS, windowS),
        fc.array(period, { minLength: 5, maxLength: 5 }),
      );
    })
    .map(([r, starts, limits]): Omit<ChargingProfile, 'id'> => {
      const cycleS = recurrenceOf(r.kind);
      const periods = [0, ...starts].map((startPeriod, i) => ({ startPeriod, ...limits[i]! }));
      // A duration near the recurrence length (shorter or cut at it) when the profile recurs.
      const duration =
        r.duration === undefined
          ? undefined
          : cycleS > 0
            ? Math.max(1, cycleS + r.duration)
            : Math.max(1, r.duration);
      const kind = r.kind === 'Daily' || r.kind === 'Weekly' ? 'Recurring' : r.kind;
      const startSchedule =
        r.hasStart || kind === 'Recurring' ? at(r.startDelta - r.cycles * cycleS) : undefined;
      return {
        connectorId: r.connector,
        stackLevel: r.stackLevel,
        purpose: r.purpose,
        kind,
        recurrency: kind === 'Recurring' ? (r.kind === 'Weekly' ? 'Weekly' : 'Daily') : undefined,
        validFrom: r.validFrom === undefined ? undefined : at(r.validFrom),
        validTo: r.validTo === undefined ? undefined : at(r.validTo),
        transactionLocalId: r.purpose === 'TxProfile' ? r.transactionLocalId : undefined,
        transactionId: r.purpose === 'TxProfile' ? r.transactionId : undefined,
        schedule: {
          startSchedule,
          duration,
          unit: r.unit,
          minChargingRate:
            r.minChargingRate === undefined
              ? undefined
              : r.unit === 'A'
                ? r.minChargingRate / 10
                : r.minChargingRate * 100,
          periods,
        },
      };
    });
}

function requestArb(maxDurationS: number, maxProfiles: number): fc.Arbitrary<CompositeRequest> {
  const windowS = Math.min(maxDurationS, 3600);
  const electrical = fc.record({
    maxCurrentA: fc.integer({ min: 6, max: 80 }),
    phases: fc.constantFrom(1, 3),
    voltageV: fc.constantFrom(230, 120, 240),
  });
  const constant = fc.record({
    limitA: fc.integer({ min: 0, max: 400 }).map((x) => x / 10),
    source: fc.constantFrom<LimitSource>({ kind: 'local' }, { kind: 'loadSharing' }),
  });
  const transaction = fc.record({
    localId: fc.constantFrom(1, 2),
    transactionId: fc.option(fc.constantFrom(100, 200), { nil: undefined }),
    startedAt: fc.integer({ min: -2 * DAY_S, max: 0 }).map(at),
  });
  return fc
    .record({
      profiles: fc.array(profileArb(windowS), { maxLength: maxProfiles }),
      connectorId: fc.constantFrom(0, 1, 1, 2),
      transaction: fc.option(transaction, { nil: undefined }),
      // Mostly on a whole second of the profiles' times; sometimes between two.
      fraction: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 999 })),
      durationS: fc.integer({ min: 1, max: maxDurationS }),
      electrical,
      limits: fc.array(constant, { maxLength: 2 }),
    })
    .map(({ profiles, fraction, ...rest }) => ({
      ...rest,
      profiles: profiles.map((p, i) => ({ ...p, id: i + 1 })),
      now: BASE + fraction,
    }));
}

// ---------------------------------------------------------------- the properties

function checkAgainstReference(req: CompositeRequest): void {
  const seconds = referenceSeconds(req);
  const expected = referenceSchedule(seconds);
  const actual = compositeSchedule(req);
  expect(actual).toEqual({ start: req.now, durationS: req.durationS, periods: expected });
  const units: readonly ChargingRateUnit[] = ['A', 'W'];
  for (const unit of units) {
    expect(toUnit(actual, unit, req.electrical).periods).toEqual(
      referenceInUnit(expected, unit, req.electrical),
    );
  }
  // nextChange over the same span: the exact instant the reference's value first differs, also
  // when that value is gone again before the composite's next whole second (the owner of the
  // pilot evaluates there and must see it).
  expect(nextChange(req, req.durationS)).toBe(referenceNextChange(req, seconds));
  // What the owner of the pilot asks at every evaluation, from one plan: the same two answers.
  expect(limitNowAndNextChange(req, req.durationS)).toEqual({
    period: compositeSchedule({ ...req, durationS: 0 }).periods[0],
    nextChangeMs: referenceNextChange(req, seconds),
  });
}

describe('composite schedule against a per-second brute force', () => {
  it(
    'random profile sets over spans up to 30 minutes (10,000 cases)',
    () => {
      fc.assert(fc.property(requestArb(1800, 6), checkAgainstReference), { numRuns: RUNS, seed: SEED });
    },
    Math.max(60_000, RUNS * 6),
  );

  it('seed -276641694: a profile valid for the last millisecond of its schedule is a change of 1 ms', () => {
    // Anchored at now (no startSchedule, no transaction), 2 s long, valid from 1.999 s after now:
    // 0 A from BASE + 2 s to BASE + 2.001 s, which no whole second after now shows.
    checkAgainstReference({
      connectorId: 1,
      transaction: undefined,
      durationS: 3,
      electrical: { maxCurrentA: 6, phases: 1, voltageV: 230 },
      limits: [],
      profiles: [
        {
          id: 1,
          connectorId: 0,
          stackLevel: 0,
          purpose: 'TxDefaultProfile',
          kind: 'Absolute',
          validFrom: BASE + 2000,
          schedule: {
            duration: 2,
            unit: 'A',
            minChargingRate: 0,
            periods: [{ startPeriod: 0, limit: 0 }],
          },
        },
      ],
      now: BASE + 1,
    });
  });

  it('random profile sets over spans up to 2 days', () => {
    fc.assert(fc.property(requestArb(2 * DAY_S, 4), checkAgainstReference), { numRuns: 60, seed: SEED });
  }, 60_000);
});
