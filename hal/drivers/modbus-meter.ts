/**
 * An energy meter on a Modbus line (RTU or TCP). Polls the meter's registers on the injected clock
 * and keeps the latest good reading. A meter that does not answer, answers with an exception or
 * reports an impossible value is PowerMeterFailure and read() rejects: a charger must never bill
 * from a zero or a guess.
 */
import { EventEmitter } from 'node:events';
import { type Clock, systemClock, type Timer } from '../../src/clock.js';
import { errorMessage } from '../../src/error-message.js';
import type { Logger } from '../../src/log.js';
import { type DeviceHealth, HEALTHY, type HealthEvents, type Meter, type MeterReading } from '../types.js';
import {
  buildReading,
  decodeBlock,
  hex,
  METER_MAPS,
  METER_MODELS,
  MeterDataError,
  type MeterMap,
  type MeterModel,
  measurandsOf,
  planBlocks,
  type ReadBlock,
} from './meter-maps.js';
import { type ModbusBus, ModbusError, modbusLineTimingSchema, modbusTransportSchema } from './modbus-bus.js';

export interface ModbusMeterOptions {
  model: MeterModel;
  /** Modbus unit id (slave address), 1..247. */
  unitId: number;
  bus: ModbusBus;
  /** Default 1000. */
  pollIntervalMs?: number;
  serialNumber?: string;
  log: Logger;
  clock?: Clock;
}

const DEFAULT_POLL_MS = 1000;
/** A cached reading older than this many poll intervals is not served; read() asks the meter. */
const FRESH_INTERVALS = 2;

/** The board-file part describing a Modbus meter (JSON schema draft-07 fragment). */
export const modbusMeterOptionsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['driver', 'transport', 'model', 'unitId'],
  properties: {
    driver: { const: 'modbus' },
    transport: modbusTransportSchema,
    model: { enum: [...METER_MODELS] },
    unitId: { type: 'integer', minimum: 1, maximum: 247 },
    pollIntervalMs: { type: 'integer', minimum: 100, maximum: 600000 },
    ...modbusLineTimingSchema,
    serialNumber: { type: 'string', maxLength: 25 },
  },
} as const;

export class ModbusMeter extends EventEmitter<HealthEvents> implements Meter {
  /**
   * Every good reading as it is polled (for live values). A separate emitter because the Meter
   * interface fixes the meter's own event map to HealthEvents.
   */
  readonly readings = new EventEmitter<{ reading: [reading: MeterReading] }>();
  readonly measurands: readonly string[];
  readonly type: string;
  readonly serialNumber?: string;
  private readonly map: MeterMap;
  private readonly blocks: readonly ReadBlock[];
  private readonly unitId: number;
  private readonly bus: ModbusBus;
  private readonly pollIntervalMs: number;
  private readonly clock: Clock;
  private readonly log: Logger;
  private current: DeviceHealth = HEALTHY;
  private latest: { reading: MeterReading; monotonic: number } | undefined;
  /** Highest energy registers seen: a register below them means a broken or swapped meter. */
  private highWater: { importWh: number; exportWh?: number } | undefined;
  private inFlight: Promise<MeterReading> | undefined;
  private timer: Timer | undefined;
  private running = false;
  /** The block being read, to say where a failure happened. */
  private reading: ReadBlock | undefined;

  constructor(opts: ModbusMeterOptions) {
    super();
    this.map = METER_MAPS[opts.model];
    this.blocks = planBlocks(this.map);
    this.measurands = measurandsOf(this.map);
    this.type = this.map.label;
    if (opts.serialNumber !== undefined) this.serialNumber = opts.serialNumber;
    this.unitId = opts.unitId;
    this.bus = opts.bus;
    this.pollIntervalMs = opts.pollIntervalMs ?? DEFAULT_POLL_MS;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log.child({ meter: this.map.model, bus: opts.bus.key, unitId: opts.unitId });
  }

  /** Starts polling; resolves after the first poll, whatever its outcome (see health()). */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.bus.retain();
    await this.poll();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
    await this.inFlight?.catch(() => undefined);
    await this.bus.release();
  }

  health(): DeviceHealth {
    return this.current;
  }

  async read(): Promise<MeterReading> {
    const latest = this.latest;
    if (
      this.current.ok &&
      latest &&
      this.clock.monotonic() - latest.monotonic < FRESH_INTERVALS * this.pollIntervalMs
    ) {
      return latest.reading;
    }
    return this.readNow();
  }

  /** One poll, and the next one scheduled an interval after this one began. */
  private async poll(): Promise<void> {
    const began = this.clock.monotonic();
    await this.readNow().catch(() => undefined);
    if (!this.running) return;
    const elapsed = this.clock.monotonic() - began;
    this.timer = this.clock.setTimeout(() => void this.poll(), Math.max(0, this.pollIntervalMs - elapsed));
  }

  /** Reads the meter, sharing a read already under way. */
  readNow(): Promise<MeterReading> {
    this.inFlight ??= this.readDevice().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async readDevice(): Promise<MeterReading> {
    try {
      const values = [];
      for (const block of this.blocks) {
        this.reading = block;
        const bytes = await this.bus.readRegisters(this.unitId, this.map.table, block.address, block.count);
        values.push(...decodeBlock(block, bytes));
      }
      this.reading = undefined;
      const reading = buildReading(values, this.clock.now());
      this.checkMonotonic(reading);
      this.latest = { reading, monotonic: this.clock.monotonic() };
      this.setHealth(HEALTHY);
      this.readings.emit('reading', reading);
      return reading;
    } catch (err) {
      this.latest = undefined;
      this.setHealth({ ok: false, fault: 'PowerMeterFailure', info: this.describe(err) });
      throw err;
    }
  }

  private checkMonotonic(reading: MeterReading): void {
    const seen = this.highWater;
    if (seen) {
      if (reading.energyImportWh < seen.importWh) {
        throw new MeterDataError(
          `import energy went backwards (${seen.importWh} Wh -> ${reading.energyImportWh} Wh)`,
        );
      }
      if (
        seen.exportWh !== undefined &&
        reading.energyExportWh !== undefined &&
        reading.energyExportWh < seen.exportWh
      ) {
        throw new MeterDataError(
          `export energy went backwards (${seen.exportWh} Wh -> ${reading.energyExportWh} Wh)`,
        );
      }
    }
    this.highWater = { importWh: reading.energyImportWh };
    if (reading.energyExportWh !== undefined) this.highWater.exportWh = reading.energyExportWh;
  }

  private describe(err: unknown): string {
    const block = this.reading;
    this.reading = undefined;
    const where = block ? `${this.map.table} registers 0x${hex(block.address)}+${block.count}: ` : '';
    if (err instanceof ModbusError || err instanceof MeterDataError)
      return `unit ${this.unitId}, ${where}${err.message}`;
    return `unit ${this.unitId}, ${where}unexpected: ${errorMessage(err)}`;
  }

  private setHealth(next: DeviceHealth): void {
    const prev = this.current;
    const same =
      prev.ok === next.ok && (prev.ok || next.ok || (prev.fault === next.fault && prev.info === next.info));
    if (same) return;
    this.current = next;
    if (next.ok) this.log.info('meter answers again');
    else if (prev.ok || prev.fault !== next.fault) {
      this.log.warn({ fault: next.fault, info: next.info }, 'meter failed');
    }
    this.emit('health', next);
  }
}
