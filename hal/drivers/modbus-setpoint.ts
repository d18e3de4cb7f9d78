/**
 * A DC charger module's power limit as one Modbus holding register (function 06), in steps of
 * `resolutionW` watts: what the module may deliver. Written on every change and again at start;
 * 0 before anything starts and at stop, so a module never keeps delivering unwatched. A write the
 * module does not take is InternalError until the next one succeeds.
 */
import { EventEmitter } from 'node:events';
import { errorMessage } from '../../src/error-message.js';
import type { Logger } from '../../src/log.js';
import { checkLimit, type DeviceHealth, HEALTHY, type HealthEvents, type PowerSetpoint } from '../types.js';
import { HealthState } from './health-state.js';
import { type ModbusBus, modbusLineTimingSchema, modbusTransportSchema } from './modbus-bus.js';

const MAX_REGISTER = 0xffff;

/** The board-file part of a DC module's power setpoint (JSON schema draft-07 fragment). */
export const modbusSetpointOptionsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['driver', 'transport', 'unitId', 'register', 'maxPowerW'],
  description: "the DC module's power limit: one holding register, W (times resolutionW)",
  properties: {
    driver: { const: 'modbus-setpoint' },
    transport: modbusTransportSchema,
    unitId: { type: 'integer', minimum: 1, maximum: 247 },
    register: { type: 'integer', minimum: 0, maximum: MAX_REGISTER },
    resolutionW: {
      type: 'number',
      exclusiveMinimum: 0,
      maximum: 100_000,
      description: 'watts per register step; default 1',
    },
    maxPowerW: { type: 'number', exclusiveMinimum: 0, description: "the module's rated power, W" },
    ...modbusLineTimingSchema,
  },
} as const;

export interface ModbusSetpointOptions {
  bus: ModbusBus;
  unitId: number;
  register: number;
  /** Watts per register step, default 1. */
  resolutionW?: number;
  /** The module's rated power: offered until a lower limit is set, and never exceeded. */
  maxPowerW: number;
  log: Logger;
}

export class ModbusPowerSetpoint extends EventEmitter<HealthEvents> implements PowerSetpoint {
  private readonly healthState = new HealthState((h) => this.emit('health', h));
  private readonly log: Logger;
  private limitW: number;
  private started = false;

  constructor(private readonly opts: ModbusSetpointOptions) {
    super();
    this.limitW = opts.maxPowerW;
    this.log = opts.log.child({ setpoint: opts.register, bus: opts.bus.key, unitId: opts.unitId });
  }

  /** The limit as commanded; a failure shows in health, not as a failed start. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.opts.bus.retain();
    await this.write(this.limitW).catch(() => undefined);
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await this.write(0).catch(() => undefined);
    await this.opts.bus.release();
  }

  /**
   * 0 W now: queued on the line (Modbus is not written synchronously), logged if it fails. The
   * line is held only for this write, so a board that never starts leaves no connection open.
   */
  safe(): void {
    this.opts.bus.retain();
    void this.write(0)
      .catch(() => undefined)
      .finally(() => this.opts.bus.release());
  }

  async setPowerLimit(watts: number): Promise<void> {
    checkLimit(watts, 'power limit', 'W');
    this.limitW = watts;
    if (this.started) await this.write(watts);
  }

  powerLimit(): number {
    return this.limitW;
  }

  health(): DeviceHealth {
    return this.healthState.get();
  }

  /** The register value for `watts`: rounded down (never more than asked), within the rating and the register. */
  registerValue(watts: number): number {
    const steps = Math.floor(Math.min(watts, this.opts.maxPowerW) / (this.opts.resolutionW ?? 1));
    return Math.min(steps, MAX_REGISTER);
  }

  private async write(watts: number): Promise<void> {
    const value = this.registerValue(watts);
    try {
      await this.opts.bus.writeRegister(this.opts.unitId, this.opts.register, value);
    } catch (err) {
      const info = `power setpoint register ${this.opts.register} not written: ${errorMessage(err)}`;
      if (this.healthState.get().ok) this.log.warn({ watts }, info);
      this.healthState.set({ ok: false, fault: 'InternalError', info });
      throw new Error(`unit ${this.opts.unitId}: ${info}`, { cause: err });
    }
    this.healthState.set(HEALTHY);
  }
}
