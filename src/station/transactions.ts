import { EventEmitter } from 'node:events';
import type { ConnectorHardware, ConnectorLock, MeterReading } from '../../hal/types.js';
import type { Clock, OcppTime, Timer } from '../clock.js';
import type { ConfigurationRegistry } from '../config/registry.js';
import { errorMessage } from '../error-message.js';
import type { Logger } from '../log.js';
import { attemptWrite } from '../store/health.js';
import type { TransactionRow, TransactionsRepo } from '../store/transactions-repo.js';
import type { AuthorizationDecision, IdTagInfo } from './auth-types.js';
import type { EnergyControl, SessionEnergy } from './charging-limit.js';
import type { PendingTxProfile } from './charging-profile-types.js';
import type { Reservations } from './reservations.js';
import {
  type AuthorizationAttempt,
  IDLE,
  openTransaction,
  type PendingStart,
  pendingStart,
  type RunningTransaction,
  type SessionEvent,
  type SessionState,
  transition,
} from './session-machine.js';
import { isTransactionStatus, pilotAsksForEnergy, transactionStatus } from './session-status.js';
import type { Station } from './station.js';
import type {
  ReadingContext,
  StopReason,
  TransactionEvent,
  TransactionSink,
  TransactionStop,
} from './transaction-types.js';

export type { ReadingContext, StopReason, TransactionEvent, TransactionSink, TransactionStop };

/**
 * Told of the engine's writes: a write that fails because the disk is full or failing is reported
 * (true) and the engine carries on from memory; any other error is thrown as before.
 */
export interface WriteHealth {
  /** Runs `write`: true when written, false when the disk refused it (reported); else throws. */
  attempt(what: string, write: () => void): boolean;
  /** The last write went through (a write that succeeds sets it again). */
  readonly ok: boolean;
}

/**
 * How often the meter register of a running transaction is persisted when no periodic sample
 * does it (MeterValueSampleInterval 0, or longer than this): a power cut then ends the transaction
 * at most this long before it happened, with the energy of that moment. Every reading between is
 * kept in memory; all connectors' registers go in one SQL transaction, one sync per period.
 */
export const REGISTER_PERSIST_MS = 10_000;

export interface TransactionEngineOptions {
  station: Station;
  /** Storage failures of the engine's writes; without it they are thrown. */
  writes?: WriteHealth;
  repo: TransactionsRepo;
  sink: TransactionSink;
  authorize(idTag: string): Promise<AuthorizationDecision>;
  /** The answer to Authorize, StartTransaction and StopTransaction updates the cache. */
  reportIdTagInfo(idTag: string, info: IdTagInfo): void;
  /** Who may start where, and the reservationId a start ends. */
  reservations: Pick<Reservations, 'isReserved' | 'claim' | 'couldClaim' | 'consume'>;
  /** The owner of the offered current: the only one that moves the pilot limit and the contactor. */
  limit: EnergyControl;
  /** Installs a remote start's TxProfile, bound to its transaction row, in the SQL transaction recording it. */
  txProfiles?: { bindToTransaction(profile: PendingTxProfile, row: TransactionRow): void };
  config: ConfigurationRegistry;
  clock: Clock;
  time: OcppTime;
  log: Logger;
}

/**
 * How often a connector lock that failed is tried again (an unlock) while nothing needs it
 * locked, ms. Nothing else would try it: its connector is Faulted, so no session starts there.
 */
export const LOCK_RETRY_MS = 30_000;

/**
 * The id tag of warmUp's rehearsals; never seen outside their rolled-back SQL transactions. Longer
 * than any real id tag (CiString20Type), so no reservation or list entry can be for it.
 */
export const REHEARSAL_ID_TAG = 'WARM-UP-REHEARSAL-ONLY';

/** Thrown to roll a rehearsal back. */
class RolledBack extends Error {}

export interface TransactionEngineEvents {
  changed: [connectorId: number];
  /**
   * An id was decided on for these connectors (a card at their reader, a remote start), or the
   * central system refused the id of a transaction it was told of (`via` StartTransaction).
   */
  authorized: [connectorIds: readonly number[], decision: AuthorizationDecision];
  transaction: [event: TransactionEvent];
}

/**
 * Charging sessions: a transaction starts when a cable is plugged and an id is authorized, in
 * either order, and ends for one of the OCPP reasons. Each connector's session is one state of
 * the machine in session-machine.ts; this class performs the effects (relay, lock, meter, SQL,
 * timers) and moves the state by the machine's table. Every start, sample and stop is written to
 * SQLite (with its outgoing message, through the sink) before the charger acts on it, so a power
 * cut at any point is recovered on the next start: a transaction still open then is stopped with
 * PowerLoss at the last persisted meter value.
 *
 * Energy is counted in whole Wh (the store's columns and OCPP's meterStart/meterStop are
 * integers), and no transaction starts without a meter reading: a meter that cannot be read at the
 * moment of the start ends the session (the connector goes back to its idle status) rather than
 * start from a guessed register, which would bill the whole register at the stop.
 */
export class TransactionEngine extends EventEmitter<TransactionEngineEvents> {
  private readonly states = new Map<number, SessionState>();
  /** Stops in progress, so a second stop (reset, remote) waits for the first. */
  private readonly stops = new Map<number, Promise<void>>();
  private readonly unsubscribe: Array<() => void> = [];
  /** Connectors whose failed lock is due for another try. */
  private readonly lockRetries = new Map<number, Timer>();
  /** Register readings (by local transaction) newer than what the database holds. */
  private readonly unsavedRegisters = new Map<number, { wh: number; at: string }>();
  /** Stops the disk refused: recorded (with their StopTransaction) once it writes again. */
  private readonly unrecordedStops: Array<{ row: TransactionRow; stop: TransactionStop }> = [];
  private registerTimer: Timer | undefined;
  private closed = false;
  private warmedUp = false;
  /** Connectors a self-test holds: no session starts there (`hold`). */
  private readonly held = new Set<number>();

  constructor(private readonly opts: TransactionEngineOptions) {
    super();
    for (const id of opts.station.connectorIds()) this.states.set(id, IDLE);
    opts.limit.attach((id) => this.sessionEnergy(id));
    opts.station.setSessionProvider((id) => ({
      state: this.stateOf(id),
      reserved: opts.reservations.isReserved(id),
      limitPaused: opts.limit.paused(id),
    }));
  }

