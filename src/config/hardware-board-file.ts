/**
 * Hardware board files, built from the drivers (board-file.ts validates them against the drivers'
 * schemas). Imported only to build a `"kind": "hardware"` board, so the simulated board and
 * `chargepointd --check` never load serialport, modbus-serial or the epoll binding.
 */

import { EvCcAc1Controller } from '../../hal/drivers/ev-cc-ac1.js';
import { sysfsLineFactory } from '../../hal/drivers/gpio-adapter.js';
import { GpioFaultInput, GpioLock, GpioPilot, GpioRelay } from '../../hal/drivers/gpio-devices.js';
import {
  type GpioFaultInputBoardOptions,
  type GpioLockBoardOptions,
  type GpioPilotBoardOptions,
  type GpioRelayBoardOptions,
  resolveLines,
} from '../../hal/drivers/gpio-lines.js';
import type { MeterModel } from '../../hal/drivers/meter-maps.js';
import { busKey, ModbusBus, type ModbusTransport } from '../../hal/drivers/modbus-bus.js';
import { ModbusMeter } from '../../hal/drivers/modbus-meter.js';
import { ModbusPowerSetpoint } from '../../hal/drivers/modbus-setpoint.js';
import { sysfsPwmFactory } from '../../hal/drivers/pwm-pilot.js';
import { type SerialRfidOptions, SerialRfidReader } from '../../hal/drivers/rfid-serial.js';
import { HardwareBoard } from '../../hal/hardware-board.js';
import type { Board, ConnectorDevices, Pilot, Relay } from '../../hal/types.js';
import { errorMessage } from '../error-message.js';
import { type BoardBase, type BoardDeps, BoardFileError, type ConnectorBase } from './board-file.js';

export interface ModbusMeterBoardOptions {
  driver: 'modbus';
  transport: ModbusTransport;
  model: MeterModel;
  unitId: number;
  pollIntervalMs?: number;
  timeoutMs?: number;
  retries?: number;
  serialNumber?: string;
}

/** A Modbus line and its timing, as every Modbus device of a board file names them. */
interface ModbusLineOptions {
  transport: ModbusTransport;
  timeoutMs?: number;
  retries?: number;
}

/** The Phoenix Contact EV Charge Control Basic serving a connector's pilot, relay and lock. */
export interface EvCcAc1BoardOptions extends ModbusLineOptions {
  driver: 'ev-cc-ac1';
  unitId: number;
  pollIntervalMs?: number;
}

/** A part (pilot, relay, lock) that the connector's controller provides. */
export interface ControllerPart {
  driver: 'ev-cc-ac1';
}

export interface ModbusSetpointBoardOptions extends ModbusLineOptions {
  driver: 'modbus-setpoint';
  unitId: number;
  register: number;
  resolutionW?: number;
  maxPowerW: number;
}

export interface HardwareBoardFile extends BoardBase {
  kind: 'hardware';
  sysfsRoot?: string;
  connectors: Array<
    ConnectorBase & {
      maxCurrentA: number;
      phases: 1 | 3;
      relay: GpioRelayBoardOptions | ControllerPart;
      pilot: GpioPilotBoardOptions | ControllerPart;
      lock?: GpioLockBoardOptions | ControllerPart;
      meter?: ModbusMeterBoardOptions;
      controller?: EvCcAc1BoardOptions;
      powerSetpoint?: ModbusSetpointBoardOptions;
    }
  >;
  readers?: Array<{
    name: string;
    connectors: number[];
    device: { driver: 'serial' } & Omit<SerialRfidOptions, 'name' | 'log' | 'clock'>;
  }>;
  faultInputs?: GpioFaultInputBoardOptions[];
}

