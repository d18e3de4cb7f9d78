/**
 * GPIO lines through the kernel's sysfs interface, under a board's sysfs root (default /sys).
 * Deliberately raw (no active-low, no debounce) so every decision lives in gpio-devices.ts, where
 * tests reach it through a fake GpioLineFactory or a fake sysfs tree.
 *
 * Not onoff: onoff hard-codes /sys/class/gpio, so a board's `sysfsRoot` moved only the chip-label
 * lookup and the lines themselves were still opened under /sys. Edges come from epoll (POLLPRI on
 * the value file, as the sysfs GPIO ABI documents), through the `epoll` binding onoff used.
 */
import {
  closeSync,
  constants,
  existsSync,
  type FSWatcher,
  openSync,
  readSync,
  watch,
  writeSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { errorMessage } from '../../src/error-message.js';
import { BoardConfigurationError } from '../types.js';

/** One exported sysfs GPIO line, at its raw electrical level. */
export interface GpioLine {
  read(): 0 | 1;
  write(v: 0 | 1): void;
  /** `onError` receives failures of the interrupt poller, which otherwise have nowhere to go. */
  watch(cb: (v: 0 | 1) => void, onError: (err: Error) => void): void;
  unwatchAll(): void;
  close(): void;
}

/**
 * 'high' and 'low' open an output already at that raw level: sysfs sets direction and value in
 * one write, so an active-low output is never driven active while it is being configured.
 */
export type GpioDirection = 'in' | 'high' | 'low';

export type GpioLineFactory = (
  sysfsNumber: number,
  direction: GpioDirection,
  edge: 'none' | 'both',
) => GpioLine;

/**
 * Failures that restarting cannot cure: no GPIO sysfs interface (ENOENT), no permission on it
 * (EACCES, EPERM), a line another driver holds (EBUSY), a number the kernel does not know (EINVAL).
 */
const CONFIGURATION_ERRORS: ReadonlySet<string> = new Set(['ENOENT', 'EACCES', 'EPERM', 'EBUSY', 'EINVAL']);

/** How long udev may take to hand a freshly exported line's files to our group, ms. */
const EXPORT_SETTLE_MS = 2_000;
const EXPORT_RETRY_MS = 10;

/** The lines of the sysfs tree under `sysfsRoot` (`<root>/class/gpio`). */
export function sysfsLineFactory(sysfsRoot = '/sys'): GpioLineFactory {
  const gpioDir = join(sysfsRoot, 'class', 'gpio');
  return (sysfsNumber, direction, edge) => {
    try {
      return new SysfsLine(gpioDir, sysfsNumber, direction, edge);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== undefined && CONFIGURATION_ERRORS.has(code)) {
        const hint =
          code === 'ENOENT' && !existsSync(gpioDir) ? ` (no GPIO sysfs interface at ${gpioDir})` : '';
        throw new BoardConfigurationError(`${errorMessage(err)}${hint}`, { cause: err });
      }
      throw err;
    }
  };
}

interface EpollPoller {
  add(fd: number, events: number): EpollPoller;
  remove(fd: number): EpollPoller;
  close(): void;
}

interface EpollBinding {
  Epoll: {
    new (callback: (err: Error | null, fd: number, events: number) => void): EpollPoller;
    EPOLLPRI: number;
  };
}

let epollBinding: EpollBinding | undefined;

/** Loaded on the first watched line, so boards without GPIO inputs never load the native binding. */
function epoll(): EpollBinding {
  if (!epollBinding) {
    const binding: EpollBinding = createRequire(import.meta.url)('epoll');
    epollBinding = binding;
  }
  return epollBinding;
}

class SysfsLine implements GpioLine {
  private readonly dir: string;
  private readonly fd: number;
  private readonly buffer = Buffer.alloc(1);
  private poller: EpollPoller | undefined;
  private watcher: FSWatcher | undefined;

  constructor(
    private readonly gpioDir: string,
    private readonly sysfsNumber: number,
    direction: GpioDirection,
    edge: 'none' | 'both',
  ) {
    this.dir = join(gpioDir, `gpio${sysfsNumber}`);
    if (!existsSync(this.dir)) writeAttribute(join(gpioDir, 'export'), String(sysfsNumber));
    const value = join(this.dir, 'value');
    this.fd = openWhenAccessible(value);
    try {
      writeAttribute(join(this.dir, 'direction'), direction);
      // Only inputs get an edge: some controllers answer EIO for an output's edge file.
      if (direction === 'in') writeAttribute(join(this.dir, 'edge'), edge);
    } catch (err) {
      closeSync(this.fd);
      throw err;
    }
  }

  read(): 0 | 1 {
    readSync(this.fd, this.buffer, 0, 1, 0);
    return this.buffer[0] === 0x31 ? 1 : 0;
  }

  write(v: 0 | 1): void {
    writeSync(this.fd, v === 1 ? '1' : '0', 0);
  }

  watch(cb: (v: 0 | 1) => void, onError: (err: Error) => void): void {
    if (this.poller || this.watcher) return;
    const notify = (): void => {
      try {
        cb(this.read());
      } catch (err) {
        onError(err instanceof Error ? err : new Error(String(err)));
      }
    };
    const { Epoll } = epoll();
    const poller = new Epoll((err) => (err ? onError(err) : notify()));
    try {
      // Reading first consumes the pending "changed" state, so the first edge is a real one.
      this.read();
      this.poller = poller.add(this.fd, Epoll.EPOLLPRI);
    } catch (err) {
      poller.close();
      // A plain file (a sysfs tree that is not the kernel's, as in a bench or test rig) cannot be
      // polled for POLLPRI (EPERM); its writes are seen through inotify instead.
      if ((err as NodeJS.ErrnoException).code !== 'EPERM' && !/not permitted/i.test(errorMessage(err)))
        throw err;
      this.watcher = watch(join(this.dir, 'value'), { persistent: true }, notify);
      this.watcher.on('error', onError);
    }
  }

  unwatchAll(): void {
    this.poller?.remove(this.fd).close();
    this.poller = undefined;
    this.watcher?.close();
    this.watcher = undefined;
  }

  close(): void {
    this.unwatchAll();
    closeSync(this.fd);
    try {
      writeAttribute(join(this.gpioDir, 'unexport'), String(this.sysfsNumber));
    } catch {
      // Some boards (BeagleBone cape_universal) refuse to unexport their lines; the line is closed anyway.
    }
  }
}

/** Writes a sysfs attribute, which always exists: a missing one is never created (no O_CREAT). */
function writeAttribute(path: string, value: string): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_TRUNC);
  try {
    writeSync(fd, value);
  } finally {
    closeSync(fd);
  }
}

/** Opens an exported line's value file, waiting briefly for udev to grant access to it. */
function openWhenAccessible(path: string): number {
  const deadline = Date.now() + EXPORT_SETTLE_MS;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      return openSync(path, 'r+');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== 'ENOENT' && code !== 'EACCES') || Date.now() >= deadline) throw err;
      // Opening a line happens once, at board start: a short synchronous wait keeps the factory simple.
      Atomics.wait(pause, 0, 0, EXPORT_RETRY_MS);
    }
  }
}
