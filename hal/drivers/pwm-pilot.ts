/**
 * The control pilot's current offer as a PWM signal (IEC 61851-1), through the Linux PWM sysfs
 * ABI under a board's sysfs root: `<root>/class/pwm/pwmchipN/pwmM` (export, period, duty_cycle,
 * enable, unexport). The pilot-state inputs stay the GPIO pilot's; this only replaces the current
 * output.
 *
 * The pause (no current offered, below 6 A) must be a constant +12 V, never "PWM off": the ABI
 * leaves the level of a disabled channel to the driver (many drive it low, which the EV reads as
 * an EVSE fault, state F). So the pause is the channel enabled at 100 % duty, which every PWM
 * controller outputs as a constant high level (normal polarity; a board whose driver stage
 * inverts the signal must invert it in hardware or its device tree, not here).
 */
import { closeSync, constants, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../../src/error-message.js';
import { BoardConfigurationError } from '../types.js';

/** IEC 61851-1: the pilot oscillates at 1 kHz. */
export const PILOT_PERIOD_NS = 1_000_000;

/** The lowest current a PWM pilot can offer; anything below pauses charging. */
export const PILOT_MIN_CURRENT_A = 6;

/** The highest current the duty-cycle table expresses (96 %). */
export const PILOT_MAX_CURRENT_A = 80;

/** Where the two ranges of the table meet: 85 % is 51 A, and the next step (85 % + 1 ns) is 52.5 A. */
const LOW_RANGE_MAX_A = 51;
const HIGH_RANGE_MIN_A = 52.5;

/**
 * The duty cycle (ns of the 1 ms period) that offers `amps`, clamped to the outlet's maximum:
 * 10 %..85 % for 6..51 A (A / 0.6 %), 85 %..96 % for 52.5..80 A (A / 2.5 + 64 %), the whole period
 * (constant high, the pause) below 6 A. The EV reads the duty back as a current, so it is rounded
 * down: never more than asked. Between 51 and 52.5 A the table has no step, so 51 A is offered.
 */
export function pilotDutyCycleNs(amps: number, maxCurrentA: number): number {
  const offered = Math.min(amps, maxCurrentA, PILOT_MAX_CURRENT_A);
  if (!(offered >= PILOT_MIN_CURRENT_A)) return PILOT_PERIOD_NS;
  // In integer ns: A / 0.6 % of the period is A * period / 60; A / 2.5 + 64 % is A * period / 250 + 64 %.
  if (offered < HIGH_RANGE_MIN_A)
    return Math.floor((Math.min(offered, LOW_RANGE_MAX_A) * PILOT_PERIOD_NS) / 60);
  return Math.floor((offered * PILOT_PERIOD_NS) / 250) + (64 * PILOT_PERIOD_NS) / 100;
}

/** A PWM output as the board file names it: `pwmchip<chip>`, channel `pwm<channel>`. */
export interface PwmRef {
  chip: number;
  channel: number;
}

/** The board-file part naming a PWM output (JSON schema draft-07 fragment). */
export const pwmRefSchema = {
  type: 'object',
  description:
    'the pilot PWM output: /sys/class/pwm/pwmchip<chip>/pwm<channel>, driven at 1 kHz with the IEC 61851-1 duty cycle of the current offered',
  additionalProperties: false,
  required: ['chip', 'channel'],
  properties: {
    chip: { type: 'integer', minimum: 0, description: 'N of pwmchipN' },
    channel: { type: 'integer', minimum: 0, description: 'the channel within the chip (pwmM)' },
  },
} as const;

/** One exported PWM channel. */
export interface PwmChannel {
  /** Sets the period and duty cycle (ns) and enables the channel. Throws naming the file on failure. */
  drive(periodNs: number, dutyNs: number): void;
  /** Unexports the channel (the kernel disables it). */
  close(): void;
}

export type PwmChannelFactory = (ref: PwmRef) => PwmChannel;

/** How long udev may take to create and hand over a freshly exported channel's files, ms. */
const EXPORT_SETTLE_MS = 2_000;
const EXPORT_RETRY_MS = 10;

/** Failures that restarting cannot cure (as for GPIO lines). */
const CONFIGURATION_ERRORS: ReadonlySet<string> = new Set(['ENOENT', 'EACCES', 'EPERM', 'EBUSY', 'EINVAL']);

export function pwmName(ref: PwmRef): string {
  return `pwmchip${ref.chip}/pwm${ref.channel}`;
}

/** The PWM channels of the sysfs tree under `sysfsRoot` (`<root>/class/pwm`). */
export function sysfsPwmFactory(sysfsRoot = '/sys', settleMs = EXPORT_SETTLE_MS): PwmChannelFactory {
  const pwmDir = join(sysfsRoot, 'class', 'pwm');
  return (ref) => {
    try {
      return new SysfsPwmChannel(pwmDir, ref, settleMs);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (err instanceof BoardConfigurationError || code === undefined || !CONFIGURATION_ERRORS.has(code))
        throw err;
      throw new BoardConfigurationError(`PWM ${pwmName(ref)}: ${errorMessage(err)}`, { cause: err });
    }
  };
}

class SysfsPwmChannel implements PwmChannel {
  private readonly chipDir: string;
  private readonly dir: string;
  /** The period the channel has now, so that it is written only when it changes. */
  private periodNs: number;

  constructor(
    pwmDir: string,
    private readonly ref: PwmRef,
    settleMs: number,
  ) {
    this.chipDir = join(pwmDir, `pwmchip${ref.chip}`);
    this.dir = join(this.chipDir, `pwm${ref.channel}`);
    if (!existsSync(this.chipDir)) {
      const hint = existsSync(pwmDir)
        ? `no PWM chip ${ref.chip} in ${pwmDir}`
        : `no PWM sysfs interface at ${pwmDir}`;
      throw new BoardConfigurationError(
        `PWM ${pwmName(ref)}: ${hint} (is the PWM overlay loaded, e.g. dtoverlay=pwm on a Raspberry Pi?)`,
      );
    }
    const channels = Number(readFileSync(join(this.chipDir, 'npwm'), 'utf8').trim());
    if (!Number.isInteger(ref.channel) || ref.channel < 0 || ref.channel >= channels) {
      throw new BoardConfigurationError(
        `PWM ${pwmName(ref)}: chip ${ref.chip} has ${channels} channels (0-${channels - 1})`,
      );
    }
    if (!existsSync(this.dir)) writeAttribute(join(this.chipDir, 'export'), String(ref.channel));
    waitForChannel(join(this.dir, 'enable'), settleMs, () => pwmName(ref));
    this.periodNs = Number(readFileSync(join(this.dir, 'period'), 'utf8').trim());
  }

  drive(periodNs: number, dutyNs: number): void {
    if (periodNs !== this.periodNs) {
      // The kernel refuses a duty cycle longer than the period at every write: shorten the duty
      // first when the period shrinks, so no write is refused and no level in between is zero.
      const duty = Number(readFileSync(join(this.dir, 'duty_cycle'), 'utf8').trim());
      if (duty > periodNs) writeAttribute(join(this.dir, 'duty_cycle'), String(periodNs));
      writeAttribute(join(this.dir, 'period'), String(periodNs));
      this.periodNs = periodNs;
    }
    writeAttribute(join(this.dir, 'duty_cycle'), String(dutyNs));
    writeAttribute(join(this.dir, 'enable'), '1');
  }

  close(): void {
    writeAttribute(join(this.chipDir, 'unexport'), String(this.ref.channel));
  }
}

/** Writes a sysfs attribute, which always exists: a missing one is never created (no O_CREAT). */
function writeAttribute(path: string, value: string): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_TRUNC);
  try {
    writeSync(fd, value);
  } catch (err) {
    throw new Error(`write ${value} to ${path}: ${errorMessage(err)}`, { cause: err });
  } finally {
    closeSync(fd);
  }
}

