import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A sysfs PWM tree in a temporary directory, for the real PWM channel driver (pwm-pilot.ts):
 * `class/pwm/pwmchipN` with `npwm`, `export` and `unexport`. No kernel creates a channel here on
 * export, so `exported` makes one as a previous run (or the kernel) would have left it. The test
 * plays the hardware by reading what the driver wrote.
 */
export class FakePwmSysfs {
  readonly pwmDir: string;

  constructor(readonly root: string) {
    this.pwmDir = join(root, 'class', 'pwm');
    mkdirSync(this.pwmDir, { recursive: true });
  }

  chip(n: number, npwm: number): this {
    const dir = this.chipDir(n);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'npwm'), `${npwm}\n`);
    writeFileSync(join(dir, 'export'), '');
    writeFileSync(join(dir, 'unexport'), '');
    return this;
  }

  /** A channel as the kernel creates it on export: period 0, disabled. */
  exported(chip: number, channel: number, at: { period?: number; duty?: number; enable?: 0 | 1 } = {}): this {
    const dir = join(this.chipDir(chip), `pwm${channel}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'period'), `${at.period ?? 0}\n`);
    writeFileSync(join(dir, 'duty_cycle'), `${at.duty ?? 0}\n`);
    writeFileSync(join(dir, 'enable'), `${at.enable ?? 0}\n`);
    return this;
  }

  chipDir(chip: number): string {
    return join(this.pwmDir, `pwmchip${chip}`);
  }

  /** What the channel outputs now, as numbers. */
  channel(chip: number, channel: number): { period: number; duty: number; enable: number } {
    const read = (file: string): number =>
      Number(readFileSync(join(this.chipDir(chip), `pwm${channel}`, file), 'utf8').trim());
    return { period: read('period'), duty: read('duty_cycle'), enable: read('enable') };
  }

  /** The last value written to the chip's `export` or `unexport` file ('' when never written). */
  written(chip: number, file: 'export' | 'unexport'): string {
    const path = join(this.chipDir(chip), file);
    return existsSync(path) ? readFileSync(path, 'utf8') : '';
  }
}
