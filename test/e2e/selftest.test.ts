/**
 * `cpctl selftest` (issue 13) as a technician runs it: cpctl as a process against the running
 * runtime on the simulated board, whose devices are made to fail one by one, then on a hardware
 * board (GPIO on a sysfs tree) with feedback contacts, and a daemon killed in the middle of a test.
 */
import { mkdtempSync, rmSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SimBoard } from '../../hal/sim/board.js';
import { SIM_REGISTER_START_WH } from '../../hal/sim/registers.js';
import type { Relay } from '../../hal/types.js';
import type { SelfTestSummary } from '../../src/cli/api.js';
import { request } from '../../src/cli/client.js';
import { Runtime } from '../../src/runtime.js';
import type { SelfTestReport, SelfTestStep } from '../../src/station/self-test.js';
import { BASE, CHIP, GPIO_PILOT, LOCK, line, RELAY, writeBenchBoard } from '../support/bench-board.js';
import { charging } from '../support/charging.js';
import { cpctl, onTerminal, spawnCpctl } from '../support/cpctl-process.js';
import { useDaemonEnv } from '../support/daemon-process.js';
import { FakeSysfs } from '../support/fake-gpio.js';
import { CP_ID, type Harness, useHarness } from '../support/harness.js';
import { loadSdm630, SDM630_IMPORT_WH } from '../support/modbus-meters.js';
import { ModbusTestServer } from '../support/modbus-server.js';
import { watchUnlocks } from '../support/watch-unlocks.js';

type Status = { connectorId: number; status: string; errorCode: string };

/** The one connector report of `cpctl selftest <n> --json`. */
function reportOf(stdout: string): SelfTestReport {
  const summary = JSON.parse(stdout) as SelfTestSummary;
  const [report] = summary.connectors;
  if (!report || 'refused' in report) throw new Error(`no report in ${stdout}`);
  return report;
}

function stepOf(report: SelfTestReport, step: SelfTestStep['step']): SelfTestStep | undefined {
  return report.steps.find((s) => s.step === step);
}

/** Every command the contactor of `connectorId` gets, in order (true: close). */
function contactorCommands(h: Harness, connectorId: number): boolean[] {
  const commands: boolean[] = [];
  h.board.connector(connectorId)?.devices.relay.on('change', (closed) => commands.push(closed));
  return commands;
}

/** The simulated board's first steps, each passing: what a test of a later step starts with. */
const DEVICES_PASS = [
  ['pilot', 'pass', 'state A (no EV)'],
  ['faultInput', 'pass', 'readable, inactive'],
  ['reader', 'pass', 'open and answering'],
  ['meter', 'pass', expect.any(String)],
];

/** The self-test's last step when it ends over connector 1's welded contactor, its cable locked. */
const KEPT_LOCKED = [
  'unlock',
  'fail',
  'cable kept locked: the contactor is not known open (PowerSwitchFailure: contactor welded); released once it opens',
] as const;

/** Connector 1's contact welded (Faulted once reported), and its lock, watched for unlocks. */
async function weldedWithLock(h: Harness) {
  const mark = h.csms.mark();
  h.board.relayContact(1, 'welded');
  await h.status(1, 'Faulted', mark);
  const lock = h.board.connector(1)?.devices.lock;
  if (!lock) throw new Error('the simulated connector has a lock');
  return { lock, ...watchUnlocks(lock) };
}

/** The connector's lock motor never confirms: resolves once it is driven (a self-test then waits there). */
function lockNeverConfirms(h: Harness, connectorId: number): Promise<void> {
  const lock = h.board.connector(connectorId)?.devices.lock;
  if (!lock) throw new Error('the simulated connector has a lock');
  return new Promise<void>((driven) => {
    lock.lock = () => {
      driven();
      return new Promise<boolean>(() => {});
    };
  });
}

/** StatusNotifications of `connectorId` the central system got after `mark`. */
function statusesSince(h: Harness, connectorId: number, mark: number): string[] {
  return h.csms
    .calls(CP_ID, 'StatusNotification', mark)
    .map((c) => c.payload as Status)
    .filter((p) => p.connectorId === connectorId)
    .map((p) => p.status);
}

