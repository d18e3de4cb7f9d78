import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { request } from '../../src/cli/client.js';
import { DevCsms } from '../csms/server.js';
import {
  answered,
  energyOf,
  type MeterValuesReq,
  type StartReq,
  type StopReq,
  transactionIdOf,
} from '../support/charging.js';
import { DaemonProcess } from '../support/daemon-process.js';

const CP = 'CP-POWER-01';
const TAG = 'POWERTAG';

describe('TC_032_2_CS power failure without backup power: the transaction is stopped after the boot', () => {
  let dir: string;
  let csms: DevCsms;
  let url: string;
  let daemon: DaemonProcess | undefined;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cp-power-'));
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

  const socket = () => join(dir, 'cpctl.sock');
  const config = () => ({
    chargePointId: CP,
    identity: { vendor: 'V', model: 'M' },
    csms: { url, reconnect: { initialSeconds: 0.05, maxSeconds: 0.5 } },
    stateDir: join(dir, 'state'),
    cli: { socket: socket() },
    ocpp: { MeterValueSampleInterval: 1, HeartbeatInterval: 3600, WebSocketPingInterval: 0 },
  });

  it('SIGKILL while charging; the restart boots, reports every connector and sends StopTransaction PowerLoss at the last persisted meter value', async () => {
    daemon = DaemonProcess.withConfig(dir, config());
    await csms.waitForCall(CP, 'StatusNotification', {
      where: (p: { connectorId: number }) => p.connectorId === 2,
    });
    await request(socket(), 'sim.plug', { connectorId: 1 });
    await request(socket(), 'sim.swipe', { idTag: TAG });
    const start = await csms.waitForCall(CP, 'StartTransaction');
    expect(start.payload).toMatchObject({ connectorId: 1, idTag: TAG });
    await answered(csms, start.id, CP);
    const transactionId = transactionIdOf(csms, start.id, CP);
    await csms.waitForCall(CP, 'MeterValues', {
      where: (p: MeterValuesReq) => p.transactionId === transactionId && energyOf(p) > 0,
    });

    daemon.child.kill('SIGKILL');
    await daemon.exitCode();
    await csms.waitForDisconnect(CP);
    const mark = csms.mark();
    daemon = DaemonProcess.withConfig(dir, config());

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
    expect(stopReq.meterStop).toBeGreaterThanOrEqual((start.payload as StartReq).meterStart);
    expect(csms.calls(CP, 'StopTransaction')).toHaveLength(1);
    expect(csms.calls(CP, 'StartTransaction')).toHaveLength(1);
  });
});
