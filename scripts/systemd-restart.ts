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
  /** RestartPreventExitStatus=: exit codes that are never restarted. */
  preventExitStatus: ReadonlySet<number>;
  /** TimeoutStopSec=, in milliseconds: how long a stop may take before the service is killed. */
  stopTimeoutMs: number;
}

/** Signals systemd counts as a clean end (systemd.service(5), "SuccessExitStatus="). */
const CLEAN_SIGNALS: ReadonlySet<NodeJS.Signals> = new Set(['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGPIPE']);

const TIME_UNITS_MS: Record<string, number> = { '': 1000, ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000 };

/** A systemd time span such as `2s`, `500ms`, `1min 30s` or a bare number of seconds. */
export function parseTimeSpanMs(text: string): number {
  let total = 0;
  const parts = text.trim().split(/\s+/);
  for (const part of parts) {
    const match = /^(\d+(?:\.\d+)?)([a-z]*)$/.exec(part);
    const factor = match ? TIME_UNITS_MS[match[2] ?? ''] : undefined;
    if (!match || factor === undefined) throw new Error(`not a time span systemd takes here: ${text}`);
    total += Number(match[1]) * factor;
  }
  return total;
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
      policy.preventExitStatus = new Set(value.split(/\s+/).filter(Boolean).map(Number));
    }
  }
  return policy;
}

/** `policy` with TimeoutStopSec= replaced by `timeSpan` (a systemd time span), when one is given. */
export function withStopTimeout(policy: RestartPolicy, timeSpan: string | undefined): RestartPolicy {
  return timeSpan === undefined ? policy : { ...policy, stopTimeoutMs: parseTimeSpanMs(timeSpan) };
}

/** Whether systemd starts the service again after it ended with `code`, or by `signal`. */
export function restartsAfter(
  policy: RestartPolicy,
  code: number | null,
  signal: NodeJS.Signals | null,
): boolean {
  if (code !== null && policy.preventExitStatus.has(code)) return false;
  if (policy.restart === 'always') return true;
  if (policy.restart === 'no') return false;
  return signal !== null ? !CLEAN_SIGNALS.has(signal) : code !== 0;
}