  /** Recovers from the last run, then follows the hardware. */
  start(): void {
    this.recoverAfterPowerLoss();
    const { station } = this.opts;
    for (const id of station.connectorIds()) {
      const hw = station.connector(id);
      if (!hw) continue;
      const onPlug = (plugged: boolean) => {
        if (plugged) this.onPlugged(id);
        else this.onUnplugged(id);
        // A cable taken or put in is the moment a driver expects the lock to work again.
        void this.retryLock(id);
      };
      const onFault = () => this.onFault(id);
      // The pilot changes before the plug is reported: an EV that left is handled at once.
      const onPilot = () => {
        if (!hw.plugged()) this.onUnplugged(id);
        void this.followPilot(id);
      };
      // Ahead of the station's own listeners: the session moves before the status is derived.
      hw.prependListener('plug', onPlug);
      hw.prependListener('fault', onFault);
      hw.prependListener('pilot', onPilot);
      this.unsubscribe.push(() => {
        hw.off('plug', onPlug);
        hw.off('fault', onFault);
        hw.off('pilot', onPilot);
      });
    }
    const onAvailability = (ids: number[]) => {
      for (const id of ids) if (!this.inService(id)) this.lapse(id, 'connector unavailable');
    };
    station.on('availability', onAvailability);
    this.unsubscribe.push(() => station.off('availability', onAvailability));
  }

  /**
   * Rehearses a start and a stop on the first connector, one step per event-loop turn: the moves
   * of a remote start and stop (compileSessionMoves), the stop's command of the contactor (where
   * it changes nothing), a meter read, then the start's and the stop's SQL and queued messages,
   * each in an SQL transaction that is rolled back. The first
   * session then finds the pages, statements and code from the meter to the queued
   * StartTransaction / StopTransaction warm: cold, they made it several times slower than the
   * ones after. Nothing of it stays in the store or reaches the central system
   * (the outbox looks at its queue only after the rollback). Last, the WAL is started over
   * (`TransactionsRepo.restartWal`), so the first session's commits do not grow it. Call it once
   * registered, so it does not delay the BootNotification; later calls do nothing.
   */
  warmUp(): void {
    if (this.warmedUp) return;
    this.warmedUp = true;
    const connectorId = this.opts.station.connectorIds()[0];
    const hw = connectorId === undefined ? undefined : this.opts.station.connector(connectorId);
    if (connectorId === undefined || !hw) return;
    const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
    void (async () => {
      await nextTurn();
      // The queries a remote start asks before anything is recorded; they change nothing.
      this.candidatesFor(this.opts.station.connectorIds(), REHEARSAL_ID_TAG);
      await nextTurn();
      if (this.closed) return;
      this.compileSessionMoves(connectorId);
      // The stop's way to the contactor (ChargingLimit.stopEnergy), taken where it changes nothing:
      // a contactor commanded open is commanded open again (not under a self-test's hold, whose
      // commands of it are its own).
      if (this.unclaimed(connectorId) && !hw.devices.relay.isClosed())
        await this.opts.limit.stopEnergy(connectorId);
      const reading = (await this.readMeter(hw)) ?? { at: this.opts.time.nowMs(), energyImportWh: 0 };
      for (const withStop of [false, true]) {
        await nextTurn();
        if (this.closed) return;
        this.rehearse(connectorId, reading, withStop);
      }
      await nextTurn();
      if (this.closed) return;
      try {
        this.opts.repo.restartWal();
      } catch (error) {
        this.opts.log.warn({ err: errorMessage(error) }, 'WAL not restarted');
      }
    })();
  }

  /** Timers only; a stop for reset is `stopAll` first. */
  close(): void {
    this.persistPending();
    this.closed = true;
    this.registerTimer?.cancel();
    this.registerTimer = undefined;
    for (const off of this.unsubscribe.splice(0)) off();
    for (const timer of this.lockRetries.values()) timer.cancel();
    this.lockRetries.clear();
    for (const state of this.states.values()) {
      pendingStart(state)?.timer?.cancel();
      const tx = openTransaction(state);
      tx?.sampler?.cancel();
      tx?.invalidIdLimit?.timer?.cancel();
    }
  }

  // ---- queries ----

  /** The open transaction on a connector (running, or being stopped). */
  transactionOn(connectorId: number): TransactionRow | undefined {
    return openTransaction(this.stateOf(connectorId))?.row;
  }

  activeTransactions(): TransactionRow[] {
    return this.openTransactions().map((tx) => tx.row);
  }

  /** The OCPP transaction id of a local transaction, once the central system gave one. */
  transactionIdOf(localId: number): number | undefined {
    const open = this.openWith('localId', localId);
    return open ? open.row.transactionId : this.opts.repo.get(localId)?.transactionId;
  }

  /** No session, not held, and not faulted or unavailable. */
  isFree(connectorId: number): boolean {
    const status = this.opts.station.status(connectorId)?.status;
    return (
      this.unclaimed(connectorId) &&
      (status === 'Available' || status === 'Preparing' || status === 'Reserved')
    );
  }

  /** A connector of this station with no session on it and no self-test holding it. */
  private unclaimed(connectorId: number): boolean {
    return this.states.get(connectorId)?.kind === 'Idle' && !this.held.has(connectorId);
  }

  /**
   * Holds an idle connector for a hardware self-test: no card or remote start opens a session
   * there until the returned function releases it (a cable plugged in meanwhile is followed as
   * usual; the driver's card then starts the session). Undefined when a session is pending,
   * running or finishing there, or another hold has it.
   */
  hold(connectorId: number): (() => void) | undefined {
    if (!this.unclaimed(connectorId)) return undefined;
    this.held.add(connectorId);
    return () => {
      this.held.delete(connectorId);
    };
  }

  /**
   * No session pending, running or being stopped on any connector (a cable left in after its
   * transaction counts as ended): nothing an outage of the charger would cut.
   */
  sessionsEnded(): boolean {
    return [...this.states.values()].every((state) => state.kind === 'Idle' || state.kind === 'Finishing');
  }

  /** The running transaction on a connector, not one being stopped. */
  runningTransactionOn(connectorId: number): TransactionRow | undefined {
    return this.runningOn(connectorId)?.row;
  }