/** Waits until an exported channel's file is writable (the kernel creates it, udev sets its group). */
function waitForChannel(path: string, settleMs: number, name: () => string): void {
  const deadline = Date.now() + settleMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      closeSync(openSync(path, constants.O_WRONLY));
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== 'ENOENT' && code !== 'EACCES') || Date.now() >= deadline)
        throw new BoardConfigurationError(
          `PWM ${name()}: ${path} not writable ${settleMs} ms after export: ${errorMessage(err)}`,
          { cause: err },
        );
      // Exporting happens once, at board start: a short synchronous wait keeps safe() synchronous.
      Atomics.wait(pause, 0, 0, EXPORT_RETRY_MS);
    }
  }
}

/**
 * The pilot's current offer on a PWM channel: opened at the pause level, then the duty cycle of
 * the offered current; closed at the pause level and unexported.
 */
export class PilotPwm {
  private channel: PwmChannel | undefined;

  constructor(
    private readonly ref: PwmRef,
    private readonly factory: PwmChannelFactory,
    private readonly maxCurrentA: number,
  ) {}

  get name(): string {
    return pwmName(this.ref);
  }

  /** Exports the channel and drives the pause; throws (a start-time error) when it cannot. */
  open(): void {
    if (this.channel) return;
    const channel = this.factory(this.ref);
    try {
      channel.drive(PILOT_PERIOD_NS, PILOT_PERIOD_NS);
    } catch (err) {
      channel.close();
      throw err;
    }
    this.channel = channel;
  }

  /** The pause level now, before anything starts (a killed run may have left a current offered). */
  safe(): void {
    this.open();
    this.offer(0);
  }

  /** Offers `amps` (0 or below 6 A: the pause). Throws, naming the channel, when not open or refused. */
  offer(amps: number): void {
    if (!this.channel) throw new Error(`pilot PWM ${this.name}: not open`);
    try {
      this.channel.drive(PILOT_PERIOD_NS, pilotDutyCycleNs(amps, this.maxCurrentA));
    } catch (err) {
      throw new Error(`pilot PWM ${this.name}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** Pauses, then releases the channel; the pause is attempted even if the release is what works. */
  close(): void {
    const channel = this.channel;
    this.channel = undefined;
    if (!channel) return;
    try {
      channel.drive(PILOT_PERIOD_NS, PILOT_PERIOD_NS);
    } finally {
      channel.close();
    }
  }
}
