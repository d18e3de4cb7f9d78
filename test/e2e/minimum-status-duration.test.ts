import { describe, expect, it } from 'vitest';
import { useDaemonEnv } from '../support/daemon-process.js';

const CP = 'CP-MSD-01';

describe('MinimumStatusDuration in the provisioning file', () => {
  const env = useDaemonEnv('cp-msd-', CP);

  it('starts the daemon; GetConfiguration reports the value and ChangeConfiguration takes a new one', async () => {
    const { csms } = env();
    env().spawn(env().daemonConfig({ ocpp: { MinimumStatusDuration: '5' } }));
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
