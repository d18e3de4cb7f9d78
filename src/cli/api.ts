/**
 * What the control socket offers: the daemon implements ControlApi, the socket server exposes it,
 * and cpctl calls it. Plain data only, so it travels as JSON.
 */
import type { DeviceHealth, MeterReading, PilotState } from '../../hal/types.js';
import type { TimeSync } from '../clock.js';
import type { ChangeStatus } from '../config/registry.js';
import type { ResetType } from '../features/context.js';
import type { LogLevel } from '../log.js';
import type { FirmwareStatusEnumType } from '../ocpp/generated/messages.js';
import type { ConnectFailure } from '../ocpp/link-failure.js';
import type { QueuedAction } from '../ocpp/outbox.js';
import type { AuthorizationRecord } from '../station/auth/last-authorizations.js';
import type { IdTagInfo } from '../station/auth-types.js';
import type { LimitInEffect } from '../station/charging-limit.js';
import type { OfferState } from '../station/charging-outputs.js';
import type { LimitSource } from '../station/charging-profile-types.js';
import type { SelfTestReport } from '../station/self-test.js';
import type { FirmwareSource } from '../store/firmware-repo.js';
import type { SecurityLogEntry } from '../store/security-log-repo.js';
import type { TraceEntry } from '../store/trace-repo.js';
import type { TransactionRow } from '../store/transactions-repo.js';

export interface ConnectorReport {
  id: number;
  /** OCPP ChargePointStatus and error code as last derived by the station. */
  status: string;
  errorCode: string;
  info?: string;
  availability: 'Operative' | 'Inoperative';
  plugged: boolean;
  pilot: PilotState;
  /** Current offered to the EV now, A, as the owner of the offered current commands it. */
  currentLimitA: number;
  /**
   * `offered` while a session may draw `compositeLimitA`, else why nothing is offered: noSession,
   * faulted, energyWithheld (the id was refused) or belowMinimum (paused).
   */
  offerState?: OfferState;
  /** The composite schedule's limit now, A: what a session here may draw at most. */
  compositeLimitA?: number;
  /** Where `compositeLimitA` comes from (a charging profile, local, loadSharing, hardware). */
  limitSource?: LimitSource;
  /** `compositeLimitA` is below what the EV can charge with: a session pauses (SuspendedEVSE). */
  limitPaused?: boolean;
  /** The operator's local limit (cpctl limit, MQTT `limit`), when one is set, A. */
  localLimitA?: number;
  /**
   * The contactor: commanded `closed`; where it has a feedback contact, its last reading
   * (`feedback`) and whether it reads now (`feedbackReadable`: false, the reading is stale and the
   * contact unknown).
   */
  relay: { closed: boolean; feedback?: boolean; feedbackReadable?: boolean };
  /**
   * The cable's lock, where one is fitted: `locked` is known locked (confirmed by feedback where it
   * has one, false while that cannot be read); `feedback` and `feedbackReadable` as the relay's.
   */
  lock?: { locked: boolean; feedback?: boolean; feedbackReadable?: boolean };
  /** Latest meter reading, or why there is none. */
  meter?: MeterReading | { error: string };
  /** Every unhealthy device of this connector. */
  faults: Array<{ device: string; fault: string; info?: string }>;
  /** The transaction running here. */
  session?: SessionReport;
  /** The last id decided on here (a card at its reader, a remote start), and by whom. */
  lastAuthorization?: AuthorizationRecord;
}

/** A connector's running transaction; its energy is apart from the meter's register (`meter`). */
export interface SessionReport {
  localId: number;
  /** Absent until the central system has answered its StartTransaction. */
  transactionId?: number;
  idTag: string;
  /** ISO 8601 (OCPP time). */
  startedAt: string;
  durationS: number;
  /** The register the transaction started from, Wh. */
  meterStartWh: number;
  /** Delivered in this transaction so far (the meter now, else its last recorded value), Wh. */
  energyWh: number;
}

