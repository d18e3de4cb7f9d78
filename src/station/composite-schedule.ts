/**
 * The composite schedule of a connector (OCPP 1.6 section 3.13): per purpose the highest stack
 * level valid at each instant, a TxProfile replacing the TxDefaultProfile for its transaction, the
 * minimum of that, the ChargePointMaxProfile, the outlet's maximum and the caller's constant
 * limits. Pure: the caller passes `now`. Evaluated only where something can change (the profiles'
 * boundaries), never second by second, in one sweep forward in time: a profile's period is looked
 * up again only where one of its own boundaries has passed.
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

/**
 * `items` through `fn` into a new array, built by pushing. Not Array.prototype.map: once the caller
 * is optimized, V8's inlined map makes a holey array where the builtin makes a packed one, and the
 * code reading these arrays, compiled against the one kind, was thrown back to the interpreter by
 * the other (deopts, then second compiles, in the first GetCompositeSchedule calls after boot).
 */
function mapPacked<T, U>(items: readonly T[], fn: (item: T) => U): U[] {
  const out: U[] = [];
  for (const item of items) out.push(fn(item));
  return out;
}

function plan(req: CompositeRequest): Plan {
  const ctx = { now: req.now, transaction: req.transaction };
  const place = (profiles: ChargingProfile[]): PlacedProfile[] =>
    mapPacked(profiles.sort(byPriority), (p) => placeProfile(p, ctx));
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
  // One literal, not a copy and a push: V8 gives an empty copy the element kind of small
  // integers, and pushing the hardware's object into it threw the optimized plan back to the
  // interpreter (a deopt, then a second compile) in the first GetCompositeSchedule calls after boot.
  const constants: ConstantLimit[] = [
    ...(req.limits ?? []),
    { limitA: req.electrical.maxCurrentA, source: HARDWARE },
  ];
  constants.sort((a, b) => SOURCE_RANK[a.source.kind] - SOURCE_RANK[b.source.kind]);
  return { charging, chargePointMax, constants, electrical: req.electrical };
}

interface Effective {
  placed: PlacedProfile;
  period: SchedulePeriod;
}

/**
 * A profile followed forward in time through the window (from, to): its period is looked up again
 * only at its own boundaries, which are listed only once asked for (a profile below the winner
 * all along never is).
 */
class Follower {
  /** The period at the instant last looked at. */
  private period: SchedulePeriod | undefined;
  private looked = false;
  /** The profile's boundaries in the window, ascending. */
  private boundaries: number[] | undefined;
  /** Index in `boundaries` of the first one after the instant last looked at. */
  private next = 0;

  constructor(
    readonly placed: PlacedProfile,
    private readonly from: number,
    private readonly to: number,
  ) {}

  /** The first boundary after the instant last looked at; infinity when none is left in the window. */
  get upcoming(): number {
    if (this.boundaries === undefined) {
      const listed: number[] = [];
      forEachBoundary(this.placed, this.from, this.to, (t) => {
        listed.push(t);
      });
      this.boundaries = listed;
    }
    return this.boundaries[this.next] ?? Number.POSITIVE_INFINITY;
  }

  /** The period in effect at `t`; `t` never goes back from one call to the next. */
  periodAt(t: number): SchedulePeriod | undefined {
    if (this.looked && this.upcoming > t) return this.period;
    this.looked = true;
    this.period = periodAt(this.placed, t);
    while (this.upcoming <= t) this.next += 1;
    return this.period;
  }

  /** The profile with its period at the instant last looked at, if one is in effect. */
  get effective(): Effective | undefined {
    return this.period === undefined ? undefined : { placed: this.placed, period: this.period };
  }
}

/**
 * The first candidate in effect at `t`, in priority order, looking at none below it: its index, or
 * the number of candidates when none is.
 */
function winnerIndex(candidates: readonly Follower[], t: number): number {
  let index = 0;
  for (const candidate of candidates) {
    if (candidate.periodAt(t) !== undefined) return index;
    index += 1;
  }
  return index;
}

/** The earliest upcoming boundary of the first `count` candidates, or `before` when none is earlier. */
function earliestUpcoming(candidates: readonly Follower[], count: number, before: number): number {
  let earliest = before;
  let index = 0;
  for (const candidate of candidates) {
    if (index === count) break;
    earliest = Math.min(earliest, candidate.upcoming);
    index += 1;
  }
  return earliest;
}

/**
 * A plan's profiles followed forward in time over the window (from, to). The limit depends only
 * on each purpose's winner (the first of its candidates in effect, in priority order) and the
 * candidates above it: a boundary of a profile below the winner changes nothing. So the sweep
 * steps from one boundary of those to the next, and looks a profile's period up again only at its
 * own boundaries: for a day of 20 profiles a few dozen lookups, where evaluating every boundary of
 * every profile took hundreds of limits and a sort of all the boundaries.
 */
