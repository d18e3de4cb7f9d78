/**
 * Card readers on a serial port (USB-serial adapters, UARTs). The port may be missing at start
 * or vanish at any time (a USB reader unplugged): the reader then reports ReaderFailure and keeps
 * trying to reopen the same path until the device is back.
 */
import { EventEmitter } from 'node:events';
import { statSync } from 'node:fs';
import { SerialPort } from 'serialport';
import { type Clock, systemClock, type Timer } from '../../src/clock.js';
import { errorMessage } from '../../src/error-message.js';
import type { Logger } from '../../src/log.js';
import { type DeviceHealth, HEALTHY, type RfidReader, type RfidReaderEvents } from '../types.js';
import { HealthState } from './health-state.js';
import { createFrameDecoder, type FrameDecoder, RFID_PROTOCOLS, type RfidProtocol } from './rfid-frames.js';

export interface SerialRfidOptions {
  name: string;
  path: string;
  /** Default 9600 (RDM6300 and most line readers). */
  baudRate?: number;
  protocol: RfidProtocol;
  /** The same card again within this window (restarted by every repeat) is not reported. Default 1500. */
  repeatSuppressMs?: number;
  /** Delay between attempts to reopen an absent or lost port. Default 2000. */
  reopenIntervalMs?: number;
  log: Logger;
  clock?: Clock;
}

export const DEFAULT_BAUD_RATE = 9600;
export const DEFAULT_REPEAT_SUPPRESS_MS = 1500;
export const DEFAULT_REOPEN_INTERVAL_MS = 2000;

/**
 * Consecutive rejected frames after which the reader counts as failed: one bad frame is a
 * scratched card or a glitch, a run of them is a wrong baud rate, protocol or a broken reader.
 */
export const BAD_FRAME_LIMIT = 10;

/** JSON schema (draft-07) of a serial reader's entry in a board file. */
export const serialRfidOptionsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['driver', 'path', 'protocol'],
  properties: {
    driver: { const: 'serial' },
    path: {
      type: 'string',
      minLength: 1,
      description: 'Serial device, preferably a stable /dev/serial/by-id/... link',
    },
    baudRate: { type: 'integer', minimum: 50, maximum: 4_000_000, default: DEFAULT_BAUD_RATE },
    protocol: { enum: [...RFID_PROTOCOLS] },
    repeatSuppressMs: { type: 'integer', minimum: 0, maximum: 60_000, default: DEFAULT_REPEAT_SUPPRESS_MS },
    reopenIntervalMs: {
      type: 'integer',
      minimum: 100,
      maximum: 3_600_000,
      default: DEFAULT_REOPEN_INTERVAL_MS,
    },
  },
} as const;

export class SerialRfidReader extends EventEmitter<RfidReaderEvents> implements RfidReader {
  readonly name: string;
  private readonly path: string;
  private readonly baudRate: number;
  private readonly protocol: RfidProtocol;
  private readonly repeatSuppressMs: number;
  private readonly reopenIntervalMs: number;
  private readonly log: Logger;
  private readonly clock: Clock;

  private running = false;
  private port: SerialPort | undefined;
  private decoder: FrameDecoder | undefined;
  private opening: Promise<void> | undefined;
  private reopenTimer: Timer | undefined;
  /** While open: the next look at whether the device node is still the one opened. */
  private presenceTimer: Timer | undefined;
  /** Why the port is not usable (absent, lost); undefined while it is open. */
  private portProblem: string | undefined;
  private garbageProblem: string | undefined;
  private badInRow = 0;
  private readonly healthState = new HealthState((h) => this.emit('health', h));
  private last: { idTag: string; at: number } | undefined;
  /** The card last seen and when (monotonic), for repeat suppression. */
  private seen: { idTag: string; at: number } | undefined;

  constructor(options: SerialRfidOptions) {
    super();
    this.name = options.name;
    this.path = options.path;
    this.baudRate = options.baudRate ?? DEFAULT_BAUD_RATE;
    this.protocol = options.protocol;
    this.repeatSuppressMs = options.repeatSuppressMs ?? DEFAULT_REPEAT_SUPPRESS_MS;
    this.reopenIntervalMs = options.reopenIntervalMs ?? DEFAULT_REOPEN_INTERVAL_MS;
    this.log = options.log.child({ reader: options.name, path: options.path });
    this.clock = options.clock ?? systemClock;
  }

