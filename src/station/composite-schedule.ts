/**
 * The composite schedule of a connector (OCPP 1.6 section 3.13): per purpose the highest stack
 * level valid at each instant, a TxProfile replacing the TxDefaultProfile for its transaction, the
 * minimum of that, the ChargePointMaxProfile, the outlet's maximum and the caller's constant
 * limits. Pure: the caller passes `now`. Evaluated only where something can change (the profiles'
 * boundaries), never second by second.
 */
import type {
  ChargingProfile,
  ChargingRateUnit,
  CompositePeriod,
  CompositeRatePeriod,
  CompositeRateSchedule,
  CompositeRequest,
  CompositeSchedule,
  ConnectorElectrical,
  ConstantLimit,
  LimitSource,
  SchedulePeriod,
  ScheduleTransaction,
} from './charging-profile-types.js';
import { forEachBoundary, type PlacedProfile, periodAt, placeProfile } from './schedule-periods.js';

/** How far `nextChange` looks when nothing changes sooner. */
export const NEXT_CHANGE_HORIZON_S = 7 * 86_400;

/** nextChange's first window, and how much longer each following one is. */
const NEXT_CHANGE_FIRST_WINDOW_MS = 3_600_000;
const NEXT_CHANGE_WINDOW_GROWTH = 4;

/**
 * Limits are reported rounded DOWN to 0.1 (OCPP accepts one decimal): rounding never offers more
 * than a limit allows. The tolerance absorbs binary noise (6000 W / 690 V * 690 V is 6000).
 */
export function roundDownToTenth(value: number): number {
  return Math.floor(value * 10 + 1e-6) / 10;
}

/**
 * Ties between equal limits name, in this order: the TxProfile / TxDefaultProfile (the most
 * specific), the ChargePointMaxProfile, the local limit, a load-sharing share, the hardware.
 */
const SOURCE_RANK: Readonly<Record<LimitSource['kind'], number>> = {
  profile: 0,
  local: 1,
  loadSharing: 2,
  hardware: 3,
};

const HARDWARE: LimitSource = { kind: 'hardware' };

/** The composite's value at one instant. */
interface Limit {
  exactA: number;
  limitA: number;
  numberPhases: number;
  source: LimitSource;
  minChargingRateA: number | undefined;
}

/** A request prepared once: the profiles that apply, in the order that decides between them. */
interface Plan {
  /** TxProfiles of the transaction, or else the TxDefaultProfiles; highest priority first. */
  charging: readonly PlacedProfile[];
  /** ChargePointMaxProfiles; highest stack level first. */
  chargePointMax: readonly PlacedProfile[];
  /** The caller's constant limits and the hardware, in tie order. */
  constants: readonly ConstantLimit[];
  electrical: ConnectorElectrical;
}

/**
 * A TxProfile belongs to the transaction by its local id, or by the central system's
 * transactionId when it has no local id; one bound to neither belongs to none.
 */
function boundTo(profile: ChargingProfile, transaction: ScheduleTransaction): boolean {
  if (profile.transactionLocalId !== undefined) return profile.transactionLocalId === transaction.localId;
  return profile.transactionId !== undefined && profile.transactionId === transaction.transactionId;
}

/**
 * Higher stack level first; on a tie the connector's own profile before connector 0's, then the
 * higher chargingProfileId (a tie the replacement rule normally prevents; this keeps it decided).
 */
function byPriority(a: ChargingProfile, b: ChargingProfile): number {
  if (a.stackLevel !== b.stackLevel) return b.stackLevel - a.stackLevel;
  if (a.connectorId !== b.connectorId) return a.connectorId === 0 ? 1 : -1;
  return b.id - a.id;
}

function plan(req: CompositeRequest): Plan {
  const ctx = { now: req.now, transaction: req.transaction };
  const place = (profiles: ChargingProfile[]): PlacedProfile[] =>
    profiles.sort(byPriority).map((p) => placeProfile(p, ctx));
  const chargePointMax = place(
    req.profiles.filter((p) => p.purpose === 'ChargePointMaxProfile' && p.connectorId === 0),
  );
  let charging: PlacedProfile[] = [];
  // Connector 0's composite is the charge point's: no transaction profile limits it.
  if (req.connectorId !== 0) {
    const { transaction } = req;
    const txProfiles =
      transaction === undefined
        ? []
        : req.profiles.filter(
            (p) => p.purpose === 'TxProfile' && p.connectorId === req.connectorId && boundTo(p, transaction),
          );
    // A TxProfile overrides the TxDefaultProfile for the whole transaction, also where its own
    // schedule has not started or has ended (OCTT TC_066).
    charging =
      txProfiles.length > 0
        ? place(txProfiles)
        : place(
            req.profiles.filter(
              (p) =>
                p.purpose === 'TxDefaultProfile' &&
                (p.connectorId === req.connectorId || p.connectorId === 0),
            ),
          );
  }
  const constants = [...(req.limits ?? [])];
  constants.push({ limitA: req.electrical.maxCurrentA, source: HARDWARE });
  constants.sort((a, b) => SOURCE_RANK[a.source.kind] - SOURCE_RANK[b.source.kind]);
  return { charging, chargePointMax, constants, electrical: req.electrical };
}

