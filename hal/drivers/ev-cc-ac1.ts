/**
 * Phoenix Contact EV Charge Control Basic (EV-CC-AC1-M3-...): an IEC 61851-1 AC charge controller
 * on Modbus (RTU, or TCP through a gateway). It generates the pilot PWM, switches its contactor
 * and drives the socket lock itself; the runtime reads the pilot state and commands the current,
 * the charge permission and the lock. One controller gives its connector a Pilot, a Relay (the
 * charge permission) and a ConnectorLock, all over the shared Modbus line (modbus-bus.ts).
 *
 * Registers used (user manual 106377_en_04, table 9-2 "Register assignment"):
 * - input 24000: the IEC 61851-1 status as an ASCII letter in the low byte ('A' = 0x41 .. 'F');
 *   read together with 24001..24003, 24003 being the charging current the controller applies (A);
 * - holding 22000: the maximum permissible charging current, 6..63 A (volatile);
 * - coil 20000: charging enabled (switches the PWM on when all other conditions are met);
 * - coil 20001: charging station available (0 puts the pilot in state F);
 * - coil 20002: the locking actuator (1 locked), where register 4002 selects Modbus locking (3).
 * The coils and 22000 are volatile (lost when the controller restarts), so every command is
 * written again once the controller answers after a silence. The controller's configuration
 * registers (4000 ff.: enable by Modbus, locking by Modbus) are the installer's, not written here.
 *
 * Energy flows only while the relay is closed and at least 6 A are offered: the enable coil is
 * exactly that, so opening the relay or a limit below 6 A withdraws the permission (the
 * controller then stops the PWM and opens its contactor). The controller closes its contactor
 * once the EV goes to C, and offers the PWM the EV waits for only once enabled: its relay
 * `switchesOnPilot`, so the runtime permits a session before the EV asks.
 */
import { EventEmitter } from 'node:events';
import { type Clock, systemClock, type Timer } from '../../src/clock.js';
import { errorMessage } from '../../src/error-message.js';
import type { Logger } from '../../src/log.js';
import {
  type ConnectorLock,
  checkLimit,
  type DeviceHealth,
  HEALTHY,
  type HealthEvents,
  type Pilot,
  type PilotState,
  type Relay,
  type RelayEvents,
} from '../types.js';
import { HealthState } from './health-state.js';
import { type ModbusBus, modbusLineTimingSchema, modbusTransportSchema } from './modbus-bus.js';

export const EV_CC_AC1 = {
  /** Input: IEC 61851-1 status letter; 24003 the applied charging current, A. */
  status: 24_000,
  statusCount: 4,
  appliedCurrentOffset: 3,
  /** Holding: maximum permissible charging current, A. */
  maxCurrent: 22_000,
  /** Coils. */
  enable: 20_000,
  available: 20_001,
  lock: 20_002,
  minCurrentA: 6,
  maxCurrentA: 63,
} as const;

const DEFAULT_POLL_MS = 500;
const STATES: readonly PilotState[] = ['A', 'B', 'C', 'D', 'E', 'F'];

/** The board-file part of the controller a connector's pilot, relay and lock share (JSON schema draft-07). */
export const evCcAc1ControllerSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['driver', 'transport', 'unitId'],
  description: 'Phoenix Contact EV Charge Control Basic (EV-CC-AC1-M3) serving this connector',
  properties: {
    driver: { const: 'ev-cc-ac1' },
    transport: modbusTransportSchema,
    unitId: { type: 'integer', minimum: 1, maximum: 247 },
    pollIntervalMs: { type: 'integer', minimum: 100, maximum: 60_000 },
    ...modbusLineTimingSchema,
  },
} as const;

/** A pilot, relay or lock served by the connector's controller. */
export const evCcAc1PartSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['driver'],
  properties: { driver: { const: 'ev-cc-ac1' } },
} as const;

/** The IEC 61851-1 state in status register 24000, or undefined for a value that is none. */
export function decodeStatus(word: number): PilotState | undefined {
  return STATES.find((state) => state.charCodeAt(0) === (word & 0xff));
}

