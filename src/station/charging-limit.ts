import { EventEmitter } from 'node:events';
import type { Board, ConnectorHardware, Relay } from '../../hal/types.js';
import type { Clock, OcppTime } from '../clock.js';
import { errorMessage } from '../error-message.js';
import type { Logger } from '../log.js';
import { type ConnectorOutputs, decideOutputs, type OfferState } from './charging-outputs.js';
import type { CompositePeriod, ConstantLimit, LimitSource } from './charging-profile-types.js';
import { NEXT_CHANGE_HORIZON_S, sameSource } from './composite-schedule.js';
import { ContactorOpenRetries } from './contactor-retry.js';
import { electricalOf } from './electrical.js';
import { linesOf, MIN_CHARGING_CURRENT_A, type ShareDemand, shareSupply } from './load-sharing.js';
import { pilotAsksForEnergy } from './session-status.js';
import type { Station } from './station.js';

/**
 * The composite schedules (profile-composites.ts: the installed profiles), in amps with each
 * period's source. The profiles' `limits(connectorId)` callback is `ChargingLimit.limitsOf`, so
 * the local limit and the load-sharing share are in them.
 */
export interface CompositeSource {
  /** The composite of a connector (0: the charge point) at `now`: its first period, if it has one. */
  limitNow(connectorId: number, now: number): CompositePeriod | undefined;
  /**
   * That, and the epoch ms at which the composite next changes, if it does: one evaluation of the
   * profiles for both, as every evaluation needs both of every connector.
   */
  limitNowAndNextChange(
    connectorId: number,
    now: number,
  ): { period: CompositePeriod | undefined; nextChangeMs: number | undefined };
}

/** Where the local limits survive restarts (connector-limits-repo.ts). */
export interface LocalLimitStore {
  all(): Map<number, number>;
  set(connectorId: number, amps: number): void;
  remove(connectorId: number): void;
}

/** What the owner needs of a connector's session; the transaction engine answers. */
export interface SessionEnergy {
  /** The running transaction (not one being stopped). */
  transaction?: {
    /** Epoch ms it started: the newest session is the first to pause when the supply is short. */
    startedAt: number;
    /** The charger withholds its energy (refused id, MaxEnergyOnInvalidId reached). */
    withheld: boolean;
  };
}

/**
 * What a connector offers now, and the limit a session there may draw now: an idle connector
 * offers nothing (IEC 61851-1 B1) whatever its limit, so the operator reads both.
 */
export interface LimitInEffect {
  /** What the pilot offers now, A (0: nothing, see `state`). */
  amps: number;
  /** `offered` (amps is `limitA`), or why nothing is offered. */
  state: OfferState;
  /**
   * The composite's limit now (profiles, hardware, local limit, load-sharing share), A: what a
   * session draws at most. An idle connector has no share yet: a session that starts may get less.
   */
  limitA: number;
  /** The composite's source of `limitA`. */
  source: LimitSource;
  /** `limitA` is below the minimum the EV can charge with: a session here is SuspendedEVSE. */
  paused: boolean;
}

/**
 * The limit in effect as `cpctl status` and the MQTT connector state name it, flat beside a
 * connector's other fields: `currentLimitA`, `limitSource` and `limitPaused` are published names
 * that scripts already read, so they stay.
 */
export interface LimitFields {
  currentLimitA: number;
  offerState: OfferState;
  compositeLimitA: number;
  limitSource: LimitSource;
  limitPaused: boolean;
}

export function limitFields(limit: LimitInEffect): LimitFields {
  return {
    currentLimitA: limit.amps,
    offerState: limit.state,
    compositeLimitA: limit.limitA,
    limitSource: limit.source,
    limitPaused: limit.paused,
  };
}

