import { SimBoard } from '../../hal/sim/board.js';
import type { Board, ConnectorHardware, MeterReading } from '../../hal/types.js';
import type { Clock, OcppTime, Timer } from '../clock.js';
import type { ConfigurationRegistry } from '../config/registry.js';
import { errorMessage } from '../error-message.js';
import type { ResetType } from '../features/context.js';
import type { Registration } from '../features/core/registration.js';
import type { SecurityEvents } from '../features/security/security-events.js';
import { type FirmwareUpdates, shownLocation } from '../firmware/firmware-updates.js';
import { type Logger, type LogLevel, setLogLevel } from '../log.js';
import type { Link } from '../ocpp/link.js';
import type { DeadLetter, Outbox, OutboxEntry } from '../ocpp/outbox.js';
import type { FrameTrace } from '../ocpp/trace.js';
import { isEnabled } from '../station/auth/authorizer.js';
import type { AuthCache } from '../station/auth/cache.js';
import type { LastAuthorizations } from '../station/auth/last-authorizations.js';
import type { LocalAuthList } from '../station/auth/local-list.js';
import {
  type ChargingLimit,
  type LimitInEffect,
  LocalLimitRefused,
  limitFields,
} from '../station/charging-limit.js';
import type { ChargingProfiles } from '../station/charging-profiles.js';
import { compositeSchedule, rateOf } from '../station/composite-schedule.js';
import { SelfTestRefused, type SelfTestReport, SelfTests } from '../station/self-test.js';
import type { Station } from '../station/station.js';
import type { TransactionEngine } from '../station/transactions.js';
import type { Store } from '../store/database.js';
import type { StoreHealth } from '../store/health.js';
import type { TraceEntry } from '../store/trace-repo.js';
import type { TransactionRow, TransactionsRepo } from '../store/transactions-repo.js';
import { FIRMWARE_VERSION } from '../version.js';
import {
  type AuthReport,
  type ConfigEntry,
  type ConfigSetReport,
  type ConnectorReport,
  type ControlApi,
  ControlError,
  type DeadLetterReport,
  type FirmwareInstallReport,
  type FirmwareReport,
  type LimitsReport,
  QUEUE_LIST_LIMIT,
  type QueuedMessage,
  type QueueReport,
  type SecurityLogReport,
  type SelfTestSummary,
  type SessionReport,
  type SimControls,
  type StatusReport,
  type StoreReport,
  type TransactionReport,
  type TransactionsReport,
} from './api.js';
import { type ChangeFeed, sharedFeed } from './changes.js';

export interface ControlDeps {
  chargePointId: string;
  board: Board;
  station: Station;
  config: ConfigurationRegistry;
  link: Pick<Link, 'state' | 'reconnect' | 'condition'>;
  registration: Pick<Registration, 'status' | 'nextAttemptAt'>;
  /** The last id decided on at each connector, and by whom. */
  authorizations: Pick<LastAuthorizations, 'of'>;
  /** Monotonic ms (`clock`) the runtime started at: the uptime counts from it. */
  startedAtMonotonic: number;
  /** What may change what `status` and `transactions` report: the live views redraw on it. */
  changes: ChangeFeed;
  /** The root logger: `log-level` changes it, and with it every module's child logger. */
  log: Logger;
  /** The store's record of transactions: running ones and the latest finished. */
  transactionLog: Pick<TransactionsRepo, 'running' | 'recent'>;
  outbox: Pick<
    Outbox,
    'firstPending' | 'size' | 'newestDeadLetters' | 'deadLetterCount' | 'retryDeadLetters'
  >;
  localList: Pick<LocalAuthList, 'get' | 'version' | 'size'>;
  securityEvents: Pick<SecurityEvents, 'newest' | 'count' | 'clear'>;
  authCache: Pick<AuthCache, 'get' | 'size'>;
  /** UnlockConnector; `hold` keeps sessions off a connector under a self-test. */
  transactions: Pick<TransactionEngine, 'unlock' | 'hold'>;
  /** The owner of the offered current: a relay test (and a self-test) closes the contactor through it. */
  limit: Pick<
    ChargingLimit,
    'testRelay' | 'setLocalLimit' | 'localLimit' | 'limitInEffect' | 'contactorOpen' | 'whenContactorOpen'
  >;
  /** What a connector's composite schedule is computed from (`cpctl limits`). */
  chargingProfiles: Pick<ChargingProfiles, 'compositeFor'>;
  /** OCPP time: the composite starts now on the clock the profiles are scheduled on; its sync state. */
  time: Pick<OcppTime, 'nowMs' | 'atMonotonic' | 'sync'>;
  /** The runtime's reset, the one OCPP Reset takes: stop transactions, then exit 10 (Soft) or 11 (Hard). */
  requestReset(type: ResetType): void;
  trace: Pick<FrameTrace, 'window' | 'after' | 'on' | 'off'>;
  /** The firmware pipeline (`cpctl firmware`, `cpctl firmware install`). */
  firmware: Pick<FirmwareUpdates, 'current' | 'busy' | 'progress' | 'installFile' | 'requireSigned'>;
  /** `firmware.install` is configured. */
  installHook: boolean;
  /** Times the technician's relay test (RELAY_TEST_MS) and the self-test's steps. */
  clock: Clock;
  /** The state store's health, and what was recovered at start. */
  store: { health: Pick<StoreHealth, 'snapshot'>; recovered?: Store['recovered'] };
  /** Builds the diagnostics bundle `cpctl diagnostics` sends (DiagnosticsFiles.build, everything kept). */
  diagnosticsBundle(): Promise<{ path: string; fileName: string; bytes: number }>;
}

