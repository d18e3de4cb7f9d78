/**
 * How a board file names GPIO lines and GPIO devices, and how those names become sysfs numbers.
 *
 * A line is named by its gpiochip *label* and the offset within that chip, never by a sysfs
 * number or a `gpiochipN` name: kernels >= 6.6 moved chip bases (a Raspberry Pi's GPIO17 became
 * sysfs 529), and `gpiochipN` under /sys/class/gpio carries the base, so it shifts too. The
 * label ("pinctrl-bcm2711", "pinctrl-rp1", ...) is what stays put across kernels.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type {
  GpioFaultInputOptions,
  GpioLockOptions,
  GpioPilotOptions,
  GpioRelayOptions,
  ResolvedLine,
} from './gpio-devices.js';
import { pwmRefSchema } from './pwm-pilot.js';

export interface LineRef {
  chip: string;
  offset: number;
}

interface ChipInfo {
  dir: string;
  label: string;
  base: number;
  ngpio: number;
}

export function lineName(ref: LineRef): string {
  return `${ref.chip}:${ref.offset}`;
}

/**
 * The sysfs number of a line (chip base + offset). Throws naming the line when the chip is
 * unknown or ambiguous, or the offset is beyond the chip: a board-file error, found at start.
 */
export function resolveLine(ref: LineRef, sysfsRoot = '/sys'): number {
  const gpioDir = join(sysfsRoot, 'class', 'gpio');
  const what = `GPIO line ${lineName(ref)}`;
  const { chips, unreadable } = scanChips(gpioDir, what);
  const matches = chips.filter((c) => c.label === ref.chip);
  const chip = matches[0];
  if (!chip) {
    const found = [...chips.map((c) => `"${c.label}"`), ...unreadable.map((d) => `${d} (unreadable)`)];
    const hint = /^gpiochip\d+$/.test(ref.chip)
      ? '; name the chip by its label, since gpiochipN follows the base, which changes between kernels'
      : '';
    throw new Error(
      `${what}: no gpiochip labelled "${ref.chip}" in ${gpioDir} (found: ${found.join(', ') || 'none'})${hint}`,
    );
  }
  if (matches.length > 1) {
    throw new Error(
      `${what}: ${matches.length} gpiochips are labelled "${ref.chip}" (${matches.map((c) => c.dir).join(', ')}), so the label does not identify one`,
    );
  }
  if (!Number.isInteger(ref.offset) || ref.offset < 0 || ref.offset >= chip.ngpio) {
    throw new Error(
      `${what}: offset ${ref.offset} is out of range; chip "${chip.label}" has ${chip.ngpio} lines (0-${chip.ngpio - 1})`,
    );
  }
  return chip.base + ref.offset;
}

function scanChips(gpioDir: string, what: string): { chips: ChipInfo[]; unreadable: string[] } {
  let entries: string[];
  try {
    entries = readdirSync(gpioDir).filter((e) => /^gpiochip\d+$/.test(e));
  } catch (err) {
    throw new Error(
      `${what}: cannot list ${gpioDir} (no GPIO sysfs interface: kernel without CONFIG_GPIO_SYSFS, or /sys not mounted)`,
      { cause: err },
    );
  }
  const chips: ChipInfo[] = [];
  const unreadable: string[] = [];
  for (const dir of entries.sort()) {
    try {
      const read = (file: string): string => readFileSync(join(gpioDir, dir, file), 'utf8').trim();
      const base = Number(read('base'));
      const ngpio = Number(read('ngpio'));
      if (!Number.isInteger(base) || !Number.isInteger(ngpio)) throw new Error('not a number');
      chips.push({ dir, label: read('label'), base, ngpio });
    } catch {
      unreadable.push(dir);
    }
  }
  return { chips, unreadable };
}

/** Board-file options with every LineRef replaced by its resolved line. */
export type Resolved<T> = T extends LineRef
  ? ResolvedLine
  : T extends object
    ? { [K in keyof T]: Resolved<T[K]> }
    : T;

function isLineRef(v: unknown): v is LineRef {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as LineRef).chip === 'string' &&
    typeof (v as LineRef).offset === 'number'
  );
}