/** The part of the owner the transaction engine uses. */
export interface EnergyControl {
  /** The engine tells the owner how to read its sessions (it is built after the owner). */
  attach(sessions: (connectorId: number) => SessionEnergy): void;
  /** Re-evaluates every connector; resolves once the outputs are commanded. Never rejects. */
  evaluate(): Promise<void>;
  /**
   * A session on the connector is being stopped: its contactor is commanded open now (even when
   * commanded open last), as the next evaluation would command it, without first computing every
   * connector's composite; the caller evaluates once the stop is recorded. Resolves once
   * commanded. Never rejects.
   */
  stopEnergy(connectorId: number): Promise<void>;
  /** The connector's limit is below the minimum (a session there is SuspendedEVSE). */
  paused(connectorId: number): boolean;
  /**
   * The connector's contactor is known open: commanded open, no failed command of it being
   * retried, and its feedback contact (where it has one) read open: a contact welded closed keeps
   * the conductors live, and an unreadable one may be welded. Only then may its cable be
   * unlocked (IEC 61851-1: never pulled under load).
   */
  contactorOpen(connectorId: number): boolean;
  /**
   * Resolves true once the contactor is known open (at once if it is; a weld clearing is such a
   * moment), false when it may close again before that (a new session) or the owner closes.
   */
  untilContactorOpen(connectorId: number): Promise<boolean>;
  /**
   * Releases a cable (`unlock`) only over a contactor known open: at once when it is (resolves
   * true once released), else, logged, once it opens and `wanted()` still says so (resolves false
   * at once). An `unlock` that throws is logged, never rejected.
   */
  whenContactorOpen(
    connectorId: number,
    unlock: () => Promise<void>,
    wanted: () => boolean,
  ): Promise<boolean>;
}

export interface ChargingLimitEvents {
  /** A connector's offered current, its state, its composite limit, their source or the pause changed. */
  changed: [connectorId: number, limit: LimitInEffect];
}

export interface ChargingLimitOptions {
  board: Board;
  station: Station;
  /** The composite schedules of the installed profiles (profile-composites.ts). */
  composites: CompositeSource;
  localLimits: LocalLimitStore;
  clock: Clock;
  time: Pick<OcppTime, 'nowMs'>;
  log: Logger;
}

/** A local limit that is refused (not a number the connector can offer). */
export class LocalLimitRefused extends Error {
  override readonly name = 'LocalLimitRefused';
}

const HARDWARE: LimitSource = { kind: 'hardware' };

/**
 * THE owner of each connector's offered current: the only code that commands the pilot limit,
 * the contactor and a DC power setpoint. It combines the composite schedule (smart charging, the
 * board maximum, the local limit, the load-sharing share), availability, faults and what the
 * session allows (charging-outputs.ts), and shares the supply among the sessions that want energy
 * (load-sharing.ts). It re-evaluates at the next period boundary of any composite (one timer on
 * the injected clock), on profile changes (`evaluate`), on session changes (the engine calls
 * `evaluate`), on local-limit, availability and fault changes.
 */
export class ChargingLimit extends EventEmitter<ChargingLimitEvents> implements EnergyControl {
  private sessions: (connectorId: number) => SessionEnergy = () => ({});
  private readonly local = new Map<number, number>();
  /** Each connector's load-sharing share now (0: paused by sharing); absent: not limited by it. */
  private readonly shares = new Map<number, number>();
  /** Shares are left out while the connectors' own caps are computed. */
  private sharing = true;
  private readonly inEffect = new Map<number, LimitInEffect>();
  private readonly relayTests = new Set<number>();
  private readonly openRetries: ContactorOpenRetries;
  /** Connectors whose EV asks for energy that the cable's lock keeps from it (logged once). */
  private readonly unheld = new Set<number>();
  private readonly detach: Array<() => void> = [];
  private running: Promise<void> | undefined;
  private again: Promise<void> | undefined;
  /** Boundaries are planned once started (a control API test may evaluate an owner never started). */
  private started = false;
  private boundary: { cancel(): void } | undefined;
  /** An evaluation asked for by evaluateSoon, not started yet. */
  private soon: NodeJS.Immediate | undefined;
  private closed = false;
  /** Waits for a relay's next change (`nextRelayChange`), ended when the owner closes. */
  private readonly closing = new Set<() => void>();

  constructor(private readonly opts: ChargingLimitOptions) {
    super();
    this.openRetries = new ContactorOpenRetries(opts.clock, opts.log);
    for (const [id, amps] of opts.localLimits.all())
      if (opts.station.hasConnector(id)) this.local.set(id, amps);
  }

