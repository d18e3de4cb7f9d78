/**
 * The rule for one connector's outputs: what its pilot offers and whether its contactor is closed.
 * Pure: the owner of the offered current (charging-limit.ts) gathers the situation and performs
 * the result.
 */

/** What decides a connector's outputs at one moment. */
export interface ConnectorSituation {
  /**
   * A transaction runs on it (not being stopped). An Inoperative connector keeps one until it
   * ends (a Scheduled change of availability), so availability matters only without one.
   */
  transaction?: {
    /** The charger withholds energy: the central system refused the id (or MaxEnergyOnInvalidId). */
    withheld: boolean;
  };
  /** Pilot C or D. */
  evAsks: boolean;
  /** No lock, or the cable is locked. */
  cableHeld: boolean;
  faulted: boolean;
  /**
   * The relay is a charge controller's permission: the device closes its contactor itself once
   * the EV asks (Relay.switchesOnPilot), and generates the PWM only while permitted.
   */
  switchesOnPilot: boolean;
  /** A technician's relay test (cpctl hal relay close) on this idle connector. */
  relayTest: boolean;
  /** The composite limit now (profiles, hardware, local limit, load-sharing share), A. */
  limitA: number;
  /** The least the EV can charge with: 6 A, or the period's minChargingRate when higher, A. */
  minA: number;
}

/**
 * Whether the pilot offers the limit, and if not why: without it an idle 0 A would read as if the
 * limit itself were 0.
 */
export type OfferState = 'offered' | 'noSession' | 'faulted' | 'energyWithheld' | 'belowMinimum';

export interface ConnectorOutputs {
  /** What the pilot offers, A; 0: PWM off (+12 V), nothing offered. */
  offeredA: number;
  contactorClosed: boolean;
  /** The limit is below the minimum: a session here waits for it to rise (SuspendedEVSE). */
  paused: boolean;
  /** `offered` exactly when `offeredA` is the limit; otherwise what keeps the session from it. */
  offer: OfferState;
}

/**
 * IEC 61851-1 (states B1 / B2) and OCPP 1.6 section 3.13. The pilot's PWM says "ready to supply
 * energy", so it is on only while a session may draw energy: a running transaction whose energy
 * the charger does not withhold, no fault, and a limit the EV can charge with (below it charging
 * pauses instead of offering a current the EV may not follow). Otherwise the pilot is a constant
 * +12 V (nothing offered): an idle EV waits in B1 rather than being invited to charge before
 * anyone is authorized.
 * The contactor closes only while the session may draw energy, with the cable held by its lock
 * and the EV asking (state C or D); an EV that pauses (B) gets it opened. A charge controller
 * that switches its contactor on the pilot itself gets the permission whatever the pilot state:
 * it generates the PWM only once permitted, so an EV waiting in B would otherwise never see it.
 */
export function decideOutputs(s: ConnectorSituation): ConnectorOutputs {
  const paused = s.limitA < s.minA;
  const offer = offerState(s, paused);
  if (offer !== 'offered')
    return { offeredA: 0, contactorClosed: s.relayTest && offer === 'noSession', paused, offer };
  return {
    offeredA: s.limitA,
    contactorClosed: s.cableHeld && (s.evAsks || s.switchesOnPilot),
    paused,
    offer,
  };
}

/** A session may draw energy (`offered`), or the first thing that keeps it from doing so. */
function offerState(s: ConnectorSituation, paused: boolean): OfferState {
  if (s.faulted) return 'faulted';
  if (!s.transaction) return 'noSession';
  if (s.transaction.withheld) return 'energyWithheld';
  return paused ? 'belowMinimum' : 'offered';
}
