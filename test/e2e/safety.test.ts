/**
 * Safety under faults. Outputs come up safe: a killed run leaves its sysfs GPIO lines exported and
 * driven (a contactor closed, a DC cabinet's charge permission on); the next run drives them to
 * their safe level before anything else, the store included, and leaves them there when its start
 * fails. A failed connector lock does not keep its connector Faulted once it works again, and a
 * card never goes past a faulted connector unlogged.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BoardConfigurationError } from '../../hal/types.js';
import { crashHandler } from '../../src/daemon.js';
import { Runtime } from '../../src/runtime.js';
import { charging } from '../support/charging.js';
import { DaemonProcess, standaloneConfig } from '../support/daemon-process.js';
import { FakeSysfs } from '../support/fake-gpio.js';
import { CP_ID, Harness, useHarness } from '../support/harness.js';
import { watchUnlocks } from '../support/watch-unlocks.js';

/** What the runtime's store sees when it is opened; a failure a test injects there. */
const storeOpen = vi.hoisted(() => ({
  probe: undefined as (() => number[]) | undefined,
  seen: [] as number[][],
  fail: undefined as Error | undefined,
}));

vi.mock('../../src/store/index.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/store/index.js')>();
  return {
    ...actual,
    openStore: (...args: Parameters<typeof actual.openStore>) => {
      if (storeOpen.probe) storeOpen.seen.push(storeOpen.probe());
      if (storeOpen.fail) throw storeOpen.fail;
      return actual.openStore(...args);
    },
  };
});

const CHIP = 'pinctrl-bcm2711';
const BASE = 512;
const RELAY = BASE + 17;
const ENABLE = BASE + 25;
const ESTOP = BASE + 4;
const NO_MEASURANDS = {
  MeterValuesSampledData: '',
  MeterValuesAlignedData: '',
  StopTxnSampledData: '',
  StopTxnAlignedData: '',
};
const line = (sysfsNumber: number) => ({ chip: CHIP, offset: sysfsNumber - BASE });

