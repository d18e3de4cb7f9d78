import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type DaemonConfig, DaemonProcess, useDaemonEnv } from '../support/daemon-process.js';

const CP = 'CP-PROC-01';

describe('chargepointd as a process', () => {
  const env = useDaemonEnv('cp-proc-', CP);
  const config = (fields?: DaemonConfig) => env().daemonConfig(fields);

  it('exits 64 without --config and 78 on an invalid configuration, naming the field', async () => {
    expect(await DaemonProcess.spawn([]).exitCode()).toBe(64);
    const daemon = env().spawn(config({ csms: { url: env().url, securityProfile: 9 } }));
    expect(await daemon.exitCode()).toBe(78);
    expect(
      daemon.lines.some((l) => l.level === 'fatal' && String(l.msg).includes('csms.securityProfile')),
    ).toBe(true);
  });

  it('exits 78 on a board file that does not validate, naming the field', async () => {
    const boardFile = join(env().dir, 'board.json');
    writeFileSync(boardFile, JSON.stringify({ name: 'b', kind: 'sim', connectors: [{ id: 1, phases: 2 }] }));
    const daemon = env().spawn(config({ board: boardFile }));
    expect(await daemon.exitCode()).toBe(78);
    expect(daemon.lines.some((l) => String(l.err).includes('connectors.0.phases'))).toBe(true);
  });

  it('runs a board file with more connectors', async () => {
    const { csms } = env();
    const boardFile = join(env().dir, 'board.json');
    writeFileSync(
      boardFile,
      JSON.stringify({
        name: 'three',
        kind: 'sim',
        connectors: [{ id: 1 }, { id: 2 }, { id: 3, fixedCable: true }],
      }),
    );
    env().spawn(config({ board: boardFile }));
    await csms.waitForCall(CP, 'StatusNotification', {
      where: (p: { connectorId: number }) => p.connectorId === 3,
    });
    const conf = await csms.call<{ configurationKey: Array<{ value: string }> }>(CP, 'GetConfiguration', {
      key: ['NumberOfConnectors'],
    });
    expect(conf.configurationKey[0]?.value).toBe('3');
  });

  it('exits 78 on an invalid OCPP key value in the file', async () => {
    const daemon = env().spawn(config({ ocpp: { HeartbeatInterval: -3 } }));
    expect(await daemon.exitCode()).toBe(78);
    expect(daemon.lines.some((l) => String(l.err ?? l.msg).includes('HeartbeatInterval'))).toBe(true);
  });

  it('SIGTERM stops gracefully: the socket is closed cleanly and the exit code is 0', async () => {
    const { csms } = env();
    const daemon = env().spawn(config());
    await csms.waitForCall(CP, 'BootNotification');
    const closed = new Promise((resolve) => csms.once('close', resolve));
    daemon.child.kill('SIGTERM');
    expect(await daemon.exitCode()).toBe(0);
    await closed;
  });

  it('Reset Soft exits 10, Reset Hard runs the hook and exits 11', async () => {
    const { csms } = env();
    let daemon = env().spawn(config());
    await csms.waitForCall(CP, 'StatusNotification', {
      where: (p: { connectorId: number }) => p.connectorId === 2,
    });
    expect(await csms.call(CP, 'Reset', { type: 'Soft' })).toEqual({ status: 'Accepted' });
    expect(await daemon.exitCode()).toBe(10);

    const marker = join(env().dir, 'rebooted');
    const mark = csms.mark();
    daemon = env().spawn(config({ reset: { hardResetCommand: ['touch', marker] } }));
    await csms.waitForCall(CP, 'StatusNotification', {
      since: mark,
      where: (p: { connectorId: number }) => p.connectorId === 2,
    });
    expect(await csms.call(CP, 'Reset', { type: 'Hard' })).toEqual({ status: 'Accepted' });
    expect(await daemon.exitCode()).toBe(11);
    expect(existsSync(marker)).toBe(true);
  });

  it('a corrupt database is moved aside and the daemon boots on provisioning defaults', async () => {
    const { csms, stateDir } = env();
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(join(stateDir, 'chargepoint.db'), 'this is not a database at all'.repeat(100));
    const daemon = env().spawn(config({ ocpp: { MeterValueSampleInterval: 42 } }));
    await csms.waitForCall(CP, 'BootNotification');
    const conf = await csms.call<{ configurationKey: Array<{ value: string }> }>(CP, 'GetConfiguration', {
      key: ['MeterValueSampleInterval'],
    });
    expect(conf.configurationKey[0]?.value).toBe('42');
    expect(readdirSync(stateDir).some((f) => f.startsWith('chargepoint.db.corrupt-'))).toBe(true);
    expect(daemon.lines.some((l) => l.level === 'error' && 'movedTo' in l)).toBe(true);
  });
});
