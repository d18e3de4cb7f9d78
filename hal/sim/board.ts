import type { Clock } from '../../src/clock.js';
import type { Logger } from '../../src/log.js';
import { AssembledConnector } from '../connector.js';
import {
  type Board,
  type FaultInput,
  isHardwareFault,
  type ReaderAssignment,
  type SmartChargingCapabilities,
} from '../types.js';
import {
  SIM_GRID_VOLTAGE_V,
  type SimContact,
  SimEv,
  SimLock,
  SimMeter,
  SimPilot,
  SimPowerSetpoint,
  SimReader,
  SimRelay,
  SimTamperSwitch,
} from './devices.js';
import { SimRegisters } from './registers.js';

export interface SimConnectorSpec {
  id: number;
  fixedCable?: boolean;
  maxCurrentA?: number;
  phases?: 1 | 3;
  /** The supply line a 1-phase outlet is wired to (load sharing); unknown when absent. */
  phase?: 1 | 2 | 3;
  /** Default: the simulated grid's 230 V. */
  nominalVoltageV?: number;
  /** A DC outlet: it gets a power setpoint output, which caps the power the EV draws. */
  dc?: boolean;
}

export interface SimBoardSpec {
  name?: string;
  connectors: readonly SimConnectorSpec[];
  /** Readers and the connectors each serves; default: one reader for every connector. */
  readers?: ReadonlyArray<{ name: string; connectors: readonly number[] }>;
  supplyMaxCurrentA?: number;
  smartCharging?: SmartChargingCapabilities;
}

export interface SimBoardOptions {
  /** Keeps the meters' registers across restarts (a file under the state directory); else in memory. */
  registerFile?: string;
  log?: Logger;
}

/** The default board: two 32 A three-phase connectors with detachable cables, one reader for both. */
export const DEFAULT_SIM_SPEC: SimBoardSpec = {
  name: 'sim',
  connectors: [{ id: 1 }, { id: 2 }],
};

interface SimOutlet {
  ev: SimEv;
  relay: SimRelay;
  pilot: SimPilot;
  meter: SimMeter;
  lock: SimLock | undefined;
  powerSetpoint: SimPowerSetpoint | undefined;
  connector: AssembledConnector;
}

/**
 * A board whose cables, vehicles, cards and faults are acted out by commands (cpctl sim ...)
 * instead of sensors, so the whole runtime runs on any Linux machine.
 */
export class SimBoard implements Board {
  readonly name: string;
  readonly connectors: AssembledConnector[];
  readonly readers: ReaderAssignment[];
  private readonly tamperSwitch = new SimTamperSwitch();
  readonly faultInputs: readonly FaultInput[] = [this.tamperSwitch];
  readonly supplyMaxCurrentA?: number;
  readonly smartCharging?: SmartChargingCapabilities;
  private readonly outlets = new Map<number, SimOutlet>();
  private readonly simReaders: SimReader[];
  private readonly registers: SimRegisters;

  constructor(spec: SimBoardSpec, clock: Clock, options: SimBoardOptions = {}) {
    this.name = spec.name ?? 'sim';
    if (spec.supplyMaxCurrentA !== undefined) this.supplyMaxCurrentA = spec.supplyMaxCurrentA;
    if (spec.smartCharging) this.smartCharging = spec.smartCharging;
    this.registers = new SimRegisters({
      clock,
      ...(options.registerFile === undefined ? {} : { file: options.registerFile }),
      ...(options.log === undefined ? {} : { log: options.log }),
    });
    const readerSpecs = spec.readers ?? [{ name: 'reader-1', connectors: spec.connectors.map((c) => c.id) }];
    this.simReaders = readerSpecs.map((r) => new SimReader(r.name, clock));
    this.readers = readerSpecs.map((r, i) => ({
      reader: this.simReaders[i] as SimReader,
      connectorIds: r.connectors,
    }));
    for (const c of spec.connectors) {
      const fixedCable = c.fixedCable ?? false;
      const maxCurrentA = c.maxCurrentA ?? 32;
      // A DC outlet delivers on one pair of conductors.
      const phases = c.dc ? 1 : (c.phases ?? 3);
      const nominalVoltageV = c.nominalVoltageV ?? SIM_GRID_VOLTAGE_V;
      const ev = new SimEv();
      const relay = new SimRelay();
      const pilot = new SimPilot(ev, maxCurrentA);
      const powerSetpoint = c.dc ? new SimPowerSetpoint(ev, maxCurrentA * nominalVoltageV) : undefined;
      const meter = new SimMeter(
        c.id,
        ev,
        relay,
        pilot,
        { phases, voltageV: nominalVoltageV, ...(powerSetpoint ? { powerSetpoint } : {}) },
        clock,
        this.registers,
      );
      const lock = fixedCable ? undefined : new SimLock();
      const servedBy = this.readers.filter((r) => r.connectorIds.includes(c.id)).map((r) => r.reader);
      const connector = new AssembledConnector(
        {
          id: c.id,
          fixedCable,
          maxCurrentA,
          phases,
          ...(c.phase === undefined ? {} : { phase: c.phase }),
          nominalVoltageV,
          relay,
          pilot,
          meter,
          ...(lock ? { lock } : {}),
          ...(powerSetpoint ? { powerSetpoint } : {}),
        },
        this.faultInputs,
        servedBy,
      );
      this.outlets.set(c.id, { ev, relay, pilot, meter, lock, powerSetpoint, connector });
    }
    this.connectors = [...this.outlets.values()].map((o) => o.connector);
  }