/** Statuses in which a technician may close a relay: nothing is plugged, nothing charges, nothing is wrong. */
const IDLE: ReadonlySet<string> = new Set(['Available', 'Unavailable']);

/**
 * How long a contactor closed by `hal relay close` stays closed, ms: long enough to hear it and
 * measure across it, short enough that a forgotten test does not leave the outlet live.
 */
export const RELAY_TEST_MS = 10_000;

/** A contactor a technician closed: opened again by its timer or when the connector leaves idle. */
interface RelayTest {
  timer: Timer;
  end(): void;
}

/** The daemon's side of the control socket: reads the live runtime, changes only what is safe. */
export class RuntimeControl implements ControlApi {
  readonly sim: SimControls | undefined;
  private readonly relayTests = new Map<number, RelayTest>();
  private readonly selfTests: SelfTests;
  /** What the live views listen to: one subscription to the runtime for them all. */
  private readonly changes: ChangeFeed;
  /** The runtime is stopping: nothing is switched for a test any more. */
  private closed = false;

  constructor(private readonly deps: ControlDeps) {
    this.sim = deps.board instanceof SimBoard ? simControls(deps.board, deps.log) : undefined;
    this.changes = sharedFeed(deps.changes);
    this.selfTests = new SelfTests({
      board: deps.board,
      station: deps.station,
      sessions: deps.transactions,
      limit: deps.limit,
      clock: deps.clock,
      log: deps.log,
    });
  }

  async status(): Promise<StatusReport> {
    const { board, config, link, registration, chargePointId, clock, time, startedAtMonotonic } = this.deps;
    const sessions = new Map(this.deps.transactionLog.running().map((row) => [row.connectorId, row]));
    const connectors = await Promise.all(
      board.connectors.map((c) => this.connectorReport(c.id, sessions.get(c.id))),
    );
    const sync = time.sync();
    // The link and the registration stamp their times on the system clock; the report's others
    // (the start, sessions, authorizations) are OCPP time, which is what the technician compares.
    const ocppTime = (at: number): number => at + sync.offsetMs;
    const { state: _state, since, nextAttemptAt, lastFailure, ...condition } = link.condition();
    const retryAt = registration.nextAttemptAt;
    return {
      version: FIRMWARE_VERSION,
      chargePointId,
      board: board.name,
      link: {
        state: link.state,
        securityProfile: config.getInt('SecurityProfile'),
        ...condition,
        since: ocppTime(since),
        ...(lastFailure
          ? {
              lastFailure: {
                ...lastFailure,
                at: ocppTime(lastFailure.at),
                since: ocppTime(lastFailure.since),
              },
            }
          : {}),
        ...(nextAttemptAt === undefined ? {} : { nextAttemptAt: ocppTime(nextAttemptAt) }),
      },
      registration: registration.status,
      ...(retryAt === undefined ? {} : { registrationRetryAt: ocppTime(retryAt) }),
      time: sync,
      uptimeS: Math.floor((clock.monotonic() - startedAtMonotonic) / 1000),
      startedAt: time.atMonotonic(startedAtMonotonic),
      connectors,
      readers: board.readers.map(({ reader, connectorIds }) => {
        const lastRead = reader.lastRead();
        return {
          name: reader.name,
          connectorIds: [...connectorIds],
          health: reader.health(),
          ...(lastRead ? { lastRead } : {}),
        };
      }),
      faultInputs: board.faultInputs.map((f) => ({ kind: f.kind, active: f.isActive() })),
      store: this.storeReport(),
    };
  }

