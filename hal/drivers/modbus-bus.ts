/**
 * One Modbus line shared by every device on it: an RS-485 port (RTU) or a TCP connection (a meter
 * or an RTU gateway), for every kind of device on it (meters, charge controllers, DC modules).
 * Modbus allows one request on a line at a time, so requests (reads and writes) are queued here;
 * each gets a timeout and retries, and the port or connection is reopened after it fails.
 */
import modbusSerial from 'modbus-serial';
import { type Clock, systemClock } from '../../src/clock.js';
import { errorMessage } from '../../src/error-message.js';
import type { Logger } from '../../src/log.js';
import type { RegisterTable } from './meter-maps.js';

export type ModbusTransport =
  | { type: 'rtu'; path: string; baudRate?: number; parity?: 'none' | 'even' | 'odd'; stopBits?: 1 | 2 }
  | { type: 'tcp'; host: string; port?: number };

export interface ModbusBusOptions {
  transport: ModbusTransport;
  /** Per attempt, ms (default 500). */
  timeoutMs?: number;
  /** Further attempts after a timeout or line error (default 2). */
  retries?: number;
  log: Logger;
  clock?: Clock;
}

// modbus-serial is CommonJS: under NodeNext its default export is reached through `.default`.
const ModbusClient = modbusSerial.default;
type ModbusClient = InstanceType<typeof ModbusClient>;

/** The board-file part naming a Modbus line (JSON schema draft-07 fragment). */
export const modbusTransportSchema = {
  oneOf: [
    {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'path'],
      properties: {
        type: { const: 'rtu' },
        path: { type: 'string', minLength: 1 },
        baudRate: { type: 'integer', enum: [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] },
        parity: { enum: ['none', 'even', 'odd'] },
        stopBits: { enum: [1, 2] },
      },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'host'],
      properties: {
        type: { const: 'tcp' },
        host: { type: 'string', minLength: 1 },
        port: { type: 'integer', minimum: 1, maximum: 65535 },
      },
    },
  ],
} as const;

/**
 * Board-file timing settings of a device's line (JSON schema fragments, spread into the device's
 * properties); the first device on a line sets them for all.
 */
export const modbusLineTimingSchema = {
  timeoutMs: { type: 'integer', minimum: 20, maximum: 10000 },
  retries: { type: 'integer', minimum: 0, maximum: 10 },
} as const;

const DEFAULT_TIMEOUT_MS = 500;
const DEFAULT_RETRIES = 2;
const DEFAULT_BAUD = 9600;
const DEFAULT_TCP_PORT = 502;

/** Identifies the physical line, so every device on one RS-485 port or one TCP endpoint shares a bus. */
export function busKey(t: ModbusTransport): string {
  return t.type === 'rtu' ? `rtu:${t.path}` : `tcp:${t.host}:${t.port ?? DEFAULT_TCP_PORT}`;
}

/**
 * timeout: no answer (after the retries); exception: the device answered with a Modbus exception
 * (not retried, it will answer the same); line: the port or connection failed; closed: the bus was closed.
 */
export type ModbusErrorKind = 'timeout' | 'exception' | 'line' | 'closed';

export class ModbusError extends Error {
  override readonly name = 'ModbusError';
  constructor(
    readonly kind: ModbusErrorKind,
    message: string,
    /** The Modbus exception code, for kind 'exception'. */
    readonly exceptionCode?: number,
  ) {
    super(message);
  }
}

const EXCEPTION_NAMES: Record<number, string> = {
  1: 'illegal function',
  2: 'illegal data address',
  3: 'illegal data value',
  4: 'server device failure',
  5: 'acknowledge',
  6: 'server device busy',
  10: 'gateway path unavailable',
  11: 'gateway target device failed to respond',
};

export class ModbusBus {
  readonly key: string;
  private readonly transport: ModbusTransport;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly log: Logger;
  private readonly clock: Clock;
  private client: ModbusClient | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private users = 0;
  private closed = false;
  /** Last reported line state, so a failing line logs once, not once per request. */
  private lineUp = true;

  constructor(opts: ModbusBusOptions) {
    this.transport = opts.transport;
    this.key = busKey(opts.transport);
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.retries = opts.retries ?? DEFAULT_RETRIES;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log.child({ bus: this.key });
  }

  /** A device starts using the bus; the line opens on the first request. */
  retain(): void {
    this.users += 1;
    this.closed = false;
  }

  /** A device stops using the bus; the last one out closes the line. */
  async release(): Promise<void> {
    this.users = Math.max(0, this.users - 1);
    if (this.users === 0) await this.close();
  }

  /** Closes the line; queued requests fail with kind 'closed'. */
  async close(): Promise<void> {
    this.closed = true;
    await this.enqueue(() => this.drop());
  }