  /** The TxProfiles of remote starts whose transaction is not recorded yet (authorizing, waiting, starting). */
  pendingTxProfiles(): PendingTxProfile[] {
    const profiles = new Set<PendingTxProfile>();
    for (const state of this.states.values()) {
      const txProfile =
        state.kind === 'Authorizing' ? state.attempt.txProfile : pendingStart(state)?.txProfile;
      if (txProfile) profiles.add(txProfile);
    }
    return [...profiles];
  }

  /** The TxProfile of the running transaction's remote start, if it had one. */
  txProfileOn(connectorId: number): PendingTxProfile | undefined {
    return openTransaction(this.stateOf(connectorId))?.txProfile;
  }

  // ---- driver actions ----

  /**
   * A card at a reader serving `connectorIds`. The tag that started a transaction there stops it
   * without asking anyone; the tag of a session waiting for its cable there cancels it; otherwise
   * the card is authorized and starts (or prepares) a session. Prepared on every free connector of
   * the reader (each shows Preparing): the session starts on the first one plugged, and the others
   * are free again.
   */
  async presentIdTag(idTag: string, connectorIds: readonly number[]): Promise<void> {
    const { log } = this.opts;
    const running = connectorIds.flatMap((id) => {
      const state = this.stateOf(id);
      return state.kind === 'Transaction' ? [state.tx.row] : [];
    });
    const own = running.find((row) => sameTag(row.idTag, idTag));
    if (own) {
      await this.stop(own.connectorId, 'Local', idTag);
      return;
    }
    const waiting = connectorIds.filter((id) => {
      const state = this.stateOf(id);
      return state.kind === 'Preparing' && sameTag(state.pending.idTag, idTag);
    });
    if (waiting.length > 0) {
      for (const id of waiting) this.lapse(id, 'card presented again');
      return;
    }
    // A different card stops a transaction only when both share a parent id (a group card); only
    // then is it worth asking about this card before knowing where it may start a session.
    if (running.some((row) => row.parentIdTag)) {
      const decision = await this.opts.authorize(idTag);
      const parent = decision.info.status === 'Accepted' ? decision.info.parentIdTag : undefined;
      const sibling = parent
        ? running.find((row) => row.parentIdTag && sameTag(row.parentIdTag, parent))
        : undefined;
      if (sibling) await this.stop(sibling.connectorId, 'Local', idTag);
      else this.authorizedAt(this.cardTargets(connectorIds, idTag), idTag, decision);
      return;
    }
    const candidates = this.cardTargets(connectorIds, idTag);
    if (candidates.length === 0) {
      log.info({ idTag, connectorIds }, 'card ignored: no connector free for a new session');
      return;
    }
    await this.authorizeFor(candidates, { idTag });
  }

  /**
   * RemoteStartTransaction. Accepted means the charger will try: with AuthorizeRemoteTxRequests
   * the id is authorized first, and the driver then has ConnectionTimeOut to plug in. Without a
   * connectorId, a connector where an EV waits plugged in is chosen before an empty one.
   */
  remoteStart(idTag: string, connectorId?: number, txProfile?: PendingTxProfile): 'Accepted' | 'Rejected' {
    const ids = connectorId === undefined ? this.opts.station.connectorIds() : [connectorId];
    const [target] = this.candidatesFor(ids, idTag);
    if (target === undefined) return 'Rejected';
    const profile = txProfile === undefined ? {} : { txProfile };
    if (!this.opts.config.getBool('AuthorizeRemoteTxRequests')) {
      // Without an authorization there is no parent id to match a reservation by.
      if (!this.opts.reservations.claim(target, idTag).allowed) return 'Rejected';
      this.prepare([target], { idTag, ...profile });
      return 'Accepted';
    }
    void this.authorizeFor([target], { idTag, ...profile }).catch((error: Error) =>
      this.opts.log.error({ err: error.message, idTag }, 'remote start failed'),
    );
    return 'Accepted';
  }

  /** RemoteStopTransaction: Rejected when no open transaction has that id. */
  remoteStop(transactionId: number): 'Accepted' | 'Rejected' {
    const open = this.openWith('transactionId', transactionId);
    if (!open) return 'Rejected';
    void this.stop(open.row.connectorId, 'Remote');
    return 'Accepted';
  }

  /**
   * UnlockConnector: ends a running transaction (UnlockCommand), then releases the cable;
   * UnlockFailed while its contactor is not known open (a failed command followed by retried
   * opens, a welded contact): the cable stays locked, and the stop's own release follows once the
   * contactor opens.
   */
  async unlock(connectorId: number): Promise<'Unlocked' | 'UnlockFailed' | 'NotSupported'> {
    const hw = this.opts.station.connector(connectorId);
    if (!hw || hw.fixedCable || !hw.lock) return 'NotSupported';
    await this.stop(connectorId, 'UnlockCommand');
    if (!this.opts.limit.contactorOpen(connectorId)) {
      this.opts.log.warn({ connectorId }, 'unlock refused: the contactor is not known open');
      return 'UnlockFailed';
    }
    return (await hw.lock.unlock()) ? 'Unlocked' : 'UnlockFailed';
  }

  /** Ends every open transaction (reset, shutdown) and waits until each is recorded. */
  async stopAll(reason: StopReason): Promise<void> {
    await Promise.all(this.activeTransactions().map((row) => this.stop(row.connectorId, reason)));
  }

  /** StartTransaction.conf: the central system's transaction id and its verdict on the id tag. */
  onStartConfirmed(localId: number, transactionId: number, info: IdTagInfo): void {
    this.opts.repo.setTransactionId(localId, transactionId);
    const tx = this.openWith('localId', localId);
    if (!tx) return;
    tx.row = { ...tx.row, transactionId };
    this.opts.reportIdTagInfo(tx.row.idTag, info);
    if (info.status === 'Accepted') return;
    const connectorId = tx.row.connectorId;
    this.opts.log.warn(
      { connectorId, transactionId, status: info.status },
      'central system refused the id of a running transaction',
    );
    if (this.runningOn(connectorId) !== tx) return;
    // The verdict the engine acts on is the connector's last authorization now, whatever let the
    // transaction start (the local list, the cache, an offline rule).
    this.emit('authorized', [connectorId], {
      idTag: tx.row.idTag,
      info,
      source: 'central',
      via: 'StartTransaction',
    });
    if (this.opts.config.getBool('StopTransactionOnInvalidId')) void this.stop(connectorId, 'DeAuthorized');
    else this.limitEnergyOfInvalidId(connectorId, tx);
  }

