/**
 * The restart rule of a systemd service, read from its unit file, so that `npm run dev` restarts
 * the daemon exactly when and as soon as systemd would run it again, and stops it as patiently
 * (systemd.service(5): Restart=, RestartSec=, RestartPreventExitStatus=, TimeoutStopSec=).
 */

export interface RestartPolicy {
  /** Restart=: only the values the dev loop can play (no abnormal / on-abort / on-watchdog). */
  restart: 'no' | 'on-failure' | 'always';
  /** RestartSec=, in milliseconds. */
  delayMs: number;
  /** RestartPreventExitStatus=: exit codes and signals (by name) that are never restarted. */
  preventExitStatus: ReadonlySet<number | string>;
  /** TimeoutStopSec=, in milliseconds: how long a stop may take before the service is killed. */
  stopTimeoutMs: number;
}

/** Signals systemd counts as a clean end (systemd.service(5), "SuccessExitStatus="). */
const CLEAN_SIGNALS: ReadonlySet<NodeJS.Signals> = new Set(['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGPIPE']);

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
/** systemd.time(7)'s units up to hours (a bare number is seconds here). */
const TIME_UNITS_MS: Record<string, number> = {
  '': SECOND,
  us: 0.001,
  usec: 0.001,
  ms: 1,
  msec: 1,
  s: SECOND,
  sec: SECOND,
  second: SECOND,
  seconds: SECOND,
  m: MINUTE,
  min: MINUTE,
  minute: MINUTE,
  minutes: MINUTE,
  h: HOUR,
  hr: HOUR,
  hour: HOUR,
  hours: HOUR,
};

/** A systemd time span such as `2s`, `500ms`, `1min 30s`, `1min30s` or a bare number of seconds. */
export function parseTimeSpanMs(text: string): number {
  const spans = /^\s*(?:\d+(?:\.\d+)?\s*[a-z]*\s*)+$/.test(text)
    ? [...text.matchAll(/(\d+(?:\.\d+)?)\s*([a-z]*)/g)]
    : [];
  const factors = spans.map((span) => TIME_UNITS_MS[span[2] ?? '']);
  if (spans.length === 0 || factors.includes(undefined))
    throw new Error(`not a time span systemd takes here: ${text}`);
  return spans.reduce((total, span, i) => total + Number(span[1]) * (factors[i] ?? 0), 0);
}

/** The [Service] section's restart settings; systemd's defaults for those not given. */
export function readRestartPolicy(unit: string): RestartPolicy {
  const policy: RestartPolicy = {
    restart: 'no',
    delayMs: 100,
    preventExitStatus: new Set(),
    stopTimeoutMs: 90_000,
  };
  let section = '';
  for (const raw of unit.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || line === '') continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1] ?? '';
      continue;
    }
    if (section !== 'Service') continue;
    const [key, value = ''] = line.split(/=(.*)/s);
    if (key === 'Restart') {
      if (value !== 'no' && value !== 'on-failure' && value !== 'always') {
        throw new Error(`Restart=${value} is not played by the dev loop`);
      }
      policy.restart = value;
    } else if (key === 'RestartSec') policy.delayMs = parseTimeSpanMs(value);
    else if (key === 'TimeoutStopSec') policy.stopTimeoutMs = parseTimeSpanMs(value);
    else if (key === 'RestartPreventExitStatus') {
      policy.preventExitStatus = new Set(value.split(/\s+/).filter(Boolean).map(exitStatus));
    }
  }
  return policy;
}

/** `policy` with TimeoutStopSec= replaced by `timeSpan` (a systemd time span), when one is given. */
export function withStopTimeout(policy: RestartPolicy, timeSpan: string | undefined): RestartPolicy {
  return timeSpan === undefined ? policy : { ...policy, stopTimeoutMs: parseTimeSpanMs(timeSpan) };
}

/** One entry of RestartPreventExitStatus=: an exit code, or a signal by name. */
function exitStatus(word: string): number | string {
  if (/^\d+$/.test(word)) return Number(word);
  if (/^SIG[A-Z0-9]+$/.test(word)) return word;
  throw new Error(
    `RestartPreventExitStatus=${word} is not played by the dev loop (exit codes and signals only)`,
  );
}

/** Whether systemd starts the service again after it ended with `code`, or by `signal`. */
export function restartsAfter(
  policy: RestartPolicy,
  code: number | null,
  signal: NodeJS.Signals | null,
): boolean {
  if (code !== null && policy.preventExitStatus.has(code)) return false;
  if (signal !== null && policy.preventExitStatus.has(signal)) return false;
  if (policy.restart === 'always') return true;
  if (policy.restart === 'no') return false;
  return signal !== null ? !CLEAN_SIGNALS.has(signal) : code !== 0;
}
