import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DevCsms } from '../csms/server.js';
import { DaemonProcess } from '../support/daemon-process.js';

const CP = 'CP-MSD-01';

describe('MinimumStatusDuration in the provisioning file', () => {
  let dir: string;
  let csms: DevCsms;
  let url: string;
  let daemon: DaemonProcess | undefined;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cp-msd-'));
    csms = new DevCsms();
    ({ url } = await csms.start());
  });
  afterEach(async () => {
    if (daemon && daemon.child.exitCode === null) daemon.child.kill('SIGKILL');
    await daemon?.exitCode();
    daemon = undefined;
    await csms.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts the daemon; GetConfiguration reports the value and ChangeConfiguration takes a new one', async () => {
    daemon = DaemonProcess.withConfig(dir, {
      chargePointId: CP,
      identity: { vendor: 'V', model: 'M' },
      csms: { url, reconnect: { initialSeconds: 0.05, maxSeconds: 0.5 } },
      stateDir: join(dir, 'state'),
      cli: { socket: join(dir, 'cpctl.sock') },
      ocpp: { MinimumStatusDuration: '5' },
    });
    // The boot report gives every connector at once, whatever MinimumStatusDuration says.
    for (const connectorId of [0, 1, 2])
      await csms.waitForCall(CP, 'StatusNotification', {
        where: (p: { connectorId: number }) => p.connectorId === connectorId,
      });
    type Conf = { configurationKey: Array<{ key: string; readonly: boolean; value?: string }> };
    const get = () => csms.call<Conf>(CP, 'GetConfiguration', { key: ['MinimumStatusDuration'] });
    expect((await get()).configurationKey).toEqual([
      { key: 'MinimumStatusDuration', readonly: false, value: '5' },
    ]);
    expect(await csms.call(CP, 'ChangeConfiguration', { key: 'MinimumStatusDuration', value: '0' })).toEqual({
      status: 'Accepted',
    });
    expect((await get()).configurationKey[0]?.value).toBe('0');
  });
});
