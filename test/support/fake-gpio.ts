import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { GpioDirection, GpioLine, GpioLineFactory } from '../../hal/drivers/gpio-adapter.js';
import type { ResolvedLine } from '../../hal/drivers/gpio-devices.js';

/** Sysfs line `n` of a test chip, as the board file resolves a line. */
export const testLine = (n: number): ResolvedLine => ({ sysfsNumber: n, name: `test-chip:${n}` });

/** An in-memory line: the test sets its input level and reads what the device wrote. */
export class FakeLine implements GpioLine {
  level: 0 | 1;
  readonly writes: (0 | 1)[] = [];
  closed = false;
  failWrites = false;
  private watchers: { cb: (v: 0 | 1) => void; onError: (err: Error) => void }[] = [];

  constructor(
    readonly sysfsNumber: number,
    readonly direction: GpioDirection,
    readonly edge: 'none' | 'both',
    initial: 0 | 1,
  ) {
    this.level = direction === 'high' ? 1 : direction === 'low' ? 0 : initial;
  }

  read(): 0 | 1 {
    return this.level;
  }

  write(v: 0 | 1): void {
    if (this.failWrites) throw new Error('EIO: i/o error, write');
    this.level = v;
    this.writes.push(v);
  }

  watch(cb: (v: 0 | 1) => void, onError: (err: Error) => void): void {
    this.watchers.push({ cb, onError });
  }

  unwatchAll(): void {
    this.watchers = [];
  }

  close(): void {
    this.closed = true;
  }

  /** The signal at the pin changes (an edge, as the interrupt poller reports it). */
  drive(v: 0 | 1): void {
    this.level = v;
    for (const w of this.watchers) w.cb(v);
  }

  fail(): void {
    for (const w of this.watchers) w.onError(new Error('EIO: i/o error, read'));
  }
}

export class FakeGpio {
  readonly lines = new Map<number, FakeLine>();
  /** Raw level an input reads when opened. */
  readonly initial = new Map<number, 0 | 1>();
  readonly refuse = new Set<number>();

  readonly factory: GpioLineFactory = (n, direction, edge) => {
    if (this.refuse.has(n))
      throw new Error(`EACCES: permission denied, open '/sys/class/gpio/gpio${n}/value'`);
    const line = new FakeLine(n, direction, edge, this.initial.get(n) ?? 0);
    this.lines.set(n, line);
    return line;
  };

  line(n: number): FakeLine {
    const line = this.lines.get(n);
    if (!line) throw new Error(`line ${n} was never opened`);
    return line;
  }
}

/**
 * A sysfs GPIO tree in a temporary directory, for the real sysfs line driver (gpio-adapter.ts):
 * `class/gpio/gpiochipN` with label, base and ngpio, `export` / `unexport`, and every line of each
 * chip already exported (`gpioN/value`, `direction`, `edge`), since no kernel creates them here.
 * The test plays the hardware: `drive` sets an input's level, `level` reads what an output wrote.
 */
export class FakeSysfs {
  readonly gpioDir: string;

  constructor(readonly root: string) {
    this.gpioDir = join(root, 'class', 'gpio');
    mkdirSync(this.gpioDir, { recursive: true });
    writeFileSync(join(this.gpioDir, 'export'), '');
    writeFileSync(join(this.gpioDir, 'unexport'), '');
  }

  chip(label: string, base: number, ngpio: number): this {
    const chip = join(this.gpioDir, `gpiochip${base}`);
    mkdirSync(chip, { recursive: true });
    writeFileSync(join(chip, 'label'), `${label}\n`);
    writeFileSync(join(chip, 'base'), `${base}\n`);
    writeFileSync(join(chip, 'ngpio'), `${ngpio}\n`);
    for (let n = base; n < base + ngpio; n++) {
      const line = join(this.gpioDir, `gpio${n}`);
      mkdirSync(line, { recursive: true });
      writeFileSync(join(line, 'value'), '0\n');
      writeFileSync(join(line, 'direction'), 'in\n');
      writeFileSync(join(line, 'edge'), 'none\n');
    }
    return this;
  }

  /**
   * The signal at an input pin. Written in place (same length, no truncation) so that a reader
   * woken by the write never sees an empty file, as the kernel's value file never is.
   */
  drive(sysfsNumber: number, v: 0 | 1): void {
    const fd = openSync(join(this.gpioDir, `gpio${sysfsNumber}`, 'value'), 'r+');
    try {
      writeSync(fd, String(v), 0);
    } finally {
      closeSync(fd);
    }
  }

  /** The raw level of a line's value file. */
  level(sysfsNumber: number): 0 | 1 {
    return readFileSync(join(this.gpioDir, `gpio${sysfsNumber}`, 'value'), 'utf8').startsWith('1') ? 1 : 0;
  }

  direction(sysfsNumber: number): string {
    return readFileSync(join(this.gpioDir, `gpio${sysfsNumber}`, 'direction'), 'utf8').trim();
  }
}