/** The connection to the central system and why it is (not) up. */
export interface LinkReport {
  state: string;
  securityProfile: number;
  /** The URL of the connection or of the last attempt. */
  url?: string;
  /** Epoch ms since when the link is open, or since when it is not. */
  since?: number;
  /** Why the last attempt to connect failed (refused, dns, tls, http, timeout...), while not open. */
  lastFailure?: ConnectFailure;
  /** Epoch ms of the next attempt to connect, while one waits. */
  nextAttemptAt?: number;
}

export interface StatusReport {
  version: string;
  chargePointId: string;
  board: string;
  link: LinkReport;
  /** BootNotification state: Unregistered, Pending, Rejected or Accepted. */
  registration: string;
  /** Epoch ms the next BootNotification leaves (Pending, Rejected, or no answer yet). */
  registrationRetryAt?: number;
  /** Where the OCPP time comes from and how far it is from the system clock. */
  time?: TimeSync;
  /** Seconds since the runtime started, and when (epoch ms, OCPP time). */
  uptimeS?: number;
  startedAt?: number;
  connectors: ConnectorReport[];
  readers: Array<{
    name: string;
    connectorIds: number[];
    health: DeviceHealth;
    lastRead?: { idTag: string; at: number };
  }>;
  faultInputs: Array<{ kind: string; active: boolean }>;
  /** Whether the state store writes: ok, degraded (disk full or failing) or read-only. */
  store: StoreReport;
}

export interface StoreReport {
  state: 'ok' | 'degraded' | 'read-only';
  /** The failed write's error while not ok. */
  reason?: string;
  /** Epoch ms since when it is not ok. */
  since?: number;
  /** The database found at start was corrupt: where it was moved, and what could not be saved. */
  recovered?: { movedTo: string; lost: string[] };
}

/** One period of a composite schedule, for `cpctl limits`. */
export interface LimitPeriodReport {
  /** Seconds from the schedule's start. */
  startPeriod: number;
  /** A per phase, rounded down to 0.1 A. */
  limitA: number;
  /** The same limit in W at the connector's nominal voltage and the period's phases. */
  limitW: number;
  numberPhases: number;
  /** The charging profile's minChargingRate in A: below it charging pauses rather than go on. */
  minChargingRateA?: number;
  source: LimitSource;
}

/** A connector's composite schedule (0: the charge point's) from now, with the source of each limit. */
export interface LimitsReport {
  connectorId: number;
  /** Epoch ms (OCPP time) the schedule starts at: the moment it was asked for. */
  start: number;
  durationS: number;
  /** The nominal phase voltage and the phases wired, which A and W convert with. */
  voltageV: number;
  phases: number;
  periods: LimitPeriodReport[];
  /**
   * A connector's limit in effect (not connector 0's): what it offers now (0 A with the reason
   * while no session may draw) and the composite's limit now with its source.
   */
  inEffect?: LimitInEffect;
}

export interface ConfigEntry {
  key: string;
  readonly: boolean;
  value?: string;
  /** A write-only key (AuthorizationKey): its value is never shown, `set` says whether it has one. */
  writeOnly?: true;
  set?: boolean;
}

/** `cpctl config set`: ChangeConfiguration's status, and why a change was not made. */
export interface ConfigSetReport {
  status: ChangeStatus;
  /** Why it was Rejected or NotSupported; never quotes the value. */
  reason?: string;
  /** The value now in effect (or after the restart), canonical; absent for a write-only key. */
  value?: string;
}

/** The simulated board's controls (contract 4 in DESIGN.md); absent on a real board. */
export interface SimControls {
  plug(connectorId: number): void;
  unplug(connectorId: number): void;
  ev(connectorId: number, mode: 'charge' | 'pause'): void;
  swipe(idTag: string, reader?: number): void;
  fault(connectorId: number, errorCode: string): void;
  clear(connectorId: number): void;
  lockFail(connectorId: number, failing: boolean): void;
  /** The enclosure's tamper switch: active faults every connector and raises TamperDetectionActivated. */
  tamper(active: boolean): void;
  meter(connectorId: number, powerW: number): void;
}

/** A transaction as the store recorded it; `transactionId` is absent until StartTransaction is answered. */
export interface TransactionReport extends TransactionRow {
  /** Delivered so far (running: up to the last recorded meter value) or in total (stopped), Wh. */
  energyWh: number;
}