describe('cpctl selftest on the simulated board', () => {
  const start = useHarness();

  it('an idle connector passes every step, with times, and OCPP hears nothing of it', async () => {
    const h = await start();
    await h.booted();
    const socket = h.config.cli.socket;
    const commands = contactorCommands(h, 1);
    const mark = h.csms.mark();

    const json = await cpctl(socket, 'selftest', '1', '--json');
    expect(json.stderr).toBe('');
    expect(json.code).toBe(0);
    const report = reportOf(json.stdout);
    expect(report).toMatchObject({ connectorId: 1, passed: true });
    expect(report.aborted).toBeUndefined();
    expect(report.steps.map((s) => [s.step, s.device, s.result])).toEqual([
      ['pilot', undefined, 'pass'],
      ['faultInput', 'tamper', 'pass'],
      ['reader', 'reader-1', 'pass'],
      ['meter', undefined, 'pass'],
      ['lock', undefined, 'pass'],
      ['unlock', undefined, 'pass'],
      ['contactorClose', undefined, 'pass'],
      ['contactorOpen', undefined, 'pass'],
    ]);
    for (const step of report.steps) expect(step.ms).toBeGreaterThanOrEqual(0);
    expect(stepOf(report, 'meter')?.meter).toMatchObject({
      type: 'SIM-METER',
      serialNumber: 'SIM-1',
      reading: { energyImportWh: SIM_REGISTER_START_WH },
    });
    expect(stepOf(report, 'meter')?.meter?.reading?.at).toBeGreaterThanOrEqual(report.startedAt);
    expect(stepOf(report, 'contactorClose')).toMatchObject({ feedback: true });
    expect(stepOf(report, 'lock')).toMatchObject({ feedback: true });
    // Closed once for the test, then opened: never left closed, the cable never left locked.
    expect(commands).toEqual([true, false]);
    expect(h.board.connector(1)?.devices.lock?.isLocked()).toBe(false);

    const human = await cpctl(socket, 'selftest', '1');
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^connector 1: PASS \(\d+ ms\)/);
    expect(human.stdout).toMatch(/contactor close\s+pass\s+\d+ ms\s+closed, confirmed by feedback/);
    expect(human.stdout).toMatch(/meter\s+pass\s+\d+ ms\s+SIM-METER serial SIM-1: /);

    // Something the central system does hear, after the tests: connector 1 said nothing before it.
    const plugged = h.csms.mark();
    h.board.plug(2);
    await h.status(2, 'Preparing', plugged);
    expect(statusesSince(h, 1, mark)).toEqual([]);
  });

  it('every connector in turn when none is named', async () => {
    const h = await start();
    await h.booted();
    const { code, stdout } = await cpctl(h.config.cli.socket, 'selftest', '--json');
    expect(code).toBe(0);
    const summary = JSON.parse(stdout) as SelfTestSummary;
    expect(summary.passed).toBe(true);
    expect(summary.connectors.map((c) => [c.connectorId, c.passed])).toEqual([
      [1, true],
      [2, true],
    ]);
  });

  /** A device of connector 1 made to fail, and the step that must say so. */
  const failures: Array<{
    what: string;
    fail: (board: SimBoard) => void;
    steps: Array<[SelfTestStep['step'], SelfTestStep['result'], RegExp]>;
    /** The contactor is closed for the test (false: the test must not close it). */
    closes: boolean;
  }> = [
    {
      what: 'a welded contactor',
      fail: (b) => b.relayContact(1, 'welded'),
      steps: [['contactorClose', 'fail', /^welded: the contact is closed while commanded open/]],
      closes: false,
    },
    {
      what: 'a contactor stuck open',
      fail: (b) => b.relayContact(1, 'stuck-open'),
      steps: [
        ['contactorClose', 'fail', /^stuck open: the contact did not close within 0 ms/],
        ['contactorOpen', 'pass', /^opened, confirmed by feedback/],
      ],
      closes: true,
    },
    {
      what: 'a lock that fails',
      fail: (b) => b.lockFail(1, true),
      steps: [
        ['lock', 'fail', /^ConnectorLockFailure: lock failed/],
        ['unlock', 'fail', /^ConnectorLockFailure: unlock failed/],
        ['contactorClose', 'skipped', /^connector faulted \(ConnectorLockFailure: unlock failed\)/],
      ],
      closes: false,
    },
    {
      what: 'a silent meter',
      fail: (b) => b.meterSilent(1, true),
      steps: [
        ['meter', 'fail', /^SIM-METER serial SIM-1: no reading \(meter does not answer\)/],
        ['contactorClose', 'skipped', /^connector faulted \(PowerMeterFailure/],
      ],
      closes: false,
    },
    {
      what: 'an unreadable pilot',
      fail: (b) => b.pilotUnreadable(1, true),
      steps: [
        ['pilot', 'fail', /^EVCommunicationError: pilot input unreadable$/],
        ['contactorClose', 'skipped', /^connector faulted \(EVCommunicationError: pilot input unreadable\)/],
      ],
      closes: false,
    },
    {
      what: 'an unreadable fault input',
      fail: (b) => b.tamperUnreadable(true),
      steps: [
        ['faultInput', 'fail', /^unreadable \(counts as active\)$/],
        ['contactorClose', 'skipped', /^connector faulted \(OtherError: tamper input unreadable\)/],
      ],
      closes: false,
    },
    {
      what: 'an absent card reader',
      fail: (b) => b.readerAbsent(1, true),
      steps: [
        ['reader', 'fail', /^ReaderFailure: reader reader-1 absent/],
        ['contactorClose', 'pass', /^closed/],
      ],
      closes: true,
    },
  ];

  it.each(failures)('$what fails its step, exits 1 and leaves the contactor open', async (failure) => {
    const h = await start();
    await h.booted();
    failure.fail(h.board);
    const commands = contactorCommands(h, 1);
    const { code, stdout, stderr } = await cpctl(h.config.cli.socket, 'selftest', '1', '--json');
    expect(code).toBe(1);
    const report = reportOf(stdout);
    expect(report.passed).toBe(false);
    for (const [step, result, detail] of failure.steps) {
      expect(stepOf(report, step)).toMatchObject({ result, detail: expect.stringMatching(detail) });
    }
    expect(stderr).toMatch(/^cpctl: self-test failed: connector 1: /);
    expect(h.board.connector(1)?.devices.relay.isClosed()).toBe(false);
    expect(commands.includes(true)).toBe(failure.closes);
    expect(commands.at(-1) ?? false).toBe(false);
  });

  it('a contactor that welds when the test closes it fails contactorOpen, exits 1, and its connector stays Faulted', async () => {
    const h = await start();
    await h.booted();
    const socket = h.config.cli.socket;
    h.board.relayContact(1, 'welds-on-close');
    const commands = contactorCommands(h, 1);
    const mark = h.csms.mark();

    const { code, stdout, stderr } = await cpctl(socket, 'selftest', '1', '--json');
    expect(code).toBe(1);
    const report = reportOf(stdout);
    expect(report.passed).toBe(false);
    expect(stepOf(report, 'contactorClose')).toMatchObject({ result: 'pass', feedback: true });
    expect(stepOf(report, 'contactorOpen')).toMatchObject({
      result: 'fail',
      feedback: true,
      detail: 'welded: the contact did not open within 0 ms',
    });
    expect(stderr).toBe('cpctl: self-test failed: connector 1: contactor open failed\n');
    // Commanded open, and never again closed: the weld keeps it out of service.
    expect(commands).toEqual([true, false]);
    expect(h.board.connector(1)?.devices.relay.isClosed()).toBe(false);
    expect(await h.status(1, 'Faulted', mark)).toMatchObject({
      errorCode: 'PowerSwitchFailure',
      info: 'contactor welded',
    });
    const status = await request(socket, 'status', {});
    expect(status.connectors[0]).toMatchObject({ status: 'Faulted', errorCode: 'PowerSwitchFailure' });
    expect(status.connectors[0]?.relay).toEqual({ closed: false, feedback: true, feedbackReadable: true });

    // No session starts there, and a second test does not close it.
    const remote = await h.csms.call<{ status: string }>(CP_ID, 'RemoteStartTransaction', {
      connectorId: 1,
      idTag: 'DRIVER',
    });
    expect(remote.status).toBe('Rejected');
    const again = await cpctl(socket, 'selftest', '1', '--json');
    expect(again.code).toBe(1);
    expect(stepOf(reportOf(again.stdout), 'contactorClose')).toMatchObject({
      result: 'fail',
      detail: expect.stringMatching(/^welded: the contact is closed while commanded open/),
    });
    expect(commands).toEqual([true, false]);

    // Available again only once the contact opens (the contactor replaced).
    h.board.relayContact(1, 'follows');
    await h.status(1, 'Available', mark);
    expect(statusesSince(h, 1, mark)).toEqual(['Faulted', 'Available']);
  });

  it('a cable plugged in over a welded contactor stays locked when the test ends: the unlock step fails and says why; released once the contact opens', async () => {
    const h = await start();
    await h.booted();
    const socket = h.config.cli.socket;
    const { lock, unlocks, released } = await weldedWithLock(h);
    // A driver plugs in the moment the test has locked the connector: the test ends there, locked.
    const lockIt = lock.lock.bind(lock);
    lock.lock = async () => {
      const locked = await lockIt();
      h.board.plug(1);
      return locked;
    };

    const { code, stdout } = await cpctl(socket, 'selftest', '1', '--json');
    expect(code).toBe(1);
    const report = reportOf(stdout);
    expect(report.aborted).toBe('a cable was plugged in');
    expect(report.steps.map((s) => [s.step, s.result, s.detail])).toEqual([
      ...DEVICES_PASS,
      // Locked, but the plug ended the step as the lock confirmed.
      ['lock', 'skipped', 'a cable was plugged in'],
      KEPT_LOCKED,
    ]);
    // The conductors are live: the cable stays in.
    expect([lock.isLocked(), unlocks]).toEqual([true, []]);

    // The weld clears; nothing else happens: the cable kept locked for it is released.
    h.board.relayContact(1, 'follows');
    await released;
    expect([lock.isLocked(), unlocks]).toEqual([false, [true]]);
  });

  it('its own unlock step refuses over a contactor not known open: the cable stays locked to the end, released once the contact opens', async () => {
    const h = await start();
    await h.booted();
    const socket = h.config.cli.socket;
    const { lock, unlocks, released } = await weldedWithLock(h);

    const { code, stdout } = await cpctl(socket, 'selftest', '1', '--json');
    expect(code).toBe(1);
    const report = reportOf(stdout);
    expect(report.steps.map((s) => [s.step, s.result, s.detail])).toEqual([
      ...DEVICES_PASS,
      ['lock', 'pass', 'locked, confirmed by feedback'],
      // A cable plugged in mid-test would be pulled over conductors the weld keeps live.
      [
        'unlock',
        'fail',
        'not unlocked: the contactor is not known open (PowerSwitchFailure: contactor welded)',
      ],
      [
        'contactorClose',
        'fail',
        'welded: the contact is closed while commanded open (not closed for the test)',
      ],
      KEPT_LOCKED,
    ]);
    expect([lock.isLocked(), unlocks]).toEqual([true, []]);

    h.board.relayContact(1, 'follows');
    await released;
    expect([lock.isLocked(), unlocks]).toEqual([false, [true]]);
  });

  it('a contactor whose output fails as the test opens it: still commanded closed, exit 1, Faulted until the retried open succeeds', async () => {
    const h = await start();
    await h.booted();
    const socket = h.config.cli.socket;
    const relay = h.board.connector(1)?.devices.relay;
    // The output breaks once the test has closed the contactor: the open that follows cannot be driven.
    relay?.once('change', () => h.board.relayOutputFails(1, true));
    const mark = h.csms.mark();

    const { code, stdout, stderr } = await cpctl(socket, 'selftest', '1', '--json');
    expect(code).toBe(1);
    const report = reportOf(stdout);
    expect(stepOf(report, 'contactorClose')).toMatchObject({ result: 'pass', feedback: true });
    expect(stepOf(report, 'contactorOpen')).toMatchObject({
      result: 'fail',
      detail: 'still commanded closed',
    });
    expect(stepOf(report, 'contactorOpen')?.ms).toBeGreaterThanOrEqual(990);
    expect(stderr).toBe('cpctl: self-test failed: connector 1: contactor open failed\n');
    expect(h.sink.find((l) => l.msg === 'self-test: contactor could not be opened')).toMatchObject({
      connectorId: 1,
      err: 'relay output write failed',
    });
    // Closed, and said so: Faulted, not Available, the contactor shown closed.
    expect(relay?.isClosed()).toBe(true);
    expect(await h.status(1, 'Faulted', mark)).toMatchObject({
      errorCode: 'PowerSwitchFailure',
      info: 'relay output write failed',
    });
    const status = await request(socket, 'status', {});
    expect(status.connectors[0]).toMatchObject({ status: 'Faulted', errorCode: 'PowerSwitchFailure' });
    expect(status.connectors[0]?.relay).toEqual({ closed: true, feedback: true, feedbackReadable: true });

    // The output repaired: the contactor's owner, retrying the open on its clock, opens it unasked.
    h.board.relayOutputFails(1, false);
    await h.status(1, 'Available', mark);
    expect(relay?.isClosed()).toBe(false);
    expect(statusesSince(h, 1, mark)).toEqual(['Faulted', 'Available']);
  });

  it('a contactor that welds as a session ends is Faulted, not Available once the cable leaves', async () => {
    const h = await start();
    await h.booted();
    h.board.relayContact(1, 'welds-on-close');
    await charging(h, 'CHARGING', 1);
    const mark = h.csms.mark();
    h.board.swipe('CHARGING');
    await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    expect(await h.status(1, 'Faulted', mark)).toMatchObject({
      errorCode: 'PowerSwitchFailure',
      info: 'contactor welded',
    });
    h.board.unplug(1);
    const unplugged = await request(h.config.cli.socket, 'status', {});
    expect(unplugged.connectors[0]).toMatchObject({ status: 'Faulted', plugged: false });
    h.board.relayContact(1, 'follows');
    await h.status(1, 'Available', mark);
    // Between the weld and the repair, nothing said Available.
    expect(statusesSince(h, 1, mark)).toEqual(['Faulted', 'Available']);
  });

  it('the human table names the failed step and exits 1', async () => {
    const h = await start();
    await h.booted();
    h.board.relayContact(1, 'stuck-open');
    const { code, stdout, stderr } = await cpctl(h.config.cli.socket, 'selftest', '1');
    expect(code).toBe(1);
    expect(stdout).toMatch(/^connector 1: FAIL/);
    expect(stdout).toMatch(/contactor close\s+fail\s+\d+ ms\s+stuck open/);
    expect(stderr).toBe('cpctl: self-test failed: connector 1: contactor close failed\n');
  });

  it('a device that throws fails its step with the error; the other steps still run and the report comes', async () => {
    const h = await start();
    await h.booted();
    const lock = h.board.connector(1)?.devices.lock;
    if (!lock) throw new Error('the simulated connector has a lock');
    lock.lock = async () => {
      throw new Error('driver bug');
    };
    const { code, stdout } = await cpctl(h.config.cli.socket, 'selftest', '1', '--json');
    expect(code).toBe(1);
    const report = reportOf(stdout);
    expect(stepOf(report, 'lock')).toMatchObject({ result: 'fail', detail: 'error: driver bug' });
    expect(stepOf(report, 'meter')?.result).toBe('pass');
    expect(stepOf(report, 'contactorOpen')?.result).toBe('pass');
    expect(h.board.connector(1)?.devices.relay.isClosed()).toBe(false);
  });

  it('is refused while a cable is plugged in, a session waits, a transaction runs or a reservation holds it; nothing is switched', async () => {
    const h = await start();
    await h.booted();
    const socket = h.config.cli.socket;
    const commands = contactorCommands(h, 2);

    const typo = await cpctl(socket, 'selftest', 'two');
    expect(typo.code).toBe(64);
    expect(typo.stderr).toBe('cpctl: connector must be a number, got "two"\n');
    const unknown = await cpctl(socket, 'selftest', '9');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('cpctl: no connector 9 (connectors: 1, 2)\n');

    h.board.plug(2);
    const plugged = await cpctl(socket, 'selftest', '2');
    expect(plugged.code).toBe(1);
    expect(plugged.stderr).toMatch(
      /^cpctl: connector 2 is plugged in \(unplug the cable first\): a self-test runs only/,
    );
    h.board.unplug(2);

    // A card with no cable: a session waits on both connectors of the reader.
    const mark = h.csms.mark();
    h.board.swipe('WAITING');
    await h.status(2, 'Preparing', mark);
    const waiting = await cpctl(socket, 'selftest', '2');
    expect(waiting.code).toBe(1);
    expect(waiting.stderr).toMatch(/^cpctl: connector 2 is Preparing \(a session or reservation holds it\)/);
    h.board.swipe('WAITING');
    await h.status(2, 'Available', mark);
    expect(commands).toEqual([]);

    await charging(h, 'CHARGING', 2);
    expect(h.board.connector(2)?.devices.relay.isClosed()).toBe(true);
    const all = await cpctl(socket, 'selftest', '--json');
    expect(all.code).toBe(1);
    const summary = JSON.parse(all.stdout) as SelfTestSummary;
    expect(summary.connectors[1]).toEqual({
      connectorId: 2,
      passed: false,
      refused: 'connector 2 is plugged in (unplug the cable first)',
    });
    expect(summary.connectors[0]?.passed).toBe(true);
    expect(all.stderr).toBe('cpctl: self-test failed: connector 2 not tested\n');
    // The session's contactor was not touched.
    expect(commands).toEqual([true]);
    expect(h.board.connector(2)?.devices.relay.isClosed()).toBe(true);

    const reserved = h.csms.mark();
    const reservation = await h.csms.call<{ status: string }>(CP_ID, 'ReserveNow', {
      connectorId: 1,
      idTag: 'RESERVED',
      reservationId: 7,
      expiryDate: new Date(Date.now() + 3_600_000).toISOString(),
    });
    expect(reservation.status).toBe('Accepted');
    await h.status(1, 'Reserved', reserved);
    const held = await cpctl(socket, 'selftest', '1');
    expect(held.code).toBe(1);
    expect(held.stderr).toMatch(/^cpctl: connector 1 is Reserved \(a session or reservation holds it\)/);
  });

  it('a cable plugged in during the test ends it at once, and the plug is reported and charges afterwards', async () => {
    const h = await start();
    await h.booted();
    const relay = h.board.connector(1)?.devices.relay;
    const commands = contactorCommands(h, 1);
    let remoteStart: string | undefined;
    // The moment the test closes the contactor: the central system asks for a start, a card is
    // presented at the reader of both connectors, a driver arrives.
    relay?.once('change', () => {
      remoteStart = h.runtime.transactions.remoteStart('REMOTE', 1);
      h.board.swipe('CARD');
      h.board.plug(1);
    });
    const mark = h.csms.mark();
    const { code, stdout } = await cpctl(h.config.cli.socket, 'selftest', '1', '--json');
    expect(code).toBe(1);
    const report = reportOf(stdout);
    expect(report.aborted).toBe('a cable was plugged in');
    expect(stepOf(report, 'contactorClose')?.result).toBe('skipped');
    expect(stepOf(report, 'contactorOpen')?.result).toBe('pass');
    // Held: no session could start on it while it was under test; the card went to connector 2.
    expect(remoteStart).toBe('Rejected');
    await h.status(2, 'Preparing', mark);
    expect(commands).toEqual([true, false]);
    expect(relay?.isClosed()).toBe(false);

    // The plug was not lost: reported, and the driver's card starts the session now.
    await h.status(1, 'Preparing', mark);
    h.board.swipe('DRIVER');
    await h.csms.waitForCall(CP_ID, 'StartTransaction', {
      since: mark,
      where: (p: { connectorId: number }) => p.connectorId === 1,
    });
  });

  it('Ctrl-C typed at the terminal during cpctl selftest: exit 130, and cpctl says the daemon ended the test and opened the contactor', async () => {
    const h = await start();
    await h.booted();
    // A lock motor that never confirms: the test waits there until cpctl goes.
    const driven = lockNeverConfirms(h, 1);
    const test = spawnCpctl(h.config.cli.socket, ['selftest', '1'], onTerminal);
    await driven;
    test.child.stdin?.write('\x03');
    expect(await test.exited()).toBe(130);
    expect(test.stdout()).toContain(
      'cpctl: interrupted (Ctrl-C): the daemon ended the self-test and opened the contactor',
    );
    expect(test.stdout()).not.toContain('may still do what was asked');
    expect(await h.sink.waitFor((l) => l.msg === 'self-test ended')).toMatchObject({
      connectorId: 1,
      passed: false,
      aborted: 'the technician interrupted it (cpctl ended)',
    });
  });

  it('Ctrl-C on cpctl during a test of every connector ends the one under way; the next is not tested', async () => {
    const h = await start();
    await h.booted();
    // A lock motor that never confirms: the test of connector 1 waits there.
    const driven = lockNeverConfirms(h, 1);
    const second = contactorCommands(h, 2);
    const test = spawnCpctl(h.config.cli.socket, ['selftest']);
    await driven;
    test.child.kill('SIGINT');
    expect(await test.exited()).toBe(130);
    expect(test.stderr()).toBe(
      'cpctl: interrupted (Ctrl-C): the daemon ended the self-test and opened the contactor; no other connector is tested\n',
    );
    expect(await h.sink.waitFor((l) => l.msg === 'self-test ended')).toMatchObject({
      connectorId: 1,
      passed: false,
      aborted: 'the technician interrupted it (cpctl ended)',
    });
    // Connector 2 would have started in the turn connector 1 ended in.
    await new Promise(setImmediate);
    expect(h.sink.lines.filter((l) => l.msg === 'self-test started').map((l) => l.connectorId)).toEqual([1]);
    expect(second).toEqual([]);
  });

  it('while the daemon stops (a Reset) no self-test or relay test starts: refused, and nothing is switched', async () => {
    // The StopTransaction gets no answer: the stop waits for it, and the socket still answers meanwhile.
    const h = await start({
      csms: { rules: { onCall: (_cp, action) => (action === 'StopTransaction' ? 'ignore' : undefined) } },
    });
    await h.booted();
    await charging(h, 'CHARGING', 2);
    const commands = contactorCommands(h, 1);
    const mark = h.csms.mark();
    const stopped = h.runtime.stop({ kind: 'reset', type: 'Soft' });
    await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    await expect(request(h.config.cli.socket, 'selfTest', { connectorId: 1 })).rejects.toThrow(
      /^the daemon is stopping/,
    );
    await expect(request(h.config.cli.socket, 'selfTest', {})).resolves.toMatchObject({
      passed: false,
      connectors: [
        { connectorId: 1, refused: 'the daemon is stopping' },
        { connectorId: 2, refused: 'the daemon is stopping' },
      ],
    });
    // Nor a technician's relay test.
    await expect(request(h.config.cli.socket, 'hal.relay', { connectorId: 1, closed: true })).rejects.toThrow(
      /^the daemon is stopping/,
    );
    await stopped;
    expect(commands).toEqual([]);
  });
});

