import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  parseTimeSpanMs,
  readRestartPolicy,
  restartsAfter,
  withStopTimeout,
} from '../../scripts/systemd-restart.js';
import { EXIT } from '../../src/daemon.js';

// The rule `npm run dev` restarts the daemon by, read from the unit systemd runs it with.

const UNIT = readFileSync(
  fileURLToPath(new URL('../../systemd/chargepoint.service', import.meta.url)),
  'utf8',
);

describe('the restart rule of systemd/chargepoint.service, as npm run dev plays it', () => {
  const policy = readRestartPolicy(UNIT);

  it('reads Restart=on-failure, RestartSec=2s, the exit codes never restarted and TimeoutStopSec=20s', () => {
    expect(policy).toEqual({
      restart: 'on-failure',
      delayMs: 2000,
      preventExitStatus: new Set([64, 78]),
      stopTimeoutMs: 20_000,
    });
  });

  it('restarts after a reset, a firmware install and a crash; not after a stop, a usage or a configuration error', () => {
    expect(restartsAfter(policy, EXIT.softReset, null)).toBe(true);
    expect(restartsAfter(policy, EXIT.hardReset, null)).toBe(true);
    expect(restartsAfter(policy, EXIT.internalError, null)).toBe(true);
    expect(restartsAfter(policy, 1, null)).toBe(true);
    expect(restartsAfter(policy, null, 'SIGKILL')).toBe(true);
    expect(restartsAfter(policy, null, 'SIGABRT')).toBe(true);
    expect(restartsAfter(policy, EXIT.stopped, null)).toBe(false);
    expect(restartsAfter(policy, null, 'SIGTERM')).toBe(false);
    expect(restartsAfter(policy, null, 'SIGINT')).toBe(false);
    expect(restartsAfter(policy, EXIT.usage, null)).toBe(false);
    expect(restartsAfter(policy, EXIT.config, null)).toBe(false);
  });

  it("takes systemd's defaults and its other Restart= values", () => {
    expect(readRestartPolicy('[Service]\nExecStart=/bin/true\n')).toEqual({
      restart: 'no',
      delayMs: 100,
      preventExitStatus: new Set(),
      stopTimeoutMs: 90_000,
    });
    const always = readRestartPolicy('[Unit]\nRestart=no\n[Service]\nRestart=always\nRestartSec=1min 30s\n');
    expect(always).toMatchObject({ restart: 'always', delayMs: 90_000 });
    expect(restartsAfter(always, 0, null)).toBe(true);
    expect(() => readRestartPolicy('[Service]\nRestart=on-watchdog\n')).toThrow(/Restart=on-watchdog/);
    // RestartPreventExitStatus= takes signal names too (systemd.service(5)).
    const signals = readRestartPolicy('[Service]\nRestart=on-failure\nRestartPreventExitStatus=78 SIGKILL\n');
    expect(restartsAfter(signals, null, 'SIGKILL')).toBe(false);
    expect(restartsAfter(signals, null, 'SIGABRT')).toBe(true);
    expect(restartsAfter(signals, 78, null)).toBe(false);
    expect(() => readRestartPolicy('[Service]\nRestartPreventExitStatus=EXIT_FAILURE\n')).toThrow(
      /EXIT_FAILURE/,
    );
  });

  it('takes a TimeoutStopSec= override (DEV_TIMEOUT_STOP_SEC) as a time span, keeping the rest of the rule', () => {
    expect(withStopTimeout(policy, '1500ms')).toEqual({ ...policy, stopTimeoutMs: 1500 });
    expect(withStopTimeout(policy, undefined)).toBe(policy);
    expect(() => withStopTimeout(policy, 'soon')).toThrow(/soon/);
  });

  it('parses systemd time spans', () => {
    expect(parseTimeSpanMs('2s')).toBe(2000);
    expect(parseTimeSpanMs('500ms')).toBe(500);
    expect(parseTimeSpanMs('3')).toBe(3000);
    expect(parseTimeSpanMs('1min 30s')).toBe(90_000);
    // systemd.time(7) also takes units run together, spelled out, and hours.
    expect(parseTimeSpanMs('1min30s')).toBe(90_000);
    expect(parseTimeSpanMs('2 minutes')).toBe(120_000);
    expect(parseTimeSpanMs('1h 1.5s')).toBe(3_601_500);
    expect(() => parseTimeSpanMs('soon')).toThrow(/soon/);
  });
});
