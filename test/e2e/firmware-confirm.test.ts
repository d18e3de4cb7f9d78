import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIRMWARE_VERSION } from '../../src/version.js';
import { CP_ID, useHarness } from '../support/harness.js';

/**
 * A confirmation hook that records when it ran (ms since the epoch, one line per run) and its
 * arguments (`<dir>/confirm.args`), and exits
 * with the status named in `<dir>/confirm-status` (0 when that file is absent).
 */
function recordingHook(dir: string): { argv: string[]; runs: () => number[] } {
  const script = join(dir, 'confirm.sh');
  const log = join(dir, 'confirm.log');
  writeFileSync(
    script,
    `#!/bin/sh\ndate +%s%3N >> '${log}'\necho "$*" > '${dir}/confirm.args'\nexit "$(cat '${dir}/confirm-status' 2>/dev/null || echo 0)"\n`,
  );
  chmodSync(script, 0o755);
  const runs = () => {
    try {
      return readFileSync(log, 'utf8').trim().split('\n').map(Number);
    } catch {
      return [];
    }
  };
  return { argv: [script, 'release'], runs };
}

describe('firmware.confirm: a release on trial confirms itself once registered', () => {
  const start = useHarness();

  it('runs the hook once the BootNotification is Accepted, not while Pending', async () => {
    const h = await start({
      csms: {
        rules: {
          boot: (_req, count) =>
            count === 1 ? { status: 'Pending', interval: 1 } : { status: 'Accepted', interval: 300 },
        },
      },
      deferStart: true,
    });
    const hook = recordingHook(h.stateDir);
    h.config = { ...h.config, firmware: { ...h.config.firmware, confirm: hook.argv } };
    await h.startRuntime();

    const confirmed = await h.sink.waitFor((line) => line.msg === 'firmware confirmed');
    expect(confirmed.hook).toEqual(hook.argv);
    // The version this run reports is the one to confirm.
    expect(readFileSync(join(h.stateDir, 'confirm.args'), 'utf8')).toBe(`release ${FIRMWARE_VERSION}\n`);
    const accepted = await h.csms.waitForCall(CP_ID, 'BootNotification', {
      since: (await h.csms.waitForCall(CP_ID, 'BootNotification')).record.seq,
    });
    const runs = hook.runs();
    expect(runs).toHaveLength(1);
    expect(runs[0]).toBeGreaterThanOrEqual(accepted.record.at);
  });

  it('tries a failed confirmation again at the next acceptance, and a confirmed one never again', async () => {
    const h = await start({ deferStart: true });
    const hook = recordingHook(h.stateDir);
    writeFileSync(join(h.stateDir, 'confirm-status'), '3');
    h.config = { ...h.config, firmware: { ...h.config.firmware, confirm: hook.argv } };
    await h.startRuntime();
    const failed = await h.sink.waitFor((line) => line.msg === 'firmware confirmation hook failed');
    expect(failed.exitCode).toBe(3);
    expect(h.sink.find((line) => line.msg === 'firmware confirmed')).toBeUndefined();

    writeFileSync(join(h.stateDir, 'confirm-status'), '0');
    // A reconnect is an acceptance too (registration stays Accepted): statuses are reported again.
    await (await h.restartCsms()).waitForCall(CP_ID, 'StatusNotification');
    await h.sink.waitFor((line) => line.msg === 'firmware confirmed');
    expect(hook.runs()).toHaveLength(2);

    // Confirmed: a later acceptance (another reconnect) leaves the hook alone. The statuses and the
    // heartbeat after it show the accepted handlers have all run.
    const csms = await h.restartCsms();
    await csms.waitForCall(CP_ID, 'StatusNotification');
    expect(await csms.call(CP_ID, 'TriggerMessage', { requestedMessage: 'Heartbeat' })).toEqual({
      status: 'Accepted',
    });
    await csms.waitForCall(CP_ID, 'Heartbeat');
    expect(hook.runs()).toHaveLength(2);
    expect(h.sink.count((line) => line.msg === 'firmware confirmed')).toBe(1);
  });
});
