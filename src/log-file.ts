import { closeSync, constants, fstatSync, openSync, write, writeSync } from 'node:fs';

/** Where a logger's lines go: one JSON line per call of `write`. */
export interface LogDestination {
  write(line: string): unknown;
  /** Calls back once every line written so far has left (or been dropped). */
  flush?(cb: (err?: Error) => void): void;
}

export interface LogFileOptions {
  /** The file to append to (opened here, and again by `reopen`). */
  path: string;
  /** Bytes that may wait while the file is slow; past it lines are dropped rather than memory grown. */
  maxWaitingBytes?: number;
  /** Told when a write fails: the line and those waiting are dropped, later lines are tried again. */
  onError?: (error: Error) => void;
}

/** Opened for positioned writes: with O_APPEND the kernel would ignore the position. */
const OPEN_FOR_WRITING = constants.O_WRONLY | constants.O_CREAT;
/** A descriptor that is non-blocking and full is tried again this much later. */
const RETRY_BUSY_MS = 10;
/** At exit, how long a full descriptor is waited for before its last lines are given up. */
const EXIT_BUSY_LIMIT_MS = 1000;
/** Lines a full descriptor may hold back before new ones are dropped (the ring still has them). */
const DESCRIPTOR_BACKLOG_BYTES = 1024 * 1024;

/** Destinations holding lines not yet written: written synchronously when the process exits. */
const unwritten = new Set<{ writeAtExit(): void }>();
let exitHookInstalled = false;

/**
 * Lines appended to a file without making the event loop wait on the disk (an SD card can stall
 * for seconds): they are collected while one write is in flight on libuv's threads and go out
 * together in the next. Each write goes to a position we keep (the end the file had when opened,
 * then past each write), so at exit, when no callback will come, the write in flight is written
 * again at its own place (harmless if it landed meanwhile) and what waits follows it in order.
 */
export class LogFile implements LogDestination {
  private fd: number;
  private position: number;
  private readonly path: string;
  private readonly maxWaitingBytes: number;
  private readonly onError: ((error: Error) => void) | undefined;
  private waiting: string[] = [];
  private waitingBytes = 0;
  /** The write on its way (its bytes are no longer waiting) and where it goes. */
  private inFlight: { data: Buffer; position: number } | undefined;
  private reopenWanted = false;
  private readonly flushed: Array<(err?: Error) => void> = [];

  constructor(options: LogFileOptions) {
    this.path = options.path;
    this.fd = openSync(this.path, OPEN_FOR_WRITING, 0o600);
    this.position = fstatSync(this.fd).size;
    this.maxWaitingBytes = options.maxWaitingBytes ?? Number.POSITIVE_INFINITY;
    this.onError = options.onError;
  }

  /** False when the line was dropped: too much is waiting already. */
  write(line: string): boolean {
    const bytes = Buffer.byteLength(line);
    if (this.waitingBytes + bytes > this.maxWaitingBytes) return false;
    this.waiting.push(line);
    this.waitingBytes += bytes;
    unwritten.add(this);
    installExitHook();
    if (!this.inFlight) this.writeWaiting();
    return true;
  }

  flush(cb: (err?: Error) => void): void {
    if (!this.inFlight && this.waitingBytes === 0) process.nextTick(cb);
    else this.flushed.push(cb);
  }

  /** The file at `path` again, once the write in flight has landed (after a rotation's rename). */
  reopen(): void {
    if (this.inFlight) this.reopenWanted = true;
    else this.openAgain();
  }

  writeAtExit(): void {
    const data = this.takeWaiting();
    try {
      if (this.inFlight) writeAllSync(this.fd, this.inFlight.data, this.inFlight.position);
      writeAllSync(this.fd, data, this.position);
      this.position += data.length;
    } catch {
      // Exiting: there is nowhere left to report a log that cannot be written.
    }
  }

  private takeWaiting(): Buffer {
    const data = Buffer.from(this.waiting.join(''));
    this.waiting = [];
    this.waitingBytes = 0;
    return data;
  }