class Sweep {
  private readonly charging: readonly Follower[];
  private readonly chargePointMax: readonly Follower[];
  /** Candidates of each purpose the last limit looked at: the winner and those above it, or all. */
  private chargingLooked: number;
  private chargePointMaxLooked: number;

  constructor(
    private readonly plan: Plan,
    from: number,
    to: number,
  ) {
    const follow = (placed: PlacedProfile): Follower => new Follower(placed, from, to);
    this.charging = mapPacked(plan.charging, follow);
    this.chargePointMax = mapPacked(plan.chargePointMax, follow);
    this.chargingLooked = this.charging.length;
    this.chargePointMaxLooked = this.chargePointMax.length;
  }

  /** The limit at `t`: never before the instant of the last limit. */
  limitAt(t: number): Limit {
    const charging = winnerIndex(this.charging, t);
    const max = winnerIndex(this.chargePointMax, t);
    this.chargingLooked = Math.min(charging + 1, this.charging.length);
    this.chargePointMaxLooked = Math.min(max + 1, this.chargePointMax.length);
    return limitOf(this.plan, this.charging[charging]?.effective, this.chargePointMax[max]?.effective);
  }

  /** The first instant after the last limit's where the limit may change; infinity when none in the window. */
  nextInstant(): number {
    const charging = earliestUpcoming(this.charging, this.chargingLooked, Number.POSITIVE_INFINITY);
    return earliestUpcoming(this.chargePointMax, this.chargePointMaxLooked, charging);
  }
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

/** The limit of the winning period of each purpose (undefined: none in effect) with the constant limits. */
function limitOf(plan: Plan, charging: Effective | undefined, max: Effective | undefined): Limit {
  const { electrical } = plan;
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
  const { now, durationS } = req;
  // The limit now alone (durationS 0) is what the charging limit asks for every connector.
  const span = new Sweep(plan(req), now, now + durationS * 1000);
  let current = span.limitAt(now);
  const periods: CompositePeriod[] = [periodOf(0, current)];
  for (let t = span.nextInstant(); t !== Number.POSITIVE_INFINITY; t = span.nextInstant()) {
    const s = wholeSecondsUntil(now, t);
    if (s >= durationS) break;
    const next = span.limitAt(now + s * 1000);
    const last = periods[periods.length - 1]!;
    if (sameLimit(next, current)) {
      if (next.exactA < (last.exactLimitA ?? next.exactA)) last.exactLimitA = next.exactA;
    } else {
      periods.push(periodOf(s, next));
    }
    current = next;
  }
  return { start: now, durationS, periods };
}

/** Whole seconds from `now` to the first whole second (from `now`) at or after `t`. */
function wholeSecondsUntil(now: number, t: number): number {
  const s = Math.ceil((t - now) / 1000);
  // Binary rounding may land that second a hair before `t`; the sweep goes on only once past `t`.
  return now + s * 1000 < t ? s + 1 : s;
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
  return firstAndNextChange(plan(req), req.now, horizonS).nextChangeMs;
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
  const { first, nextChangeMs } = firstAndNextChange(plan(req), req.now, horizonS);
  return { period: periodOf(0, first), nextChangeMs };
}

/** The limit at `now` and nextChange of a planned request. */
function firstAndNextChange(p: Plan, now: number, horizonS: number): { first: Limit; nextChangeMs: number } {
  const horizon = now + horizonS * 1000;
  let spanMs = NEXT_CHANGE_FIRST_WINDOW_MS;
  let window = new Sweep(p, now, Math.min(now + spanMs + 1, horizon));
  const first = window.limitAt(now);
  // Constant limits alone never change: no window to search (a charger without profiles).
  if (p.charging.length === 0 && p.chargePointMax.length === 0) return { first, nextChangeMs: horizon };
  // The change is nearly always close (the charging limit asks after every SetChargingProfile and
  // every session), so the horizon is searched in growing windows: a week of a Daily profile's
  // boundaries is not listed to find one in the next hour. A window excludes both ends, so each
  // reaches 1 ms past its end and the next starts at that end, where the limit is still `first`.
  for (let from = now; from < horizon; from += spanMs, spanMs *= NEXT_CHANGE_WINDOW_GROWTH) {
    if (from > now) {
      window = new Sweep(p, from, Math.min(from + spanMs + 1, horizon));
      window.limitAt(from);
    }
    for (let t = window.nextInstant(); t !== Number.POSITIVE_INFINITY; t = window.nextInstant()) {
      if (!sameLimit(window.limitAt(t), first)) return { first, nextChangeMs: t };
    }
  }
  return { first, nextChangeMs: horizon };
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