  /** Resolves once the first open attempt is over; an absent device is a health fault, not an error. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.open();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.reopenTimer?.cancel();
    this.reopenTimer = undefined;
    this.presenceTimer?.cancel();
    this.presenceTimer = undefined;
    await this.opening;
    const port = this.port;
    this.port = undefined;
    this.decoder = undefined;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  health(): DeviceHealth {
    return this.healthState.get();
  }

  lastRead(): { idTag: string; at: number } | undefined {
    return this.last;
  }

  private open(): Promise<void> {
    this.opening = this.attemptOpen().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  private async attemptOpen(): Promise<void> {
    let port: SerialPort;
    try {
      port = new SerialPort({ path: this.path, baudRate: this.baudRate, autoOpen: false });
    } catch (err) {
      // Only invalid options throw here; they will not get better, but retrying is harmless.
      this.portLost(`cannot open: ${errorText(err)}`);
      return;
    }
    // Registered before anything can fail, so no serial error is ever unhandled.
    port.on('error', (err) => this.onPortError(port, err));
    const error = await new Promise<Error | null>((resolve) => port.open(resolve));
    if (error) {
      this.portLost(`cannot open: ${error.message}`);
      return;
    }
    if (!this.running) {
      port.close();
      return;
    }
    this.port = port;
    this.decoder = createFrameDecoder(this.protocol);
    this.badInRow = 0;
    this.garbageProblem = undefined;
    port.on('data', (chunk: Buffer) => this.onData(port, chunk));
    port.on('close', (err?: Error | null) => this.onPortClose(port, err));
    this.watchPresence(port, deviceNumber(this.path));
    if (this.portProblem !== undefined)
      this.log.info({ event: 'reader-reopened' }, 'card reader port reopened');
    this.portProblem = undefined;
    this.updateHealth();
  }

  /**
   * Every reopen interval while open, whether the path still names the device that was opened: an
   * unplugged adapter's node goes away, and a read that should fail then (EIO) was seen to stay
   * silent under load, leaving a dead reader healthy. Gone or another device: the port is lost.
   */
  private watchPresence(port: SerialPort, opened: number | undefined): void {
    this.presenceTimer = this.clock.setTimeout(() => {
      this.presenceTimer = undefined;
      if (port !== this.port || !this.running) return;
      const now = deviceNumber(this.path);
      if (now !== undefined && now === opened) return this.watchPresence(port, opened);
      port.close(() => {});
      this.onPortClose(port, new Error(now === undefined ? 'the device is gone' : 'another device is there'));
    }, this.reopenIntervalMs);
  }

  private onPortError(port: SerialPort, err: Error): void {
    this.log.warn({ event: 'reader-port-error', err: err.message }, 'card reader port error');
    if (port === this.port && !port.isOpen) this.onPortClose(port, err);
  }

  private onPortClose(port: SerialPort, err?: Error | null): void {
    if (port !== this.port) return;
    this.port = undefined;
    this.decoder = undefined;
    this.portLost(`port closed: ${err?.message ?? 'closed by the system'}`);
  }

  private portLost(problem: string): void {
    if (!this.running) return;
    // One warning per outage; the retries every few seconds go to debug.
    if (this.portProblem === undefined) {
      this.log.warn({ event: 'reader-port-lost', problem }, 'card reader unavailable, retrying');
    } else {
      this.log.debug({ event: 'reader-reopen-failed', problem }, 'card reader still unavailable');
    }
    this.portProblem = problem;
    this.updateHealth();
    this.reopenTimer = this.clock.setTimeout(() => {
      this.reopenTimer = undefined;
      if (this.running) void this.open();
    }, this.reopenIntervalMs);
  }

  private onData(port: SerialPort, chunk: Buffer): void {
    if (port !== this.port || !this.decoder) return;
    for (const result of this.decoder.push(chunk)) {
      if (result.kind === 'tag') this.onTag(result.idTag);
      else this.onBadFrame(result.reason, result.detail);
    }
  }

  private onTag(idTag: string): void {
    this.badInRow = 0;
    if (this.garbageProblem !== undefined) {
      this.garbageProblem = undefined;
      this.updateHealth();
    }
    const now = this.clock.monotonic();
    const repeat = this.seen?.idTag === idTag && now - this.seen.at < this.repeatSuppressMs;
    this.seen = { idTag, at: now };
    if (repeat) {
      this.log.debug({ event: 'reader-repeat', idTag }, 'card still present, not reported again');
      return;
    }
    this.last = { idTag, at: this.clock.now() };
    this.log.info({ event: 'reader-tag', idTag }, 'card presented');
    this.emit('tag', idTag);
  }

  private onBadFrame(reason: string, detail: string): void {
    this.badInRow += 1;
    this.log.debug(
      { event: 'reader-bad-frame', reason, detail, inRow: this.badInRow },
      'card reader frame rejected',
    );
    if (this.badInRow < BAD_FRAME_LIMIT || this.garbageProblem !== undefined) return;
    this.garbageProblem = `${this.badInRow} unreadable frames in a row (last: ${reason}); wrong baud rate or protocol?`;
    this.log.warn(
      { event: 'reader-garbage', reason, detail, protocol: this.protocol, baudRate: this.baudRate },
      'card reader sends only unreadable data',
    );
    this.updateHealth();
  }

  private updateHealth(): void {
    const problem = this.portProblem ?? this.garbageProblem;
    const next: DeviceHealth =
      problem === undefined ? HEALTHY : { ok: false, fault: 'ReaderFailure', info: problem };
    this.healthState.set(next);
  }
}

/** The device number `path` names now (following links), or undefined when there is none. */
function deviceNumber(path: string): number | undefined {
  try {
    return statSync(path).rdev;
  } catch {
    return undefined;
  }
}

function errorText(err: unknown): string {
  return errorMessage(err);
}