  attach(sessions: (connectorId: number) => SessionEnergy): void {
    this.sessions = sessions;
  }

  /** Follows faults and availability, then evaluates once. */
  start(): Promise<void> {
    this.started = true;
    const { station } = this.opts;
    const onChange = () => void this.evaluate();
    station.on('availability', onChange);
    this.detach.push(() => station.off('availability', onChange));
    for (const id of station.connectorIds()) {
      const hw = station.connector(id);
      hw?.on('fault', onChange);
      this.detach.push(() => hw?.off('fault', onChange));
    }
    return this.evaluate();
  }

  close(): void {
    this.closed = true;
    clearImmediate(this.soon);
    this.soon = undefined;
    this.boundary?.cancel();
    this.boundary = undefined;
    this.openRetries.stop();
    for (const wake of [...this.closing]) wake();
    for (const off of this.detach.splice(0)) off();
  }

  /**
   * Starts at once when no evaluation runs, so a contactor that must open (a cable plugged in
   * during a relay test, a fault) is commanded before this returns; else one more evaluation
   * follows the running one, however many were asked for meanwhile.
   */
  evaluate(): Promise<void> {
    return this.exclusively(() => this.run());
  }

  async stopEnergy(connectorId: number): Promise<void> {
    const hw = this.opts.station.connector(connectorId);
    if (!hw) return this.evaluate();
    // While an evaluation runs (decided from before the stop, it could close the contactor again
    // after an open here), exclusively waits for it and follows it with a full evaluation.
    return this.exclusively(() => this.commandStopOpen(hw));
  }

  /**
   * A stop commands its contactor open even when it was commanded open last (a session
   * SuspendedEVSE, a stop after a stop): opening is always safe, and a stop is when it must be so.
   * It also lets the engine's warm-up stop energy on an idle connector at boot, leaving its open
   * contactor as it was, so that the first stop after boot runs compiled code.
   */
  private async commandStopOpen(hw: ConnectorHardware): Promise<void> {
    if (!this.openRetries.retrying(hw.id)) await this.openRetries.open(hw);
  }

  /** Commands a closed contactor open, unless an episode's retries own its opens already. */
  private async commandOpen(hw: ConnectorHardware): Promise<void> {
    if (hw.devices.relay.isClosed() && !this.openRetries.retrying(hw.id)) await this.openRetries.open(hw);
  }

  /**
   * Runs `work` as the owner's one evaluation in progress; asked while one runs, one more full
   * evaluation follows it, however many were asked for meanwhile.
   */
  private exclusively(work: () => Promise<void>): Promise<void> {
    if (this.running) {
      this.again ??= this.running.then(() => {
        this.again = undefined;
        return this.evaluate();
      });
      return this.again;
    }
    // Running before work() starts: a device event it causes synchronously (a relay whose command
    // fails reports its health at once) asks for one more evaluation, not a second one in parallel.
    let finish!: () => void;
    const run = new Promise<void>((resolve) => {
      finish = resolve;
    });
    this.running = run;
    void work()
      .catch((error: Error) => this.opts.log.error({ err: error.message }, 'charging limit not re-evaluated'))
      .finally(() => {
        if (this.running === run) this.running = undefined;
        finish();
      });
    return run;
  }

  /**
   * Evaluates once the current event is handled: the installed profiles changed while a
   * SetChargingProfile or ClearChargingProfile is answered, and that answer (persisted already)
   * must not wait for every connector's composite and next boundary. Asked again meanwhile, once.
   */
  evaluateSoon(): void {
    if (this.soon || this.closed) return;
    this.soon = setImmediate(() => {
      this.soon = undefined;
      void this.evaluate();
    });
  }

  paused(connectorId: number): boolean {
    return this.inEffect.get(connectorId)?.paused ?? false;
  }

  contactorOpen(connectorId: number): boolean {
    const relay = this.opts.station.connector(connectorId)?.devices.relay;
    if (!relay) return true;
    return (
      !this.openRetries.retrying(connectorId) &&
      !relay.isClosed() &&
      // A feedback input that cannot be read says nothing: its last reading may hide a weld.
      relay.feedbackReadable() &&
      relay.feedback() !== true
    );
  }