export interface EvCcAc1Options {
  bus: ModbusBus;
  unitId: number;
  /** The outlet's maximum current: the controller is never told more (nor more than 63 A). */
  maxCurrentA: number;
  /** Default 500. */
  pollIntervalMs?: number;
  log: Logger;
  clock?: Clock;
}

type Output = 'current' | 'enable' | 'lock' | 'available';

/**
 * The controller: polls the status, keeps what the runtime commanded and writes it. Its parts
 * (pilot, relay, lock) share one start: the first part's start starts polling, the last stop ends it.
 */
export class EvCcAc1Controller extends EventEmitter<{ change: [] }> {
  readonly pilot: EvCcAc1Pilot;
  readonly relay: EvCcAc1Relay;
  readonly lock: EvCcAc1Lock;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly pollIntervalMs: number;
  private users = 0;
  private timer: Timer | undefined;
  private polling: Promise<void> | undefined;
  /** Last status read; kept while the controller is silent (never taken for A, no EV). */
  private stateNow: PilotState = 'A';
  private applied: number | undefined;
  /** Why the status cannot be read now, if it cannot. */
  private unreadable: string | undefined = 'not read yet';
  private readonly failed = new Map<Output, string>();
  /** What the runtime commanded, written again whenever the controller may have lost it. */
  private limitA: number;
  private permitted = false;
  private lockCommanded = false;

  constructor(private readonly opts: EvCcAc1Options) {
    super();
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log.child({ controller: 'ev-cc-ac1', bus: opts.bus.key, unitId: opts.unitId });
    this.pollIntervalMs = opts.pollIntervalMs ?? DEFAULT_POLL_MS;
    this.limitA = opts.maxCurrentA;
    this.pilot = new EvCcAc1Pilot(this);
    this.relay = new EvCcAc1Relay(this);
    this.lock = new EvCcAc1Lock(this);
  }

  async retain(): Promise<void> {
    this.users += 1;
    if (this.users > 1) return;
    this.opts.bus.retain();
    await this.poll();
  }

  async release(): Promise<void> {
    if (this.users === 0) return;
    this.users -= 1;
    if (this.users > 0) return;
    this.timer?.cancel();
    this.timer = undefined;
    await this.polling;
    // Nothing may charge with no one watching: withdraw the permission (the lock stays as it is).
    this.permitted = false;
    await this.unheard(this.writeEnable(), 'charge permission not withdrawn at stop');
    await this.opts.bus.release();
  }

  /**
   * Withdraws the charge permission, before anything starts; a failure is logged, not thrown. The
   * line is held only for this write, so a board that never starts leaves no connection open.
   */
  safe(): void {
    this.permitted = false;
    this.opts.bus.retain();
    void this.unheard(this.writeEnable(), 'charge permission not withdrawn before start').finally(() =>
      this.opts.bus.release(),
    );
  }

  state(): PilotState {
    return this.stateNow;
  }

  /** The charging current the controller reports it applies (register 24003), A. */
  appliedCurrentA(): number | undefined {
    return this.applied;
  }

  /** Why the controller cannot be read now, if it cannot. */
  communicationProblem(): string | undefined {
    return this.unreadable;
  }

  /** Why the last write to an output failed, if it did (cleared by the next success). */
  writeProblem(output: Output): string | undefined {
    return this.failed.get(output);
  }

  currentLimit(): number {
    return this.limitA;
  }

  /** Offers `amps` (below 6 A: none, the permission withdrawn). */
  offer(amps: number): Promise<void> {
    this.limitA = amps;
    return this.writeCurrentAndEnable();
  }

  /** The relay's command: charging may go on (with current offered) or not. */
  isPermitted(): boolean {
    return this.permitted;
  }

  permit(closed: boolean): Promise<void> {
    this.permitted = closed;
    return this.writeEnable();
  }

  locked(): boolean {
    return this.lockCommanded;
  }

  /**
   * Commands the lock: false when the controller did not take it. The failure is logged here, as
   * the lock's caller hears no more than false of it.
   */
  setLocked(locked: boolean): Promise<boolean> {
    this.lockCommanded = locked;
    return this.writeLock().then(
      () => true,
      (err: Error) => {
        this.log.error({ err: err.message }, `connector ${locked ? 'lock' : 'unlock'} failed`);
        return false;
      },
    );
  }