  /**
   * A clock-aligned reading: recorded with the running transaction (and queued with it) when
   * there is one; false when the connector is idle, so the caller reports it on its own.
   */
  recordAligned(connectorId: number, reading: MeterReading, timestampMs: number): boolean {
    const tx = this.runningOn(connectorId);
    if (!tx) return false;
    this.recordSample(tx, wholeWh(reading), 'Sample.Clock', timestampMs);
    return true;
  }

  // ---- the state machine ----

  private stateOf(connectorId: number): SessionState {
    return this.states.get(connectorId) ?? IDLE;
  }

  /** Moves the session by the table; false (nothing changes) when the table has no such transition. */
  private apply(connectorId: number, event: SessionEvent): boolean {
    const next = transition(this.stateOf(connectorId), event);
    if (!next) return false;
    this.states.set(connectorId, next);
    this.changed(connectorId);
    return true;
  }

  /** A session that has not started a transaction ends (Authorizing, Preparing): the connector is idle again. */
  private lapse(connectorId: number, why: string): void {
    const state = this.stateOf(connectorId);
    if (state.kind !== 'Authorizing' && state.kind !== 'Preparing') return;
    const idTag = state.kind === 'Preparing' ? state.pending.idTag : state.attempt.idTag;
    this.apply(connectorId, { type: 'lapse' });
    this.opts.log.info({ connectorId, idTag }, `session cancelled: ${why}`);
  }

  private changed(connectorId: number): void {
    this.opts.station.refresh();
    this.emit('changed', connectorId);
  }

  private openTransactions(): RunningTransaction[] {
    return [...this.states.values()].flatMap((state) => openTransaction(state) ?? []);
  }

  /**
   * The open transaction with this local or OCPP id. A loop, not a search of openTransactions():
   * it runs for every transaction message sent, and the warm-up's calls, finding none, compile
   * all of it for the first session.
   */
  private openWith(key: 'localId' | 'transactionId', id: number): RunningTransaction | undefined {
    for (const state of this.states.values()) {
      const tx = openTransaction(state);
      if (tx?.row[key] === id) return tx;
    }
    return undefined;
  }

  /** The transaction running (not being stopped) on a connector. */
  private runningOn(connectorId: number): RunningTransaction | undefined {
    const state = this.stateOf(connectorId);
    return state.kind === 'Transaction' ? state.tx : undefined;
  }

  private inService(connectorId: number): boolean {
    return this.opts.station.inService(connectorId);
  }

  /**
   * Where a new session for `idTag` may go among `connectorIds`: the connector reserved for this
   * id, or one where an EV waits plugged in, alone; else every free one (a reservation that only
   * the authorization's parent id may open is decided once authorized).
   */
  private candidatesFor(connectorIds: readonly number[], idTag: string): number[] {
    const { reservations, station } = this.opts;
    const free = connectorIds.filter((id) => this.isFree(id) && reservations.couldClaim(id, idTag));
    const sure = free.filter((id) => reservations.claim(id, idTag).allowed);
    const plugged = (id: number) => station.connector(id)?.plugged() === true;
    const first = sure.find((id) => reservations.isReserved(id)) ?? sure.find(plugged) ?? free.find(plugged);
    return first === undefined ? free : [first];
  }

  /**
   * Where a card at a reader serving `connectorIds` may open a session. The driver at a faulted
   * connector of that reader may not know it is faulted: a card that goes to another connector
   * instead says so in the log.
   */
  private cardTargets(connectorIds: readonly number[], idTag: string): number[] {
    const candidates = this.candidatesFor(connectorIds, idTag);
    const faulted = connectorIds.filter((id) => this.opts.station.status(id)?.status === 'Faulted');
    if (faulted.length > 0 && candidates.length > 0)
      this.opts.log.warn(
        { idTag, faulted, connectorIds: candidates },
        `card presented while connector ${faulted.join(', ')} is faulted: offered to connector ${candidates.join(', ')}`,
      );
    return candidates;
  }

  /** Asks about an id for these connectors, which wait for the answer (Authorizing). */
  private async authorizeFor(connectorIds: readonly number[], attempt: AuthorizationAttempt): Promise<void> {
    for (const id of connectorIds) this.apply(id, { type: 'authorize', attempt });
    const stillMine = () =>
      connectorIds.filter((id) => {
        const state = this.stateOf(id);
        return state.kind === 'Authorizing' && state.attempt === attempt;
      });
    let decision: AuthorizationDecision;
    try {
      decision = await this.opts.authorize(attempt.idTag);
    } catch (error) {
      for (const id of stillMine()) this.lapse(id, 'authorization failed');
      throw error;
    }
    this.authorizedAt(stillMine(), attempt.idTag, decision, attempt.txProfile);
  }

  /** The answer about an id: it waits for a cable on the connectors it may use; the rest are idle again. */
  private authorizedAt(
    connectorIds: readonly number[],
    idTag: string,
    decision: AuthorizationDecision,
    txProfile?: PendingTxProfile,
  ): void {
    const { log, reservations } = this.opts;
    this.emit('authorized', connectorIds, decision);
    const parentIdTag = decision.info.status === 'Accepted' ? decision.info.parentIdTag : undefined;
    const claims = connectorIds
      .map((id) => ({ id, claim: reservations.claim(id, idTag, parentIdTag) }))
      .filter(({ claim }) => claim.allowed);
    // The connector holding this id's reservation, if one does; else every one it may use.
    const reserved = claims.find(({ claim }) => claim.reservationId !== undefined);
    const targets =
      decision.info.status !== 'Accepted' ? [] : reserved ? [reserved.id] : claims.map(({ id }) => id);
    if (decision.info.status !== 'Accepted')
      log.info(
        { connectorIds, idTag, status: decision.info.status, source: decision.source },
        'id tag not authorized',
      );
    else if (targets.length === 0) log.info({ connectorIds, idTag }, 'connector reserved for another id');
    for (const id of connectorIds) if (!targets.includes(id)) this.lapse(id, 'not authorized here');
    if (targets.length === 0) return;
    this.prepare(targets, {
      idTag,
      ...(parentIdTag ? { parentIdTag } : {}),
      ...(txProfile === undefined ? {} : { txProfile }),
    });
  }

