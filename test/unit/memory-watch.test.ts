import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import {
  MEMORY_CHECK_INTERVAL_MS,
  type MemoryFigures,
  type MemoryReading,
  MemoryWatch,
  readMeminfo,
  readMemory,
} from '../../src/station/memory-watch.js';
import { FakeClock } from '../support/fake-clock.js';
import { LogSink } from '../support/harness.js';

const MIB = 2 ** 20;

/** A heap of 100 MiB limit with `usedMib` used. */
function heap(usedMib: number): MemoryFigures {
  return { availableBytes: (100 - usedMib) * MIB, totalBytes: 100 * MIB };
}

/** 512 MiB of RAM with `availableMib` available. */
function ram(availableMib: number): MemoryFigures {
  return { availableBytes: availableMib * MIB, totalBytes: 512 * MIB };
}

interface Setup {
  clock: FakeClock;
  sink: LogSink;
  /** Sets what the next check reads. */
  willRead(reading: MemoryReading): void;
  /** techInfo of every MemoryExhaustion raised so far. */
  raised: string[];
  watch: MemoryWatch;
}

const watches: MemoryWatch[] = [];
afterEach(() => {
  for (const watch of watches.splice(0)) watch.stop();
});

function setup(first: MemoryReading): Setup {
  const clock = new FakeClock();
  const sink = new LogSink();
  const raised: string[] = [];
  let reading = first;
  const watch = new MemoryWatch({
    clock,
    read: () => reading,
    exhausted: (techInfo) => raised.push(techInfo),
    log: createLogger({ level: 'debug', destination: sink }),
  });
  watches.push(watch);
  return { clock, sink, raised, watch, willRead: (next) => (reading = next) };
}

/** Lets the watch read `reading` at its next check. */
function next(s: Setup, reading: MemoryReading): void {
  s.willRead(reading);
  s.clock.advance(MEMORY_CHECK_INTERVAL_MS);
}

describe('MemoryWatch', () => {
  it('a heap past 85 % of its limit is one episode: raised once with its figures and a warn line, not again while it stays short', () => {
    const s = setup({ heap: heap(50), system: ram(400) });
    s.watch.start();
    expect(s.raised).toEqual([]);
    next(s, { heap: heap(86), system: ram(400) });
    expect(s.raised).toEqual(['V8 heap 86.0 MiB used of its 100.0 MiB limit (86.0 %)']);
    const warn = s.sink.find((l) => l.msg === 'memory running short');
    expect(warn).toMatchObject({ level: 'warn', memory: 'heap', techInfo: s.raised[0] });
    // Still short, more or less: the same episode.
    next(s, { heap: heap(95), system: ram(400) });
    next(s, { heap: heap(80), system: ram(400) });
    next(s, { heap: heap(90), system: ram(400) });
    expect(s.raised).toHaveLength(1);
    expect(s.sink.count((l) => l.msg === 'memory running short')).toBe(1);
  });

  it('MemAvailable under 5 % of MemTotal is an episode of the system RAM, checked once at start too', () => {
    const s = setup({ heap: heap(10), system: ram(20) });
    s.watch.start();
    expect(s.raised).toEqual(['system RAM MemAvailable 20.0 MiB of MemTotal 512.0 MiB (3.9 %)']);
    next(s, { heap: heap(10), system: ram(25) });
    expect(s.raised).toHaveLength(1);
  });

  it('raises again only once the memory has recovered past the lower mark and run short anew', () => {
    const s = setup({ heap: heap(10), system: ram(10) });
    s.watch.start();
    expect(s.raised).toHaveLength(1);
    // Above the short mark, below the recovered one: the episode goes on.
    next(s, { heap: heap(10), system: ram(40) });
    next(s, { heap: heap(10), system: ram(10) });
    expect(s.raised).toHaveLength(1);
    expect(s.sink.find((l) => l.msg === 'memory recovered')).toBeUndefined();
    next(s, { heap: heap(10), system: ram(60) });
    expect(s.sink.find((l) => l.msg === 'memory recovered')).toMatchObject({ memory: 'system' });
    next(s, { heap: heap(10), system: ram(12) });
    expect(s.raised).toEqual([
      'system RAM MemAvailable 10.0 MiB of MemTotal 512.0 MiB (2.0 %)',
      'system RAM MemAvailable 12.0 MiB of MemTotal 512.0 MiB (2.3 %)',
    ]);
  });

  it('the heap and the system RAM have episodes of their own', () => {
    const s = setup({ heap: heap(90), system: ram(400) });
    s.watch.start();
    next(s, { heap: heap(90), system: ram(10) });
    expect(s.raised.map((t) => t.split(' ')[0])).toEqual(['V8', 'system']);
  });

  it('a system memory that cannot be read is no episode, and does not end one', () => {
    const s = setup({ heap: heap(10), system: undefined });
    s.watch.start();
    next(s, { heap: heap(10), system: undefined });
    expect(s.raised).toEqual([]);
    next(s, { heap: heap(10), system: ram(10) });
    next(s, { heap: heap(10), system: undefined });
    next(s, { heap: heap(10), system: ram(10) });
    expect(s.raised).toHaveLength(1);
  });

  it('checks every interval on the clock it is given, and no more once stopped', () => {
    let reads = 0;
    const clock = new FakeClock();
    const watch = new MemoryWatch({
      clock,
      read: () => {
        reads += 1;
        return { heap: heap(10), system: undefined };
      },
      exhausted: () => {},
      log: createLogger({ level: 'silent' }),
    });
    watches.push(watch);
    watch.start();
    clock.advance(3 * MEMORY_CHECK_INTERVAL_MS);
    expect(reads).toBe(4);
    watch.stop();
    clock.advance(3 * MEMORY_CHECK_INTERVAL_MS);
    expect(reads).toBe(4);
    expect(clock.pending).toBe(0);
  });
});

describe('readMemory', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  function meminfo(text: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cp-meminfo-'));
    dirs.push(dir);
    const file = path.join(dir, 'meminfo');
    fs.writeFileSync(file, text);
    return file;
  }

  it('reads MemAvailable and MemTotal from the head of /proc/meminfo', () => {
    const file = meminfo(
      'MemTotal:         502340 kB\nMemFree:           20000 kB\nMemAvailable:      61440 kB\nBuffers: 1 kB\n',
    );
    expect(readMeminfo(file)).toEqual({ availableBytes: 61440 * 1024, totalBytes: 502340 * 1024 });
  });

  it('no file, or no MemAvailable (a kernel before 3.14): unreadable', () => {
    expect(readMeminfo(path.join(os.tmpdir(), 'cp-no-such-meminfo'))).toBeUndefined();
    expect(readMeminfo(meminfo('MemTotal:  502340 kB\nMemFree:  20000 kB\n'))).toBeUndefined();
  });

  it("reads this machine's heap and RAM", () => {
    const reading = readMemory();
    expect(reading.heap.totalBytes).toBeGreaterThan(reading.heap.availableBytes);
    expect(reading.heap.availableBytes).toBeGreaterThan(0);
    if (process.platform === 'linux') {
      expect(reading.system?.totalBytes).toBeGreaterThan(reading.system?.availableBytes ?? Infinity);
    }
  });
});
