import { EventEmitter } from 'node:events';
import type { ConnectorHardware, MeterReading } from '../../hal/types.js';
import type { Clock, OcppTime, Timer } from '../clock.js';
import type { ConfigurationRegistry } from '../config/registry.js';
import type { Logger } from '../log.js';
import type { TransactionRow, TransactionsRepo } from '../store/transactions-repo.js';
import type { AuthorizationDecision, IdTagInfo } from './auth-types.js';
import type { Reservations } from './reservations.js';
import type { SessionView, Station } from './station.js';
import type {
  ReadingContext,
  StopReason,
  TransactionEvent,
  TransactionSink,
  TransactionStop,
} from './transaction-types.js';

export type { ReadingContext, StopReason, TransactionEvent, TransactionSink, TransactionStop };

export interface TransactionEngineOptions {
  station: Station;
  repo: TransactionsRepo;
  sink: TransactionSink;
  authorize(idTag: string): Promise<AuthorizationDecision>;
  /** The answer to Authorize, StartTransaction and StopTransaction updates the cache. */
  reportIdTagInfo(idTag: string, info: IdTagInfo): void;
  /** Who may start where, and the reservationId a start ends. */
  reservations: Pick<Reservations, 'isReserved' | 'claim' | 'couldClaim' | 'consume'>;
  config: ConfigurationRegistry;
  clock: Clock;
  time: OcppTime;
  log: Logger;
}

interface Pending {
  idTag: string;
  parentIdTag?: string;
  /** ConnectionTimeOut: the driver has this long to plug in. */
  timer?: Timer;
}

interface Active {
  row: TransactionRow;
  /** Energy withheld: the central system refused the id, or the EVSE paused. */
  suspended: boolean;
  sampler?: Timer;
  /** MaxEnergyOnInvalidId: the register value at which a refused id's energy ends, and its watch. */
  invalidIdLimit?: { untilWh: number; timer?: Timer };
  /** The TxProfile a RemoteStartTransaction brought, kept for smart charging. */
  txProfile?: unknown;
}

interface Session {
  pending?: Pending;
  active?: Active;
  finishing: boolean;
  /** A start in progress (locking, metering): no second start meanwhile. */
  starting: boolean;
  /** An id being authorized for this connector: reserved for it, but not yet Preparing. */
  authorizing: boolean;
  /** The charging profile of a remote start, until its transaction starts (or the start lapses). */
  remoteProfile?: unknown;
}

export interface TransactionEngineEvents {
  changed: [connectorId: number];
  transaction: [event: TransactionEvent];
}

/**
 * Charging sessions: a transaction starts when a cable is plugged and an id is authorized, in
 * either order, and ends for one of the OCPP reasons. Every start, sample and stop is written to
 * SQLite (with its outgoing message, through the sink) before the charger acts on it, so a power
 * cut at any point is recovered on the next start: a transaction still open then is stopped with
 * PowerLoss at the last persisted meter value.
 */
export class TransactionEngine extends EventEmitter<TransactionEngineEvents> {
  private readonly sessions = new Map<number, Session>();
  private readonly unsubscribe: Array<() => void> = [];

  constructor(private readonly opts: TransactionEngineOptions) {
    super();
    for (const id of opts.station.connectorIds())
      this.sessions.set(id, { finishing: false, starting: false, authorizing: false });
    opts.station.setSessionProvider((id) => this.view(id));
  }

  /** Recovers from the last run, then follows the hardware. */
  start(): void {
    this.recoverAfterPowerLoss();
    const { station } = this.opts;
    for (const id of station.connectorIds()) {
      const hw = station.connector(id) as ConnectorHardware;
      const onPlug = (plugged: boolean) => void (plugged ? this.onPlugged(id) : this.onUnplugged(id));
      const onFault = () => void this.onFault(id);
      const onPilot = () => void this.followPilot(id);
      hw.on('plug', onPlug);
      hw.on('fault', onFault);
      hw.on('pilot', onPilot);
      this.unsubscribe.push(() => {
        hw.off('plug', onPlug);
        hw.off('fault', onFault);
        hw.off('pilot', onPilot);
      });
    }
  }