  /**
   * An id may start on these connectors: where a cable is already plugged it starts now; else each
   * waits (Preparing) until one is plugged or ConnectionTimeOut ends them all.
   */
  private prepare(connectorIds: readonly number[], pending: PendingStart): void {
    const plugged = connectorIds.find((id) => this.opts.station.connector(id)?.plugged());
    if (plugged !== undefined) {
      for (const id of connectorIds) if (id !== plugged) this.lapse(id, `started on connector ${plugged}`);
      this.apply(plugged, { type: 'authorized', pending });
      void this.startTransaction(plugged);
      return;
    }
    for (const id of connectorIds) this.apply(id, { type: 'authorized', pending });
    const seconds = this.opts.config.getInt('ConnectionTimeOut');
    pending.timer = this.opts.clock.setTimeout(() => {
      for (const id of this.waitingFor(pending)) this.lapse(id, 'no cable within ConnectionTimeOut');
    }, seconds * 1000);
  }

  /** The connectors where `pending` waits for a cable. */
  private waitingFor(pending: PendingStart): number[] {
    return [...this.states].flatMap(([id, state]) =>
      state.kind === 'Preparing' && state.pending === pending ? [id] : [],
    );
  }

  // ---- hardware ----

  private onPlugged(connectorId: number): void {
    if (this.stateOf(connectorId).kind === 'Preparing') void this.startTransaction(connectorId);
    else this.changed(connectorId);
  }

  /**
   * The EV left. A running transaction is stopped (StopTransactionOnEVSideDisconnect), or kept:
   * the pilot (state A) has the contactor opened, and energy flows again when the EV is back
   * (OCPP 1.6 section 4.10). A finished one frees the connector.
   */
  private onUnplugged(connectorId: number): void {
    const state = this.stateOf(connectorId);
    if (state.kind === 'Transaction') {
      if (this.opts.config.getBool('StopTransactionOnEVSideDisconnect'))
        void this.stop(connectorId, 'EVDisconnected');
      return;
    }
    if (!this.apply(connectorId, { type: 'released' })) this.changed(connectorId);
  }

  private onFault(connectorId: number): void {
    this.scheduleLockRetry(connectorId);
    const fault = this.opts.station.connector(connectorId)?.fault();
    if (fault && this.runningOn(connectorId)) {
      void this.stop(connectorId, fault.kind === 'emergencyStop' ? 'EmergencyStop' : 'Other');
      return;
    }
    if (fault) this.lapse(connectorId, `connector faulted (${fault.fault})`);
    this.changed(connectorId);
  }

  /**
   * The pilot moved (or the session did): the owner of the offered current decides the contactor
   * (charging-outputs.ts holds the rule: a running transaction whose energy is not withheld, no
   * fault, the cable locked, the EV asking).
   */
  private async followPilot(connectorId: number): Promise<void> {
    await this.opts.limit.evaluate();
    this.changed(connectorId);
  }

  /** What the owner of the offered current needs of the session: its running transaction. */
  private sessionEnergy(connectorId: number): SessionEnergy {
    const tx = this.runningOn(connectorId);
    return tx ? { transaction: { startedAt: Date.parse(tx.row.startedAt), withheld: tx.suspended } } : {};
  }

  // ---- start and stop ----

  private async startTransaction(connectorId: number): Promise<void> {
    const state = this.stateOf(connectorId);
    if (state.kind !== 'Preparing') return;
    const { pending } = state;
    pending.timer?.cancel();
    for (const id of this.waitingFor(pending))
      if (id !== connectorId) this.lapse(id, `started on connector ${connectorId}`);
    this.apply(connectorId, { type: 'start', pending });
    const tx = await this.record(connectorId, pending).catch(async (error: Error) => {
      this.opts.log.error(
        { connectorId, err: error.message },
        'transaction could not be recorded; not started',
      );
      // The cable was locked for a start that did not happen: the driver must be able to take it.
      await this.releaseCable(connectorId);
      return undefined;
    });
    if (!tx) {
      this.apply(connectorId, { type: 'lapse' });
      return;
    }
    this.apply(connectorId, { type: 'started', tx });
    const { row } = tx;
    this.opts.log.info(
      { connectorId, idTag: row.idTag, localId: row.localId, meterStart: row.meterStart },
      'transaction started',
    );
    this.emit('transaction', { kind: 'started', row, timestampMs: Date.parse(row.startedAt) });
    await this.followPilot(connectorId);
    this.scheduleSample(connectorId);
    this.scheduleRegister();
  }

  /**
   * Locks the cable, reads the meter and records the transaction with its StartTransaction.
   * Undefined when it must not start: the lock failed (it reports the fault itself), the meter
   * gave no reading, or the connector faulted or left service meanwhile.
   */
  private async record(connectorId: number, pending: PendingStart): Promise<RunningTransaction | undefined> {
    const { station, log, time } = this.opts;
    const hw = station.connector(connectorId);
    if (!hw) return undefined;
    // A cable the lock cannot hold must not carry current.
    if (hw.lock && !(await hw.lock.lock())) {
      log.warn({ connectorId }, 'connector lock failed; transaction not started');
      return undefined;
    }
    const reading = await this.readMeter(hw);
    if (!reading || hw.fault() || !this.inService(connectorId)) {
      log.warn(
        { connectorId, idTag: pending.idTag },
        reading
          ? 'connector faulted or out of service before the start; transaction not started'
          : 'meter not readable at the start; transaction not started',
      );
      await this.releaseCable(connectorId);
      return undefined;
    }
    const row = this.writeStart(connectorId, pending, reading, time.nowMs());
    return {
      row,
      suspended: false,
      ...(pending.txProfile === undefined ? {} : { txProfile: pending.txProfile }),
    };
  }

