/**
 * Hardware board files: validated against the drivers' schemas and built from the drivers.
 * Imported only when a board file says `"kind": "hardware"`, so the simulated board never
 * loads serialport, modbus-serial or the epoll binding.
 */
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
import { sysfsPwmFactory } from '../../hal/drivers/pwm-pilot.js';
import { type SerialRfidOptions, SerialRfidReader } from '../../hal/drivers/rfid-serial.js';
import { HardwareBoard } from '../../hal/hardware-board.js';
import type { Board, ConnectorDevices } from '../../hal/types.js';
import { type BoardBase, type BoardDeps, BoardFileError, type ConnectorBase } from './board-file.js';
import { validateHardwareBoardSchema as validate } from './generated/hardware-board-validator.js';
import { describeSchemaError } from './schema-errors.js';

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

export interface HardwareBoardFile extends BoardBase {
  kind: 'hardware';
  sysfsRoot?: string;
  connectors: Array<
    ConnectorBase & {
      maxCurrentA: number;
      phases: 1 | 3;
      relay: GpioRelayBoardOptions;
      pilot: GpioPilotBoardOptions;
      lock?: GpioLockBoardOptions;
      meter?: ModbusMeterBoardOptions;
    }
  >;
  readers?: Array<{
    name: string;
    connectors: number[];
    device: { driver: 'serial' } & Omit<SerialRfidOptions, 'name' | 'log' | 'clock'>;
  }>;
  faultInputs?: GpioFaultInputBoardOptions[];
}

export function validateHardwareBoard(document: unknown, source: string): HardwareBoardFile {
  if (!validate(document)) {
    const first = validate.errors?.[0];
    throw new BoardFileError(`board file ${source}: ${first ? describeSchemaError(first) : 'invalid'}`);
  }
  return document as unknown as HardwareBoardFile;
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
      throw new BoardFileError(`board ${file.name}: ${(error as Error).message}`);
    }
  };
  // Meters on one RS-485 line or one TCP endpoint share its bus; the first meter's timing settings apply.
  const buses = new Map<string, ModbusBus>();
  const busFor = (meter: ModbusMeterBoardOptions): ModbusBus => {
    const key = busKey(meter.transport);
    let bus = buses.get(key);
    if (!bus) {
      bus = new ModbusBus({
        transport: meter.transport,
        ...(meter.timeoutMs === undefined ? {} : { timeoutMs: meter.timeoutMs }),
        ...(meter.retries === undefined ? {} : { retries: meter.retries }),
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
    const relay = new GpioRelay(resolve(c.relay), gpio);
    return {
      id: c.id,
      fixedCable: c.fixedCable ?? false,
      maxCurrentA: c.maxCurrentA,
      phases: c.phases,
      ...(c.nominalVoltageV === undefined ? {} : { nominalVoltageV: c.nominalVoltageV }),
      relay,
      pilot: new GpioPilot(resolve(c.pilot), gpio, { maxCurrentA: c.maxCurrentA, relay }),
      ...(c.lock ? { lock: new GpioLock(resolve(c.lock), gpio) } : {}),
      ...(meter ? { meter } : {}),
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