  private storeReport(): StoreReport {
    const { health, recovered } = this.deps.store;
    return {
      ...health.snapshot(),
      ...(recovered ? { recovered: { movedTo: recovered.movedTo, lost: recovered.salvage.lost } } : {}),
    };
  }

  configGet(keys: string[]) {
    const { config } = this.deps;
    const { configurationKey = [], unknownKey = [] } = config.list(keys);
    const entries: ConfigEntry[] = configurationKey.map((entry) =>
      config.isWriteOnly(entry.key) ? { ...entry, writeOnly: true, set: config.hasValue(entry.key) } : entry,
    );
    // Named keys come back in the order asked; the whole listing by name, to be read and diffed.
    if (keys.length === 0) entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { configurationKey: entries, unknownKey: [...unknownKey] };
  }

  configSet(key: string, value: string): ConfigSetReport {
    const { config } = this.deps;
    const outcome = config.changeWithReason(key, value, 'local');
    const made = outcome.status === 'Accepted' || outcome.status === 'RebootRequired';
    const now =
      made && !config.isWriteOnly(key) ? config.list([key]).configurationKey?.[0]?.value : undefined;
    return now === undefined ? outcome : { ...outcome, value: now };
  }

  async halMeterRead(connectorId: number): Promise<MeterReading> {
    const meter = this.hardware(connectorId).meter;
    if (!meter) throw new ControlError(`connector ${connectorId} has no meter`);
    try {
      return await meter.read();
    } catch (error) {
      throw new ControlError(`meter of connector ${connectorId} cannot be read: ${errorMessage(error)}`);
    }
  }

  halLastRfid() {
    return this.deps.board.readers.map(({ reader }) => ({
      reader: reader.name,
      ...(reader.lastRead() ?? {}),
    }));
  }

  /**
   * A relay test. `open` is always allowed. `close` only on an idle connector (Available or
   * Unavailable, no cable, no fault), and only for RELAY_TEST_MS: the contactor opens again at
   * once when a cable is plugged, a fault appears or the connector leaves idle in any other way.
   */
  async halRelay(connectorId: number, closed: boolean): Promise<void> {
    const hw = this.hardware(connectorId);
    const { log } = this.deps;
    if (!closed) {
      this.relayTests.get(connectorId)?.end();
      log.warn({ connectorId, closed, origin: 'local' }, 'relay toggled by a technician');
      await this.deps.limit.testRelay(connectorId, false);
      return;
    }
    if (this.closed) throw new ControlError(STOPPING);
    const refusal = this.relayRefusal(hw);
    if (refusal) throw new ControlError(`connector ${connectorId} is ${refusal}: ${RELAY_REFUSED}`);
    log.warn({ connectorId, closed, origin: 'local', forMs: RELAY_TEST_MS }, 'relay toggled by a technician');
    this.watchRelayTest(hw);
    await this.deps.limit.testRelay(connectorId, true);
    // The connector may have left idle while the relay was being closed.
    if (this.relayRefusal(hw)) this.relayTests.get(connectorId)?.end();
  }