  /** Timers only; a stop for reset is `stopAll` first. */
  close(): void {
    for (const off of this.unsubscribe.splice(0)) off();
    for (const session of this.sessions.values()) {
      session.pending?.timer?.cancel();
      session.active?.sampler?.cancel();
    }
  }

  // ---- queries ----

  transactionOn(connectorId: number): TransactionRow | undefined {
    return this.sessions.get(connectorId)?.active?.row;
  }

  activeTransactions(): TransactionRow[] {
    return [...this.sessions.values()].flatMap((s) => (s.active ? [s.active.row] : []));
  }

  /** The OCPP transaction id of a local transaction, once the central system gave one. */
  transactionIdOf(localId: number): number | undefined {
    for (const s of this.sessions.values())
      if (s.active?.row.localId === localId) return s.active.row.transactionId;
    return this.opts.repo.get(localId)?.transactionId;
  }

  /** Idle and able to start: no transaction, not finishing, not faulted or unavailable. */
  isFree(connectorId: number): boolean {
    const session = this.sessions.get(connectorId);
    const status = this.opts.station.status(connectorId)?.status;
    return (
      !!session &&
      !session.active &&
      !session.finishing &&
      !session.starting &&
      !session.authorizing &&
      !session.pending &&
      (status === 'Available' || status === 'Preparing' || status === 'Reserved')
    );
  }

  // ---- driver actions ----

  /**
   * A card at a reader serving `connectorIds`. The tag that started a transaction there stops it
   * without asking anyone; otherwise the card is authorized and starts (or prepares) a session.
   */
  async presentIdTag(idTag: string, connectorIds: readonly number[]): Promise<void> {
    const { log } = this.opts;
    const running = connectorIds
      .map((id) => this.sessions.get(id)?.active?.row)
      .filter((r) => r !== undefined);
    const own = running.find((row) => sameTag(row.idTag, idTag));
    if (own) {
      await this.stop(own.connectorId, 'Local', idTag);
      return;
    }
    const target = this.pickConnectorForNewSession(connectorIds, idTag);
    // A different card stops a transaction only when both share a parent id (a group card); only
    // then is it worth asking about this card before knowing where it may start a session.
    if (running.some((row) => row.parentIdTag)) {
      const decision = await this.opts.authorize(idTag);
      const parent = decision.info.status === 'Accepted' ? decision.info.parentIdTag : undefined;
      const sibling = parent
        ? running.find((row) => row.parentIdTag && sameTag(row.parentIdTag, parent))
        : undefined;
      if (sibling) await this.stop(sibling.connectorId, 'Local', idTag);
      else if (target !== undefined) await this.authorizedAt(target, idTag, decision);
      return;
    }
    if (target === undefined) {
      log.info({ idTag, connectorIds }, 'card ignored: no connector free for a new session');
      return;
    }
    const session = this.sessions.get(target) as Session;
    session.authorizing = true;
    try {
      const decision = await this.opts.authorize(idTag);
      await this.authorizedAt(target, idTag, decision);
    } finally {
      session.authorizing = false;
      this.changed(target);
    }
  }

  /**
   * RemoteStartTransaction. Accepted means the charger will try: with AuthorizeRemoteTxRequests
   * the id is authorized first, and the driver then has ConnectionTimeOut to plug in.
   */
  remoteStart(idTag: string, connectorId?: number, txProfile?: unknown): 'Accepted' | 'Rejected' {
    const ids = connectorId === undefined ? this.opts.station.connectorIds() : [connectorId];
    const { reservations } = this.opts;
    const target = ids.find((id) => this.isFree(id) && reservations.couldClaim(id, idTag));
    if (target === undefined) return 'Rejected';
    const session = this.sessions.get(target) as Session;
    session.remoteProfile = txProfile;
    if (!this.opts.config.getBool('AuthorizeRemoteTxRequests')) {
      // Without an authorization there is no parent id to match a reservation by.
      if (!reservations.claim(target, idTag).allowed) return 'Rejected';
      this.setPending(target, { idTag });
      return 'Accepted';
    }
    session.authorizing = true;
    void this.opts
      .authorize(idTag)
      .then((decision) => this.authorizedAt(target, idTag, decision))
      .catch((error: Error) => this.opts.log.error({ err: error.message, idTag }, 'remote start failed'))
      .finally(() => {
        session.authorizing = false;
        this.changed(target);
      });
    return 'Accepted';
  }

