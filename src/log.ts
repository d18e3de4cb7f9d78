import { mkdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LogDescriptor, type LogDestination, LogFile } from './log-file.js';

export type { LogDestination };

/** The levels an operator may choose, most severe first. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A log call: fields (an Error stands for `{ err }`) and a message, or a message alone. */
export interface LogFn {
  (fields: object, msg?: string): void;
  (msg: string): void;
}

/**
 * Structured logger: one JSON object per line on stdout, for journald. The lines are pino's
 * (`level` as its label, `time` in ISO 8601, the bindings, the fields, `msg`), so a pino logger
 * also fits wherever a Logger is asked for (tests pass one); the daemon does not load pino, whose
 * transport and worker-thread machinery cost its boot some 20 ms and its memory for nothing it uses.
 */
export interface Logger {
  /** One of LOG_LEVELS or 'silent'; a root's change is followed by every child. */
  level: string;
  fatal: LogFn;
  error: LogFn;
  warn: LogFn;
  info: LogFn;
  debug: LogFn;
  trace: LogFn;
  child(bindings: Record<string, unknown>): Logger;
  isLevelEnabled(level: string): boolean;
  flush(cb?: (err?: Error) => void): void;
}

export interface LogOptions {
  level?: string;
  /** Extra fields on every line (e.g. chargePointId). */
  base?: Record<string, unknown>;
  /** Where lines go; defaults to stdout. Tests pass a sink to assert on log lines. */
  destination?: LogDestination;
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
  const destination = options.destination ?? new LogDescriptor(1);
  const primary = pretty ? humanReadable(destination, process.stdout.isTTY === true) : destination;
  const core = new LogCore(options.level ?? 'info', withRing(primary, options.ringDir));
  return new JsonLogger(core, fieldsText(options.base ?? {}));
}

const LEVEL_VALUES: Record<string, number> = {
  fatal: 60,
  error: 50,
  warn: 40,
  info: 30,
  debug: 20,
  trace: 10,
  silent: Number.POSITIVE_INFINITY,
};

/** Field names whose values never reach a log line, at the top or one level down. */
const REDACTED_KEYS = new Set(['password', 'authorizationKey']);
const CENSOR = '[redacted]';

/** What a root logger and its children share: the level and where the lines go. */
class LogCore {
  threshold: number;

  constructor(
    public level: string,
    readonly destination: LogDestination,
  ) {
    this.threshold = levelValue(level);
  }

  setLevel(level: string): void {
    this.threshold = levelValue(level);
    this.level = level;
  }
}

function levelValue(level: string): number {
  const value = LEVEL_VALUES[level];
  if (value === undefined) throw new Error(`unknown log level: ${level}`);
  return value;
}

class JsonLogger implements Logger {
  constructor(
    private readonly core: LogCore,
    /** The bindings as JSON members, each with its leading comma. */
    private readonly bindings: string,
  ) {}

  get level(): string {
    return this.core.level;
  }

  set level(level: string) {
    this.core.setLevel(level);
  }

  fatal(fields: object | string, msg?: string): void {
    this.line('fatal', fields, msg);
  }

  error(fields: object | string, msg?: string): void {
    this.line('error', fields, msg);
  }

  warn(fields: object | string, msg?: string): void {
    this.line('warn', fields, msg);
  }

  info(fields: object | string, msg?: string): void {
    this.line('info', fields, msg);
  }

  debug(fields: object | string, msg?: string): void {
    this.line('debug', fields, msg);
  }

  trace(fields: object | string, msg?: string): void {
    this.line('trace', fields, msg);
  }

  child(bindings: Record<string, unknown>): Logger {
    return new JsonLogger(this.core, this.bindings + fieldsText(bindings));
  }

  isLevelEnabled(level: string): boolean {
    return (LEVEL_VALUES[level] ?? 0) >= this.core.threshold;
  }

  flush(cb?: (err?: Error) => void): void {
    const { destination } = this.core;
    if (destination.flush) destination.flush(cb ?? (() => {}));
    else cb?.();
  }

  private line(level: LogLevel, fieldsOrMsg: object | string, msg: string | undefined): void {
    if (LEVEL_VALUES[level]! < this.core.threshold) return;
    let fields: object = {};
    let message = msg;
    if (typeof fieldsOrMsg === 'string') message = fieldsOrMsg;
    else if (fieldsOrMsg instanceof Error) {
      fields = { err: fieldsOrMsg };
      message ??= fieldsOrMsg.message;
    } else fields = fieldsOrMsg;
    const time = new Date().toISOString();
    const text = message === undefined ? '' : `,"msg":${JSON.stringify(message)}`;
    this.core.destination.write(
      `{"level":"${level}","time":"${time}"${this.bindings}${fieldsText(fields)}${text}}\n`,
    );
  }
}