  async untilContactorOpen(connectorId: number): Promise<boolean> {
    const relay = this.opts.station.connector(connectorId)?.devices.relay;
    if (!relay) return true;
    for (;;) {
      if (this.contactorOpen(connectorId)) return true;
      if (this.closed) return false;
      // A new episode may begin as one ends (an evaluation commanding it meanwhile): wait for that too.
      if (this.openRetries.retrying(connectorId)) {
        if (!(await this.openRetries.settled(connectorId))) return false;
        continue;
      }
      if (relay.isClosed()) return false;
      // Welded, or its contact unreadable: only the contact reading open ends that.
      await this.nextRelayChange(relay);
    }
  }

  async whenContactorOpen(
    connectorId: number,
    unlock: () => Promise<void>,
    wanted: () => boolean,
  ): Promise<boolean> {
    const { log } = this.opts;
    const release = () =>
      unlock().catch((error: unknown) =>
        log.error({ connectorId, err: errorMessage(error) }, 'cable not released'),
      );
    if (this.contactorOpen(connectorId)) {
      await release();
      return true;
    }
    log.warn({ connectorId }, 'cable kept locked until the contactor is known open');
    void this.untilContactorOpen(connectorId).then(async (opened) => {
      if (opened && wanted()) await release();
    });
    return false;
  }