  /** RemoteStopTransaction: Rejected when no running transaction has that id. */
  remoteStop(transactionId: number): 'Accepted' | 'Rejected' {
    const row = this.activeTransactions().find((r) => r.transactionId === transactionId);
    if (!row) return 'Rejected';
    void this.stop(row.connectorId, 'Remote');
    return 'Accepted';
  }

  /** UnlockConnector: ends a running transaction (UnlockCommand), then releases the cable. */
  async unlock(connectorId: number): Promise<'Unlocked' | 'UnlockFailed' | 'NotSupported'> {
    const hw = this.opts.station.connector(connectorId);
    if (!hw || hw.fixedCable || !hw.lock) return 'NotSupported';
    if (this.sessions.get(connectorId)?.active) await this.stop(connectorId, 'UnlockCommand');
    return (await hw.lock.unlock()) ? 'Unlocked' : 'UnlockFailed';
  }

  /** Ends every running transaction (reset, shutdown) and waits until each is recorded. */
  async stopAll(reason: StopReason): Promise<void> {
    await Promise.all(this.activeTransactions().map((row) => this.stop(row.connectorId, reason)));
  }

  /** StartTransaction.conf: the central system's transaction id and its verdict on the id tag. */
  onStartConfirmed(localId: number, transactionId: number, info: IdTagInfo): void {
    this.opts.repo.setTransactionId(localId, transactionId);
    const session = [...this.sessions.values()].find((s) => s.active?.row.localId === localId);
    if (!session?.active) return;
    session.active.row = { ...session.active.row, transactionId };
    this.opts.reportIdTagInfo(session.active.row.idTag, info);
    if (info.status === 'Accepted') return;
    const connectorId = session.active.row.connectorId;
    this.opts.log.warn(
      { connectorId, transactionId, status: info.status },
      'central system refused the id of a running transaction',
    );
    if (this.opts.config.getBool('StopTransactionOnInvalidId')) void this.stop(connectorId, 'DeAuthorized');
    else this.limitEnergyOfInvalidId(connectorId, session.active);
  }

  /** The TxProfile of the running transaction's remote start, if it had one. */
  txProfileOn(connectorId: number): unknown {
    return this.sessions.get(connectorId)?.active?.txProfile;
  }

  /**
   * A refused id keeps its transaction (StopTransactionOnInvalidId false) but gets at most
   * MaxEnergyOnInvalidId Wh in all; without that key, no more energy at all.
   */
  private limitEnergyOfInvalidId(connectorId: number, active: Active): void {
    const { config, clock } = this.opts;
    const maxWh = config.has('MaxEnergyOnInvalidId') ? config.getInt('MaxEnergyOnInvalidId') : 0;
    if (maxWh <= 0) {
      void this.suspend(connectorId);
      return;
    }
    const limit: NonNullable<Active['invalidIdLimit']> = { untilWh: active.row.meterStart + maxWh };
    active.invalidIdLimit = limit;
    const check = async (): Promise<void> => {
      if (this.sessions.get(connectorId)?.active !== active) return;
      const hw = this.opts.station.connector(connectorId) as ConnectorHardware;
      const energy = await this.readEnergy(hw, active.row.lastMeter);
      if (energy >= limit.untilWh) {
        this.opts.log.info({ connectorId, energyWh: energy, maxWh }, 'MaxEnergyOnInvalidId reached');
        await this.suspend(connectorId);
        return;
      }
      limit.timer = clock.setTimeout(() => void check(), 1000);
    };
    void check();
  }