describe('outputs come up safe', () => {
  let dir: string;
  let sysfs: FakeSysfs;
  let boardFile: string;
  let harness: Harness | undefined;

  /** The lines as a killed run left them: exported as outputs, driven active. */
  function leftLive(sysfsNumber: number): void {
    writeFileSync(join(sysfs.gpioDir, `gpio${sysfsNumber}`, 'direction'), 'out\n');
    sysfs.drive(sysfsNumber, 1);
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cp-safe-'));
    sysfs = new FakeSysfs(join(dir, 'sys')).chip(CHIP, BASE, 58);
    leftLive(RELAY);
    leftLive(ENABLE);
    boardFile = join(dir, 'board.json');
    writeFileSync(
      boardFile,
      JSON.stringify({
        name: 'dc-bench',
        kind: 'hardware',
        sysfsRoot: sysfs.root,
        connectors: [
          {
            id: 1,
            fixedCable: true,
            maxCurrentA: 125,
            phases: 1,
            relay: { driver: 'gpio', line: line(RELAY) },
            pilot: {
              driver: 'gpio',
              connected: { line: line(BASE + 22) },
              ready: { line: line(BASE + 23) },
              enable: { line: line(ENABLE) },
            },
          },
        ],
        faultInputs: [{ driver: 'gpio', kind: 'emergencyStop', line: line(ESTOP) }],
      }),
    );
    storeOpen.probe = () => [sysfs.level(RELAY), sysfs.level(ENABLE)];
  });

  afterEach(async () => {
    storeOpen.probe = undefined;
    storeOpen.seen = [];
    storeOpen.fail = undefined;
    await harness?.stop();
    harness = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function startRuntime(): Promise<Runtime> {
    harness = await Harness.create({
      deferStart: true,
      config: () => ({ board: boardFile }),
      // The bench has no meter: no measurand may be asked for.
      ocpp: NO_MEASURANDS,
    });
    return Runtime.start({ config: harness.config, log: harness.log });
  }

  it('contactor open and charge permission off before the store is opened', async () => {
    const runtime = await startRuntime();
    harness!.runtime = runtime;
    expect(storeOpen.seen).toEqual([[0, 0]]);
    expect(runtime.board.connectors[0]?.devices.relay.isClosed()).toBe(false);
  });

  it('a store that cannot be opened fails the start with the outputs safe', async () => {
    storeOpen.fail = new Error('SQLITE_IOERR: disk I/O error');
    await expect(startRuntime()).rejects.toThrow('SQLITE_IOERR');
    expect([sysfs.level(RELAY), sysfs.level(ENABLE)]).toEqual([0, 0]);
  });

  it('a board that cannot start (an unopenable fault input) fails the start with the outputs safe', async () => {
    // The emergency stop starts first; its line has no direction attribute, as a wrong line would.
    rmSync(join(sysfs.gpioDir, `gpio${ESTOP}`, 'direction'));
    await expect(startRuntime()).rejects.toThrow(BoardConfigurationError);
    expect([sysfs.level(RELAY), sysfs.level(ENABLE)]).toEqual([0, 0]);
  });

  it('a crash drives the outputs safe before the daemon exits 70', async () => {
    const runtime = await startRuntime();
    harness!.runtime = runtime;
    // Live outputs as in a session: the contactor closed and a current offered (an idle pilot offers none).
    await runtime.board.connectors[0]?.devices.pilot.setCurrentLimit(32);
    await runtime.board.connectors[0]?.devices.relay.set(true);
    expect([sysfs.level(RELAY), sysfs.level(ENABLE)]).toEqual([1, 1]);
    const exits: number[] = [];
    crashHandler(runtime.board, harness!.log, (code) => exits.push(code))(new Error('boom'));
    expect(exits).toEqual([70]);
    expect([sysfs.level(RELAY), sysfs.level(ENABLE)]).toEqual([0, 0]);
    expect(harness!.sink.find((l) => l.level === 'fatal' && l.msg === 'crashed')).toBeDefined();
  });

  it('a crash writes the frames still waiting for a quiet moment into the trace', async () => {
    const runtime = await startRuntime();
    harness!.runtime = runtime;
    await harness!.csms.waitForCall(CP_ID, 'StatusNotification', {
      where: (p: { connectorId: number }) => p.connectorId === 1,
    });
    // Answered, then the crash at once: the exchange's frames still wait to be written.
    await harness!.csms.call(CP_ID, 'GetConfiguration', { key: ['HeartbeatInterval'] });
    const exits: number[] = [];
    crashHandler(runtime.board, harness!.log, (code) => exits.push(code), runtime.trace)(new Error('boom'));
    expect(exits).toEqual([70]);
    const db = new Database(runtime.store.path, { readonly: true });
    try {
      const rows = db
        .prepare("SELECT direction FROM ocpp_trace WHERE action = 'GetConfiguration' ORDER BY seq")
        .all() as Array<{ direction: string }>;
      expect(rows.map((r) => r.direction)).toEqual(['in', 'out']);
    } finally {
      db.close();
    }
  });

  it('chargepointd with a bad configuration exits 78 and leaves the contactor open', async () => {
    mkdirSync(join(dir, 'state'));
    const daemon = DaemonProcess.withConfig(
      dir,
      standaloneConfig(dir, 'CP-SAFE-01', { board: boardFile, ocpp: { NoSuchKey: 1 } }),
    );
    expect(await daemon.exitCode()).toBe(78);
    // The configuration check names the key (in its message and its list of problems).
    expect(JSON.stringify(daemon.lines.find((l) => l.level === 'fatal'))).toContain('NoSuchKey');
    expect([sysfs.level(RELAY), sysfs.level(ENABLE)]).toEqual([0, 0]);
  });
});

describe('faulted connectors on the simulated board', () => {
  const start = useHarness();
  const TAG = 'VALID01';

  it('a ConnectorLockFailure clears when the cable is taken and the lock works again', async () => {
    const h = await start();
    await h.booted();
    h.board.lockFail(1, true);
    let mark = h.csms.mark();
    await h.csms.call(CP_ID, 'RemoteStartTransaction', { connectorId: 1, idTag: TAG });
    h.board.plug(1);
    expect((await h.status(1, 'Faulted', mark)).errorCode).toBe('ConnectorLockFailure');
    h.board.lockFail(1, false);
    mark = h.csms.mark();
    h.board.unplug(1);
    expect((await h.status(1, 'Available', mark)).errorCode).toBe('NoError');
    expect(h.csms.calls(CP_ID, 'StartTransaction')).toEqual([]);
    expect(h.sink.find((l) => l.msg === 'connector lock works again' && l.connectorId === 1)).toBeDefined();
  });

  it('a contactor whose open failed as the session ended opens once its output works, with no other event', async () => {
    const h = await start();
    await h.booted();
    const transactionId = await charging(h, TAG, 1);
    const relay = h.board.connector(1)?.devices.relay;
    h.board.relayOutputFails(1, true);
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'RemoteStopTransaction', { transactionId });
    await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    expect(await h.status(1, 'Faulted', mark)).toMatchObject({
      errorCode: 'PowerSwitchFailure',
      info: 'relay output write failed',
    });
    expect(relay?.isClosed()).toBe(true);
    // The output works again; nothing else happens (no cable, card or central-system call).
    h.board.relayOutputFails(1, false);
    await h.status(1, 'Finishing', mark);
    expect(relay?.isClosed()).toBe(false);
    expect(h.sink.count((l) => l.msg === 'contactor open failed: retrying until it opens')).toBe(1);
  });

  it('a stop whose contactor open fails keeps the cable locked (UnlockConnector: UnlockFailed); once the output works the contactor opens, then the lock releases', async () => {
    const h = await start();
    await h.booted();
    const transactionId = await charging(h, TAG, 1);
    const { devices, lock } = h.board.connector(1)!;
    h.board.relayOutputFails(1, true);
    const order: string[] = [];
    devices.relay.on('change', (closed) => order.push(closed ? 'contactor closed' : 'contactor opened'));
    const { released } = watchUnlocks(lock!, () => order.push('cable unlocked'));
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'RemoteStopTransaction', { transactionId });
    await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    await h.status(1, 'Faulted', mark);
    expect([devices.relay.isClosed(), lock!.isLocked()]).toEqual([true, true]);
    // The cable may be live: the central system cannot have it released either.
    expect(await h.csms.call(CP_ID, 'UnlockConnector', { connectorId: 1 })).toEqual({
      status: 'UnlockFailed',
    });
    expect(lock!.isLocked()).toBe(true);
    h.board.relayOutputFails(1, false);
    await released;
    expect(order).toEqual(['contactor opened', 'cable unlocked']);
    expect([devices.relay.isClosed(), lock!.isLocked()]).toEqual([false, false]);
  });

  it('a contactor whose close failed is commanded open until its output works: the fault clears, no session starts again', async () => {
    const h = await start();
    await h.booted();
    const { devices, lock } = h.board.connector(1)!;
    h.board.relayOutputFails(1, true);
    let mark = h.csms.mark();
    h.board.plug(1);
    await h.status(1, 'Preparing', mark);
    h.board.swipe(TAG);
    await h.csms.waitForCall(CP_ID, 'StartTransaction', { since: mark });
    // The close fails: the relay reports PowerSwitchFailure, which ends the transaction.
    const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    expect(stop.payload).toMatchObject({ reason: 'Other' });
    expect(await h.status(1, 'Faulted', mark)).toMatchObject({
      errorCode: 'PowerSwitchFailure',
      info: 'relay output write failed',
    });
    // Its state unknown, the contactor is not known open: the cable stays locked.
    expect(lock!.isLocked()).toBe(true);
    // The output is repaired; nothing else happens (no cable, card or central-system call).
    mark = h.csms.mark();
    h.board.relayOutputFails(1, false);
    expect((await h.status(1, 'Finishing', mark)).errorCode).toBe('NoError');
    mark = h.csms.mark();
    h.board.unplug(1);
    await h.status(1, 'Available', mark);
    expect(h.csms.calls(CP_ID, 'StartTransaction')).toHaveLength(1);
    expect([devices.relay.isClosed(), lock!.isLocked()]).toEqual([false, false]);
    expect(
      h.sink.count((l) => l.msg === 'contactor close failed: commanding it open until its output answers'),
    ).toBe(1);
  });

  it('a session that ends with the contact welded is Faulted and keeps the cable locked (UnlockConnector: UnlockFailed); the contact opens, the cable is released', async () => {
    const h = await start();
    await h.booted();
    // The contact closes with the session's contactor and stays closed when it is commanded open.
    h.board.relayContact(1, 'welds-on-close');
    const transactionId = await charging(h, TAG, 1);
    const { devices, lock } = h.board.connector(1)!;
    const { released } = watchUnlocks(lock!);
    let mark = h.csms.mark();
    await h.csms.call(CP_ID, 'RemoteStopTransaction', { transactionId });
    await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    expect(await h.status(1, 'Faulted', mark)).toMatchObject({
      errorCode: 'PowerSwitchFailure',
      info: 'contactor welded',
    });
    // Commanded open, the contact closed: the conductors are live, the cable stays in.
    expect([devices.relay.isClosed(), devices.relay.feedback(), lock!.isLocked()]).toEqual([
      false,
      true,
      true,
    ]);
    expect(await h.csms.call(CP_ID, 'UnlockConnector', { connectorId: 1 })).toEqual({
      status: 'UnlockFailed',
    });
    expect(lock!.isLocked()).toBe(true);
    // The weld clears; nothing else happens (no cable, card or central-system call).
    mark = h.csms.mark();
    h.board.relayContact(1, 'follows');
    await released;
    expect((await h.status(1, 'Finishing', mark)).errorCode).toBe('NoError');
    expect([devices.relay.feedback(), lock!.isLocked()]).toEqual([false, false]);
    expect(h.csms.calls(CP_ID, 'StartTransaction')).toHaveLength(1);
  });

  it('a card at a reader whose other connector is faulted goes to the free one, with a log line', async () => {
    const h = await start();
    await h.booted();
    let mark = h.csms.mark();
    h.board.fault(1, 'GroundFailure');
    await h.status(1, 'Faulted', mark);
    mark = h.csms.mark();
    h.board.swipe(TAG);
    await h.status(2, 'Preparing', mark);
    const line = h.sink.find((l) => l.level === 'warn' && l.idTag === TAG && Array.isArray(l.faulted));
    expect(line).toMatchObject({
      faulted: [1],
      connectorIds: [2],
      msg: 'card presented while connector 1 is faulted: offered to connector 2',
    });
  });
});
