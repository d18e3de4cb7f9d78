import type { GpioDirection, GpioLine, GpioLineFactory } from '../../hal/drivers/gpio-adapter.js';

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
