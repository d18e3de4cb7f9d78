import { describe, expect, it } from 'vitest';
import type { StatusReport } from '../../src/cli/api.js';
import { cpctl } from '../support/cpctl-process.js';
import { CP_ID, useHarness } from '../support/harness.js';

type Status = { connectorId: number; status: string; errorCode: string };
const on = (connectorId: number, status: string) => (p: Status) =>
  p.connectorId === connectorId && p.status === status;

describe('cpctl against the running daemon on the simulated board', () => {
  const start = useHarness();

  it('sim plug / fault / clear reach the central system as StatusNotifications, and status --json shows it', async () => {
    const h = await start();
    await h.booted();
    const socket = h.config.cli.socket;

    let mark = h.csms.mark();
    expect((await cpctl(socket, 'sim', 'plug', '1')).code).toBe(0);
    await h.csms.waitForCall(CP_ID, 'StatusNotification', { since: mark, where: on(1, 'Preparing') });

    mark = h.csms.mark();
    expect((await cpctl(socket, 'sim', 'fault', '1', 'GroundFailure')).code).toBe(0);
    const faulted = await h.csms.waitForCall(CP_ID, 'StatusNotification', {
      since: mark,
      where: on(1, 'Faulted'),
    });
    expect((faulted.payload as Status).errorCode).toBe('GroundFailure');

    const during = await cpctl(socket, 'status', '--json');
    expect(during.code).toBe(0);
    const report = JSON.parse(during.stdout) as StatusReport;
    expect(report).toMatchObject({ chargePointId: CP_ID, board: 'sim', registration: 'Accepted' });
    expect(report.link.state).toBe('open');
    expect(report.connectors[0]).toMatchObject({
      id: 1,
      status: 'Faulted',
      errorCode: 'GroundFailure',
      plugged: true,
      pilot: 'C',
      relay: { closed: false },
      faults: [{ device: 'sim', fault: 'GroundFailure' }],
    });
    expect(report.connectors[0]?.meter).toMatchObject({ energyImportWh: 0 });

    mark = h.csms.mark();
    expect((await cpctl(socket, 'sim', 'clear', '1')).code).toBe(0);
    await h.csms.waitForCall(CP_ID, 'StatusNotification', { since: mark, where: on(1, 'Preparing') });
    mark = h.csms.mark();
    expect((await cpctl(socket, 'sim', 'unplug', '1')).code).toBe(0);
    await h.csms.waitForCall(CP_ID, 'StatusNotification', { since: mark, where: on(1, 'Available') });

    // A fault on an idle connector, cleared: Available again.
    mark = h.csms.mark();
    expect((await cpctl(socket, 'sim', 'fault', '2', 'HighTemperature')).code).toBe(0);
    await h.csms.waitForCall(CP_ID, 'StatusNotification', { since: mark, where: on(2, 'Faulted') });
    mark = h.csms.mark();
    expect((await cpctl(socket, 'sim', 'clear', '2')).code).toBe(0);
    await h.csms.waitForCall(CP_ID, 'StatusNotification', { since: mark, where: on(2, 'Available') });

    const human = await cpctl(socket, 'status');
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(CP_ID);
    expect(human.stdout).toMatch(/Available/);
  });

  it('config set applies the ChangeConfiguration rules, and a local change is logged as such', async () => {
    const h = await start();
    await h.booted();
    const socket = h.config.cli.socket;
    const bad = await cpctl(socket, 'config', 'set', 'MeterValueSampleInterval', '--', '-1');
    expect(bad.code).not.toBe(0);
    expect(bad.stdout + bad.stderr).toMatch(/Rejected/);
    const unknown = await cpctl(socket, 'config', 'set', 'Testing', 'true');
    expect(unknown.stdout + unknown.stderr).toMatch(/NotSupported/);
    const good = await cpctl(socket, 'config', 'set', 'MeterValueSampleInterval', '45');
    expect(good.code).toBe(0);
    expect(h.runtime.config.get('MeterValueSampleInterval')).toBe('45');
    expect(h.sink.find((l) => l.key === 'MeterValueSampleInterval' && l.origin === 'local')).toBeDefined();
    const get = await cpctl(socket, 'config', 'get', 'MeterValueSampleInterval', '--json');
    expect(JSON.parse(get.stdout)).toMatchObject({
      configurationKey: [{ key: 'MeterValueSampleInterval', value: '45' }],
    });
  });

  it('hal diagnostics: meter read, last card, relay toggle only while idle', async () => {
    const h = await start();
    await h.booted();
    const socket = h.config.cli.socket;
    expect((await cpctl(socket, 'sim', 'swipe', 'DEADBEEF')).code).toBe(0);
    const rfid = JSON.parse((await cpctl(socket, 'hal', 'rfid', '--json')).stdout) as Array<{
      idTag?: string;
    }>;
    expect(rfid[0]?.idTag).toBe('DEADBEEF');
    const meter = JSON.parse((await cpctl(socket, 'hal', 'meter', '2', '--json')).stdout) as {
      energyImportWh: number;
    };
    expect(meter.energyImportWh).toBe(0);
    expect((await cpctl(socket, 'hal', 'relay', '2', 'close')).code).toBe(0);
    expect(h.board.connector(2)?.devices.relay.isClosed()).toBe(true);
    expect((await cpctl(socket, 'hal', 'relay', '2', 'open')).code).toBe(0);
    h.board.plug(2);
    const refused = await cpctl(socket, 'hal', 'relay', '2', 'close');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/only while it is idle/);
    expect(h.board.connector(2)?.devices.relay.isClosed()).toBe(false);
    const noConnector = await cpctl(socket, 'sim', 'plug', '9');
    expect(noConnector.code).toBe(1);
    expect(noConnector.stderr).toMatch(/no connector 9/);
  });

  it('reports a daemon that is not running', async () => {
    const result = await cpctl('/tmp/no-such-dir/cpctl.sock', 'status');
    expect(result.code).toBe(69);
    expect(result.stderr).toMatch(/not running/);
  });
});