  /** Resolves at the relay's next change of command or contact, or when the owner closes. */
  private nextRelayChange(relay: Relay): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        relay.off('change', done);
        relay.off('feedback', done);
        this.closing.delete(done);
        resolve();
      };
      relay.on('change', done);
      relay.on('feedback', done);
      this.closing.add(done);
    });
  }

  /** The limit in effect on a connector now (for status, MQTT and cpctl). */
  limitInEffect(connectorId: number): LimitInEffect | undefined {
    return this.inEffect.get(connectorId);
  }

  /** The constant limits of a connector's composite: its local limit and its load-sharing share. */
  limitsOf(connectorId: number): ConstantLimit[] {
    const limits: ConstantLimit[] = [];
    const local = this.local.get(connectorId);
    if (local !== undefined) limits.push({ limitA: local, source: { kind: 'local' } });
    const share = this.sharing ? this.shares.get(connectorId) : undefined;
    if (share !== undefined) limits.push({ limitA: share, source: { kind: 'loadSharing' } });
    return limits;
  }

  localLimit(connectorId: number): number | undefined {
    return this.local.get(connectorId);
  }

  /**
   * The operator's limit on a connector (MQTT `limit`, cpctl), from 0 (pause) to the outlet's
   * maximum, which lifts it. Persisted before it takes effect; resolves once the outputs follow.
   */
  async setLocalLimit(connectorId: number, amps: number): Promise<void> {
    const hw = this.opts.station.connector(connectorId);
    if (!hw) throw new LocalLimitRefused(`no connector ${connectorId}`);
    const { maxCurrentA } = hw.devices;
    if (!Number.isFinite(amps) || amps < 0 || amps > maxCurrentA)
      throw new LocalLimitRefused(`${amps} A is outside connector ${connectorId}'s 0..${maxCurrentA} A`);
    if (amps === maxCurrentA) {
      this.opts.localLimits.remove(connectorId);
      this.local.delete(connectorId);
    } else {
      this.opts.localLimits.set(connectorId, amps);
      this.local.set(connectorId, amps);
    }
    this.opts.log.info({ connectorId, amps }, 'local limit set');
    await this.evaluate();
  }

  /**
   * A technician's relay test on an idle connector (the control API decides when one may run and
   * ends it): the contactor closes while it runs and follows the usual rule once it ends.
   */
  async testRelay(connectorId: number, closed: boolean): Promise<void> {
    if (closed) this.relayTests.add(connectorId);
    else this.relayTests.delete(connectorId);
    await this.evaluate();
  }

  private async run(): Promise<void> {
    if (this.closed) return;
    const { station, time } = this.opts;
    const now = time.nowMs();
    // Connector 0's composite holds no share: the same before and after the split.
    const chargePoint = this.opts.composites.limitNowAndNextChange(0, now);
    this.reshare(now, chargePoint.period);
    // How far a re-evaluation looks for the next change: while a session runs and nothing changes
    // within it, the owner looks again at its end.
    const horizon = now + NEXT_CHANGE_HORIZON_S * 1000;
    // The charge point's composite changes the supply that is shared, also where a share hides it.
    let nextMs = before(chargePoint.nextChangeMs, horizon) ?? Number.POSITIVE_INFINITY;
    let sessions = false;
    const decisions: Array<{ hw: ConnectorHardware; outputs: ConnectorOutputs; limit: LimitInEffect }> = [];
    for (const id of station.connectorIds()) {
      const hw = station.connector(id);
      if (!hw) continue;
      const composite = this.opts.composites.limitNowAndNextChange(id, now);
      const first = composite.period;
      const limitA = first?.limitA ?? hw.devices.maxCurrentA;
      const session = this.sessions(id).transaction;
      if (session) sessions = true;
      nextMs = Math.min(nextMs, before(composite.nextChangeMs, horizon) ?? nextMs);
      const plugged = hw.plugged();
      const evAsks = pilotAsksForEnergy(hw.devices.pilot.state());
      const cableHeld = !hw.lock || hw.lock.isLocked();
      const faulted = hw.fault() !== undefined;
      const outputs = decideOutputs({
        ...(session ? { transaction: { withheld: session.withheld } } : {}),
        evAsks,
        cableHeld,
        faulted,
        switchesOnPilot: hw.devices.relay.switchesOnPilot === true,
        // A test only ever runs on an idle connector: a cable, a fault or a session ends it here first.
        relayTest: this.relayTests.has(id) && !plugged && !session,
        limitA,
        minA: Math.max(MIN_CHARGING_CURRENT_A, first?.minChargingRateA ?? 0),
      });
      this.noteUnheld(id, session !== undefined && !session.withheld && evAsks && !cableHeld);
      const limit: LimitInEffect = {
        amps: outputs.offeredA,
        state: outputs.offer,
        limitA,
        source: first?.source ?? HARDWARE,
        paused: outputs.paused,
      };
      decisions.push({ hw, outputs, limit });
    }
    // Contactors that must open are commanded first, before any await: a fault or a plugged cable
    // opens them within the event that caused it. Then the pilots, then the contactors that close.
    // A failed open or close is followed by opens on the clock (contactor-retry.ts) until one
    // succeeds or the contactor may close again.
    for (const { hw, outputs } of decisions) if (outputs.contactorClosed) this.openRetries.forget(hw.id);
    await Promise.all(
      decisions.filter(({ outputs }) => !outputs.contactorClosed).map(({ hw }) => this.commandOpen(hw)),
    );
    for (const { hw, outputs } of decisions) await this.offer(hw, outputs);
    for (const { hw, outputs } of decisions)
      if (outputs.contactorClosed && !hw.devices.relay.isClosed()) await this.openRetries.close(hw);
    for (const { hw, limit } of decisions) this.note(hw.id, limit);
    // Nothing changing within the lookahead: look again at its end while a session may be
    // affected; an idle charger is evaluated afresh when a session starts.
    if (sessions) nextMs = Math.min(nextMs, horizon);
    if (this.started)
      this.scheduleBoundary(nextMs === Number.POSITIVE_INFINITY ? undefined : Math.max(nextMs, now + 1));
  }

  /**
   * Splits the supply (the board's, and the ChargePointMaxProfile's now) among the sessions that
   * want energy: a running transaction whose energy is not withheld, with the EV plugged and
   * asking for it, or waiting for a share (paused here). An EV that pauses by itself frees its share.
   */
  private reshare(now: number, chargePoint: CompositePeriod | undefined): void {
    const { station, board } = this.opts;
    this.sharing = false;
    try {
      const supplyA = Math.min(
        board.supplyMaxCurrentA ?? Number.POSITIVE_INFINITY,
        chargePoint?.source.kind === 'profile' ? chargePoint.limitA : Number.POSITIVE_INFINITY,
      );
      const demands: ShareDemand[] = [];
      for (const id of station.connectorIds()) {
        const hw = station.connector(id);
        const tx = this.sessions(id).transaction;
        if (!hw || !tx || tx.withheld || !hw.plugged()) continue;
        if (!pilotAsksForEnergy(hw.devices.pilot.state()) && this.shares.get(id) !== 0) continue;
        const own = this.opts.composites.limitNow(id, now);
        const capA = own?.limitA ?? hw.devices.maxCurrentA;
        const minA = Math.max(MIN_CHARGING_CURRENT_A, own?.minChargingRateA ?? 0);
        // A connector its own limit pauses takes nothing from the others.
        if (capA >= minA)
          demands.push({ connectorId: id, capA, minA, startedAt: tx.startedAt, lines: linesOf(hw.devices) });
      }
      this.shares.clear();
      if (!Number.isFinite(supplyA)) return;
      for (const share of shareSupply(supplyA, demands)) {
        const demand = demands.find((d) => d.connectorId === share.connectorId);
        if (share.paused) this.shares.set(share.connectorId, 0);
        else if (demand && share.limitA < demand.capA) this.shares.set(share.connectorId, share.limitA);
      }
    } finally {
      this.sharing = true;
    }
  }

  /**
   * The pilot's offer, and a DC module's power setpoint to match. A pilot command that fails and
   * faults the relay (a charge controller's enable coil) of a contactor that is to stay open is
   * followed by opens on the clock, as a failed open is: nothing else would command it again. The
   * episode of opens logs that failure, once: it is not logged here as well.
   */
  private async offer(hw: ConnectorHardware, outputs: ConnectorOutputs): Promise<void> {
    const { devices } = hw;
    const amps = outputs.offeredA;
    if (devices.pilot.currentLimit() !== amps)
      await this.attempt(
        hw,
        'pilot limit',
        () => devices.pilot.setCurrentLimit(amps),
        (error) =>
          outputs.contactorClosed ? false : this.openRetries.otherOutputFailed(hw, 'pilot limit', error),
      );
    const setpoint = devices.powerSetpoint;
    if (!setpoint) return;
    const { voltageV, phases } = electricalOf(devices);
    const watts = Math.round(amps * voltageV * phases);
    if (setpoint.powerLimit() !== watts)
      await this.attempt(hw, 'power setpoint', () => setpoint.setPowerLimit(watts));
  }

  /**
   * An output that cannot be commanded is logged, unless `handled` took its failure (and logs it
   * itself); the others are still commanded.
   */
  private async attempt(
    hw: ConnectorHardware,
    what: string,
    act: () => Promise<void>,
    handled: (error: unknown) => boolean = () => false,
  ): Promise<void> {
    try {
      await act();
    } catch (error) {
      if (handled(error)) return;
      this.opts.log.error({ connectorId: hw.id, err: errorMessage(error) }, `${what} not commanded`);
    }
  }

  /** Keeps the limit in effect; a change is announced, and a pause that begins or ends re-derives the status. */
  private note(connectorId: number, limit: LimitInEffect): void {
    const before = this.inEffect.get(connectorId);
    if (
      before &&
      before.amps === limit.amps &&
      before.state === limit.state &&
      before.limitA === limit.limitA &&
      before.paused === limit.paused &&
      sameSource(before.source, limit.source)
    )
      return;
    this.inEffect.set(connectorId, limit);
    if (before?.paused !== limit.paused) this.opts.station.refresh();
    this.emit('changed', connectorId, limit);
  }

  private noteUnheld(connectorId: number, unheld: boolean): void {
    if (unheld && !this.unheld.has(connectorId))
      this.opts.log.warn({ connectorId }, 'cable not locked: contactor kept open');
    if (unheld) this.unheld.add(connectorId);
    else this.unheld.delete(connectorId);
  }

  private scheduleBoundary(atMs: number | undefined): void {
    this.boundary?.cancel();
    this.boundary = undefined;
    if (this.closed || atMs === undefined) return;
    this.boundary = this.opts.clock.setTimeout(() => {
      this.boundary = undefined;
      void this.evaluate();
    }, atMs - this.opts.time.nowMs());
  }
}

/** A composite's next change if it comes before `horizon`. */
function before(change: number | undefined, horizon: number): number | undefined {
  return change !== undefined && change < horizon ? change : undefined;
}