/** Resolves every line of a device's board-file options, so the device gets sysfs numbers. */
export function resolveLines<T>(options: T, sysfsRoot = '/sys'): Resolved<T> {
  const walk = (v: unknown): unknown => {
    if (isLineRef(v)) return { sysfsNumber: resolveLine(v, sysfsRoot), name: lineName(v) };
    if (Array.isArray(v)) return v.map(walk);
    if (typeof v === 'object' && v !== null) {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  return walk(options) as Resolved<T>;
}

// Board-file options: the device options with lines named by LineRef, plus the driver tag.
export type GpioRelayBoardOptions = { driver: 'gpio' } & GpioRelayOptions<LineRef>;
export type GpioPilotBoardOptions = { driver: 'gpio' } & GpioPilotOptions<LineRef>;
export type GpioLockBoardOptions = { driver: 'gpio' } & GpioLockOptions<LineRef>;
export type GpioFaultInputBoardOptions = { driver: 'gpio' } & GpioFaultInputOptions<LineRef>;

// JSON-schema fragments (draft-07) for the board-file schema to embed.
export const lineRefSchema = {
  type: 'object',
  description: 'A GPIO line: the gpiochip label (cat /sys/class/gpio/gpiochip*/label) and the line offset',
  additionalProperties: false,
  required: ['chip', 'offset'],
  properties: {
    chip: { type: 'string', minLength: 1, description: 'gpiochip label, e.g. "pinctrl-bcm2711"' },
    offset: { type: 'integer', minimum: 0, description: 'line offset within the chip, e.g. 17 for GPIO17' },
  },
} as const;

const activeLowSchema = {
  type: 'boolean',
  description: 'the line is active (relay closed, input asserted) at electrical low; default false',
} as const;

const debounceMsSchema = {
  type: 'integer',
  minimum: 0,
  maximum: 10_000,
  description: 'a new level counts once stable this long, ms; default 20',
} as const;

const driverSchema = { type: 'string', const: 'gpio' } as const;

/** A line and its polarity, with no debounce: outputs, and inputs read only on demand. */
const lineSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['line'],
  properties: { line: lineRefSchema, activeLow: activeLowSchema },
} as const;

const inputSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['line'],
  properties: { line: lineRefSchema, activeLow: activeLowSchema, debounceMs: debounceMsSchema },
} as const;

export const gpioRelayOptionsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['driver', 'line'],
  properties: {
    driver: driverSchema,
    line: lineRefSchema,
    activeLow: activeLowSchema,
    feedback: {
      type: 'object',
      description: 'auxiliary contact reporting the contactor state',
      additionalProperties: false,
      required: ['line'],
      properties: {
        line: lineRefSchema,
        activeLow: activeLowSchema,
        settleMs: {
          type: 'integer',
          minimum: 0,
          maximum: 60_000,
          description: 'time the contact may take to follow a command, ms; default 300',
        },
      },
    },
  },
} as const;

export const gpioPilotOptionsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['driver', 'connected', 'ready'],
  properties: {
    driver: driverSchema,
    connected: { ...inputSchema, description: 'EV plugged in (state B)' },
    ready: { ...inputSchema, description: 'EV asks for energy (state C, while connected)' },
    fault: { ...inputSchema, description: 'pilot / EV communication fault (state F)' },
    enable: {
      ...lineSchema,
      description:
        'charge permission output (e.g. a DC cabinet enable): active while the relay is closed and the current limit is above 0',
    },
    pwm: pwmRefSchema,
  },
} as const;

export const gpioLockOptionsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['driver', 'line'],
  properties: {
    driver: driverSchema,
    line: lineRefSchema,
    activeLow: activeLowSchema,
    feedback: { ...lineSchema, description: 'input that is active while the lock is engaged' },
    timeoutMs: {
      type: 'integer',
      minimum: 1,
      maximum: 60_000,
      description: 'how long feedback may take to confirm lock/unlock, ms; default 1000',
    },
  },
} as const;

export const gpioFaultInputOptionsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['driver', 'kind', 'line'],
  properties: {
    driver: driverSchema,
    kind: { type: 'string', enum: ['emergencyStop', 'tamper'] },
    line: lineRefSchema,
    activeLow: activeLowSchema,
    debounceMs: debounceMsSchema,
  },
} as const;
