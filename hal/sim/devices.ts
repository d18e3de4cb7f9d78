import { EventEmitter } from 'node:events';
import type { Clock } from '../../src/clock.js';
import {
  type ConnectorLock,
  checkLimit,
  type DeviceHealth,
  type FaultInput,
  HEALTHY,
  type HealthEvents,
  type Meter,
  type MeterReading,
  type Pilot,
  type PilotState,
  type PowerSetpoint,
  type Relay,
  type RelayEvents,
  type RfidReader,
  type RfidReaderEvents,
} from '../types.js';
import type { SimRegisters } from './registers.js';

/** Phase voltage the simulated grid supplies where the board file gives none. */
export const SIM_GRID_VOLTAGE_V = 230;

/** The simulated vehicle at one connector: whether it is plugged, whether it wants energy, how much. */
export class SimEv extends EventEmitter<{ change: [] }> {
  plugged = false;
  /** 'charge': the EV asks for energy (pilot C); 'pause': it does not (pilot B). */
  mode: 'charge' | 'pause' = 'charge';
  /** Power the EV draws when allowed, W. */
  wantedPowerW = 11_000;

  update(change: Partial<Pick<SimEv, 'plugged' | 'mode' | 'wantedPowerW'>>): void {
    Object.assign(this, change);
    this.emit('change');
  }
}

/**
 * How a simulated contactor's auxiliary contact behaves: it follows the command, it is stuck, or
 * it welds the next time it closes (`welds-on-close`: it follows until then, then stays `welded`).
 */
export type SimContact = 'follows' | 'welded' | 'stuck-open' | 'welds-on-close';

/**
 * A contactor with a feedback contact. `welded` keeps the contact closed and `stuck-open` keeps it
 * open whatever the command; `welds-on-close` is a contact that closes with the command and then
 * no longer opens, as contacts welded by the arc of a close under load. A contact that disagrees
 * with the command is a PowerSwitchFailure, as a GPIO relay reports it once its settle time has
 * passed (here the contact answers at once). An output that cannot be driven (`outputFails`)
 * fails every command, the contactor staying as it was, and is a PowerSwitchFailure until a
 * command succeeds, as the GPIO and Modbus relays report a failed write.
 */
export class SimRelay extends EventEmitter<RelayEvents> implements Relay {
  readonly feedbackSettleMs = 0;
  private closed = false;
  private contactState: SimContact = 'follows';
  private outputFailing = false;
  private writeFailed = false;
  private currentHealth: DeviceHealth = HEALTHY;

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  async set(closed: boolean): Promise<void> {
    this.command(closed);
  }

  safe(): void {
    this.command(false);
  }

  isClosed(): boolean {
    return this.closed;
  }

  feedback(): boolean {
    switch (this.contactState) {
      case 'follows':
      case 'welds-on-close':
        return this.closed;
      case 'welded':
        return true;
      case 'stuck-open':
        return false;
    }
  }

  /** The simulated contact is always read. */
  feedbackReadable(): true {
    return true;
  }

  health(): DeviceHealth {
    return this.currentHealth;
  }

  contact(contact: SimContact): void {
    this.change(() => {
      this.contactState = contact;
    });
  }

  /** The output cannot be driven (true) or can again; the next command that succeeds clears the fault. */
  outputFails(failing: boolean): void {
    this.outputFailing = failing;
  }

  private command(closed: boolean): void {
    if (this.outputFailing) {
      this.change(() => {
        this.writeFailed = true;
      });
      throw new Error('relay output write failed');
    }
    this.change(() => {
      this.writeFailed = false;
      if (closed === this.closed) return;
      this.closed = closed;
      if (closed && this.contactState === 'welds-on-close') this.contactState = 'welded';
      this.emit('change', closed);
    });
  }

  /** Applies a change of command, output or contact, then announces the contact and health it leaves. */
  private change(apply: () => void): void {
    const before = this.feedback();
    apply();
    const contact = this.feedback();
    if (contact !== before) this.emit('feedback', contact);
    const info = this.writeFailed
      ? 'relay output write failed'
      : contact === this.closed
        ? undefined
        : contact
          ? 'contactor welded'
          : 'contactor did not close';
    const next: DeviceHealth = info ? { ok: false, fault: 'PowerSwitchFailure', info } : HEALTHY;
    if (JSON.stringify(next) === JSON.stringify(this.currentHealth)) return;
    this.currentHealth = next;
    this.emit('health', next);
  }
}

export class SimPilot extends EventEmitter<HealthEvents & { state: [state: PilotState] }> implements Pilot {
  private limitA: number;
  private last: PilotState;
  private currentHealth: DeviceHealth = HEALTHY;