  /**
   * One connector, or each in turn (never two contactors closed at once). A relay test on it is
   * ended first (its contactor opened); a connector that may not be tested is refused. `signal`
   * aborts when the client that asked goes away: the test under way ends at once (its contactor
   * commanded open) and no other starts.
   */
  async selfTest(connectorId?: number, signal?: AbortSignal): Promise<SelfTestSummary> {
    const ids = connectorId === undefined ? this.deps.station.connectorIds() : [connectorId];
    const connectors: SelfTestSummary['connectors'] = [];
    for (const id of ids) {
      const hw = this.hardware(id);
      if (!this.closed && this.relayTests.has(id)) await this.halRelay(id, false);
      // A test of every connector stops at the one the stop, or the client leaving, interrupted.
      if (this.closed) {
        if (connectorId !== undefined) throw new ControlError(STOPPING);
        connectors.push({ connectorId: id, passed: false, refused: 'the daemon is stopping' });
        continue;
      }
      if (signal?.aborted) {
        if (connectorId !== undefined) throw new ControlError(`connector ${id} not tested: ${CLIENT_LEFT}`);
        connectors.push({ connectorId: id, passed: false, refused: CLIENT_LEFT });
        continue;
      }
      try {
        connectors.push(await this.selfTestWatched(hw, signal));
      } catch (error) {
        if (!(error instanceof SelfTestRefused)) throw error;
        if (connectorId !== undefined) throw new ControlError(`${error.message}: ${SELF_TEST_REFUSED}`);
        connectors.push({ connectorId: id, passed: false, refused: error.message });
      }
    }
    return { passed: connectors.every((c) => c.passed), connectors };
  }

  /** The self-test of `hw`, aborted at once should `signal` abort (the client went away). */
  private async selfTestWatched(
    hw: ConnectorHardware,
    signal: AbortSignal | undefined,
  ): Promise<SelfTestReport> {
    const interrupt = (): void => void this.selfTests.abort(hw.id, CLIENT_LEFT);
    signal?.addEventListener('abort', interrupt, { once: true });
    try {
      // A refusal rejects before the run's first await, so the listener is gone again before any
      // socket event: it never aborts another client's test of this connector.
      return await this.selfTests.run(hw);
    } finally {
      signal?.removeEventListener('abort', interrupt);
    }
  }

  async setLocalLimit(connectorId: number, amps: number | undefined) {
    const { maxCurrentA } = this.hardware(connectorId).devices;
    try {
      await this.deps.limit.setLocalLimit(connectorId, amps ?? maxCurrentA);
    } catch (error) {
      if (error instanceof LocalLimitRefused) throw new ControlError(error.message);
      throw error;
    }
    const localLimitA = this.deps.limit.localLimit(connectorId);
    return { connectorId, ...(localLimitA === undefined ? {} : { localLimitA }) };
  }

  limits(connectorId: number, durationS: number): LimitsReport {
    if (connectorId !== 0) this.hardware(connectorId);
    const request = this.deps.chargingProfiles.compositeFor(connectorId, this.deps.time.nowMs(), durationS);
    if (!request) throw new ControlError('the charge point has no connectors');
    const { electrical } = request;
    const schedule = compositeSchedule(request);
    const inEffect = connectorId === 0 ? undefined : this.deps.limit.limitInEffect(connectorId);
    return {
      connectorId,
      start: schedule.start,
      durationS,
      voltageV: electrical.voltageV,
      phases: electrical.phases,
      periods: schedule.periods.map((period) => ({
        startPeriod: period.startPeriod,
        limitA: period.limitA,
        limitW: rateOf(period, 'W', electrical),
        numberPhases: period.numberPhases,
        ...(period.minChargingRateA === undefined ? {} : { minChargingRateA: period.minChargingRateA }),
        source: period.source,
      })),
      ...(inEffect ? { inEffect } : {}),
    };
  }

  /**
   * The runtime is stopping: every relay test and self-test ends now (contactors commanded open, no
   * timer left behind) and none starts any more. Resolves once the self-tests have ended.
   */
  close(): Promise<void> {
    this.closed = true;
    for (const [connectorId, test] of this.relayTests) {
      test.end();
      this.openRelay(this.hardware(connectorId));
    }
    return this.selfTests.close();
  }

  /** Ends the test at the owner of the contactor, without waiting (it logs what fails). */
  private openRelay(hw: ConnectorHardware): void {
    void this.deps.limit.testRelay(hw.id, false);
  }

  /** Why a relay may not be closed for a test now, or undefined when it may. */
  private relayRefusal(hw: ConnectorHardware): string | undefined {
    const status = this.deps.station.status(hw.id)?.status ?? 'unknown';
    const fault = hw.fault();
    if (fault) return `faulted (${fault.fault})`;
    if (!IDLE.has(status)) return status;
    if (this.selfTests.isRunning(hw.id)) return 'under a self-test';
    if (hw.plugged()) return 'plugged';
    return undefined;
  }

