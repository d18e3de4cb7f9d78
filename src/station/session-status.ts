import type { PilotState } from '../../hal/types.js';
import type { SessionState, TransactionStatus } from './session-machine.js';
import type { ConnectorStatus } from './types.js';

/**
 * OCPP 1.6 section 4.9 (StatusNotification): the connector status transitions the specification
 * allows, from -> to (A2 is Available -> Preparing, and so on). Connector 0 is not bound by it.
 */
export const OCPP_STATUS_TRANSITIONS: Readonly<Record<ConnectorStatus, readonly ConnectorStatus[]>> = {
  Available: ['Preparing', 'Charging', 'SuspendedEV', 'SuspendedEVSE', 'Reserved', 'Unavailable', 'Faulted'],
  Preparing: ['Available', 'Charging', 'SuspendedEV', 'SuspendedEVSE', 'Finishing', 'Faulted'],
  Charging: ['Available', 'SuspendedEV', 'SuspendedEVSE', 'Finishing', 'Unavailable', 'Faulted'],
  SuspendedEV: ['Available', 'Charging', 'SuspendedEVSE', 'Finishing', 'Unavailable', 'Faulted'],
  SuspendedEVSE: ['Available', 'Charging', 'SuspendedEV', 'Finishing', 'Unavailable', 'Faulted'],
  Finishing: ['Available', 'Preparing', 'Unavailable', 'Faulted'],
  Reserved: ['Available', 'Preparing', 'Unavailable', 'Faulted'],
  Unavailable: ['Available', 'Preparing', 'Charging', 'SuspendedEV', 'SuspendedEVSE', 'Faulted'],
  Faulted: [
    'Available',
    'Preparing',
    'Charging',
    'SuspendedEV',
    'SuspendedEVSE',
    'Finishing',
    'Reserved',
    'Unavailable',
  ],
};

const ALL_STATUSES = Object.keys(OCPP_STATUS_TRANSITIONS).filter(isConnectorStatus);

function isConnectorStatus(value: string): value is ConnectorStatus {
  return value in OCPP_STATUS_TRANSITIONS;
}

export function statusTransitionAllowed(from: ConnectorStatus, to: ConnectorStatus): boolean {
  return from === to || OCPP_STATUS_TRANSITIONS[from].includes(to);
}

/**
 * The statuses to report to get from `from` to `to`: just `to` when the table allows it, else
 * through the one status that joins them, Available first. The only such step the sessions make
 * is a session that ends as its connector leaves service: Preparing -> Unavailable is not in the
 * table, Preparing -> Available (B1, the intended use ended) -> Unavailable (A8) is.
 */
export function statusPath(from: ConnectorStatus, to: ConnectorStatus): ConnectorStatus[] {
  if (statusTransitionAllowed(from, to)) return [to];
  const via = ALL_STATUSES.find((s) => statusTransitionAllowed(from, s) && statusTransitionAllowed(s, to));
  return via ? [via, to] : [to];
}

/** What the station knows about a connector besides its session. */
export interface ConnectorFacts {
  faulted: boolean;
  /** The connector, or the whole charge point, is Inoperative. */
  inoperative: boolean;
  plugged: boolean;
  /** Pilot C or D: the EV asks for energy. */
  evAsksForEnergy: boolean;
  /** A reservation holds the connector. */
  reserved: boolean;
  /** The charging limit is below what the EV can charge with: the charger pauses (SuspendedEVSE). */
  limitPaused: boolean;
}

/** The OCPP status of a connector: a fault shows over anything, else the session state decides. */
export function statusOf(state: SessionState, facts: ConnectorFacts): ConnectorStatus {
  if (facts.faulted) return 'Faulted';
  switch (state.kind) {
    case 'Transaction':
      return transactionStatus(state.tx.suspended || facts.limitPaused, facts);
    case 'Stopping':
      return state.shown;
    case 'Finishing':
      return 'Finishing';
    case 'Preparing':
    case 'Starting':
      return 'Preparing';
    case 'Idle':
    case 'Authorizing':
      if (facts.inoperative) return 'Unavailable';
      // A cable at a reserved connector leaves it Reserved: Preparing comes with the reserved id.
      if (facts.reserved) return 'Reserved';
      return facts.plugged ? 'Preparing' : 'Available';
  }
}

/** The `info` a status carries by itself: OCPP 1.6 recommends naming an EV-side disconnect. */
export function statusInfo(state: SessionState, facts: Pick<ConnectorFacts, 'plugged'>): string | undefined {
  return state.kind === 'Transaction' && !facts.plugged ? 'EV side disconnected' : undefined;
}

/** Pilot state C, or D (with ventilation), per IEC 61851: the EV asks for energy. */
export function pilotAsksForEnergy(pilot: PilotState | undefined): boolean {
  return pilot === 'C' || pilot === 'D';
}

/** During a transaction: the EV's choice first (SuspendedEV), then the charger's (SuspendedEVSE). */
export function transactionStatus(
  suspended: boolean,
  facts: Pick<ConnectorFacts, 'plugged' | 'evAsksForEnergy'>,
): TransactionStatus {
  if (!facts.plugged || !facts.evAsksForEnergy) return 'SuspendedEV';
  return suspended ? 'SuspendedEVSE' : 'Charging';
}

export function isTransactionStatus(status: ConnectorStatus | undefined): status is TransactionStatus {
  return status === 'Charging' || status === 'SuspendedEV' || status === 'SuspendedEVSE';
}

/**
 * A connector whose transaction has not ended yet (Finishing included): a ChangeAvailability to
 * Inoperative is Scheduled, not applied.
 */
export function holdsTransaction(state: SessionState): boolean {
  return state.kind === 'Transaction' || state.kind === 'Stopping' || state.kind === 'Finishing';
}