  /** The current register, then the permission: a permission never comes before its current. */
  private async writeCurrentAndEnable(): Promise<void> {
    if (this.offers()) await this.write('current', EV_CC_AC1.maxCurrent, this.registerCurrent());
    await this.writeEnable();
  }

  private writeEnable(): Promise<void> {
    return this.write('enable', EV_CC_AC1.enable, this.permitted && this.offers());
  }

  private writeLock(): Promise<void> {
    return this.write('lock', EV_CC_AC1.lock, this.lockCommanded);
  }

  private offers(): boolean {
    return Math.min(this.limitA, this.opts.maxCurrentA) >= EV_CC_AC1.minCurrentA;
  }

  /** The limit in the register's whole amperes, rounded down (never more than asked). */
  private registerCurrent(): number {
    return Math.floor(Math.min(this.limitA, this.opts.maxCurrentA, EV_CC_AC1.maxCurrentA));
  }

  /**
   * Writes an output; a failure is in its part's health and thrown, not logged: the caller that
   * hears of it logs it (the charging limit, once per episode of retries), and the driver's own
   * writes that no caller hears of are logged by `unheard`.
   */
  private async write(output: Output, address: number, value: number | boolean): Promise<void> {
    const { bus, unitId } = this.opts;
    try {
      if (typeof value === 'boolean') await bus.writeCoil(unitId, address, value);
      else await bus.writeRegister(unitId, address, value);
    } catch (err) {
      const info = `${typeof value === 'boolean' ? 'coil' : 'holding register'} ${address} not written: ${errorMessage(err)}`;
      this.failed.set(output, info);
      this.emit('change');
      throw new Error(`EV-CC-AC1 unit ${unitId}: ${info}`, { cause: err });
    }
    if (this.failed.delete(output)) this.emit('change');
  }

  /** One poll, and the next one scheduled an interval after this one began. */
  private async poll(): Promise<void> {
    const began = this.clock.monotonic();
    this.polling = this.readStatus();
    await this.polling;
    this.polling = undefined;
    if (this.users === 0) return;
    const elapsed = this.clock.monotonic() - began;
    this.timer = this.clock.setTimeout(() => void this.poll(), Math.max(0, this.pollIntervalMs - elapsed));
  }

  private async readStatus(): Promise<void> {
    const { bus, unitId } = this.opts;
    let words: number[];
    try {
      const bytes = await bus.readRegisters(unitId, 'input', EV_CC_AC1.status, EV_CC_AC1.statusCount);
      words = Array.from({ length: EV_CC_AC1.statusCount }, (_, i) => bytes.readUInt16BE(2 * i));
    } catch (err) {
      this.setUnreadable(`charge controller unit ${unitId} not answering: ${errorMessage(err)}`);
      return;
    }
    const state = decodeStatus(words[0] ?? 0);
    if (!state) {
      this.setUnreadable(
        `status register ${EV_CC_AC1.status} holds 0x${(words[0] ?? 0).toString(16)}, no IEC 61851 state`,
      );
      return;
    }
    const wasSilent = this.unreadable !== undefined;
    this.unreadable = undefined;
    this.applied = words[EV_CC_AC1.appliedCurrentOffset];
    if (wasSilent) {
      this.log.info('charge controller answers; writing the commanded outputs');
      await this.restoreOutputs();
    }
    const changed = state !== this.stateNow;
    this.stateNow = state;
    if (changed) this.pilot.emit('state', state);
    this.emit('change');
  }

  /** The volatile outputs as commanded, after a (re)start of either side. */
  private async restoreOutputs(): Promise<void> {
    await this.unheard(
      this.write('available', EV_CC_AC1.available, true),
      'station availability not restored',
    );
    await this.unheard(this.writeCurrentAndEnable(), 'current and charge permission not restored');
    await this.unheard(this.writeLock(), 'lock not restored');
  }

  /** A write of the driver's own, which no caller hears of: its failure is logged here. */
  private unheard(writing: Promise<void>, what: string): Promise<void> {
    return writing.catch((err: Error) => this.log.error({ err: err.message }, what));
  }

  private setUnreadable(info: string): void {
    if (this.unreadable === info) return;
    if (this.unreadable === undefined || this.unreadable === 'not read yet') this.log.warn(info);
    this.unreadable = info;
    this.emit('change');
  }
}

