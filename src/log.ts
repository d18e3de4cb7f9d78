import { pino } from 'pino';

/** Structured logger: one JSON object per line on stdout, for journald. */
export type Logger = pino.Logger;

export interface LogOptions {
  level?: string;
  /** Extra fields on every line (e.g. chargePointId). */
  base?: Record<string, unknown>;
  /** Where lines go; defaults to stdout. Tests pass a sink to assert on log lines. */
  destination?: pino.DestinationStream;
}

export function createLogger(options: LogOptions = {}): Logger {
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
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

/** A logger that drops everything: for unit tests that do not assert on logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