  /** Ends the test on the first sign that the connector is no longer idle, or when its time is up. */
  private watchRelayTest(hw: ConnectorHardware): void {
    const { station, clock, log } = this.deps;
    this.relayTests.get(hw.id)?.end();
    const check = (): void => {
      const why = this.relayRefusal(hw);
      if (why) stop(`connector ${why}`);
    };
    const onStatus = (snapshot: { connectorId: number }): void => {
      if (snapshot.connectorId === hw.id) check();
    };
    const stop = (why: string): void => {
      test.end();
      log.warn({ connectorId: hw.id, why }, 'relay test ended: contactor opened');
      this.openRelay(hw);
    };
    const test: RelayTest = {
      timer: clock.setTimeout(() => stop(`${RELAY_TEST_MS} ms passed`), RELAY_TEST_MS),
      end: () => {
        if (this.relayTests.get(hw.id) !== test) return;
        this.relayTests.delete(hw.id);
        test.timer.cancel();
        hw.off('plug', check);
        hw.off('fault', check);
        station.off('status', onStatus);
      },
    };
    this.relayTests.set(hw.id, test);
    // Hardware events come before the station derives a status from them: the earliest moment.
    hw.on('plug', check);
    hw.on('fault', check);
    station.on('status', onStatus);
  }

  transactions(recent: number): TransactionsReport {
    const log = this.deps.transactionLog;
    const running = log.running();
    // The latest rows include the running ones (at most all of them): ask for that many more.
    const finished = log
      .recent(recent + running.length)
      .filter((row) => row.stoppedAt !== undefined)
      .slice(0, recent);
    return { running: running.map(transactionReport), recent: finished.map(transactionReport) };
  }

  firmware(): FirmwareReport {
    const { firmware, installHook } = this.deps;
    const record = firmware.current();
    const progress = firmware.progress();
    const base = { busy: firmware.busy(), installHook, requireSigned: firmware.requireSigned };
    if (!record) return { status: 'Idle', ...base };
    const { signature: _signature, signingCertificate: _certificate, image: _image, ...shown } = record;
    return { ...shown, location: shownLocation(record), ...base, ...(progress ? { progress } : {}) };
  }

  firmwareInstall(file: string, signature?: string, certificate?: string): FirmwareInstallReport {
    if ((signature === undefined) !== (certificate === undefined))
      throw new ControlError('a signature needs its signing certificate, and the other way round');
    this.deps.log.info(
      { file, signed: signature !== undefined },
      'firmware install from a local file (cpctl)',
    );
    return this.deps.firmware.installFile({
      source: 'local',
      location: file,
      retrieveAt: this.deps.time.nowMs(),
      retries: 0,
      retryIntervalS: 0,
      ...(signature === undefined ? {} : { signature }),
      ...(certificate === undefined ? {} : { signingCertificate: certificate }),
    });
  }

  securityLog(limit: number, clear: boolean): SecurityLogReport {
    const events = this.deps.securityEvents;
    const cleared = clear ? events.clear('cpctl') : undefined;
    return {
      total: events.count(),
      entries: events.newest(limit),
      ...(cleared === undefined ? {} : { cleared }),
    };
  }

  queue(): QueueReport {
    const { outbox } = this.deps;
    // Paged in SQL: a charger offline for weeks holds far more than anyone reads here.
    return {
      // The head is what blocks delivery; among dead letters the newest are the news.
      pending: outbox.firstPending(QUEUE_LIST_LIMIT).map(queuedMessage),
      pendingTotal: outbox.size(),
      deadLetters: outbox.newestDeadLetters(QUEUE_LIST_LIMIT).map(deadLetterReport),
      deadLetterTotal: outbox.deadLetterCount(),
    };
  }

  queueRetry(): { requeued: number } {
    return { requeued: this.deps.outbox.retryDeadLetters() };
  }

