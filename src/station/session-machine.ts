import type { Timer } from '../clock.js';
import type { TransactionRow } from '../store/transactions-repo.js';
import type { PendingTxProfile } from './charging-profile-types.js';
import type { ConnectorStatus } from './types.js';

/**
 * The charging session of one connector as a state machine: its states, the events that move it
 * and the one table of allowed transitions. Pure: the engine (transactions.ts) performs the
 * effects (relay, lock, meter, SQL, timers) and feeds the outcome back as events; the station
 * derives the OCPP status from the state (session-status.ts).
 */

/**
 * An authorized id waiting for a cable (ConnectionTimeOut). One object may be pending on several
 * connectors at once (a card at a reader serving them): the first one plugged starts, the others
 * lapse.
 */
export interface PendingStart {
  readonly idTag: string;
  readonly parentIdTag?: string;
  /** The TxProfile of a RemoteStartTransaction: it lives and dies with this session. */
  readonly txProfile?: PendingTxProfile;
  /** ConnectionTimeOut; set by the engine once the start waits for a cable. */
  timer?: Timer;
}

/** An id being authorized for a set of connectors (reserved for it meanwhile, not yet Preparing). */
export interface AuthorizationAttempt {
  readonly idTag: string;
  readonly txProfile?: PendingTxProfile;
}

/** A transaction recorded and running. Its fields change in place while the state stays the same. */
export interface RunningTransaction {
  row: TransactionRow;
  /** Energy withheld by the charger: the central system refused the id (SuspendedEVSE). */
  suspended: boolean;
  sampler?: Timer;
  /** MaxEnergyOnInvalidId: the register value at which a refused id's energy ends, and its watch. */
  invalidIdLimit?: { untilWh: number; timer?: Timer };
  txProfile?: PendingTxProfile;
}

/** The statuses a connector shows while a transaction runs. */
export type TransactionStatus = Extract<ConnectorStatus, 'Charging' | 'SuspendedEV' | 'SuspendedEVSE'>;

export type SessionState =
  /** No session: the status follows the cable, the availability and reservations. */
  | { readonly kind: 'Idle' }
  | { readonly kind: 'Authorizing'; readonly attempt: AuthorizationAttempt }
  | { readonly kind: 'Preparing'; readonly pending: PendingStart }
  /** Locking and reading the meter: no second start meanwhile. */
  | { readonly kind: 'Starting'; readonly pending: PendingStart }
  | { readonly kind: 'Transaction'; readonly tx: RunningTransaction }
  /**
   * The transaction is being stopped (contactor opening, meter read, StopTransaction recorded).
   * It is still open, so the connector keeps the status it had (`shown`): an EV that left does not
   * make it Available, nor SuspendedEV, before the stop is recorded and it shows Finishing.
   */
  | { readonly kind: 'Stopping'; readonly tx: RunningTransaction; readonly shown: TransactionStatus }
  /** Stopped, cable still there (or being released). */
  | { readonly kind: 'Finishing' };

export type SessionKind = SessionState['kind'];

export type SessionEvent =
  /** A card or a remote start (AuthorizeRemoteTxRequests) asks about an id for this connector. */
  | { readonly type: 'authorize'; readonly attempt: AuthorizationAttempt }
  /** The id may start here (authorized, or a remote start without authorization): wait for the cable. */
  | { readonly type: 'authorized'; readonly pending: PendingStart }
  /** The cable is there for the pending id: lock, read the meter, record. */
  | { readonly type: 'start'; readonly pending: PendingStart }
  | { readonly type: 'started'; readonly tx: RunningTransaction }
  /**
   * The session ends before a transaction: the id was refused, no cable within ConnectionTimeOut,
   * the connector became unavailable or faulted, the id started on another connector, or the start
   * failed (lock, meter).
   */
  | { readonly type: 'lapse' }
  | { readonly type: 'stop'; readonly tx: RunningTransaction; readonly shown: TransactionStatus }
  | { readonly type: 'stopped' }
  /** The cable is gone (or released): the connector is free again. */
  | { readonly type: 'released' };

export type SessionEventType = SessionEvent['type'];

/**
 * Every allowed transition: from state, event, to state, and the OCPP 1.6 connector status
 * transitions (section 4.9, StatusNotification) it shows as. Status letters: A Available,
 * B Preparing, C Charging, D SuspendedEV, E SuspendedEVSE, F Finishing, G Reserved,
 * H Unavailable; a row not listed here is refused. Faulted (x9 / I1-I8) is not a session state:
 * a fault shows over any state, and the engine answers it with `lapse` or `stop`.
 */
export const SESSION_TRANSITIONS = [
  // Idle shows Available, Preparing (a cable, no id), Reserved or Unavailable; Authorizing shows the same.
  { from: 'Idle', on: 'authorize', to: 'Authorizing', ocpp: '-' },
  { from: 'Idle', on: 'authorized', to: 'Preparing', ocpp: 'A2 G2' },
  { from: 'Authorizing', on: 'authorized', to: 'Preparing', ocpp: 'A2 G2' },
  { from: 'Authorizing', on: 'lapse', to: 'Idle', ocpp: '-' },
  { from: 'Preparing', on: 'start', to: 'Starting', ocpp: '-' },
  { from: 'Preparing', on: 'lapse', to: 'Idle', ocpp: 'B1' },
  { from: 'Starting', on: 'started', to: 'Transaction', ocpp: 'B3 B4 B5' },
  { from: 'Starting', on: 'lapse', to: 'Idle', ocpp: 'B1' },
  // Within Transaction the EV and the charger move it among C, D and E (C4 C5 D3 D5 E3 E4).
  { from: 'Transaction', on: 'stop', to: 'Stopping', ocpp: '-' },
  { from: 'Stopping', on: 'stopped', to: 'Finishing', ocpp: 'C6 D6 E6' },
  { from: 'Finishing', on: 'released', to: 'Idle', ocpp: 'F1 F8' },
] as const satisfies ReadonlyArray<{
  from: SessionKind;
  on: SessionEventType;
  to: SessionKind;
  ocpp: string;
}>;

/** The state an event leads to: each event type enters exactly one kind of state, with the event's data. */
function enter(event: SessionEvent): SessionState {
  switch (event.type) {
    case 'authorize':
      return { kind: 'Authorizing', attempt: event.attempt };
    case 'authorized':
      return { kind: 'Preparing', pending: event.pending };
    case 'start':
      return { kind: 'Starting', pending: event.pending };
    case 'started':
      return { kind: 'Transaction', tx: event.tx };
    case 'stop':
      return { kind: 'Stopping', tx: event.tx, shown: event.shown };
    case 'stopped':
      return { kind: 'Finishing' };
    case 'lapse':
    case 'released':
      return { kind: 'Idle' };
  }
}

function allowed(from: SessionKind, on: SessionEventType): boolean {
  return SESSION_TRANSITIONS.some((t) => t.from === from && t.on === on);
}

/** The next state, or undefined when the table has no such transition (the event is ignored). */
export function transition(state: SessionState, event: SessionEvent): SessionState | undefined {
  return allowed(state.kind, event.type) ? enter(event) : undefined;
}

export const IDLE: SessionState = { kind: 'Idle' };

/** The transaction of a state, while one is open (running or being stopped). */
export function openTransaction(state: SessionState): RunningTransaction | undefined {
  return state.kind === 'Transaction' || state.kind === 'Stopping' ? state.tx : undefined;
}

/** The pending start of a state that waits for (or is taking) a cable. */
export function pendingStart(state: SessionState): PendingStart | undefined {
  return state.kind === 'Preparing' || state.kind === 'Starting' ? state.pending : undefined;
}