interface Effective {
  placed: PlacedProfile;
  period: SchedulePeriod;
}

function winnerAt(candidates: readonly PlacedProfile[], t: number): Effective | undefined {
  for (const placed of candidates) {
    const period = periodAt(placed, t);
    if (period !== undefined) return { placed, period };
  }
  return undefined;
}

/** Phases the period may use on this outlet (OCPP's default is 3). */
function phasesInUse(period: SchedulePeriod, electrical: ConnectorElectrical): number {
  return Math.min(period.numberPhases ?? 3, electrical.phases);
}

/** A rate of the effective profile in A per phase: W is spread over the phases its period uses. */
function amps(effective: Effective, rate: number, electrical: ConnectorElectrical): number {
  if (effective.placed.profile.schedule.unit === 'A') return rate;
  return rate / (electrical.voltageV * phasesInUse(effective.period, electrical));
}

function profileSource(placed: PlacedProfile): LimitSource {
  return { kind: 'profile', profileId: placed.profile.id, purpose: placed.profile.purpose };
}

function limitAt(plan: Plan, t: number): Limit {
  const { electrical } = plan;
  const charging = winnerAt(plan.charging, t);
  const max = winnerAt(plan.chargePointMax, t);
  let exactA = Number.POSITIVE_INFINITY;
  let source: LimitSource = HARDWARE;
  // Strictly lower replaces, so the earlier candidate keeps a tie.
  for (const effective of [charging, max]) {
    if (effective === undefined) continue;
    const limit = amps(effective, effective.period.limit, electrical);
    if (limit < exactA) {
      exactA = limit;
      source = profileSource(effective.placed);
    }
  }
  for (const constant of plan.constants) {
    if (constant.limitA < exactA) {
      exactA = constant.limitA;
      source = constant.source;
    }
  }
  // The phases the EV is told to use come from the profile that shapes its charging.
  const shaping = charging ?? max;
  const numberPhases = shaping === undefined ? electrical.phases : phasesInUse(shaping.period, electrical);
  let minChargingRateA: number | undefined;
  const minRate = charging?.placed.profile.schedule.minChargingRate;
  if (charging !== undefined && minRate !== undefined) {
    minChargingRateA = roundDownToTenth(amps(charging, minRate, electrical));
  }
  return { exactA, limitA: roundDownToTenth(exactA), numberPhases, source, minChargingRateA };
}

/** Whether two limits come from the same place (the same charging profile, or the same kind of limit). */
export function sameSource(a: LimitSource, b: LimitSource): boolean {
  if (a.kind === 'profile' && b.kind === 'profile')
    return a.profileId === b.profileId && a.purpose === b.purpose;
  return a.kind === b.kind;
}

function sameLimit(a: Limit, b: Limit): boolean {
  return (
    a.limitA === b.limitA &&
    a.numberPhases === b.numberPhases &&
    a.minChargingRateA === b.minChargingRateA &&
    sameSource(a.source, b.source)
  );
}

/** Every instant in (from, to) where a profile of the plan may change, ascending, once each. */
function boundaries(plan: Plan, from: number, to: number): number[] {
  const instants: number[] = [];
  const emit = (t: number): void => {
    instants.push(t);
  };
  for (const placed of plan.charging) forEachBoundary(placed, from, to, emit);
  for (const placed of plan.chargePointMax) forEachBoundary(placed, from, to, emit);
  return instants;
}

function ascendingUnique(values: number[]): number[] {
  const sorted = Float64Array.from(values).sort();
  const out: number[] = [];
  for (const v of sorted) if (out.length === 0 || out[out.length - 1] !== v) out.push(v);
  return out;
}

function periodOf(startPeriod: number, limit: Limit): CompositePeriod {
  const period: CompositePeriod = {
    startPeriod,
    limitA: limit.limitA,
    numberPhases: limit.numberPhases,
    source: limit.source,
    exactLimitA: limit.exactA,
  };
  if (limit.minChargingRateA !== undefined) period.minChargingRateA = limit.minChargingRateA;
  return period;
}

/**
 * The composite from `now` for `durationS` seconds. Period k holds the limit in effect at
 * now + startPeriod seconds: a change between two whole seconds from now shows from the next one
 * (`nextChange` gives the exact instant). Neighbouring periods with the same limit, phases,
 * minimum charging rate and source are one; `exactLimitA` is then the lowest of them. At least one
 * period (the limit now), also for a zero duration.
 */