  auth(idTag?: string): AuthReport {
    const { config, localList, authCache } = this.deps;
    const report: AuthReport = {
      localList: {
        enabled: isEnabled(config, 'LocalAuthListEnabled'),
        version: localList.version(),
        size: localList.size(),
      },
      cache: { enabled: isEnabled(config, 'AuthorizationCacheEnabled'), size: authCache.size() },
    };
    if (idTag === undefined) return report;
    // Both sources, whatever the configuration says: the technician wants to know why an id is (not) accepted.
    const listed = localList.get(idTag);
    const cached = authCache.get(idTag);
    report.lookup = {
      idTag,
      ...(listed === undefined ? {} : { localList: listed }),
      ...(cached === undefined ? {} : { cache: cached }),
    };
    return report;
  }

  reconnect(): void {
    this.deps.log.warn({ origin: 'local' }, 'reconnect requested by a technician');
    this.deps.link.reconnect('technician request');
  }

  reset(type: ResetType): 'Accepted' {
    this.deps.log.warn({ type, origin: 'local' }, 'reset requested by a technician');
    // After the answer has gone out: the reset closes this very socket.
    setImmediate(() => this.deps.requestReset(type));
    return 'Accepted';
  }

  availability(connectorId: number, type: 'Operative' | 'Inoperative') {
    if (connectorId !== 0) this.hardware(connectorId);
    this.deps.log.info({ connectorId, type, origin: 'local' }, 'availability change by a technician');
    return this.deps.station.changeAvailability(connectorId, type);
  }

  async unlock(connectorId: number) {
    this.hardware(connectorId);
    const status = await this.deps.transactions.unlock(connectorId);
    this.deps.log.info({ connectorId, status, origin: 'local' }, 'connector unlock by a technician');
    return status;
  }

  setLogLevel(level: LogLevel): string {
    const previous = this.deps.log.level;
    // Written before the change, so that even a change to a quieter level leaves its trace.
    this.deps.log.warn({ level, previous, origin: 'local' }, 'log level changed by a technician');
    setLogLevel(this.deps.log, level);
    return previous;
  }

  traceWindow(limit: number, action?: string) {
    return this.deps.trace.window(limit, action);
  }

  traceAfter(afterSeq: number, max: number, action?: string): TraceEntry[] {
    return this.deps.trace.after(afterSeq, max, action);
  }

  onTraceEntry(listener: () => void): () => void {
    this.deps.trace.on('entry', listener);
    return () => this.deps.trace.off('entry', listener);
  }

  onChange(listener: () => void): () => void {
    return this.changes(listener);
  }

  diagnosticsBundle(): Promise<{ path: string; fileName: string; bytes: number }> {
    return this.deps.diagnosticsBundle();
  }

  private hardware(connectorId: number) {
    const hw = this.deps.station.connector(connectorId);
    if (!hw)
      throw new ControlError(
        `no connector ${connectorId} (connectors: ${this.deps.station.connectorIds().join(', ')})`,
      );
    return hw;
  }

  private async connectorReport(id: number, running: TransactionRow | undefined): Promise<ConnectorReport> {
    const { station } = this.deps;
    const hw = this.hardware(id);
    const snapshot = station.status(id);
    const { relay, pilot, meter, lock } = hw.devices;
    const localLimitA = this.deps.limit.localLimit(id);
    let reading: ConnectorReport['meter'];
    if (meter) reading = await meter.read().catch((error: Error) => ({ error: error.message }));
    const lastAuthorization = this.deps.authorizations.of(id);
    const register = reading && 'energyImportWh' in reading ? reading.energyImportWh : undefined;
    return {
      id,
      status: snapshot?.status ?? 'unknown',
      errorCode: snapshot?.errorCode ?? 'NoError',
      ...(snapshot?.info ? { info: snapshot.info } : {}),
      availability: station.availabilityOf(id),
      plugged: hw.plugged(),
      pilot: pilot.state(),
      ...limitReport(this.deps.limit.limitInEffect(id), pilot.currentLimit()),
      ...(localLimitA === undefined ? {} : { localLimitA }),
      relay: { closed: relay.isClosed(), ...feedbackReport(relay) },
      ...(lock ? { lock: { locked: lock.isLocked(), ...feedbackReport(lock) } } : {}),
      ...(reading ? { meter: reading } : {}),
      faults: hw.problems(),
      ...(running ? { session: this.sessionReport(running, register) } : {}),
      ...(lastAuthorization ? { lastAuthorization } : {}),
    };
  }

