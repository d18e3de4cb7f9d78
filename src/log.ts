import { mkdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';

/** Structured logger: one JSON object per line on stdout, for journald. */
export type Logger = pino.Logger;

/** The levels an operator may choose, most severe first. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LogOptions {
  level?: string;
  /** Extra fields on every line (e.g. chargePointId). */
  base?: Record<string, unknown>;
  /** Where lines go; defaults to stdout. Tests pass a sink to assert on log lines. */
  destination?: pino.DestinationStream;
  /** Human-readable lines instead of JSON; defaults to whether stdout is a terminal. */
  pretty?: boolean;
  /**
   * A directory (the daemon's `<stateDir>/logs`) that also receives every line, as JSON, in a
   * bounded ring of files (LogRing): journald is not on every board, and diagnostics bundles read it.
   */
  ringDir?: string;
}

export function createLogger(options: LogOptions = {}): Logger {
  const pretty = options.pretty ?? (options.destination === undefined && process.stdout.isTTY === true);
  const destination = options.destination ?? pino.destination({ dest: 1, sync: false });
  const primary = pretty ? humanReadable(destination, process.stdout.isTTY === true) : destination;
  return pino(
    {
      level: options.level ?? 'info',
      base: options.base ?? {},
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: ['password', 'authorizationKey', '*.password', '*.authorizationKey'],
        censor: '[redacted]',
      },
    },
    withRing(primary, options.ringDir),
  );
}

/** `primary` teed into the ring in `dir`; `primary` alone when there is no ring or it cannot be made. */
function withRing(primary: FlushableStream, dir: string | undefined): FlushableStream {
  if (dir === undefined) return primary;
  try {
    return tee(primary, new LogRing({ dir }));
  } catch {
    // A state directory we cannot write is the store's to report (exit 78), with the path and the user.
    return primary;
  }
}

/** Where the daemon keeps its log ring: beside its store, the one place it may write (DESIGN item 6). */
export function logRingDirectory(stateDir: string): string {
  return join(stateDir, 'logs');
}

/** The ring's current file; older ones carry `.1` (newest) up to `.{files - 1}`. */
export const LOG_RING_FILE = 'daemon.log';
/** A ring file is rotated once the next line would take it past this size. */
export const LOG_RING_MAX_BYTES = 1024 * 1024;
/** Files in the ring, the current one included: at most about 5 MB of log on the state disk. */
export const LOG_RING_FILES = 5;
/**
 * Log bytes the ring may hold in memory while the disk is slow; past it lines are dropped rather
 * than the daemon's memory grown (the stdout copy still has them).
 */
const LOG_RING_BUFFER_BYTES = 1024 * 1024;

export interface LogRingOptions {
  dir: string;
  maxBytes?: number;
  files?: number;
}

/** The ring's files in `dir`, oldest first, as they are named (some may not exist yet). */
export function logRingFiles(dir: string, files = LOG_RING_FILES): string[] {
  const names = [LOG_RING_FILE];
  for (let n = 1; n < files; n++) names.unshift(`${LOG_RING_FILE}.${n}`);
  return names.map((name) => join(dir, name));
}

/**
 * The daemon's own bounded log: lines appended to `daemon.log` through a pino (SonicBoom)
 * destination, which writes asynchronously, so the event loop never waits on the disk; once the next
 * line would pass `maxBytes` the files shift by one (renames, the oldest falls out) and the current
 * one starts empty. A disk that refuses the file costs the ring, never the daemon: the error is
 * swallowed and the lines are dropped until the next rotation tries a fresh file.
 */
export class LogRing implements pino.DestinationStream {
  private readonly paths: string[];
  private readonly maxBytes: number;
  private readonly file: ReturnType<typeof pino.destination>;
  private size: number;
  private failed = false;
  /** Bytes handed to the file and not yet written (or dropped). */
  private waiting = 0;
  private readonly flushed: Array<(err?: Error) => void> = [];