  constructor(
    private readonly ev: SimEv,
    maxCurrentA: number,
  ) {
    super();
    this.limitA = maxCurrentA;
    this.last = this.state();
    ev.on('change', () => {
      const next = this.state();
      if (next === this.last) return;
      this.last = next;
      this.emit('state', next);
    });
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  state(): PilotState {
    if (!this.ev.plugged) return 'A';
    return this.ev.mode === 'charge' ? 'C' : 'B';
  }

  async setCurrentLimit(amps: number): Promise<void> {
    this.limitA = amps;
    this.ev.emit('change');
  }

  currentLimit(): number {
    return this.limitA;
  }

  /** The simulated pilot outputs no permission of its own: energy follows the relay alone. */
  safe(): void {}

  health(): DeviceHealth {
    return this.currentHealth;
  }

  /**
   * The pilot's sense input cannot be read (true) or reads again: an EVCommunicationError, as a
   * GPIO pilot reports an unreadable input. The state keeps following the EV.
   */
  unreadable(unreadable: boolean): void {
    if (unreadable === !this.currentHealth.ok) return;
    this.currentHealth = unreadable
      ? { ok: false, fault: 'EVCommunicationError', info: 'pilot input unreadable' }
      : HEALTHY;
    this.emit('health', this.currentHealth);
  }
}

/**
 * A DC charger module's power limit. It starts at what the outlet can deliver; a new limit takes
 * effect on the energy at once (the meter settles on the EV's `change`, as for a pilot limit).
 */
export class SimPowerSetpoint extends EventEmitter<HealthEvents> implements PowerSetpoint {
  private limitW: number;

  constructor(
    private readonly ev: SimEv,
    maxPowerW: number,
  ) {
    super();
    this.limitW = maxPowerW;
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  async setPowerLimit(watts: number): Promise<void> {
    checkLimit(watts, 'power limit', 'W');
    this.limitW = watts;
    this.ev.emit('change');
  }

  powerLimit(): number {
    return this.limitW;
  }

  /** The simulated module delivers only through the relay, which the board opens. */
  safe(): void {}

  health(): DeviceHealth {
    return HEALTHY;
  }
}

/** The electrical side of a simulated outlet: what converts a current limit into power. */
export interface SimOutletElectrical {
  phases: 1 | 3;
  /** Phase voltage (DC: output voltage), V. */
  voltageV: number;
  /** A DC outlet's power setpoint, which caps the power too. */
  powerSetpoint?: SimPowerSetpoint;
}

/**
 * A meter that integrates the power the EV really draws: only while the relay is closed and the
 * EV asks for energy, and never more than the current limit allows at the outlet's voltage (nor,
 * on a DC outlet, more than its power setpoint). The power in effect since the
 * last settlement is kept, so a change (pause, unplug, relay opened, new limit) first books the
 * energy drawn up to that moment at the old power; the devices change their state before they
 * announce it, so the power cannot be recomputed from them at that point. The register is exact
 * (fractional Wh, as a real meter's float is): rounding is the reader's business.
 */
export class SimMeter extends EventEmitter<HealthEvents> implements Meter {
  readonly measurands = [
    'Energy.Active.Import.Register',
    'Power.Active.Import',
    'Current.Import',
    'Voltage',
    'Frequency',
  ] as const;
  readonly type = 'SIM-METER';
  readonly serialNumber: string;
  private currentHealth: DeviceHealth = HEALTHY;
  private registerWh: number;
  /** Power drawn since `lastAt`, W. */
  private flowingW: number;
  /** Monotonic ms of the last settlement. */
  private lastAt: number;

  constructor(
    private readonly connectorId: number,
    private readonly ev: SimEv,
    private readonly relay: SimRelay,
    private readonly pilot: SimPilot,
    private readonly electrical: SimOutletElectrical,
    private readonly clock: Clock,
    private readonly registers: SimRegisters,
  ) {
    super();
    this.serialNumber = `SIM-${connectorId}`;
    this.registerWh = registers.get(connectorId);
    this.lastAt = clock.monotonic();
    this.flowingW = this.powerW();
    const settle = (): void => this.settle();
    ev.on('change', settle);
    relay.on('change', settle);
  }

  async start(): Promise<void> {}

  /** Books the energy drawn so far (the board writes the registers once every meter has). */
  async stop(): Promise<void> {
    this.integrate();
  }

  /** Active power the devices allow now, W. */
  powerW(): number {
    if (!this.relay.isClosed() || this.pilot.state() !== 'C') return 0;
    const { phases, voltageV, powerSetpoint } = this.electrical;
    const allowed = Math.min(
      this.pilot.currentLimit() * voltageV * phases,
      powerSetpoint?.powerLimit() ?? Number.POSITIVE_INFINITY,
    );
    return Math.max(0, Math.min(this.ev.wantedPowerW, allowed));
  }

  /** While true the meter does not answer, as a meter whose bus is cut: reads fail (PowerMeterFailure). */
  silent(silent: boolean): void {
    this.setHealth(
      silent ? { ok: false, fault: 'PowerMeterFailure', info: 'meter does not answer' } : HEALTHY,
    );
  }