const RELAY_FEEDBACK = 27;
const LOCK_FEEDBACK = 6;
/** The emergency stop button's input (high: pressed). */
const EMERGENCY_STOP = 13;

/** A one-connector board file on `sysfs`: relay and lock with feedback contacts, an SDM630 on Modbus TCP. */
function hardwareBoard(
  dir: string,
  sysfs: FakeSysfs,
  settleMs: number,
  meterPort: number | undefined,
  withEmergencyStop = false,
): string {
  return writeBenchBoard(dir, {
    name: 'bench-selftest',
    sysfsRoot: sysfs.root,
    ...(withEmergencyStop
      ? { faultInputs: [{ driver: 'gpio', kind: 'emergencyStop', line: line(EMERGENCY_STOP) }] }
      : {}),
    devices: {
      relay: { driver: 'gpio', line: line(RELAY), feedback: { line: line(RELAY_FEEDBACK), settleMs } },
      pilot: GPIO_PILOT,
      lock: { driver: 'gpio', line: line(LOCK), feedback: { line: line(LOCK_FEEDBACK) }, timeoutMs: 500 },
      meter: {
        driver: 'modbus',
        transport: { type: 'tcp', host: '127.0.0.1', port: meterPort },
        timeoutMs: 100,
        retries: 0,
        model: 'SDM630',
        unitId: 1,
        serialNumber: 'SDM-0042',
        pollIntervalMs: 60_000,
      },
    },
  });
}