  constructor(options: LogRingOptions) {
    this.maxBytes = options.maxBytes ?? LOG_RING_MAX_BYTES;
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    this.paths = logRingFiles(options.dir, options.files ?? LOG_RING_FILES);
    const current = this.paths[this.paths.length - 1]!;
    this.size = sizeOf(current);
    this.file = pino.destination({
      dest: current,
      sync: false,
      append: true,
      mkdir: true,
      maxLength: LOG_RING_BUFFER_BYTES,
    });
    this.file.on('error', () => {
      this.failed = true;
      this.settled(this.waiting);
    });
    // What the disk has taken, or the buffer dropped, is no longer waiting: flush knows when all is out.
    this.file.on('write', (bytes: number) => this.settled(bytes));
    this.file.on('drop', (data: string) => this.settled(Buffer.byteLength(data)));
  }

  write(line: string): void {
    const bytes = Buffer.byteLength(line);
    if (this.size > 0 && this.size + bytes > this.maxBytes) this.rotate();
    if (this.failed) return;
    this.waiting += bytes;
    this.file.write(line);
    this.size += bytes;
  }

  /** Calls back once every line written so far is on disk (or dropped); at once after a failure. */
  flush(cb: (err?: Error) => void): void {
    if (this.failed || this.waiting <= 0) process.nextTick(cb);
    else this.flushed.push(cb);
  }

  private settled(bytes: number): void {
    this.waiting -= bytes;
    if (this.waiting > 0) return;
    this.waiting = 0;
    for (const cb of this.flushed.splice(0)) cb();
  }

  private rotate(): void {
    try {
      for (let n = 1; n < this.paths.length; n++) renameIfPresent(this.paths[n]!, this.paths[n - 1]!);
      // SonicBoom finishes the write in flight on the renamed file, then opens a fresh one.
      this.file.reopen();
      this.failed = false;
    } catch {
      this.failed = true;
    }
    this.size = 0;
  }
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function renameIfPresent(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

type FlushableStream = pino.DestinationStream & { flush?: (cb: (err?: Error) => void) => void };

/** Every line to both streams; flushed when both are. */
function tee(first: FlushableStream, second: LogRing): FlushableStream {
  return {
    write: (chunk: string) => {
      first.write(chunk);
      second.write(chunk);
    },
    flush: (cb) => second.flush(() => (first.flush ? first.flush(cb) : cb())),
  };
}

/**
 * Changes the level of a logger made by createLogger at run time. Pino children follow a level
 * change of their root, so the root logger changes every module's level at once.
 */
export function setLogLevel(log: Logger, level: LogLevel): void {
  log.level = level;
}

/** A logger that drops everything: for unit tests that do not assert on logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

const LEVEL_STYLE: Record<string, { label: string; color: string }> = {
  fatal: { label: 'FATAL', color: '\x1b[41;97m' },
  error: { label: 'ERROR', color: '\x1b[31m' },
  warn: { label: 'WARN ', color: '\x1b[33m' },
  info: { label: 'INFO ', color: '\x1b[32m' },
  debug: { label: 'DEBUG', color: '\x1b[36m' },
  trace: { label: 'TRACE', color: '\x1b[90m' },
};
const RESET = '\x1b[0m';

/**
 * Our own few lines rather than pino-pretty: pino-pretty is a devDependency, and loading it (and
 * its dependencies) costs the board megabytes of resident memory for a format only a developer at
 * a terminal reads.
 */
export function formatLogLine(json: string, color = false): string {
  let line: Record<string, unknown>;
  try {
    line = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const { time, level, msg, ...fields } = line;
  const clock = typeof time === 'string' ? time.slice(11, 23) : '';
  const style = LEVEL_STYLE[String(level)] ?? { label: String(level).toUpperCase().padEnd(5), color: '' };
  const label = color && style.color ? `${style.color}${style.label}${RESET}` : style.label;
  const extra = Object.entries(fields)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
  return `${clock} ${label} ${msg ?? ''}${extra ? `  ${extra}` : ''}\n`;
}

function humanReadable(target: pino.DestinationStream, color: boolean): pino.DestinationStream {
  const flushable = target as pino.DestinationStream & { flush?: (cb: (err?: Error) => void) => void };
  return {
    write: (chunk: string) => target.write(formatLogLine(chunk, color)),
    // The daemon flushes before it exits; the wrapped stream holds what is still buffered.
    ...(flushable.flush ? { flush: (cb: (err?: Error) => void) => flushable.flush!(cb) } : {}),
  } as pino.DestinationStream;
}