  /**
   * Reads `count` registers from one device, queued behind every other request on this line.
   * Resolves with the register bytes as received (2 per register, big-endian).
   */
  readRegisters(unitId: number, table: RegisterTable, address: number, count: number): Promise<Buffer> {
    return this.enqueue(() =>
      this.withRetries(unitId, async (client) =>
        table === 'input'
          ? (await client.readInputRegisters(address, count)).buffer
          : (await client.readHoldingRegisters(address, count)).buffer,
      ),
    );
  }

  /**
   * Writes one holding register (function 06), queued like a read. Retried like a read: writing
   * the same value again does no harm, and a command that never arrived must not be lost.
   */
  writeRegister(unitId: number, address: number, value: number): Promise<void> {
    return this.enqueue(() =>
      this.withRetries(unitId, async (client) => {
        await client.writeRegister(address, value);
      }),
    );
  }

  /** Writes one coil (function 05), queued and retried like writeRegister. */
  writeCoil(unitId: number, address: number, on: boolean): Promise<void> {
    return this.enqueue(() =>
      this.withRetries(unitId, async (client) => {
        await client.writeCoil(address, on);
      }),
    );
  }

  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queue.then(job);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async withRetries<T>(unitId: number, request: (client: ModbusClient) => Promise<T>): Promise<T> {
    let failure: ModbusError | undefined;
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (this.closed) throw new ModbusError('closed', 'bus closed');
      try {
        const client = await this.connection();
        client.setID(unitId);
        const data = await this.withTimeout(request(client), 'no answer');
        this.lineIsUp();
        return data;
      } catch (err) {
        failure = classify(err);
        if (failure.kind === 'exception') {
          this.lineIsUp();
          throw failure;
        }
        if (failure.kind === 'line') await this.drop();
      }
    }
    // A TCP connection that silently died (gateway rebooted, NAT timeout) only shows as timeouts.
    // On RS-485 a timeout means the device is gone, not the port, so the port stays open.
    if (failure?.kind === 'timeout' && this.transport.type === 'tcp') await this.drop();
    if (failure?.kind === 'line') this.lineIsDown(failure);
    throw failure ?? new ModbusError('timeout', 'no answer');
  }

  private async connection(): Promise<ModbusClient> {
    if (this.client?.isOpen) return this.client;
    await this.drop();
    const client = new ModbusClient();
    // The port reports its failures as events; unhandled, an 'error' event would end the process.
    // These listeners stay after the client is dropped, so late events still find one.
    client.on('error', (err: unknown) => {
      this.log.debug({ err: String(err) }, 'modbus line error');
      if (this.client === client) void this.drop();
    });
    client.on('close', () => {
      if (this.client === client) this.client = undefined;
    });
    this.client = client;
    const t = this.transport;
    const opening =
      t.type === 'rtu'
        ? client.connectRTUBuffered(t.path, {
            baudRate: t.baudRate ?? DEFAULT_BAUD,
            parity: t.parity ?? 'none',
            stopBits: t.stopBits ?? 1,
            dataBits: 8,
          })
        : client.connectTCP(t.host, { port: t.port ?? DEFAULT_TCP_PORT });
    try {
      await this.withTimeout(opening, 'open timed out', 'line');
    } catch (err) {
      await this.drop();
      throw new ModbusError('line', `cannot open ${this.key}: ${describe(err)}`);
    }
    return client;
  }

  /** Closes the current port or connection, if any; the next request opens a new one. */
  private async drop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    // TCP: destroy, because close() of an already closed socket never calls back. A serial port
    // has no destroy; its close() calls back even when the port is gone. Bounded all the same, so
    // a port that never confirms cannot stall the queue.
    const closing = new Promise<void>((resolve) => {
      try {
        if (this.transport.type === 'tcp') client.destroy(() => resolve());
        else client.close(() => resolve());
      } catch {
        resolve();
      }
    });
    await this.withTimeout(closing, 'close').catch(() => undefined);
  }

  private withTimeout<T>(work: Promise<T>, message: string, kind: ModbusErrorKind = 'timeout'): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = this.clock.setTimeout(
        () => reject(new ModbusError(kind, `${message} within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      work.then(
        (value) => {
          timer.cancel();
          resolve(value);
        },
        (err: unknown) => {
          timer.cancel();
          reject(err);
        },
      );
    });
  }

  private lineIsUp(): void {
    if (this.lineUp) return;
    this.lineUp = true;
    this.log.info('modbus line open again');
  }

  private lineIsDown(err: ModbusError): void {
    if (!this.lineUp) return;
    this.lineUp = false;
    this.log.warn({ err: err.message }, 'modbus line failed; reopening on the next request');
  }
}

function classify(err: unknown): ModbusError {
  if (err instanceof ModbusError) return err;
  const code = (err as { modbusCode?: unknown } | null)?.modbusCode;
  if (typeof code === 'number') {
    return new ModbusError(
      'exception',
      `Modbus exception ${code} (${EXCEPTION_NAMES[code] ?? 'unknown'})`,
      code,
    );
  }
  // Anything else (port not open, write failed, CRC error, short frame) is the line's fault.
  return new ModbusError('line', describe(err));
}

function describe(err: unknown): string {
  return errorMessage(err);
}
