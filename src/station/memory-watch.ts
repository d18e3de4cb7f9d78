import { closeSync, openSync, readSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import { type Clock, Schedule } from '../clock.js';
import type { Logger } from '../log.js';

/**
 * How often memory is checked. A leak or a neighbour's growth takes minutes to eat a board's RAM,
 * and a check costs one small read of /proc/meminfo.
 */
export const MEMORY_CHECK_INTERVAL_MS = 60_000;

/** The memories watched: the daemon's V8 heap, and the system's RAM (/proc/meminfo). */
export type Memory = 'heap' | 'system';

/** How much of a memory is left: available bytes out of a total. */
export interface MemoryFigures {
  availableBytes: number;
  totalBytes: number;
}

export interface MemoryReading {
  /** The V8 heap: its limit (heap_size_limit) less what is used (used_heap_size), of the limit. */
  heap: MemoryFigures;
  /** MemAvailable of MemTotal; undefined where /proc/meminfo cannot be read (not an episode). */
  system: MemoryFigures | undefined;
}

/** Reads the memories now; never throws. */
export type MemoryReader = () => MemoryReading;

/**
 * The share of a memory left below which it is short, and above which it has recovered. The gap
 * between the two is the hysteresis: a memory hovering at the mark is one episode, not one a minute.
 * - heap: short once more than 85 % of its limit is used (V8 then collects ever more often, and
 *   an allocation past the limit ends the process), recovered below 75 %;
 * - system: short once MemAvailable is under 5 % of MemTotal (the kernel's OOM killer is near;
 *   on a 512 MB board some 25 MB), recovered above 10 %.
 */
export const MEMORY_MARKS: Readonly<Record<Memory, { short: number; recovered: number }>> = {
  heap: { short: 0.15, recovered: 0.25 },
  system: { short: 0.05, recovered: 0.1 },
};

export interface MemoryWatchOptions {
  clock: Clock;
  /** Default: `readMemory` (the V8 heap and /proc/meminfo). */
  read?: MemoryReader;
  /** A memory ran short: once per episode, with which memory and its figures. */
  exhausted(techInfo: string): void;
  log: Logger;
}

/**
 * Watches the daemon's memory, every MEMORY_CHECK_INTERVAL_MS and once at start: a memory whose
 * share left falls under its short mark begins an episode, reported once (a warn line and
 * `exhausted`); the episode ends when the share rises above the recovered mark, and only then can
 * the next one begin. A memory that cannot be read is left as it stands.
 */
export class MemoryWatch {
  private readonly short = new Set<Memory>();
  private readonly schedule: Schedule;
  private readonly read: MemoryReader;

  constructor(private readonly opts: MemoryWatchOptions) {
    this.read = opts.read ?? readMemory;
    this.schedule = new Schedule(opts.clock, () => ({
      inMs: MEMORY_CHECK_INTERVAL_MS,
      run: () => {
        this.check();
        this.schedule.replan();
      },
    }));
  }

  start(): void {
    this.check();
    this.schedule.start();
  }

  stop(): void {
    this.schedule.stop();
  }

  private check(): void {
    const reading = this.read();
    for (const memory of ['heap', 'system'] as const) {
      const figures = reading[memory];
      if (!figures || !(figures.totalBytes > 0)) continue;
      const left = figures.availableBytes / figures.totalBytes;
      const marks = MEMORY_MARKS[memory];
      if (this.short.has(memory)) {
        if (left <= marks.recovered) continue;
        this.short.delete(memory);
        this.opts.log.info({ memory, ...figures }, 'memory recovered');
      } else if (left < marks.short) {
        this.short.add(memory);
        const techInfo = describe(memory, figures);
        this.opts.log.warn({ memory, ...figures, techInfo }, 'memory running short');
        this.opts.exhausted(techInfo);
      }
    }
  }
}

function describe(memory: Memory, { availableBytes, totalBytes }: MemoryFigures): string {
  if (memory === 'heap') {
    const used = totalBytes - availableBytes;
    return `V8 heap ${mib(used)} used of its ${mib(totalBytes)} limit (${percent(used, totalBytes)})`;
  }
  return `system RAM MemAvailable ${mib(availableBytes)} of MemTotal ${mib(totalBytes)} (${percent(availableBytes, totalBytes)})`;
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

function percent(part: number, whole: number): string {
  return `${((100 * part) / whole).toFixed(1)} %`;
}

/** The V8 heap and the system's RAM as they stand. */
export function readMemory(): MemoryReading {
  const heap = getHeapStatistics();
  return {
    heap: { availableBytes: heap.heap_size_limit - heap.used_heap_size, totalBytes: heap.heap_size_limit },
    system: readMeminfo(),
  };
}

/** MemTotal and MemAvailable are the first and third lines of /proc/meminfo: its head is enough. */
const MEMINFO_HEAD_BYTES = 256;

/** MemAvailable and MemTotal, or undefined (not Linux, a kernel before 3.14, no /proc). */
export function readMeminfo(path = '/proc/meminfo'): MemoryFigures | undefined {
  let text: string;
  try {
    const fd = openSync(path, 'r');
    try {
      const head = Buffer.alloc(MEMINFO_HEAD_BYTES);
      text = head.toString('latin1', 0, readSync(fd, head, 0, head.length, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  const totalKb = meminfoKb(text, 'MemTotal');
  const availableKb = meminfoKb(text, 'MemAvailable');
  if (totalKb === undefined || availableKb === undefined) return undefined;
  return { availableBytes: availableKb * 1024, totalBytes: totalKb * 1024 };
}

function meminfoKb(text: string, field: string): number | undefined {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}