  /** A running transaction as the meter reads now (`registerWh`), else as last recorded. */
  private sessionReport(row: TransactionRow, registerWh: number | undefined): SessionReport {
    // Whole Wh, as the engine records the register; never below the start.
    const register =
      registerWh === undefined ? row.lastMeter : Math.max(Math.round(registerWh), row.meterStart);
    return {
      localId: row.localId,
      ...(row.transactionId === undefined ? {} : { transactionId: row.transactionId }),
      idTag: row.idTag,
      startedAt: row.startedAt,
      durationS: Math.max(0, Math.floor((this.deps.time.nowMs() - Date.parse(row.startedAt)) / 1000)),
      meterStartWh: row.meterStart,
      energyWh: register - row.meterStart,
    };
  }
}

const STOPPING = 'the daemon is stopping: nothing is switched for a test now';
/** Why a self-test ended when the client that asked for it went away (cpctl ended by Ctrl-C). */
const CLIENT_LEFT = 'the technician interrupted it (cpctl ended)';

const SELF_TEST_REFUSED =
  'a self-test runs only on a connector with no cable, no session and no reservation (Available, Unavailable or Faulted)';

const RELAY_REFUSED = `a relay can be closed only while it is idle (Available or Unavailable, no cable, no fault), for ${RELAY_TEST_MS / 1000} s`;

/**
 * The limit in effect as its owner commands it and where it comes from; the pilot's own offer only
 * before the owner's first evaluation.
 */
function limitReport(
  inEffect: LimitInEffect | undefined,
  pilotA: number,
): Pick<ConnectorReport, 'currentLimitA' | 'offerState' | 'compositeLimitA' | 'limitSource' | 'limitPaused'> {
  return inEffect ? limitFields(inEffect) : { currentLimitA: pilotA };
}

function transactionReport(row: TransactionRow): TransactionReport {
  return { ...row, energyWh: (row.meterStop ?? row.lastMeter) - row.meterStart };
}

function queuedMessage(entry: OutboxEntry): QueuedMessage {
  const { seq, action, localTxId, attempts, nextAttemptAt, createdAt } = entry;
  return {
    seq,
    action,
    ...(localTxId === undefined ? {} : { localTxId }),
    attempts,
    nextAttemptAt,
    createdAt,
  };
}

function deadLetterReport(entry: DeadLetter): DeadLetterReport {
  const { nextAttemptAt: _never, ...message } = queuedMessage(entry);
  return { ...message, lastError: entry.lastError, failedAt: entry.failedAt };
}

function simControls(board: SimBoard, log: Logger): SimControls {
  /** The sim board throws RangeError for a connector or reader it does not have: a technician's typo. */
  const guard =
    <A extends unknown[]>(name: string, fn: (...args: A) => void) =>
    (...args: A): void => {
      try {
        fn(...args);
      } catch (error) {
        if (error instanceof RangeError) throw new ControlError(error.message);
        throw error;
      }
      log.info({ command: name, args }, 'simulated board command');
    };
  return {
    plug: guard('plug', (c: number) => board.plug(c)),
    unplug: guard('unplug', (c: number) => board.unplug(c)),
    ev: guard('ev', (c: number, mode: 'charge' | 'pause') => board.ev(c, mode)),
    swipe: guard('swipe', (idTag: string, reader?: number) => board.swipe(idTag, reader)),
    fault: guard('fault', (c: number, code: string) => board.fault(c, code)),
    clear: guard('clear', (c: number) => board.clear(c)),
    lockFail: guard('lockFail', (c: number, failing: boolean) => board.lockFail(c, failing)),
    tamper: guard('tamper', (active: boolean) => board.tamper(active)),
    meter: guard('meter', (c: number, powerW: number) => board.meter(c, powerW)),
  };
}

/** A device's feedback input, where it has one: its last reading, and whether that is current. */
function feedbackReport(device: {
  feedback(): boolean | undefined;
  feedbackReadable(): boolean;
}): Pick<ConnectorReport['relay'], 'feedback' | 'feedbackReadable'> {
  const feedback = device.feedback();
  return feedback === undefined ? {} : { feedback, feedbackReadable: device.feedbackReadable() };
}