  private writeWaiting(): void {
    if (this.reopenWanted) this.openAgain();
    if (this.waitingBytes === 0) {
      unwritten.delete(this);
      for (const cb of this.flushed.splice(0)) cb();
      return;
    }
    const data = this.takeWaiting();
    this.inFlight = { data, position: this.position };
    this.position += data.length;
    this.writeOut(data, 0);
  }

  private writeOut(data: Buffer, offset: number): void {
    const at = this.inFlight!.position + offset;
    write(this.fd, data, offset, data.length - offset, at, (error, written) => {
      if (error) this.onError?.(error);
      else if (offset + written < data.length) return this.writeOut(data, offset + written);
      this.inFlight = undefined;
      this.writeWaiting();
    });
  }

  private openAgain(): void {
    this.reopenWanted = false;
    try {
      closeSync(this.fd);
    } catch {
      // Already gone: the open below is what matters.
    }
    try {
      this.fd = openSync(this.path, OPEN_FOR_WRITING, 0o600);
      this.position = fstatSync(this.fd).size;
    } catch (error) {
      this.onError?.(error as Error);
    }
  }
}

/**
 * Lines written to an inherited descriptor (stdout, for journald) synchronously, as Node writes
 * its own stdout to pipes and files on Linux: a write handed to libuv's threads cannot be followed
 * at exit (how much of it landed is only told to a callback that never runs), so a crash's last
 * lines could land torn or before the ones logged ahead of them. A non-blocking descriptor that is
 * full holds the rest back and is tried again on a timer, never blocking the event loop.
 */
export class LogDescriptor implements LogDestination {
  private backlog: Buffer[] = [];
  private backlogBytes = 0;
  private retry: NodeJS.Timeout | undefined;
  private readonly flushed: Array<(err?: Error) => void> = [];

  constructor(private readonly fd: number) {}

  /** False when the line was dropped: the descriptor is full with too much held back already. */
  write(line: string): boolean {
    const data = Buffer.from(line);
    const waiting = this.backlogBytes > 0;
    if (waiting && this.backlogBytes + data.length > DESCRIPTOR_BACKLOG_BYTES) return false;
    this.backlog.push(data);
    this.backlogBytes += data.length;
    // Behind lines held back it waits its turn; alone it goes now, or waits for room.
    if (!waiting && !this.drain()) this.waitForRoom();
    return true;
  }

  flush(cb: (err?: Error) => void): void {
    if (this.backlogBytes === 0) process.nextTick(cb);
    else this.flushed.push(cb);
  }

  writeAtExit(): void {
    const started = Date.now();
    while (this.backlogBytes > 0 && Date.now() - started < EXIT_BUSY_LIMIT_MS) {
      if (!this.drain()) pause(1);
    }
  }

  private waitForRoom(): void {
    unwritten.add(this);
    installExitHook();
    this.retry ??= setTimeout(() => this.retryLater(), RETRY_BUSY_MS).unref();
  }

  private retryLater(): void {
    this.retry = undefined;
    this.drain();
    if (this.backlogBytes > 0) this.retry = setTimeout(() => this.retryLater(), RETRY_BUSY_MS).unref();
  }

  /** Writes held-back bytes until the descriptor is full again; false when it still is. */
  private drain(): boolean {
    while (this.backlog.length > 0) {
      const data = this.backlog[0]!;
      let written: number;
      try {
        written = writeSync(this.fd, data);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return false;
        written = data.length; // closed: what is held back has nowhere to go
      }
      this.backlogBytes -= written;
      if (written < data.length) this.backlog[0] = data.subarray(written);
      else this.backlog.shift();
    }
    unwritten.delete(this);
    if (this.flushed.length > 0) for (const cb of this.flushed.splice(0)) cb();
    return true;
  }
}

/** All of `data` at `position`, blocking. */
function writeAllSync(fd: number, data: Buffer, position: number): void {
  let offset = 0;
  while (offset < data.length) offset += writeSync(fd, data, offset, data.length - offset, position + offset);
}

/** Blocks the thread for `ms`: at exit, where no timer will fire. */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const destination of [...unwritten]) destination.writeAtExit();
  });
}