  /** The transaction row, its StartTransaction (the sink's) and the reservation it ends, in one SQL transaction. */
  private writeStart(
    connectorId: number,
    pending: PendingStart,
    reading: MeterReading,
    startedMs: number,
  ): TransactionRow {
    const { repo, sink, reservations } = this.opts;
    return repo.atomically(() => {
      const { reservationId } = reservations.claim(connectorId, pending.idTag, pending.parentIdTag);
      const inserted = repo.insert({
        connectorId,
        idTag: pending.idTag,
        ...(pending.parentIdTag ? { parentIdTag: pending.parentIdTag } : {}),
        ...(reservationId === undefined ? {} : { reservationId }),
        meterStart: reading.energyImportWh,
        startedAt: new Date(startedMs).toISOString(),
      });
      // In the same SQL transaction: the reservation ends if and only if its transaction is recorded.
      if (reservationId !== undefined) reservations.consume(reservationId);
      sink.started(inserted, startedMs, reading);
      if (pending.txProfile) this.opts.txProfiles?.bindToTransaction(pending.txProfile, inserted);
      return inserted;
    });
  }

  /**
   * Ends the transaction on a connector. It enters Stopping at once (before any await), keeping the
   * status it had, so nothing shows the connector free while the stop is being recorded.
   */
  private stop(connectorId: number, reason: StopReason, idTag?: string): Promise<void> {
    const inProgress = this.stops.get(connectorId);
    if (inProgress) return inProgress;
    const tx = this.runningOn(connectorId);
    if (!tx) return Promise.resolve();
    const last = this.opts.station.status(connectorId)?.status;
    const hw = this.opts.station.connector(connectorId);
    const shown = isTransactionStatus(last)
      ? last
      : transactionStatus(tx.suspended || this.opts.limit.paused(connectorId), {
          plugged: hw?.plugged() ?? false,
          evAsksForEnergy: pilotAsksForEnergy(hw?.devices.pilot.state()),
        });
    this.apply(connectorId, { type: 'stop', tx, shown });
    const done = this.recordStop(connectorId, tx, reason, idTag).finally(() =>
      this.stops.delete(connectorId),
    );
    this.stops.set(connectorId, done);
    return done;
  }

  private async recordStop(
    connectorId: number,
    tx: RunningTransaction,
    reason: StopReason,
    idTag: string | undefined,
  ): Promise<void> {
    const { station, log, time, config } = this.opts;
    tx.sampler?.cancel();
    tx.invalidIdLimit?.timer?.cancel();
    const hw = station.connector(connectorId);
    if (!hw) return;
    // Open the contactor before anything else: the transaction is over from this moment (Stopping).
    // The pilot and the other connectors' shares follow once the stop is recorded (below): the
    // StopTransaction does not wait for every connector's composite.
    await this.opts.limit.stopEnergy(connectorId);
    const reading = await this.readMeter(hw);
    // A meter that cannot be read (or went backwards) never makes the energy negative.
    const meterStop = Math.max(tx.row.meterStart, reading?.energyImportWh ?? tx.row.lastMeter);
    const stoppedMs = time.nowMs();
    const record: TransactionStop = {
      reason,
      ...(idTag ? { idTag } : {}),
      meterStop,
      timestampMs: stoppedMs,
      ...(reading ? { reading } : {}),
    };
    this.unsavedRegisters.delete(tx.row.localId);
    if (!this.recordStopRow(tx.row, record)) this.unrecordedStops.push({ row: tx.row, stop: record });
    log.info({ connectorId, localId: tx.row.localId, reason, meterStop }, 'transaction stopped');
    // The outbox hands the StopTransaction just queued to the RPC on its next microtask; yielding
    // once lets it leave before the listeners run (the transaction's TxProfiles removed, telemetry)
    // and before the status change's StatusNotification (the spec allows either order), so the
    // billing message waits for neither.
    await Promise.resolve();
    this.emit('transaction', { kind: 'stopped', row: tx.row, stop: record });
    // Finishing until the cable is gone: at once after an EV-side stop (the driver takes it once released).
    this.apply(connectorId, { type: 'stopped' });
    await this.opts.limit.evaluate();
    const evGone = !hw.plugged();
    if (!evGone || config.getBool('UnlockConnectorOnEVSideDisconnect')) await this.releaseCable(connectorId);
    if (evGone) this.apply(connectorId, { type: 'released' });
  }

  /** A write through the store's health when the runtime gave one (tests may not): see WriteHealth. */
  private attempt(what: string, write: () => void): boolean {
    return attemptWrite(this.opts.writes, what, write);
  }

  /**
   * The stop and its StopTransaction in one SQL transaction; false when the disk refused it (the
   * stop is then kept in memory and recorded by persistPending once it writes again).
   */
  private recordStopRow(row: TransactionRow, stop: TransactionStop): boolean {
    return this.attempt('transaction stop', () => this.writeStop(row, stop));
  }

  /** The stop and its StopTransaction (the sink's) in one SQL transaction. */
  private writeStop(row: TransactionRow, stop: TransactionStop): void {
    const { repo, sink } = this.opts;
    repo.atomically(() => {
      repo.stop(row.localId, {
        stopReason: stop.reason,
        ...(stop.idTag ? { stopIdTag: stop.idTag } : {}),
        meterStop: stop.meterStop,
        stoppedAt: new Date(stop.timestampMs).toISOString(),
      });
      sink.stopped(row, stop);
    });
  }

  /** Energy withheld, transaction kept: the central system refused the id (StopTransactionOnInvalidId off). */
  private async suspend(connectorId: number): Promise<void> {
    const tx = this.runningOn(connectorId);
    if (!tx) return;
    tx.suspended = true;
    this.changed(connectorId);
    await this.opts.limit.evaluate();
    this.changed(connectorId);
  }

  /** Tries a failed lock again in LOCK_RETRY_MS, unless a try is already due. */
  private scheduleLockRetry(connectorId: number): void {
    const lock = this.opts.station.connector(connectorId)?.lock;
    if (!lock || lock.health().ok || this.lockRetries.has(connectorId)) return;
    const timer = this.opts.clock.setTimeout(() => {
      this.lockRetries.delete(connectorId);
      void this.retryLock(connectorId);
    }, LOCK_RETRY_MS);
    this.lockRetries.set(connectorId, timer);
  }