  /**
   * A clock-aligned reading: recorded with the running transaction (and queued with it) when
   * there is one; false when the connector is idle, so the caller reports it on its own.
   */
  recordAligned(connectorId: number, reading: MeterReading, timestampMs: number): boolean {
    const active = this.sessions.get(connectorId)?.active;
    if (!active) return false;
    const { repo, sink } = this.opts;
    repo.db.transaction(() => {
      repo.recordMeter(active.row.localId, reading.energyImportWh, new Date(timestampMs).toISOString());
      sink.sampled(active.row, reading, 'Sample.Clock', timestampMs);
    })();
    active.row = { ...active.row, lastMeter: reading.energyImportWh };
    return true;
  }

  // ---- internals ----

  private view(connectorId: number): SessionView {
    const s = this.sessions.get(connectorId);
    if (!s) return { phase: 'idle' };
    if (s.active) return { phase: 'transaction', evseSuspended: s.active.suspended };
    if (s.finishing) return { phase: 'finishing' };
    if (s.pending || s.starting) return { phase: 'preparing' };
    if (this.opts.reservations.isReserved(connectorId)) return { phase: 'reserved' };
    return { phase: 'idle' };
  }

  private changed(connectorId: number): void {
    this.opts.station.refresh();
    this.emit('changed', connectorId);
  }

  private pickConnectorForNewSession(connectorIds: readonly number[], idTag: string): number | undefined {
    const { reservations, station } = this.opts;
    const free = connectorIds.filter((id) => this.isFree(id) && reservations.couldClaim(id, idTag));
    const sure = free.filter((id) => reservations.claim(id, idTag).allowed);
    // The connector reserved for this id, then a plugged one waiting for a card, then any free one;
    // a reservation that only the authorization's parent id may open last.
    return (
      sure.find((id) => reservations.isReserved(id)) ??
      sure.find((id) => station.connector(id)?.plugged()) ??
      sure[0] ??
      free[0]
    );
  }

  private async authorizedAt(
    connectorId: number,
    idTag: string,
    decision: AuthorizationDecision,
  ): Promise<void> {
    const { log } = this.opts;
    if (decision.info.status !== 'Accepted') {
      log.info(
        { connectorId, idTag, status: decision.info.status, source: decision.source },
        'id tag not authorized',
      );
      // A refused remote start must not leave its profile for the next session here.
      (this.sessions.get(connectorId) as Session).remoteProfile = undefined;
      return;
    }
    if (!this.opts.reservations.claim(connectorId, idTag, decision.info.parentIdTag).allowed) {
      log.info({ connectorId, idTag }, 'connector reserved for another id');
      return;
    }
    this.setPending(connectorId, {
      idTag,
      ...(decision.info.parentIdTag ? { parentIdTag: decision.info.parentIdTag } : {}),
    });
  }

  private setPending(connectorId: number, pending: Pending): void {
    const session = this.sessions.get(connectorId) as Session;
    session.pending?.timer?.cancel();
    session.pending = pending;
    if (this.opts.station.connector(connectorId)?.plugged()) {
      void this.startTransaction(connectorId);
      return;
    }
    const seconds = this.opts.config.getInt('ConnectionTimeOut');
    pending.timer = this.opts.clock.setTimeout(() => {
      if (session.pending !== pending) return;
      this.opts.log.info(
        { connectorId, idTag: pending.idTag },
        'no cable within ConnectionTimeOut; session cancelled',
      );
      session.pending = undefined;
      session.remoteProfile = undefined;
      this.changed(connectorId);
    }, seconds * 1000);
    this.changed(connectorId);
  }

  private onPlugged(connectorId: number): void {
    const session = this.sessions.get(connectorId);
    if (session?.pending && !session.active) void this.startTransaction(connectorId);
    else this.changed(connectorId);
  }

  private async onUnplugged(connectorId: number): Promise<void> {
    const session = this.sessions.get(connectorId) as Session;
    if (session.active) {
      const { config } = this.opts;
      if (config.getBool('StopTransactionOnEVSideDisconnect')) {
        await this.stop(connectorId, 'EVDisconnected');
        return;
      } else {
        // The transaction stays; energy is withheld until the EV is back or the transaction is stopped.
        await this.suspend(connectorId);
      }
    }
    session.finishing = false;
    this.changed(connectorId);
  }