export interface TransactionsReport {
  running: TransactionReport[];
  /** The latest finished transactions, newest first. */
  recent: TransactionReport[];
}

/** `cpctl firmware`: the update running, else the last one. */
export interface FirmwareReport {
  /** Idle when no update is known. */
  status: FirmwareStatusEnumType;
  /** An update is running (not in a final status). */
  busy: boolean;
  source?: FirmwareSource;
  requestId?: number;
  location?: string;
  /** Epoch ms (OCPP time): when the download starts, when the install may start. */
  retrieveAt?: number;
  installAt?: number;
  /** Bytes downloaded so far (and the size, when the server said it). */
  progress?: { bytes: number; total?: number };
  /** Why it failed. */
  info?: string;
  /** Its final status reached the central system. */
  reported?: boolean;
  updatedAt?: string;
  /** `firmware.install` is configured; without it every install fails. */
  installHook: boolean;
  requireSigned: boolean;
}

/** `cpctl firmware install`: the pipeline's answer, with the reason of a refusal. */
export interface FirmwareInstallReport {
  status: 'Accepted' | 'AcceptedCanceled' | 'Rejected' | 'InvalidCertificate';
  reason?: string;
}

export interface SecurityLogReport {
  /** Entries in the security log now. */
  total: number;
  /** The newest entries asked for, oldest first. */
  entries: SecurityLogEntry[];
  /** With `clear`: how many entries were removed (the log then holds only SecurityLogWasCleared). */
  cleared?: number;
}

/** Most messages `queue` lists of each kind; the totals still count them all. */
export const QUEUE_LIST_LIMIT = 500;

/** An outbox message without its payload: a long offline spell must not make the answer huge. */
export interface QueuedMessage {
  seq: number;
  action: QueuedAction;
  localTxId?: number;
  /** Failed transmissions so far. */
  attempts: number;
  /** Epoch ms before which it is not sent again; 0 = as soon as it is the queue's head. */
  nextAttemptAt: number;
  createdAt: string;
}

export interface DeadLetterReport extends Omit<QueuedMessage, 'nextAttemptAt'> {
  lastError: string;
  failedAt: string;
}

export interface QueueReport {
  /** Delivery order: the first is the one being sent (or waiting to be retried). */
  pending: QueuedMessage[];
  /** All pending messages, of which `pending` lists at most QUEUE_LIST_LIMIT (the first). */
  pendingTotal: number;
  /** Oldest first, the newest QUEUE_LIST_LIMIT at most. */
  deadLetters: DeadLetterReport[];
  deadLetterTotal: number;
}

/** What the charger knows about ids locally; looking an id up never sends Authorize.req. */
export interface AuthReport {
  /** `enabled`: LocalAuthListEnabled; the list is kept but not consulted when false. */
  localList: { enabled: boolean; version: number; size: number };
  /** `enabled`: AuthorizationCacheEnabled (false also when the build has no cache). */
  cache: { enabled: boolean; size: number };
  /** Present when an id was asked about; an absent source does not know the id. */
  lookup?: { idTag: string; localList?: IdTagInfo; cache?: IdTagInfo };
}

/** A connector `cpctl selftest` (of every connector) could not test now, and why. */
export interface SelfTestRefusal {
  connectorId: number;
  passed: false;
  refused: string;
}

/** `cpctl selftest`: one report per connector, in order; `passed` when every one passed. */
export interface SelfTestSummary {
  passed: boolean;
  connectors: Array<SelfTestReport | SelfTestRefusal>;
}