  async readNow(): Promise<MeterReading> {
    return this.read();
  }

  async read(): Promise<MeterReading> {
    if (!this.currentHealth.ok) throw new Error('meter does not answer');
    this.integrate();
    const power = this.flowingW;
    const { phases, voltageV } = this.electrical;
    const perPhaseA = power / voltageV / phases;
    const each = Array.from({ length: phases });
    return {
      at: this.clock.now(),
      energyImportWh: this.registerWh,
      powerW: power,
      currentA: each.map(() => Math.round(perPhaseA * 100) / 100),
      voltageV: each.map(() => voltageV),
      frequencyHz: 50,
    };
  }

  health(): DeviceHealth {
    return this.currentHealth;
  }

  private setHealth(next: DeviceHealth): void {
    if (next.ok === this.currentHealth.ok) return;
    this.currentHealth = next;
    this.emit('health', next);
  }

  /** Books the energy at the power that was flowing, then takes the power the devices allow now. */
  private settle(): void {
    const wasFlowing = this.flowingW > 0;
    this.integrate();
    this.flowingW = this.powerW();
    if (wasFlowing) this.registers.set(this.connectorId, this.registerWh, this.flowingW === 0);
  }

  private integrate(): void {
    const now = this.clock.monotonic();
    const elapsed = Math.max(0, now - this.lastAt);
    this.lastAt = now;
    if (this.flowingW === 0 || elapsed === 0) return;
    this.registerWh += (this.flowingW * elapsed) / 3_600_000;
    this.registers.set(this.connectorId, this.registerWh, false);
  }
}

export class SimLock extends EventEmitter<HealthEvents> implements ConnectorLock {
  /** While true, every lock or unlock attempt fails, as a jammed actuator would. */
  failing = false;
  private locked = false;
  private currentHealth: DeviceHealth = HEALTHY;

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  async lock(): Promise<boolean> {
    return this.attempt(true);
  }

  async unlock(): Promise<boolean> {
    return this.attempt(false);
  }

  isLocked(): boolean {
    return this.locked;
  }

  /** The simulated actuator reports its position. */
  feedback(): boolean {
    return this.locked;
  }

  /** The simulated position is always read. */
  feedbackReadable(): true {
    return true;
  }

  health(): DeviceHealth {
    return this.currentHealth;
  }

  private attempt(lock: boolean): boolean {
    const next: DeviceHealth = this.failing
      ? { ok: false, fault: 'ConnectorLockFailure', info: lock ? 'lock failed' : 'unlock failed' }
      : HEALTHY;
    if (!this.failing) this.locked = lock;
    if (JSON.stringify(next) !== JSON.stringify(this.currentHealth)) {
      this.currentHealth = next;
      this.emit('health', next);
    }
    return !this.failing;
  }
}

/**
 * The enclosure's tamper switch, opened and closed by `cpctl sim tamper on|off`. An unreadable
 * switch counts as active, as a GPIO fault input does: a safety input nobody can see stops charging.
 */
export class SimTamperSwitch extends EventEmitter<{ change: [active: boolean] }> implements FaultInput {
  readonly kind = 'tamper';
  private opened = false;
  private lost = false;

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  isActive(): boolean {
    return this.opened || this.lost;
  }

  readable(): boolean {
    return !this.lost;
  }

  set(active: boolean): void {
    this.update(() => {
      this.opened = active;
    });
  }

  /** The input cannot be read (true) or reads again. */
  unreadable(unreadable: boolean): void {
    this.update(() => {
      this.lost = unreadable;
    });
  }

  private update(apply: () => void): void {
    const before = this.isActive();
    apply();
    const active = this.isActive();
    if (active !== before) this.emit('change', active);
  }
}

export class SimReader extends EventEmitter<RfidReaderEvents> implements RfidReader {
  private last: { idTag: string; at: number } | undefined;
  private currentHealth: DeviceHealth = HEALTHY;

  constructor(
    readonly name: string,
    private readonly clock: Clock,
  ) {
    super();
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  /** A card held to the reader; an absent reader sees none. */
  present(idTag: string): void {
    if (!this.currentHealth.ok) return;
    this.last = { idTag, at: this.clock.now() };
    this.emit('tag', idTag);
  }

  /** Unplugged from the board (true) or back: a reader that cannot be opened is a ReaderFailure. */
  absent(absent: boolean): void {
    if (absent === !this.currentHealth.ok) return;
    this.currentHealth = absent
      ? { ok: false, fault: 'ReaderFailure', info: `reader ${this.name} absent` }
      : HEALTHY;
    this.emit('health', this.currentHealth);
  }

  health(): DeviceHealth {
    return this.currentHealth;
  }

  lastRead(): { idTag: string; at: number } | undefined {
    return this.last;
  }
}