  private async onFault(connectorId: number): Promise<void> {
    const hw = this.opts.station.connector(connectorId);
    const fault = hw?.fault();
    const session = this.sessions.get(connectorId);
    if (!fault || !session?.active) {
      this.changed(connectorId);
      return;
    }
    const reason: StopReason = fault.info === 'emergency stop' ? 'EmergencyStop' : 'Other';
    await this.stop(connectorId, reason);
  }

  private async startTransaction(connectorId: number): Promise<void> {
    const { station, repo, sink, log, time } = this.opts;
    const session = this.sessions.get(connectorId) as Session;
    const pending = session.pending;
    if (!pending || session.active) return;
    session.pending = undefined;
    pending.timer?.cancel();
    const hw = station.connector(connectorId) as ConnectorHardware;
    session.starting = true;
    try {
      // A cable the lock cannot hold must not carry current (the lock reports the fault itself).
      if (hw.lock && !(await hw.lock.lock())) {
        log.warn({ connectorId }, 'connector lock failed; transaction not started');
        return;
      }
      const reading = await this.readMeter(hw);
      const meterStart = reading?.energyImportWh ?? 0;
      const startedMs = time.nowMs();
      const row = repo.db.transaction(() => {
        const { reservationId } = this.opts.reservations.claim(
          connectorId,
          pending.idTag,
          pending.parentIdTag,
        );
        const inserted = repo.insert({
          connectorId,
          idTag: pending.idTag,
          ...(pending.parentIdTag ? { parentIdTag: pending.parentIdTag } : {}),
          ...(reservationId === undefined ? {} : { reservationId }),
          meterStart,
          startedAt: new Date(startedMs).toISOString(),
        });
        // In the same SQL transaction: the reservation ends if and only if its transaction is recorded.
        if (reservationId !== undefined) this.opts.reservations.consume(reservationId);
        sink.started(inserted, startedMs, reading);
        return inserted;
      })();
      session.active = {
        row,
        suspended: false,
        ...(session.remoteProfile ? { txProfile: session.remoteProfile } : {}),
      };
      session.remoteProfile = undefined;
      log.info({ connectorId, idTag: row.idTag, localId: row.localId, meterStart }, 'transaction started');
      this.emit('transaction', { kind: 'started', row, timestampMs: startedMs });
      await this.followPilot(connectorId);
      this.scheduleSample(connectorId);
    } finally {
      session.starting = false;
      this.changed(connectorId);
    }
  }

  private async stop(connectorId: number, reason: StopReason, idTag?: string): Promise<void> {
    const { station, repo, sink, log, time } = this.opts;
    const session = this.sessions.get(connectorId) as Session;
    const active = session.active;
    if (!active) return;
    session.active = undefined;
    active.sampler?.cancel();
    active.invalidIdLimit?.timer?.cancel();
    const hw = station.connector(connectorId) as ConnectorHardware;
    // Open the contactor before anything else: the transaction is over from this moment.
    await hw.devices.relay
      .set(false)
      .catch((error: Error) => log.error({ connectorId, err: error.message }, 'relay did not open'));
    const reading = await this.readMeter(hw);
    const meterStop = reading?.energyImportWh ?? active.row.lastMeter;
    const stoppedMs = time.nowMs();
    const record: TransactionStop = {
      reason,
      ...(idTag ? { idTag } : {}),
      meterStop,
      timestampMs: stoppedMs,
      ...(reading ? { reading } : {}),
    };
    repo.db.transaction(() => {
      repo.stop(active.row.localId, {
        stopReason: reason,
        ...(idTag ? { stopIdTag: idTag } : {}),
        meterStop,
        stoppedAt: new Date(stoppedMs).toISOString(),
      });
      sink.stopped(active.row, record);
    })();
    log.info({ connectorId, localId: active.row.localId, reason, meterStop }, 'transaction stopped');
    this.emit('transaction', { kind: 'stopped', row: active.row, stop: record });
    // Finishing until the cable is gone: at once after an EV-side stop (the driver takes it once released).
    session.finishing = true;
    this.changed(connectorId);
    const evGone = !hw.plugged();
    if (!evGone || this.opts.config.getBool('UnlockConnectorOnEVSideDisconnect'))
      await this.releaseCable(connectorId);
    if (evGone) {
      session.finishing = false;
      this.changed(connectorId);
    }
  }

