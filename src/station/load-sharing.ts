/**
 * Load sharing: one supply (the board's `supplyMaxCurrentA`, the ChargePointMaxProfile) split
 * among the connectors whose sessions want energy. Pure: the owner of the offered current
 * (charging-limit.ts) asks it on every re-evaluation.
 *
 * The supply's limit is per phase (line) L1..L3. A 3-phase outlet loads all three lines with its
 * current; a 1-phase outlet loads only the line it is wired to, the board file's `phase` (1..3).
 * Where the board file does not say, that line is unknown, and the outlet's share counts on every
 * line: no guess (L1, say) can overload the line it is really on, at worst it gets less.
 */
import type { ConnectorDevices } from '../../hal/types.js';
import { roundDownToTenth } from './composite-schedule.js';

/** IEC 61851-1: the least current a PWM pilot can offer; below it the EV cannot charge. */
export const MIN_CHARGING_CURRENT_A = 6;

/** A supply line: L1, L2, L3. */
export type SupplyLine = 1 | 2 | 3;

const ALL_LINES: readonly SupplyLine[] = [1, 2, 3];

/** The supply lines an outlet's share counts on: its own, or all where that is not known. */
export function linesOf(devices: Pick<ConnectorDevices, 'phases' | 'phase'>): readonly SupplyLine[] {
  return devices.phases === 1 && devices.phase !== undefined ? [devices.phase] : ALL_LINES;
}

/** A connector whose session wants a share of the supply. */
export interface ShareDemand {
  connectorId: number;
  /** The most it may take anyway (its own composite limit: hardware, profiles, local limit), A. */
  capA: number;
  /** The least it can charge with (6 A, or more by the schedule's minChargingRate), A. */
  minA: number;
  /** When its transaction started (epoch ms): the newest is the first to pause. */
  startedAt: number;
  /** The supply lines it draws on (linesOf): its share counts against each of them. */
  lines: readonly SupplyLine[];
}

export type Share =
  | { connectorId: number; paused: false; limitA: number }
  | { connectorId: number; paused: true };

/** Below this, amps are rounding noise of the filling's sums. */
const EPSILON_A = 1e-6;

/**
 * Max-min fair shares of `supplyA` (A per line): every line carries at most `supplyA` of the
 * shares of the connectors drawing on it. The shares rise together; one stops at its own cap, or
 * when a line it draws on is full (the others go on rising on the lines left). When even
 * everyone's minimum does not fit, the newest sessions pause, one at a time, until it does. A
 * connector whose share is its own cap is not limited by sharing at all (its share equals `capA`).
 */
export function shareSupply(supplyA: number, demands: readonly ShareDemand[]): Share[] {
  // Oldest first: the newest pause first, and equal starts keep a stable order by connector.
  const byAge = [...demands].sort((a, b) => a.startedAt - b.startedAt || a.connectorId - b.connectorId);
  for (let served = byAge.length; served > 0; served--) {
    const limits = fill(supplyA, byAge.slice(0, served));
    if (limits) return byAge.map((d) => shareOf(d, limits.get(d.connectorId)));
  }
  return byAge.map((d) => shareOf(d, undefined));
}

function shareOf(demand: ShareDemand, limitA: number | undefined): Share {
  return limitA === undefined
    ? { connectorId: demand.connectorId, paused: true }
    : { connectorId: demand.connectorId, paused: false, limitA };
}

/**
 * Progressive filling: every connector not yet stopped rises by the same step, the largest that
 * neither passes a cap nor fills a line; then those at their cap or on a full line stop.
 * Undefined when a connector's share is below its minimum.
 */
function fill(supplyA: number, served: readonly ShareDemand[]): Map<number, number> | undefined {
  const shares = new Map<number, number>(served.map((d) => [d.connectorId, 0]));
  const share = (d: ShareDemand): number => shares.get(d.connectorId) ?? 0;
  const load = (line: SupplyLine): number =>
    served.reduce((sum, d) => (d.lines.includes(line) ? sum + share(d) : sum), 0);
  let rising = [...served];
  while (rising.length > 0) {
    let step = Math.min(...rising.map((d) => d.capA - share(d)));
    for (const line of ALL_LINES) {
      const on = rising.filter((d) => d.lines.includes(line)).length;
      if (on > 0) step = Math.min(step, (supplyA - load(line)) / on);
    }
    for (const d of rising) shares.set(d.connectorId, share(d) + Math.max(0, step));
    const full = ALL_LINES.filter((line) => supplyA - load(line) <= EPSILON_A);
    rising = rising.filter((d) => {
      if (d.capA - share(d) <= EPSILON_A) {
        shares.set(d.connectorId, d.capA);
        return false;
      }
      return !d.lines.some((line) => full.includes(line));
    });
  }
  const limits = new Map<number, number>();
  for (const d of served) {
    // Offered to a tenth of an ampere, as the composite's limits are: shares round down.
    const limitA = share(d) === d.capA ? d.capA : roundDownToTenth(share(d));
    if (limitA < d.minA) return undefined;
    limits.set(d.connectorId, limitA);
  }
  return limits;
}