  /**
   * A lock keeps its ConnectorLockFailure until a lock or unlock succeeds again. Where no session
   * needs the cable held (idle, or finished and waiting for the cable to go), an unlock is that
   * next try: it releases the cable, and a lock that works clears the fault by itself.
   */
  private async retryLock(connectorId: number): Promise<void> {
    const lock = this.opts.station.connector(connectorId)?.lock;
    const kind = this.stateOf(connectorId).kind;
    if (!lock || lock.health().ok || (kind !== 'Idle' && kind !== 'Finishing')) return;
    this.lockRetries.get(connectorId)?.cancel();
    this.lockRetries.delete(connectorId);
    // A self-test drives the lock now, and ends with an unlock of its own: try again after it. A
    // contactor not known open keeps the cable locked: try again after it opens.
    if (this.held.has(connectorId) || !this.opts.limit.contactorOpen(connectorId))
      return this.scheduleLockRetry(connectorId);
    if (await lock.unlock()) this.opts.log.info({ connectorId }, 'connector lock works again');
    else this.scheduleLockRetry(connectorId);
  }

  /**
   * Releases the cable once its contactor is known open (IEC 61851-1: a cable is never pulled under
   * load): at once, or when a failed command of it is followed by an open that succeeds
   * (contactor-retry.ts) or a welded contact opens, unless a session or a self-test has taken the
   * connector by then.
   */
  private async releaseCable(connectorId: number): Promise<void> {
    const lock = this.opts.station.connector(connectorId)?.lock;
    if (!lock) return;
    await this.opts.limit.whenContactorOpen(
      connectorId,
      () => this.unlockCable(connectorId, lock),
      // A session or a self-test that has the connector by then has the cable too (a self-test
      // driving the lock ends with an unlock of its own).
      () => !this.closed && !holdsCable(this.stateOf(connectorId)) && !this.held.has(connectorId),
    );
  }

  private async unlockCable(connectorId: number, lock: ConnectorLock): Promise<void> {
    if (!(await lock.unlock())) this.opts.log.warn({ connectorId }, 'connector did not unlock');
  }

  /**
   * A refused id keeps its transaction (StopTransactionOnInvalidId false) but gets at most
   * MaxEnergyOnInvalidId Wh in all; without that key, no more energy at all.
   */
  private limitEnergyOfInvalidId(connectorId: number, tx: RunningTransaction): void {
    const { config, clock } = this.opts;
    const maxWh = config.has('MaxEnergyOnInvalidId') ? config.getInt('MaxEnergyOnInvalidId') : 0;
    if (maxWh <= 0) {
      void this.suspend(connectorId);
      return;
    }
    const limit: NonNullable<RunningTransaction['invalidIdLimit']> = { untilWh: tx.row.meterStart + maxWh };
    tx.invalidIdLimit = limit;
    const check = async (): Promise<void> => {
      if (this.runningOn(connectorId) !== tx) return;
      const reading = await this.readRegister(connectorId, tx);
      const energy = reading?.energyImportWh ?? tx.row.lastMeter;
      if (energy >= limit.untilWh) {
        this.opts.log.info({ connectorId, energyWh: energy, maxWh }, 'MaxEnergyOnInvalidId reached');
        await this.suspend(connectorId);
        return;
      }
      limit.timer = clock.setTimeout(() => void check(), 1000);
    };
    void check();
  }

  // ---- metering ----

  private scheduleSample(connectorId: number): void {
    const tx = this.runningOn(connectorId);
    if (!tx) return;
    const seconds = this.opts.config.getInt('MeterValueSampleInterval');
    if (seconds <= 0) return;
    tx.sampler = this.opts.clock.setTimeout(() => void this.sample(connectorId, tx), seconds * 1000);
  }

  private async sample(connectorId: number, tx: RunningTransaction): Promise<void> {
    const hw = this.opts.station.connector(connectorId);
    const reading = hw && (await this.readMeter(hw));
    if (this.runningOn(connectorId) !== tx) return;
    if (reading) this.recordSample(tx, reading, 'Sample.Periodic', this.opts.time.nowMs());
    this.scheduleSample(connectorId);
  }

  /**
   * A reading recorded as the transaction's last meter value and queued with it. A disk that
   * refuses it costs this MeterValues, not the session: the register stays in memory (the stop
   * uses it) and is persisted when the disk writes again.
   */
  private recordSample(
    tx: RunningTransaction,
    reading: MeterReading,
    context: ReadingContext,
    timestampMs: number,
  ): void {
    const { repo, sink } = this.opts;
    this.noteReading(tx, reading, timestampMs);
    const written = this.attempt('meter sample', () =>
      repo.atomically(() => {
        repo.recordMeter(tx.row.localId, reading.energyImportWh, tx.row.lastMeterAt);
        sink.sampled(tx.row, reading, context, timestampMs);
      }),
    );
    if (written) this.unsavedRegisters.delete(tx.row.localId);
  }

  /** Reads a transaction's meter; the reading is its register while the transaction still runs. */
  private async readRegister(connectorId: number, tx: RunningTransaction): Promise<MeterReading | undefined> {
    const hw = this.opts.station.connector(connectorId);
    const reading = hw && (await this.readMeter(hw));
    if (reading && this.runningOn(connectorId) === tx) this.noteReading(tx, reading, this.opts.time.nowMs());
    return reading;
  }

  /** Every reading of a running transaction's meter is its last known register, persisted soon. */
  private noteReading(tx: RunningTransaction, reading: MeterReading, timestampMs: number): void {
    const at = new Date(timestampMs).toISOString();
    tx.row = { ...tx.row, lastMeter: reading.energyImportWh, lastMeterAt: at };
    this.unsavedRegisters.set(tx.row.localId, { wh: reading.energyImportWh, at });
  }

  /** The register timer runs while a transaction does. */
  private scheduleRegister(): void {
    if (this.registerTimer || this.closed) return;
    this.registerTimer = this.opts.clock.setTimeout(() => {
      this.registerTimer = undefined;
      void this.persistRegisters()
        .catch((error: Error) => this.opts.log.error({ err: error.message }, 'meter register not persisted'))
        .finally(() => {
          if (this.openTransactions().length > 0) this.scheduleRegister();
        });
    }, REGISTER_PERSIST_MS);
  }

