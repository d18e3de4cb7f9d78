/**
 * Load sharing: one supply (the board's `supplyMaxCurrentA`, the ChargePointMaxProfile) split
 * among the connectors whose sessions want energy. Pure: the owner of the offered current
 * (charging-limit.ts) asks it on every re-evaluation.
 */

/** IEC 61851-1: the least current a PWM pilot can offer; below it the EV cannot charge. */
export const MIN_CHARGING_CURRENT_A = 6;

/** A connector whose session wants a share of the supply. */
export interface ShareDemand {
  connectorId: number;
  /** The most it may take anyway (its own composite limit: hardware, profiles, local limit), A. */
  capA: number;
  /** The least it can charge with (6 A, or more by the schedule's minChargingRate), A. */
  minA: number;
  /** When its transaction started (epoch ms): the newest is the first to pause. */
  startedAt: number;
}

export type Share =
  | { connectorId: number; paused: false; limitA: number }
  | { connectorId: number; paused: true };

/** Limits are offered to a tenth of an ampere (as OCPP's chargingRateUnit A allows); shares round down. */
function tenthsDown(amps: number): number {
  return Math.floor(amps * 10 + 1e-9) / 10;
}

/**
 * Max-min fair shares of `supplyA` (A per phase, every connector counted on every phase): equal
 * shares, except that a connector whose own cap is below its equal share takes only its cap and
 * leaves the rest to the others. When even everyone's minimum does not fit, the newest sessions
 * pause, one at a time, until it does. A connector whose share is its own cap is not limited by
 * sharing at all (its share equals `capA`).
 */
export function shareSupply(supplyA: number, demands: readonly ShareDemand[]): Share[] {
  // Oldest first: the newest pause first, and equal starts keep a stable order by connector.
  const byAge = [...demands].sort((a, b) => a.startedAt - b.startedAt || a.connectorId - b.connectorId);
  for (let served = byAge.length; served > 0; served--) {
    const limits = waterFill(supplyA, byAge.slice(0, served));
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
 * Water filling: the smallest caps are satisfied first and what they leave goes to the rest in
 * equal parts. Undefined when a connector's part is below its minimum.
 */
function waterFill(supplyA: number, served: readonly ShareDemand[]): Map<number, number> | undefined {
  const limits = new Map<number, number>();
  let remaining = supplyA;
  const byCap = [...served].sort((a, b) => a.capA - b.capA || a.startedAt - b.startedAt);
  // Once a cap is above the equal part of what is left, every larger one gets that same part.
  let level: number | undefined;
  for (const [index, demand] of byCap.entries()) {
    const equal = remaining / (byCap.length - index);
    if (level === undefined && demand.capA > equal) level = tenthsDown(equal);
    const limitA = level ?? demand.capA;
    if (limitA < demand.minA) return undefined;
    limits.set(demand.connectorId, limitA);
    remaining -= limitA;
  }
  return limits;
}