export interface ControlApi {
  status(): Promise<StatusReport>;
  /** All keys, sorted by name, when `keys` is empty. Unknown keys are listed in `unknownKey`. */
  configGet(keys: string[]): { configurationKey: ConfigEntry[]; unknownKey: string[] };
  /** A local change, validated exactly as ChangeConfiguration and logged as a technician change. */
  configSet(key: string, value: string): ConfigSetReport;
  /** Read a connector's meter now. */
  halMeterRead(connectorId: number): Promise<MeterReading>;
  /** Last card read by each reader. */
  halLastRfid(): Array<{ reader: string; idTag?: string; at?: number }>;
  /**
   * Toggle a relay for a test. Open is always allowed; close is refused unless the connector is
   * idle (Available or Unavailable, no cable, no fault) and lasts at most RELAY_TEST_MS.
   */
  halRelay(connectorId: number, closed: boolean): Promise<void>;
  /**
   * The hardware self-test of an idle, unplugged connector (every connector in turn when none is
   * given): pilot, fault inputs, readers, meter, lock, contactor. A named connector that may not be
   * tested now is a ControlError; of every connector, it is listed as refused. `signal` aborts when
   * the client that asked goes away: the test ends at once and no other starts.
   */
  selfTest(connectorId?: number, signal?: AbortSignal): Promise<SelfTestSummary>;
  /**
   * The connector's local limit (persisted): at most `amps` from 0 (pause) to its maximum;
   * undefined lifts it.
   */
  setLocalLimit(
    connectorId: number,
    amps: number | undefined,
  ): Promise<{ connectorId: number; localLimitA?: number }>;
  /**
   * The composite schedule of a connector (0: the charge point) from now for `durationS`, each
   * period with where its limit comes from. An unknown connector is a ControlError.
   */
  limits(connectorId: number, durationS: number): LimitsReport;
  /** Running transactions and the `recent` latest finished ones. */
  transactions(recent: number): TransactionsReport;
  /** The transaction-message outbox: what waits for delivery and what was given up on. */
  queue(): QueueReport;
  /** The newest `limit` entries of the security log; with `clear`, the log is emptied first (logged, an event). */
  securityLog(limit: number, clear: boolean): SecurityLogReport;
  /** The firmware update running or the last one. */
  firmware(): FirmwareReport;
  /**
   * Installs an image from a local file (a USB stick) through the OCPP pipeline: verified when a
   * signature and its certificate are given (required with firmware.requireSigned), then the hook.
   */
  firmwareInstall(file: string, signature?: string, certificate?: string): FirmwareInstallReport;
  /** Puts every dead letter back into the queue, in its original order; how many went back. */
  queueRetry(): { requeued: number };
  /** Local list and cache summary, plus what each says about `idTag` when given. */
  auth(idTag?: string): AuthReport;
  /** Drop the connection to the central system and connect again at once. */
  reconnect(): void;
  /** The same reset as OCPP Reset: transactions stop, the daemon exits (10 soft, 11 hard) after answering. */
  reset(type: ResetType): 'Accepted';
  /** As ChangeAvailability; connector 0 is the whole charge point. */
  availability(connectorId: number, type: 'Operative' | 'Inoperative'): 'Accepted' | 'Scheduled' | 'Rejected';
  /** As UnlockConnector: a running transaction on it is stopped first. */
  unlock(connectorId: number): Promise<'Unlocked' | 'UnlockFailed' | 'NotSupported'>;
  /** Changes the daemon's log level until it restarts; returns the level it had. */
  setLogLevel(level: LogLevel): string;
  /**
   * The frame trace, read in pages so a long one never sits whole in memory: where reading starts
   * to show the newest `limit` frames (of `action`, if given), and the newest seq now.
   */
  traceWindow(limit: number, action?: string): { afterSeq: number; lastSeq: number };
  /** Up to `max` frames (of `action`, if given) recorded after `afterSeq`, oldest first. */
  traceAfter(afterSeq: number, max: number, action?: string): TraceEntry[];
  /** Calls `listener` after each recorded frame, until the returned function is called. */
  onTraceEntry(listener: () => void): () => void;
  /**
   * Calls `listener` whenever `status` or `transactions` may read differently (a connector's status,
   * a session, the link, the registration, the store's health, a limit), until the returned
   * function is called: the live views.
   */
  onChange(listener: () => void): () => void;
  /** Builds a diagnostics bundle of everything kept (under `<stateDir>/diagnostics`): `cpctl diagnostics`. */
  diagnosticsBundle(): Promise<{ path: string; fileName: string; bytes: number }>;
  /** Undefined unless the board is the simulated one. */
  readonly sim: SimControls | undefined;
}

/** A refusal with a message for the technician (bad connector, not idle, not a sim board...). */
export class ControlError extends Error {}