  /**
   * Reads the meter of every running transaction that no periodic sample reads often enough, then
   * writes every register newer than the database's in one SQL transaction.
   */
  private async persistRegisters(): Promise<void> {
    const sampleSeconds = this.opts.config.getInt('MeterValueSampleInterval');
    if (sampleSeconds <= 0 || sampleSeconds * 1000 > REGISTER_PERSIST_MS) {
      for (const [connectorId, state] of this.states) {
        if (state.kind !== 'Transaction') continue;
        await this.readRegister(connectorId, state.tx);
      }
    }
    // The engine may have been closed (and the store with it) while the meters were read.
    if (!this.closed) this.persistPending();
  }

  /**
   * Writes what the disk refused so far: registers newer than the database's, and stops not yet
   * recorded (with their StopTransaction). Called by the register timer, and by the runtime when
   * the store writes again. Never throws for a disk that still refuses.
   */
  persistPending(): void {
    const { repo } = this.opts;
    if (this.unsavedRegisters.size > 0) {
      const batch = [...this.unsavedRegisters];
      const written = this.attempt('meter register', () =>
        repo.atomically(() => {
          for (const [localId, { wh, at }] of batch) repo.recordMeter(localId, wh, at);
        }),
      );
      if (!written) return;
      for (const [localId, saved] of batch) {
        if (this.unsavedRegisters.get(localId) === saved) this.unsavedRegisters.delete(localId);
      }
    }
    while (this.unrecordedStops.length > 0) {
      const { row, stop } = this.unrecordedStops[0]!;
      if (!this.recordStopRow(row, stop)) return;
      this.unrecordedStops.shift();
      this.opts.log.info({ localId: row.localId }, 'transaction stop recorded after the store came back');
    }
  }

  /** The meter now, in whole Wh; undefined (logged) when it cannot be read. */
  private async readMeter(hw: ConnectorHardware): Promise<MeterReading | undefined> {
    try {
      const reading = await hw.meter?.read();
      return reading && wholeWh(reading);
    } catch (error) {
      this.opts.log.warn({ connectorId: hw.id, err: errorMessage(error) }, 'meter not readable');
      return undefined;
    }
  }

  /**
   * The engine's code on the way of a remote start and stop that the rehearsal does not run,
   * called once so V8 compiles it now (it compiles a function on its first call) by calls that
   * change nothing: connector 0 holds no session and no hardware, so each returns at its first
   * check, no transaction has id NaN or local id 0, and Idle has no `released` move.
   */
  private compileSessionMoves(connectorId: number): void {
    const nobody = 0;
    const pending: PendingStart = { idTag: REHEARSAL_ID_TAG };
    const row: TransactionRow = {
      localId: nobody,
      connectorId: nobody,
      idTag: REHEARSAL_ID_TAG,
      meterStart: 0,
      startedAt: '',
      lastMeter: 0,
      lastMeterAt: '',
    };
    this.opts.config.getBool('AuthorizeRemoteTxRequests');
    this.remoteStart(REHEARSAL_ID_TAG, nobody);
    this.remoteStop(Number.NaN);
    this.transactionIdOf(nobody);
    this.apply(nobody, { type: 'released' });
    transition(IDLE, { type: 'authorized', pending });
    this.waitingFor(pending);
    this.inService(connectorId);
    isTransactionStatus(undefined);
    void this.startTransaction(nobody);
    void this.record(nobody, pending);
    void this.stop(nobody, 'Local');
    void this.recordStop(nobody, { row, suspended: false }, 'Local', undefined);
  }

  /**
   * A start (and, `withStop`, its stop) recorded by the code that records a real one, inside an
   * SQL transaction that is rolled back; see warmUp.
   */
  private rehearse(connectorId: number, reading: MeterReading, withStop: boolean): void {
    const { repo, time, log } = this.opts;
    const nowMs = time.nowMs();
    const meter = reading.energyImportWh;
    try {
      repo.atomically(() => {
        const row = this.writeStart(connectorId, { idTag: REHEARSAL_ID_TAG }, reading, nowMs);
        if (withStop) {
          repo.recordMeter(row.localId, meter, new Date(nowMs).toISOString());
          const stop: TransactionStop = { reason: 'Local', meterStop: meter, timestampMs: nowMs, reading };
          // Through the store's health as a stop goes, unless that would report a failing store
          // writing again: this write is never committed.
          if (this.opts.writes?.ok ?? true) this.recordStopRow(row, stop);
          else this.writeStop(row, stop);
        }
        throw new RolledBack();
      });
    } catch (error) {
      // A store that cannot be written now leaves only the first session cold.
      if (!(error instanceof RolledBack)) log.warn({ err: errorMessage(error) }, 'warm-up not rehearsed');
    }
  }

  /** Transactions the last run left open were cut by a power loss: stop them at their last persisted meter value. */
  private recoverAfterPowerLoss(): void {
    const { repo, sink, time, log } = this.opts;
    for (const row of repo.running()) {
      // The transaction ended when the power went: at the last register persisted, which is at
      // most REGISTER_PERSIST_MS (or one sample interval) before the cut, not at this boot.
      const lastKnownMs = Math.max(Date.parse(row.startedAt), Date.parse(row.lastMeterAt));
      const stoppedMs = Number.isFinite(lastKnownMs) ? lastKnownMs : time.nowMs();
      const meterStop = Math.max(row.meterStart, row.lastMeter);
      const record: TransactionStop = { reason: 'PowerLoss', meterStop, timestampMs: stoppedMs };
      repo.atomically(() => {
        repo.stop(row.localId, {
          stopReason: 'PowerLoss',
          meterStop,
          stoppedAt: new Date(stoppedMs).toISOString(),
        });
        sink.stopped(row, record);
      });
      this.emit('transaction', { kind: 'stopped', row, stop: record });
      log.warn(
        { connectorId: row.connectorId, localId: row.localId, meterStop },
        'transaction ended by power loss',
      );
    }
  }
}

/**
 * Energy in whole Wh: meters report fractions (1234567.0117 Wh), OCPP's meterStart/meterStop and
 * the store's columns are integers.
 */
function wholeWh(reading: MeterReading): MeterReading {
  return { ...reading, energyImportWh: Math.round(reading.energyImportWh) };
}

/** OCPP id tags compare case-insensitively. */
export function sameTag(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** A session that has locked the cable for its transaction, or is about to (from Starting to its stop). */
function holdsCable(state: SessionState): boolean {
  return state.kind === 'Starting' || state.kind === 'Transaction' || state.kind === 'Stopping';
}