  /** Every contactor is driven open, one that cannot be no obstacle to the next; then the first failure is thrown. */
  safe(): void {
    let first: unknown;
    for (const { relay } of this.outlets.values()) {
      try {
        relay.safe();
      } catch (error) {
        first ??= error;
      }
    }
    if (first !== undefined) throw first;
  }

  async start(): Promise<void> {}

  /** Books every meter's energy and writes the registers, as a real meter keeps its count. */
  async stop(): Promise<void> {
    for (const { meter } of this.outlets.values()) await meter.stop();
    this.registers.flush();
  }

  plug(connectorId: number): void {
    this.outlet(connectorId).ev.update({ plugged: true });
  }

  unplug(connectorId: number): void {
    this.outlet(connectorId).ev.update({ plugged: false });
  }

  ev(connectorId: number, mode: 'charge' | 'pause'): void {
    this.outlet(connectorId).ev.update({ mode });
  }

  /** Present a card to reader `reader` (1-based; default the first). */
  swipe(idTag: string, reader = 1): void {
    const target = this.simReaders[reader - 1];
    if (!target) throw new RangeError(`no reader ${reader} (the board has ${this.simReaders.length})`);
    target.present(idTag);
  }

  /** Raises a device fault; `code` comes from a technician, so anything but a hardware fault is refused. */
  fault(connectorId: number, code: string): void {
    if (!isHardwareFault(code)) throw new RangeError(`${code} is not a hardware fault code`);
    this.outlet(connectorId).connector.reportFault('sim', code, 'simulated fault');
  }

  clear(connectorId: number): void {
    this.outlet(connectorId).connector.reportFault('sim', undefined);
  }

  lockFail(connectorId: number, failing: boolean): void {
    const { lock } = this.outlet(connectorId);
    if (!lock) throw new RangeError(`connector ${connectorId} has a fixed cable and no lock`);
    lock.failing = failing;
  }

  /** The contactor's contact: welded closed, stuck open, welding at its next close, or following the command again. */
  relayContact(connectorId: number, contact: SimContact): void {
    this.outlet(connectorId).relay.contact(contact);
  }

  /** The contactor's output cannot be driven (true): every command fails; or it can again. */
  relayOutputFails(connectorId: number, failing: boolean): void {
    this.outlet(connectorId).relay.outputFails(failing);
  }

  /** The connector's meter stops answering (true) or answers again. */
  meterSilent(connectorId: number, silent: boolean): void {
    this.outlet(connectorId).meter.silent(silent);
  }

  /** Reader `reader` (1-based) is unplugged from the board (true) or back. */
  readerAbsent(reader: number, absent: boolean): void {
    const target = this.simReaders[reader - 1];
    if (!target) throw new RangeError(`no reader ${reader} (the board has ${this.simReaders.length})`);
    target.absent(absent);
  }

  /** Opens (true) or closes the enclosure: the tamper input every connector treats as a fault. */
  tamper(active: boolean): void {
    this.tamperSwitch.set(active);
  }

  /** The tamper input cannot be read (true) or reads again; unreadable, it counts as active. */
  tamperUnreadable(unreadable: boolean): void {
    this.tamperSwitch.unreadable(unreadable);
  }

  /** The connector's pilot input cannot be read (true) or reads again. */
  pilotUnreadable(connectorId: number, unreadable: boolean): void {
    this.outlet(connectorId).pilot.unreadable(unreadable);
  }

  /** What the EV draws while charging, W. */
  meter(connectorId: number, powerW: number): void {
    this.outlet(connectorId).ev.update({ wantedPowerW: powerW });
  }

  connector(connectorId: number): AssembledConnector | undefined {
    return this.outlets.get(connectorId)?.connector;
  }

  private outlet(connectorId: number): SimOutlet {
    const outlet = this.outlets.get(connectorId);
    if (!outlet)
      throw new RangeError(
        `no connector ${connectorId} (the board has ${[...this.outlets.keys()].join(', ')})`,
      );
    return outlet;
  }
}
