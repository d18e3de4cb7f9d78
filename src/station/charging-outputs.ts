/**
 * The rule for one connector's outputs: what its pilot offers and whether its contactor is closed.
 * Pure: the owner of the offered current (charging-limit.ts) gathers the situation and performs
 * the result.
 */

/** What decides a connector's outputs at one moment. */
export interface ConnectorSituation {
  /** A transaction runs on it (not being stopped). */
  transaction?: {
    /** The charger withholds energy: the central system refused the id (or MaxEnergyOnInvalidId). */
    withheld: boolean;
  };
  /** Pilot C or D. */
  evAsks: boolean;
  /** No lock, or the cable is locked. */
  cableHeld: boolean;
  faulted: boolean;
  /** The connector or the whole charge point is Inoperative. */
  inoperative: boolean;
  /** A technician's relay test (cpctl hal relay close) on this idle connector. */
  relayTest: boolean;
  /** The composite limit now (profiles, hardware, local limit, load-sharing share), A. */
  limitA: number;
  /** The least the EV can charge with: 6 A, or the period's minChargingRate when higher, A. */
  minA: number;
}

export interface ConnectorOutputs {
  /** What the pilot offers, A; 0: PWM off (+12 V), nothing offered. */
  offeredA: number;
  contactorClosed: boolean;
  /** The limit is below the minimum: a session here waits for it to rise (SuspendedEVSE). */
  paused: boolean;
}

/**
 * IEC 61851-1 and OCPP 1.6 section 3.13: a limit below what the EV can charge with pauses
 * charging (nothing offered, contactor open) instead of offering a current the EV may not follow.
 * The contactor closes only for a running transaction whose energy the charger does not withhold,
 * with no fault, the cable held by its lock and the EV asking (state C or D); an EV that pauses
 * (B) gets it opened. Nothing is offered while faulted, while out of service without a
 * transaction (an Inoperative connector with one keeps it until it ends), or while withheld.
 */
export function decideOutputs(s: ConnectorSituation): ConnectorOutputs {
  const paused = s.limitA < s.minA;
  const offerable = paused ? 0 : s.limitA;
  if (s.faulted) return { offeredA: 0, contactorClosed: false, paused };
  if (!s.transaction) {
    return { offeredA: s.inoperative ? 0 : offerable, contactorClosed: s.relayTest, paused };
  }
  if (s.transaction.withheld) return { offeredA: 0, contactorClosed: false, paused };
  return { offeredA: offerable, contactorClosed: !paused && s.evAsks && s.cableHeld, paused };
}