  /**
   * IEC 61851: the contactor is closed only while the EV asks for energy (state C, or D with
   * ventilation) and the charger is not withholding it; an EV that pauses (B) gets it opened.
   */
  private async followPilot(connectorId: number): Promise<void> {
    const active = this.sessions.get(connectorId)?.active;
    const hw = this.opts.station.connector(connectorId);
    if (active && hw && !active.suspended) {
      const state = hw.devices.pilot.state();
      await hw.devices.relay.set(state === 'C' || state === 'D');
    }
    this.changed(connectorId);
  }

  /** Energy withheld, transaction kept (the EV left with StopTransactionOnEVSideDisconnect off, or the id was refused). */
  private async suspend(connectorId: number): Promise<void> {
    const active = this.sessions.get(connectorId)?.active;
    if (!active) return;
    active.suspended = true;
    await this.opts.station.connector(connectorId)?.devices.relay.set(false);
    this.changed(connectorId);
  }

  private async releaseCable(connectorId: number): Promise<void> {
    const lock = this.opts.station.connector(connectorId)?.lock;
    if (lock && !(await lock.unlock())) this.opts.log.warn({ connectorId }, 'connector did not unlock');
  }

  private scheduleSample(connectorId: number): void {
    const active = this.sessions.get(connectorId)?.active;
    if (!active) return;
    const seconds = this.opts.config.getInt('MeterValueSampleInterval');
    if (seconds <= 0) return;
    active.sampler = this.opts.clock.setTimeout(() => void this.sample(connectorId, active), seconds * 1000);
  }

  private async sample(connectorId: number, active: Active): Promise<void> {
    const { repo, sink, time, log } = this.opts;
    const hw = this.opts.station.connector(connectorId) as ConnectorHardware;
    const reading = await hw.meter?.read().catch((error: Error) => {
      log.warn({ connectorId, err: error.message }, 'meter not read for a periodic sample');
      return undefined;
    });
    if (this.sessions.get(connectorId)?.active !== active) return;
    if (reading) {
      const at = time.nowMs();
      repo.db.transaction(() => {
        repo.recordMeter(active.row.localId, reading.energyImportWh, new Date(at).toISOString());
        sink.sampled(active.row, reading, 'Sample.Periodic', at);
      })();
      active.row = { ...active.row, lastMeter: reading.energyImportWh };
    }
    this.scheduleSample(connectorId);
  }

  private async readEnergy(hw: ConnectorHardware, fallback = 0): Promise<number> {
    return (await this.readMeter(hw))?.energyImportWh ?? fallback;
  }

  private async readMeter(hw: ConnectorHardware): Promise<MeterReading | undefined> {
    try {
      return await hw.meter?.read();
    } catch (error) {
      this.opts.log.warn(
        { connectorId: hw.id, err: (error as Error).message },
        'meter not readable; using the last known value',
      );
      return undefined;
    }
  }

  /** Transactions the last run left open were cut by a power loss: stop them at their last persisted meter value. */
  private recoverAfterPowerLoss(): void {
    const { repo, sink, time, log } = this.opts;
    for (const row of repo.running()) {
      const stoppedMs = time.nowMs();
      const record: TransactionStop = {
        reason: 'PowerLoss',
        meterStop: row.lastMeter,
        timestampMs: stoppedMs,
      };
      repo.db.transaction(() => {
        repo.stop(row.localId, {
          stopReason: 'PowerLoss',
          meterStop: row.lastMeter,
          stoppedAt: new Date(stoppedMs).toISOString(),
        });
        sink.stopped(row, record);
      })();
      this.emit('transaction', { kind: 'stopped', row, stop: record });
      log.warn(
        { connectorId: row.connectorId, localId: row.localId, meterStop: row.lastMeter },
        'transaction ended by power loss',
      );
    }
  }
}

/** OCPP id tags compare case-insensitively. */
export function sameTag(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
