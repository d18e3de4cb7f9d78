import { describe, expect, it } from 'vitest';
import { energyOf, type MeterValuesReq, type StopReq } from '../support/charging.js';
import { chargeOnConnector1, cutPowerAndRestart, useDaemonEnv } from '../support/daemon-process.js';

const CP = 'CP-POWER-01';
const TAG = 'POWERTAG';

describe('TC_032_2_CS power failure without backup power: the transaction is stopped after the boot', () => {
  const env = useDaemonEnv('cp-power-', CP);
  const config = () =>
    env().daemonConfig({
      ocpp: { MeterValueSampleInterval: 1, HeartbeatInterval: 3600, WebSocketPingInterval: 0 },
    });

  it('SIGKILL while charging; the restart boots, reports every connector and sends StopTransaction PowerLoss at the last persisted meter value', async () => {
    const { csms } = env();
    const first = env().spawn(config());
    const { start, transactionId } = await chargeOnConnector1(env(), TAG);
    expect(start.payload).toMatchObject({ connectorId: 1, idTag: TAG });

    const { daemon, mark } = await cutPowerAndRestart(env(), first, config());
    const boot = await csms.waitForCall(CP, 'BootNotification', { since: mark });
    for (const connectorId of [0, 1, 2]) {
      const status = await csms.waitForCall(CP, 'StatusNotification', {
        since: mark,
        where: (p: { connectorId: number }) => p.connectorId === connectorId,
      });
      expect(status.record.seq).toBeGreaterThan(boot.record.seq);
    }
    const stop = await csms.waitForCall(CP, 'StopTransaction', { since: mark });
    const stopReq = stop.payload as StopReq;
    expect(stopReq).toMatchObject({ transactionId, reason: 'PowerLoss' });
    expect(stop.record.seq).toBeGreaterThan(boot.record.seq);
    expect(daemon.lines.some((l) => l.msg === 'transaction ended by power loss')).toBe(true);

    // Every sample was persisted with its MeterValues in one SQL transaction, so the last MeterValues
    // of this transaction (some perhaps only sent after the restart) carries the last persisted reading.
    const samples = csms
      .calls(CP, 'MeterValues')
      .map((c) => c.payload as MeterValuesReq)
      .filter((p) => p.transactionId === transactionId);
    expect(samples.length).toBeGreaterThan(0);
    const lastSent = energyOf(samples.at(-1)!);
    expect(stopReq.meterStop).toBe(lastSent);
    expect(stopReq.meterStop).toBeGreaterThanOrEqual(start.payload.meterStart);
    expect(csms.calls(CP, 'StopTransaction')).toHaveLength(1);
    expect(csms.calls(CP, 'StartTransaction')).toHaveLength(1);
  });
});