/** `fields` as JSON object members, each with a leading comma ('' for none), redacted. */
function fieldsText(fields: object): string {
  const json = safeStringify(redacted(fields));
  return json.length > 2 ? `,${json.slice(1, -1)}` : '';
}

/** A copy without the secrets (and with an Error under `err` as its type, message and stack). */
function redacted(fields: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (REDACTED_KEYS.has(key)) out[key] = CENSOR;
    else if (key === 'err' && value instanceof Error) out[key] = serializedError(value);
    else if (value !== null && typeof value === 'object' && hasRedactedKey(value)) {
      out[key] = Array.isArray(value) ? [...value] : { ...value };
      for (const inner of REDACTED_KEYS)
        if (Object.hasOwn(value, inner)) (out[key] as Record<string, unknown>)[inner] = CENSOR;
    } else out[key] = value;
  }
  return out;
}

function hasRedactedKey(value: object): boolean {
  for (const key of REDACTED_KEYS) if (Object.hasOwn(value, key)) return true;
  return false;
}

/** As pino's error serializer: type, message and stack, then the error's own fields. */
function serializedError(error: Error): Record<string, unknown> {
  const out: Record<string, unknown> = {
    type: error.constructor.name,
    message: error.message,
    stack: error.stack,
  };
  for (const [key, value] of Object.entries(error)) if (!(key in out)) out[key] = value;
  return out;
}

/** JSON that a cycle or a bigint in a field cannot turn into a thrown error (and a lost line). */
function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch {
    const seen = new WeakSet<object>();
    return JSON.stringify(value, (_key, inner: unknown) => {
      if (typeof inner === 'bigint') return inner.toString();
      if (inner !== null && typeof inner === 'object') {
        if (seen.has(inner)) return '[Circular]';
        seen.add(inner);
      }
      return inner;
    });
  }
}

/** `primary` teed into the ring in `dir`; `primary` alone when there is no ring or it cannot be made. */
function withRing(primary: LogDestination, dir: string | undefined): LogDestination {
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
 * The daemon's own bounded log: lines appended to `daemon.log` through a LogFile, which writes
 * asynchronously, so the event loop never waits on the disk; once the next line would pass
 * `maxBytes` the files shift by one (renames, the oldest falls out) and the current one starts
 * empty. A disk that refuses the file costs the ring, never the daemon: the error is swallowed and
 * the lines are dropped until the next rotation tries a fresh file.
 */
export class LogRing implements LogDestination {
  private readonly paths: string[];
  private readonly maxBytes: number;
  private file: LogFile | undefined;
  private size: number;
  private failed = false;

  constructor(options: LogRingOptions) {
    this.maxBytes = options.maxBytes ?? LOG_RING_MAX_BYTES;
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    this.paths = logRingFiles(options.dir, options.files ?? LOG_RING_FILES);
    this.size = sizeOf(this.current());
    this.open();
  }

  write(line: string): void {
    const bytes = Buffer.byteLength(line);
    if (this.size > 0 && this.size + bytes > this.maxBytes) this.rotate();
    if (this.failed || !this.file) return;
    this.file.write(line);
    this.size += bytes;
  }

  /** Calls back once every line written so far is on disk (or dropped); at once after a failure. */
  flush(cb: (err?: Error) => void): void {
    if (this.failed || !this.file) process.nextTick(cb);
    else this.file.flush(() => cb());
  }

  private current(): string {
    return this.paths[this.paths.length - 1]!;
  }

  private open(): void {
    try {
      this.file = new LogFile({
        path: this.current(),
        maxWaitingBytes: LOG_RING_BUFFER_BYTES,
        onError: () => {
          this.failed = true;
        },
      });
      this.failed = false;
    } catch {
      this.failed = true;
    }
  }

  private rotate(): void {
    try {
      for (let n = 1; n < this.paths.length; n++) renameIfPresent(this.paths[n]!, this.paths[n - 1]!);
      // The write in flight finishes on the renamed file, then a fresh one is opened.
      if (this.file) {
        this.file.reopen();
        this.failed = false;
      } else this.open();
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

/** Every line to both streams; flushed when both are. */
function tee(first: LogDestination, second: LogRing): LogDestination {
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
  return new JsonLogger(new LogCore('silent', { write: () => {} }), '');
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

function humanReadable(target: LogDestination, color: boolean): LogDestination {
  return {
    write: (chunk: string) => target.write(formatLogLine(chunk, color)),
    // The daemon flushes before it exits; the wrapped stream holds what is still buffered.
    ...(target.flush ? { flush: (cb: (err?: Error) => void) => target.flush?.(cb) } : {}),
  };
}