export function compositeSchedule(req: CompositeRequest): CompositeSchedule {
  const p = plan(req);
  const end = req.now + req.durationS * 1000;
  const offsets = boundaries(p, req.now, end).map((t) => Math.ceil((t - req.now) / 1000));
  // The limit now alone (durationS 0) is what the charging limit asks for every connector.
  const starts = offsets.length === 0 ? offsets : ascendingUnique(offsets.filter((s) => s < req.durationS));
  let current = limitAt(p, req.now);
  const periods: CompositePeriod[] = [periodOf(0, current)];
  for (const s of starts) {
    const next = limitAt(p, req.now + s * 1000);
    const last = periods[periods.length - 1]!;
    if (sameLimit(next, current)) {
      if (next.exactA < (last.exactLimitA ?? next.exactA)) last.exactLimitA = next.exactA;
    } else {
      periods.push(periodOf(s, next));
    }
    current = next;
  }
  return { start: req.now, durationS: req.durationS, periods };
}

/**
 * The first instant after `now` at which the composite's limit, phases, minimum charging rate or
 * source changes: where the owner of the pilot evaluates again. `now + horizonS` when nothing
 * changes before. `req.durationS` plays no part. Also a change gone again before the next whole
 * second, which `compositeSchedule` never shows: the profiles set that limit there all the same,
 * and a schedule anchored at now starts afresh when evaluated there, so skipping it could miss a
 * limit for the whole horizon.
 */
export function nextChange(req: CompositeRequest, horizonS: number = NEXT_CHANGE_HORIZON_S): number {
  const p = plan(req);
  return changeAfter(p, req.now, limitAt(p, req.now), horizonS);
}

/**
 * The composite's limit now (its first period, as `compositeSchedule` gives it for a zero
 * duration) and `nextChange`, from one plan of the request: what the owner of the pilot asks of
 * every connector at every evaluation.
 */
export function limitNowAndNextChange(
  req: CompositeRequest,
  horizonS: number = NEXT_CHANGE_HORIZON_S,
): { period: CompositePeriod; nextChangeMs: number } {
  const p = plan(req);
  const first = limitAt(p, req.now);
  return { period: periodOf(0, first), nextChangeMs: changeAfter(p, req.now, first, horizonS) };
}

/** nextChange of a planned request whose limit at `now` is `first`. */
function changeAfter(p: Plan, now: number, first: Limit, horizonS: number): number {
  const horizon = now + horizonS * 1000;
  // Constant limits alone never change: no window to search (a charger without profiles).
  if (p.charging.length === 0 && p.chargePointMax.length === 0) return horizon;
  // The change is nearly always close (the charging limit asks after every SetChargingProfile and
  // every session), so the horizon is searched in growing windows: a week of a Daily profile's
  // boundaries is not listed and sorted to find one in the next hour. `boundaries` excludes both
  // ends, so each window reaches 1 ms past its end and the next starts at that end.
  let spanMs = NEXT_CHANGE_FIRST_WINDOW_MS;
  for (let from = now; from < horizon; from += spanMs, spanMs *= NEXT_CHANGE_WINDOW_GROWTH) {
    const to = Math.min(from + spanMs + 1, horizon);
    const instants = boundaries(p, from, to);
    if (instants.length === 0) continue;
    for (const t of ascendingUnique(instants)) {
      if (!sameLimit(limitAt(p, t), first)) return t;
    }
  }
  return horizon;
}

/** A composite period's limit in `unit`, one decimal, rounded down (GetCompositeSchedule, cpctl limits). */
export function rateOf(
  period: CompositePeriod,
  unit: ChargingRateUnit,
  electrical: ConnectorElectrical,
): number {
  if (unit === 'A') return period.limitA;
  // From the unrounded amps, so a limit set in W comes back as set (6000 W stays 6000 W).
  return roundDownToTenth((period.exactLimitA ?? period.limitA) * electrical.voltageV * period.numberPhases);
}

/**
 * The composite in the unit GetCompositeSchedule asks for: W is A * voltageV * phases. Periods
 * that become equal (limit and phases; sources are not reported) are merged.
 */
export function toUnit(
  schedule: CompositeSchedule,
  unit: ChargingRateUnit,
  electrical: ConnectorElectrical,
): CompositeRateSchedule {
  const periods: CompositeRatePeriod[] = [];
  for (const period of schedule.periods) {
    const limit = rateOf(period, unit, electrical);
    const last = periods[periods.length - 1];
    if (last !== undefined && last.limit === limit && last.numberPhases === period.numberPhases) continue;
    periods.push({ startPeriod: period.startPeriod, limit, numberPhases: period.numberPhases });
  }
  return { start: schedule.start, durationS: schedule.durationS, unit, periods };
}