/** The SDM630 the board's meter talks to, holding its usual values. */
async function sdm630(cleanups: Array<() => Promise<void> | void>): Promise<ModbusTestServer> {
  const server = await ModbusTestServer.start({ type: 'tcp' }, [1]);
  cleanups.push(() => server.stop());
  await loadSdm630(server, 1);
  return server;
}

/**
 * The wiring of a sound outlet: each output's feedback contact follows it (an inotify watch on the
 * output's value file). Returns a function that unplugs that wiring.
 */
function wireFeedback(sysfs: FakeSysfs, pairs: Array<[output: number, feedback: number]>): () => void {
  const watchers = pairs.map(([output, feedback]) =>
    watch(join(sysfs.gpioDir, `gpio${BASE + output}`, 'value'), () => {
      const level = sysfs.level(BASE + output);
      if (sysfs.level(BASE + feedback) !== level) sysfs.drive(BASE + feedback, level);
    }),
  );
  return () => {
    for (const w of watchers) w.close();
  };
}

/** Resolves once the output's value file reads `level` (checked now and at each write to it). */
function whenLevel(sysfs: FakeSysfs, output: number, level: 0 | 1): Promise<void> {
  return new Promise((resolve) => {
    if (sysfs.level(BASE + output) === level) return resolve();
    const watcher = watch(join(sysfs.gpioDir, `gpio${BASE + output}`, 'value'), () => {
      if (sysfs.level(BASE + output) !== level) return;
      watcher.close();
      resolve();
    });
  });
}

