import { closeSync, openSync, write, writeSync } from 'node:fs';

/** Where a logger's lines go: one JSON line per call of `write`. */
export interface LogDestination {
  write(line: string): unknown;
  /** Calls back once every line written so far has left (or been dropped). */
  flush?(cb: (err?: Error) => void): void;
}

export interface LogFileOptions {
  /** A file to append to (opened here, made again by `reopen`), or an open descriptor (stdout: 1). */
  dest: string | number;
  /** Bytes that may wait while the file is slow; past it lines are dropped rather than memory grown. */
  maxWaitingBytes?: number;
  /** Told when a write fails: the line and those waiting are dropped, later lines are tried again. */
  onError?: (error: Error) => void;
}

/** A write refused because the descriptor is non-blocking and full is tried again this much later. */
const RETRY_BUSY_MS = 10;

/** Writers holding lines not yet written: written synchronously when the process exits. */
const unwritten = new Set<LogFile>();
let exitHookInstalled = false;

/**
 * Lines appended to a file descriptor without making the event loop wait on the disk or on
 * journald: they are collected while one write is in flight and go out together in the next (as
 * pino's SonicBoom did). What has not left when the process exits is written synchronously then,
 * so a crash's last lines are not lost.
 */
export class LogFile implements LogDestination {
  private fd: number;
  private readonly path: string | undefined;
  private readonly maxWaitingBytes: number;
  private readonly onError: ((error: Error) => void) | undefined;
  private waiting: string[] = [];
  private waitingBytes = 0;
  /** A write is in flight (its bytes are no longer waiting). */
  private writing = false;
  private reopenWanted = false;
  private readonly flushed: Array<(err?: Error) => void> = [];

  constructor(options: LogFileOptions) {
    this.path = typeof options.dest === 'string' ? options.dest : undefined;
    this.fd = typeof options.dest === 'string' ? openSync(options.dest, 'a', 0o600) : options.dest;
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
    if (!this.writing) this.writeWaiting();
    return true;
  }

  flush(cb: (err?: Error) => void): void {
    if (!this.writing && this.waitingBytes === 0) process.nextTick(cb);
    else this.flushed.push(cb);
  }

  /** The file at `path` again, once the write in flight has landed (after a rotation's rename). */
  reopen(): void {
    if (this.path === undefined) return;
    if (this.writing) this.reopenWanted = true;
    else this.openAgain();
  }

  /**
   * Writes what waits, blocking: at exit, when no later turn will come. A write in flight is left
   * to land on its own rather than be written twice.
   */
  writeWaitingSync(): void {
    const data = this.takeWaiting();
    let offset = 0;
    try {
      while (offset < data.length) offset += writeSync(this.fd, data, offset);
    } catch {
      // Exiting: there is nowhere left to report a log that cannot be written.
    }
  }

  private takeWaiting(): Buffer {
    const data = Buffer.from(this.waiting.join(''));
    this.waiting = [];
    this.waitingBytes = 0;
    unwritten.delete(this);
    return data;
  }

  private writeWaiting(): void {
    if (this.reopenWanted) this.openAgain();
    if (this.waitingBytes === 0) {
      this.writing = false;
      for (const cb of this.flushed.splice(0)) cb();
      return;
    }
    this.writing = true;
    this.writeOut(this.takeWaiting(), 0);
  }

  private writeOut(data: Buffer, offset: number): void {
    write(this.fd, data, offset, data.length - offset, null, (error, written) => {
      if ((error as NodeJS.ErrnoException | null)?.code === 'EAGAIN') {
        // A non-blocking stdout that is full: the reader catches up, the bytes go a little later.
        setTimeout(() => this.writeOut(data, offset), RETRY_BUSY_MS);
        return;
      }
      if (error) this.onError?.(error);
      else if (offset + written < data.length) return this.writeOut(data, offset + written);
      this.writeWaiting();
    });
  }

  private openAgain(): void {
    this.reopenWanted = false;
    if (this.path === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // Already gone: the open below is what matters.
    }
    try {
      this.fd = openSync(this.path, 'a', 0o600);
    } catch (error) {
      this.onError?.(error as Error);
    }
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const file of [...unwritten]) file.writeWaitingSync();
  });
}
