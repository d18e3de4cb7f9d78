/**
 * One charging profile on the time line: which of its schedule periods is in effect at an
 * instant, and the instants where that can change. The composite schedule combines these; it
 * never walks time second by second.
 */
import type {
  ChargingProfile,
  RecurrencyKind,
  SchedulePeriod,
  ScheduleTransaction,
} from './charging-profile-types.js';

const RECURRENCE_MS: Readonly<Record<RecurrencyKind, number>> = {
  Daily: 86_400_000,
  Weekly: 604_800_000,
};

/** What a profile's start can depend on besides the profile itself. */
export interface ScheduleAnchorContext {
  now: number;
  transaction?: ScheduleTransaction;
}

/** A profile prepared for evaluation: its times resolved once, in epoch ms. */
export interface PlacedProfile {
  profile: ChargingProfile;
  /** Where period 0 starts (Recurring: of the first occurrence). */
  anchor: number;
  /** Recurring: the recurrence length; 0 for a schedule that runs once. */
  recurrenceMs: number;
  /** How long each occurrence lasts: the duration, cut at the recurrence length. */
  spanMs: number;
  /** The periods' starts from the occurrence's start, ascending. */
  startsMs: readonly number[];
}

/**
 * Absolute: startSchedule, or the transaction's start when the central system left it out (no
 * transaction: now). Recurring: startSchedule anchors the recurrence (the same fallback when it is
 * missing, which validation refuses anyway). Relative: the transaction's start, else now.
 */
function anchorOf(profile: ChargingProfile, ctx: ScheduleAnchorContext): number {
  const fallback = ctx.transaction?.startedAt ?? ctx.now;
  if (profile.kind === 'Relative') return fallback;
  return profile.schedule.startSchedule ?? fallback;
}

export function placeProfile(profile: ChargingProfile, ctx: ScheduleAnchorContext): PlacedProfile {
  const recurrenceMs =
    profile.kind === 'Recurring' && profile.recurrency !== undefined ? RECURRENCE_MS[profile.recurrency] : 0;
  const durationMs =
    profile.schedule.duration === undefined ? Number.POSITIVE_INFINITY : profile.schedule.duration * 1000;
  return {
    profile,
    anchor: anchorOf(profile, ctx),
    recurrenceMs,
    spanMs: recurrenceMs > 0 ? Math.min(durationMs, recurrenceMs) : durationMs,
    startsMs: profile.schedule.periods.map((p) => p.startPeriod * 1000),
  };
}

/**
 * The period in effect at `t`, or undefined when the profile does not apply then: outside
 * validFrom..validTo, before its (first) start (a recurrence does not reach back before
 * startSchedule), after the duration of the occurrence, or before its first period.
 */
export function periodAt(placed: PlacedProfile, t: number): SchedulePeriod | undefined {
  const { profile } = placed;
  if (profile.validFrom !== undefined && t < profile.validFrom) return undefined;
  if (profile.validTo !== undefined && t >= profile.validTo) return undefined;
  if (t < placed.anchor) return undefined;
  let offset = t - placed.anchor;
  if (placed.recurrenceMs > 0) offset %= placed.recurrenceMs;
  if (offset >= placed.spanMs) return undefined;
  const starts = placed.startsMs;
  let lo = 0;
  let hi = starts.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if ((starts[mid] ?? Number.POSITIVE_INFINITY) <= offset) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found < 0 ? undefined : profile.schedule.periods[found];
}

/**
 * Calls `emit` with every instant in (from, to) at which `periodAt` may change, ascending: the
 * validity window's ends, each period's start in each occurrence, and each occurrence's end. An
 * instant may repeat (an occurrence's end is the next one's start). A profile whose validity window
 * is empty never applies, so nothing changes: none.
 */
export function forEachBoundary(
  placed: PlacedProfile,
  from: number,
  to: number,
  emit: (t: number) => void,
): void {
  const { profile } = placed;
  const { validFrom, validTo } = profile;
  if (validFrom !== undefined && validTo !== undefined && validFrom >= validTo) return;
  const inside = (t: number): boolean => t > from && t < to;
  if (validFrom !== undefined && inside(validFrom)) emit(validFrom);
  // Only the part of the time line where the profile is valid can change its period.
  const lower = Math.max(from, validFrom ?? from);
  const upper = Math.min(to, validTo ?? to);
  if (lower < upper) forEachOccurrenceBoundary(placed, lower, upper, emit);
  if (validTo !== undefined && inside(validTo)) emit(validTo);
}

/** The periods' starts and the occurrences' ends in (lower, upper), ascending. */
function forEachOccurrenceBoundary(
  placed: PlacedProfile,
  lower: number,
  upper: number,
  emit: (t: number) => void,
): void {
  const step = placed.recurrenceMs;
  let occurrence = placed.anchor;
  if (step > 0 && lower > placed.anchor) occurrence += Math.floor((lower - placed.anchor) / step) * step;
  while (occurrence < upper) {
    for (const start of placed.startsMs) {
      if (start >= placed.spanMs) break;
      const t = occurrence + start;
      if (t >= upper) break;
      if (t > lower) emit(t);
    }
    const end = occurrence + placed.spanMs;
    if (end > lower && end < upper) emit(end);
    if (step === 0) break;
    occurrence += step;
  }
}