/** Resolves once the relay is commanded `closed` (its 'change' event); fails after `withinMs`. */
function relayCommanded(relay: Relay, closed: boolean, withinMs = 5_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const onChange = (now: boolean): void => {
      if (now !== closed) return;
      clearTimeout(timer);
      relay.off('change', onChange);
      resolve();
    };
    const timer = setTimeout(() => {
      relay.off('change', onChange);
      reject(
        new Error(`the contactor was not commanded ${closed ? 'closed' : 'open'} within ${withinMs} ms`),
      );
    }, withinMs);
    relay.on('change', onChange);
  });
}

describe('cpctl selftest on a hardware board (GPIO with feedback contacts)', () => {
  const start = useHarness();
  let dir: string;
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('passes with contacts that follow, and finds the contactor that does not close', async () => {
    dir = mkdtempSync(join(tmpdir(), 'cp-selftest-hw-'));
    const sysfs = new FakeSysfs(join(dir, 'sys')).chip(CHIP, BASE, 58);
    const meter = await sdm630(cleanups);
    const boardFile = hardwareBoard(dir, sysfs, 200, meter.port);
    const unwire = wireFeedback(sysfs, [
      [RELAY, RELAY_FEEDBACK],
      [LOCK, LOCK_FEEDBACK],
    ]);
    cleanups.push(unwire);
    const h = await start({ deferStart: true, config: () => ({ board: boardFile }) });
    h.runtime = await Runtime.start({ config: h.config, log: h.log });
    await h.status(1, 'Available', 0);
    const socket = h.config.cli.socket;

    const good = await cpctl(socket, 'selftest', '1', '--json');
    expect(good.code).toBe(0);
    const report = reportOf(good.stdout);
    expect(report.steps.map((s) => [s.step, s.result, s.feedback])).toEqual([
      ['pilot', 'pass', undefined],
      ['faultInput', 'n/a', undefined],
      ['reader', 'n/a', undefined],
      ['meter', 'pass', undefined],
      ['lock', 'pass', true],
      ['unlock', 'pass', true],
      ['contactorClose', 'pass', true],
      ['contactorOpen', 'pass', true],
    ]);
    expect(stepOf(report, 'meter')?.meter).toMatchObject({
      type: 'Eastron SDM630',
      serialNumber: 'SDM-0042',
      reading: { energyImportWh: SDM630_IMPORT_WH },
    });
    // The contact follows through its debounce: the time measured is the contact's, not zero.
    expect(stepOf(report, 'contactorClose')?.ms).toBeGreaterThan(0);
    expect(sysfs.level(BASE + RELAY)).toBe(0);
    expect(sysfs.level(BASE + LOCK)).toBe(0);

    // The feedback contacts no longer follow, and the meter falls silent (its last poll is still
    // fresh: the self-test asks the meter itself).
    unwire();
    await meter.setMode(1, { mode: 'silent' });
    const stuck = await cpctl(socket, 'selftest', '1', '--json');
    expect(stuck.code).toBe(1);
    const failed = reportOf(stuck.stdout);
    expect(failed.steps.map((s) => [s.step, s.result, s.detail])).toEqual([
      ['pilot', 'pass', 'state A (no EV)'],
      ['faultInput', 'n/a', 'the board has no fault inputs'],
      ['reader', 'n/a', 'no card reader serves this connector'],
      ['meter', 'fail', expect.stringMatching(/^Eastron SDM630 serial SDM-0042: no reading \(/)],
      ['lock', 'fail', 'ConnectorLockFailure: lock not confirmed by feedback within 500 ms'],
      // The contact reads unlocked, as commanded: the unlock is confirmed, and clears the lock's fault.
      ['unlock', 'pass', 'unlocked, confirmed by feedback'],
      ['contactorClose', 'skipped', expect.stringMatching(/^connector faulted \(PowerMeterFailure: /)],
    ]);
    expect(stepOf(failed, 'lock')?.ms).toBeGreaterThanOrEqual(490);
    expect(sysfs.level(BASE + RELAY)).toBe(0);

    // The meter answers again; the contactor's auxiliary contact still does not follow.
    await meter.setMode(1, { mode: 'normal' });
    const stuckOpen = await cpctl(socket, 'selftest', '1', '--json');
    expect(stuckOpen.code).toBe(1);
    const contactor = reportOf(stuckOpen.stdout);
    expect(stepOf(contactor, 'meter')?.result).toBe('pass');
    expect(stepOf(contactor, 'contactorClose')).toMatchObject({
      result: 'fail',
      detail: 'stuck open: the contact did not close within 200 ms',
    });
    expect(stepOf(contactor, 'contactorClose')?.ms).toBeGreaterThanOrEqual(190);
    expect(stepOf(contactor, 'contactorOpen')?.result).toBe('pass');
    expect(sysfs.level(BASE + RELAY)).toBe(0);
  });

  /**
   * The bench board started with a contactor whose contact never confirms: a self-test would wait
   * a minute for it, the contactor closed.
   */
  async function startNeverConfirming(): Promise<{ h: Harness; sysfs: FakeSysfs; relay: Relay }> {
    dir = mkdtempSync(join(tmpdir(), 'cp-selftest-hw-'));
    const sysfs = new FakeSysfs(join(dir, 'sys')).chip(CHIP, BASE, 58);
    const meter = await sdm630(cleanups);
    const boardFile = hardwareBoard(dir, sysfs, 60_000, meter.port);
    cleanups.push(wireFeedback(sysfs, [[LOCK, LOCK_FEEDBACK]]));
    const h = await start({ deferStart: true, config: () => ({ board: boardFile }) });
    h.runtime = await Runtime.start({ config: h.config, log: h.log });
    await h.status(1, 'Available', 0);
    return { h, sysfs, relay: h.runtime.board.connectors[0]!.devices.relay };
  }

  it('a stop in the middle of the test opens the contactor at once, before the link closes', async () => {
    const { h, sysfs, relay } = await startNeverConfirming();
    const test = request(h.config.cli.socket, 'selfTest', { connectorId: 1 }).catch(() => undefined);
    await whenLevel(sysfs, RELAY, 1);
    let linkWhenOpened: string | undefined;
    relay.once('change', () => {
      linkWhenOpened = h.runtime.link.state;
    });
    await h.runtime.stop();
    expect(linkWhenOpened).toBe('open');
    expect(sysfs.level(BASE + RELAY)).toBe(0);
    expect(h.sink.find((l) => l.msg === 'self-test ended')).toMatchObject({
      connectorId: 1,
      passed: false,
      aborted: 'the daemon is stopping',
    });
    await test;
  });
  it('Ctrl-C on cpctl in the middle of the test opens the contactor at once: the test ends with cpctl', async () => {
    const { h, sysfs, relay } = await startNeverConfirming();
    const closed = relayCommanded(relay, true);
    const test = spawnCpctl(h.config.cli.socket, ['selftest', '1']);
    cleanups.push(() => void test.child.kill('SIGKILL'));
    await closed;
    const opened = relayCommanded(relay, false);
    test.child.kill('SIGINT');
    await opened;
    expect(sysfs.level(BASE + RELAY)).toBe(0);
    expect(await test.exited()).toBe(130);
    expect(await h.sink.waitFor((l) => l.msg === 'self-test ended')).toMatchObject({
      connectorId: 1,
      passed: false,
      aborted: 'the technician interrupted it (cpctl ended)',
    });
    expect(h.runtime.station.status(1)?.status).toBe('Available');
  });

  it('drives neither the lock nor the contactor while the emergency stop is pressed, and a press mid-test ends it', async () => {
    dir = mkdtempSync(join(tmpdir(), 'cp-selftest-hw-'));
    const sysfs = new FakeSysfs(join(dir, 'sys')).chip(CHIP, BASE, 58);
    const meter = await sdm630(cleanups);
    const boardFile = hardwareBoard(dir, sysfs, 200, meter.port, true);
    cleanups.push(
      wireFeedback(sysfs, [
        [RELAY, RELAY_FEEDBACK],
        [LOCK, LOCK_FEEDBACK],
      ]),
    );
    const h = await start({ deferStart: true, config: () => ({ board: boardFile }) });
    h.runtime = await Runtime.start({ config: h.config, log: h.log });
    await h.status(1, 'Available', 0);
    const socket = h.config.cli.socket;
    const lockLevels: number[] = [];
    const lockWatch = watch(join(sysfs.gpioDir, `gpio${BASE + LOCK}`, 'value'), () =>
      lockLevels.push(sysfs.level(BASE + LOCK)),
    );
    cleanups.push(() => lockWatch.close());
    const commands: boolean[] = [];
    h.runtime.board.connectors[0]!.devices.relay.on('change', (closed) => commands.push(closed));

    const pressed = h.csms.mark();
    sysfs.drive(BASE + EMERGENCY_STOP, 1);
    await h.status(1, 'Faulted', pressed);
    const held = await cpctl(socket, 'selftest', '1', '--json');
    expect(held.code).toBe(1);
    const report = reportOf(held.stdout);
    expect(report.steps.map((s) => [s.step, s.device, s.result])).toEqual([
      ['pilot', undefined, 'pass'],
      ['faultInput', 'emergencyStop', 'pass'],
      ['reader', undefined, 'n/a'],
      ['meter', undefined, 'pass'],
      ['lock', undefined, 'skipped'],
      ['contactorClose', undefined, 'skipped'],
    ]);
    expect(stepOf(report, 'lock')?.detail).toBe(
      'not driven: the emergency stop is active (release it first)',
    );
    expect(stepOf(report, 'faultInput')?.detail).toBe('readable, active');
    expect(lockLevels.filter((level) => level === 1)).toEqual([]);
    expect(commands).toEqual([]);

    // Released, the test runs; pressed again as the lock is driven, it ends there.
    const released = h.csms.mark();
    sysfs.drive(BASE + EMERGENCY_STOP, 0);
    await h.status(1, 'Available', released);
    const test = cpctl(socket, 'selftest', '1', '--json');
    await whenLevel(sysfs, LOCK, 1);
    sysfs.drive(BASE + EMERGENCY_STOP, 1);
    const stopped = await test;
    expect(stopped.code).toBe(1);
    const aborted = reportOf(stopped.stdout);
    expect(aborted).toMatchObject({ passed: false, aborted: 'the emergency stop was pressed' });
    expect(stepOf(aborted, 'contactorClose')).toBeUndefined();
    expect(commands.includes(true)).toBe(false);
    expect(sysfs.level(BASE + RELAY)).toBe(0);
  });
});

describe('chargepointd killed in the middle of a self-test', () => {
  const env = useDaemonEnv('cp-selftest-kill-', 'CP-SELFTEST-KILL');
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it('leaves the contactor closed until the next start drives it open, before anything else', async () => {
    const { dir, csms, chargePointId, socket } = env();
    const sysfs = new FakeSysfs(join(dir, 'sys')).chip(CHIP, BASE, 58);
    // The contact never answers and the test waits a minute for it: the contactor stays closed meanwhile.
    const meter = await sdm630(cleanups);
    const config = env().daemonConfig({ board: hardwareBoard(dir, sysfs, 60_000, meter.port) });
    const first = env().spawn(config);
    await csms.waitForCall(chargePointId, 'BootNotification');
    const unwire = wireFeedback(sysfs, [[LOCK, LOCK_FEEDBACK]]);
    const test = cpctl(socket, 'selftest', '1');
    await whenLevel(sysfs, RELAY, 1);
    first.child.kill('SIGKILL');
    expect(await first.exitCode()).toBeNull();
    unwire();
    const interrupted = await test;
    expect(interrupted.code).not.toBe(0);
    expect(sysfs.level(BASE + RELAY)).toBe(1);

    await csms.waitForDisconnect(chargePointId);
    const mark = csms.mark();
    env().spawn(config);
    await csms.waitForCall(chargePointId, 'BootNotification', { since: mark });
    expect(sysfs.level(BASE + RELAY)).toBe(0);
    const status = await request(socket, 'status', {});
    expect(status.connectors[0]?.relay).toEqual({ closed: false, feedback: false, feedbackReadable: true });
  });
});
