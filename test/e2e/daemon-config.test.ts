import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonProcess, standaloneConfig } from '../support/daemon-process.js';

describe('chargepointd refuses impossible security settings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cp-proc-'));
  let daemon: DaemonProcess | undefined;
  afterEach(() => {
    // Before the fix it ran on, retrying a connection that could never succeed.
    if (daemon && daemon.child.exitCode === null) daemon.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('a missing CA bundle on profile 2 exits 78 naming csms.caFile, before anything runs', async () => {
    daemon = DaemonProcess.withConfig(
      dir,
      standaloneConfig(dir, 'CP-PROC-02', {
        csms: { url: 'wss://127.0.0.1:1/ocpp', securityProfile: 2, caFile: join(dir, 'no-such-ca.pem') },
        ocpp: { AuthorizationKey: 'ABCDEF0123456789abcdef' },
      }),
    );
    expect(await daemon.exitCode()).toBe(78);
    expect(
      daemon.lines.some(
        (l) => l.level === 'fatal' && String(l.msg).startsWith('invalid configuration: csms.caFile:'),
      ),
    ).toBe(true);
    expect(daemon.lines.some((l) => l.msg === 'connecting to central system')).toBe(false);
  });
});