/** The controller's pilot: its status register and its current setting. */
export class EvCcAc1Pilot
  extends EventEmitter<HealthEvents & { state: [state: PilotState] }>
  implements Pilot
{
  private readonly healthState = new HealthState((h) => this.emit('health', h));

  constructor(private readonly controller: EvCcAc1Controller) {
    super();
    controller.on('change', () => this.healthState.set(this.health()));
  }

  start(): Promise<void> {
    return this.controller.retain();
  }

  stop(): Promise<void> {
    return this.controller.release();
  }

  state(): PilotState {
    return this.controller.state();
  }

  async setCurrentLimit(amps: number): Promise<void> {
    checkLimit(amps, 'pilot current limit', 'A');
    await this.controller.offer(amps);
  }

  currentLimit(): number {
    return this.controller.currentLimit();
  }

  /** The current the controller says it applies (register 24003), A. */
  appliedCurrentA(): number | undefined {
    return this.controller.appliedCurrentA();
  }

  health(): DeviceHealth {
    const info =
      this.controller.communicationProblem() ??
      this.controller.writeProblem('current') ??
      this.controller.writeProblem('available');
    return info ? { ok: false, fault: 'EVCommunicationError', info } : HEALTHY;
  }

  /** The permission is the relay's (the enable coil): withdrawing it is the relay's safe(). */
  safe(): void {}
}

/** The controller's charge permission (enable coil 20000): the contactor is the controller's to switch. */
export class EvCcAc1Relay extends EventEmitter<RelayEvents> implements Relay {
  /** The enable coil is a permission: the controller switches its contactor when the EV asks. */
  readonly switchesOnPilot = true;
  private readonly healthState = new HealthState((h) => this.emit('health', h));

  constructor(private readonly controller: EvCcAc1Controller) {
    super();
    controller.on('change', () => this.healthState.set(this.health()));
  }

  start(): Promise<void> {
    return this.controller.retain();
  }

  stop(): Promise<void> {
    return this.controller.release();
  }

  async set(closed: boolean): Promise<void> {
    const changed = closed !== this.controller.isPermitted();
    const writing = this.controller.permit(closed);
    if (changed) this.emit('change', closed);
    await writing;
  }

  isClosed(): boolean {
    return this.controller.isPermitted();
  }

  feedback(): undefined {
    return undefined;
  }

  /** There is no feedback input to fail. */
  feedbackReadable(): true {
    return true;
  }

  health(): DeviceHealth {
    const info = this.controller.writeProblem('enable');
    return info ? { ok: false, fault: 'PowerSwitchFailure', info } : HEALTHY;
  }

  /**
   * Withdraws the permission. Modbus cannot be written synchronously: the write is queued on the
   * line now and confirmed (or reported in health) when the controller starts.
   */
  safe(): void {
    const wasClosed = this.controller.isPermitted();
    this.controller.safe();
    if (wasClosed) this.emit('change', false);
  }
}

/** The controller's locking actuator (coil 20002). */
export class EvCcAc1Lock extends EventEmitter<HealthEvents> implements ConnectorLock {
  private readonly healthState = new HealthState((h) => this.emit('health', h));

  constructor(private readonly controller: EvCcAc1Controller) {
    super();
    controller.on('change', () => this.healthState.set(this.health()));
  }

  start(): Promise<void> {
    return this.controller.retain();
  }

  stop(): Promise<void> {
    return this.controller.release();
  }

  lock(): Promise<boolean> {
    return this.command(true);
  }

  unlock(): Promise<boolean> {
    return this.command(false);
  }

  /** The commanded state once the controller took it (the actuator has no feedback here). */
  isLocked(): boolean {
    return this.controller.locked() && this.controller.writeProblem('lock') === undefined;
  }

  feedback(): undefined {
    return undefined;
  }

  /** There is no feedback input to fail. */
  feedbackReadable(): true {
    return true;
  }

  health(): DeviceHealth {
    const info = this.controller.writeProblem('lock');
    return info ? { ok: false, fault: 'ConnectorLockFailure', info } : HEALTHY;
  }

  private command(locked: boolean): Promise<boolean> {
    return this.controller.setLocked(locked);
  }
}