export function buildHardwareBoard(file: HardwareBoardFile, deps: BoardDeps): Board {
  const { log, clock } = deps;
  const gpio = {
    lines: deps.gpioLines ?? sysfsLineFactory(file.sysfsRoot),
    pwm: deps.pwmChannels ?? sysfsPwmFactory(file.sysfsRoot),
    clock,
    logger: log,
  };
  const resolve = <T>(options: T) => {
    try {
      return resolveLines(options, file.sysfsRoot);
    } catch (error) {
      throw new BoardFileError(`board ${file.name}: ${errorMessage(error)}`);
    }
  };
  // Devices on one RS-485 line or one TCP endpoint share its bus; the first device's timing settings apply.
  const buses = new Map<string, ModbusBus>();
  const busFor = (device: ModbusLineOptions): ModbusBus => {
    const key = busKey(device.transport);
    let bus = buses.get(key);
    if (!bus) {
      bus = new ModbusBus({
        transport: device.transport,
        ...(device.timeoutMs === undefined ? {} : { timeoutMs: device.timeoutMs }),
        ...(device.retries === undefined ? {} : { retries: device.retries }),
        log,
        clock,
      });
      buses.set(key, bus);
    }
    return bus;
  };
  const connectors = file.connectors.map((c): ConnectorDevices => {
    const meter = c.meter
      ? new ModbusMeter({
          model: c.meter.model,
          unitId: c.meter.unitId,
          bus: busFor(c.meter),
          ...(c.meter.pollIntervalMs === undefined ? {} : { pollIntervalMs: c.meter.pollIntervalMs }),
          ...(c.meter.serialNumber === undefined ? {} : { serialNumber: c.meter.serialNumber }),
          log,
          clock,
        })
      : undefined;
    const controller = controllerOf(c, file.name, busFor, { log, clock });
    let relay: Relay;
    let pilot: Pilot;
    if (c.relay.driver === 'gpio' && c.pilot.driver === 'gpio') {
      const gpioRelay = new GpioRelay(resolve(c.relay), gpio);
      relay = gpioRelay;
      pilot = new GpioPilot(resolve(c.pilot), gpio, { maxCurrentA: c.maxCurrentA, relay: gpioRelay });
    } else {
      ({ relay, pilot } = served(controller, c.id, 'pilot', file.name));
    }
    const lock = !c.lock
      ? undefined
      : c.lock.driver === 'gpio'
        ? new GpioLock(resolve(c.lock), gpio)
        : served(controller, c.id, 'lock', file.name).lock;
    const powerSetpoint = c.powerSetpoint
      ? new ModbusPowerSetpoint({
          bus: busFor(c.powerSetpoint),
          unitId: c.powerSetpoint.unitId,
          register: c.powerSetpoint.register,
          maxPowerW: c.powerSetpoint.maxPowerW,
          ...(c.powerSetpoint.resolutionW === undefined ? {} : { resolutionW: c.powerSetpoint.resolutionW }),
          log,
        })
      : undefined;
    return {
      id: c.id,
      fixedCable: c.fixedCable ?? false,
      maxCurrentA: c.maxCurrentA,
      phases: c.phases,
      ...(c.phase === undefined ? {} : { phase: c.phase }),
      ...(c.nominalVoltageV === undefined ? {} : { nominalVoltageV: c.nominalVoltageV }),
      relay,
      pilot,
      ...(lock ? { lock } : {}),
      ...(meter ? { meter } : {}),
      ...(powerSetpoint ? { powerSetpoint } : {}),
    };
  });
  const readers = (file.readers ?? []).map((r) => ({
    reader: new SerialRfidReader({ ...r.device, name: r.name, log, clock }),
    connectorIds: r.connectors,
  }));
  const faultInputs = (file.faultInputs ?? []).map((f) => new GpioFaultInput(resolve(f), gpio));
  return new HardwareBoard({
    name: file.name,
    connectors,
    readers,
    faultInputs,
    log,
    ...(file.supplyMaxCurrentA === undefined ? {} : { supplyMaxCurrentA: file.supplyMaxCurrentA }),
    ...(file.smartCharging ? { smartCharging: file.smartCharging } : {}),
  });
}

type HardwareConnector = HardwareBoardFile['connectors'][number];

/**
 * The connector's EV-CC-AC1 controller, if it has one. Its pilot and relay come together: the
 * enable coil is both the charge permission and the PWM, so one without the other cannot work.
 */
function controllerOf(
  c: HardwareConnector,
  board: string,
  busFor: (device: ModbusLineOptions) => ModbusBus,
  deps: Pick<BoardDeps, 'log' | 'clock'>,
): EvCcAc1Controller | undefined {
  const where = `board ${board}: connector ${c.id}`;
  if ((c.pilot.driver === 'ev-cc-ac1') !== (c.relay.driver === 'ev-cc-ac1'))
    throw new BoardFileError(
      `${where}: pilot and relay must both be "ev-cc-ac1" or neither (the controller's enable coil is the charge permission and the PWM)`,
    );
  const parts = [c.pilot, c.relay, c.lock].filter((part) => part?.driver === 'ev-cc-ac1');
  if (!c.controller) return undefined;
  if (parts.length === 0) throw new BoardFileError(`${where}: controller: no pilot, relay or lock uses it`);
  return new EvCcAc1Controller({
    bus: busFor(c.controller),
    unitId: c.controller.unitId,
    maxCurrentA: c.maxCurrentA,
    ...(c.controller.pollIntervalMs === undefined ? {} : { pollIntervalMs: c.controller.pollIntervalMs }),
    log: deps.log,
    clock: deps.clock,
  });
}

/** The connector's controller for a part that names it, or a board-file error saying it is missing. */
function served<T>(controller: T | undefined, id: number, part: string, board: string): T {
  if (controller === undefined)
    throw new BoardFileError(
      `board ${board}: connector ${id}: ${part}: driver "ev-cc-ac1" needs the connector's "controller"`,
    );
  return controller;
}
