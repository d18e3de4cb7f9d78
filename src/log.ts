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
}

export function createLogger(options: LogOptions = {}): Logger {
  const pretty = options.pretty ?? (options.destination === undefined && process.stdout.isTTY === true);
  const destination = options.destination ?? pino.destination({ dest: 1, sync: false });
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
    pretty ? humanReadable(destination, process.stdout.isTTY === true) : destination,
  );
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
