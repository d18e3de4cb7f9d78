import { describe, expect, it } from 'vitest';
import { SIM_REGISTER_START_WH } from '../../hal/sim/registers.js';
import type {
  AuthReport,
  LimitsReport,
  QueueReport,
  StatusReport,
  TransactionsReport,
} from '../../src/cli/api.js';
import type { SetChargingProfileRequest } from '../../src/ocpp/generated/messages.js';
import type { OutboxEntry } from '../../src/ocpp/outbox.js';
import { charging } from '../support/charging.js';
import { cpctl, spawnCpctl } from '../support/cpctl-process.js';
import { CP_ID, type Harness, useHarness } from '../support/harness.js';

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
    expect(report.connectors[0]?.meter).toMatchObject({ energyImportWh: SIM_REGISTER_START_WH });

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
    const meter = JSON.parse((await cpctl(socket, 'hal', 'meter', '2', '--json')).stdout) as {
      energyImportWh: number;
    };
    expect(meter.energyImportWh).toBe(SIM_REGISTER_START_WH);
    expect((await cpctl(socket, 'hal', 'relay', '2', 'close')).code).toBe(0);
    expect(h.board.connector(2)?.devices.relay.isClosed()).toBe(true);
    expect((await cpctl(socket, 'hal', 'relay', '2', 'open')).code).toBe(0);
    h.board.plug(2);
    const refused = await cpctl(socket, 'hal', 'relay', '2', 'close');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/only while it is idle/);
    expect(h.board.connector(2)?.devices.relay.isClosed()).toBe(false);
    // Last: a card prepares a session on the reader's free connectors, which are then not idle.
    expect((await cpctl(socket, 'sim', 'swipe', 'DEADBEEF')).code).toBe(0);
    const rfid = JSON.parse((await cpctl(socket, 'hal', 'rfid', '--json')).stdout) as Array<{
      idTag?: string;
    }>;
    expect(rfid[0]?.idTag).toBe('DEADBEEF');
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

/** The next outbox event for a message of `action`; call before causing it. */
function outboxEvent(h: Harness, event: 'delivered' | 'deadLettered', action: string): Promise<void> {
  const outbox = h.runtime.outbox;
  return new Promise((resolve) => {
    const listener = (entry: OutboxEntry) => {
      if (entry.action !== action) return;
      outbox.off(event, listener);
      resolve();
    };
    outbox.on(event, listener);
  });
}

/** The transactionId the central system answered a StartTransaction with. */
function transactionIdOf(h: Harness, callId: string): number {
  const answer = h.csms.frames.find(
    (f) => f.direction === 'out' && f.message?.type === 'result' && f.message.id === callId,
  );
  if (!answer) throw new Error(`the central system did not answer call ${callId}`);
  return (answer.message as { payload: { transactionId: number } }).payload.transactionId;
}

describe('cpctl transactions, queue and auth against the running daemon', () => {
  const start = useHarness();
  // No periodic MeterValues: the queue holds only what a test causes.
  const ocpp = { MeterValueSampleInterval: 0 };

  it('transactions shows a running transaction with its transactionId, then as finished; the queue empties', async () => {
    const h = await start({ ocpp });
    await h.booted();
    const socket = h.config.cli.socket;

    let mark = h.csms.mark();
    let delivered = outboxEvent(h, 'delivered', 'StartTransaction');
    h.board.plug(1);
    h.board.swipe('VALID01');
    const startTx = await h.csms.waitForCall(CP_ID, 'StartTransaction', { since: mark });
    await delivered;
    const transactionId = transactionIdOf(h, startTx.id);

    const running = await cpctl(socket, 'transactions', '--json');
    expect(running.code).toBe(0);
    const report = JSON.parse(running.stdout) as TransactionsReport;
    expect(report.running).toEqual([
      expect.objectContaining({
        connectorId: 1,
        idTag: 'VALID01',
        transactionId,
        meterStart: 0,
        energyWh: 0,
      }),
    ]);
    expect(report.recent).toEqual([]);
    const human = await cpctl(socket, 'transactions');
    expect(human.stdout).toMatch(new RegExp(`^1 +\\d+ +${transactionId} +VALID01 `, 'm'));

    const queue = await cpctl(socket, 'queue', '--json');
    expect(queue.code).toBe(0);
    expect(JSON.parse(queue.stdout)).toEqual({
      pending: [],
      pendingTotal: 0,
      deadLetters: [],
      deadLetterTotal: 0,
    } satisfies QueueReport);

    // The same card again ends it.
    mark = h.csms.mark();
    delivered = outboxEvent(h, 'delivered', 'StopTransaction');
    h.board.swipe('VALID01');
    await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    await delivered;
    const after = JSON.parse((await cpctl(socket, 'transactions', '--json')).stdout) as TransactionsReport;
    expect(after.running).toEqual([]);
    expect(after.recent).toEqual([
      expect.objectContaining({ connectorId: 1, idTag: 'VALID01', transactionId, stopReason: 'Local' }),
    ]);
    const finished = after.recent[0]!;
    expect(finished.energyWh).toBe(finished.meterStop! - finished.meterStart);
    expect((await cpctl(socket, 'transactions')).stdout).toMatch(
      new RegExp(`^1 +\\d+ +${transactionId} +VALID01 +\\S+ +\\S+ +Local `, 'm'),
    );
  });

  it('queue shows the dead letter of a StartTransaction the central system refused, and the transaction as pending', async () => {
    const h = await start({
      ocpp: { ...ocpp, TransactionMessageAttempts: 1 },
      csms: {
        rules: {
          onCall: (_cp, action) =>
            action === 'StartTransaction' ? { callError: { code: 'InternalError' } } : undefined,
        },
      },
    });
    await h.booted();
    const socket = h.config.cli.socket;
    const dead = outboxEvent(h, 'deadLettered', 'StartTransaction');
    h.board.plug(1);
    h.board.swipe('VALID01');
    await dead;

    const queue = await cpctl(socket, 'queue', '--json');
    expect(queue.code).toBe(0);
    const report = JSON.parse(queue.stdout) as QueueReport;
    expect(report).toMatchObject({ pending: [], pendingTotal: 0, deadLetterTotal: 1 });
    expect(report.deadLetters).toEqual([
      expect.objectContaining({
        action: 'StartTransaction',
        attempts: 1,
        lastError: expect.stringContaining('InternalError'),
      }),
    ]);
    const human = await cpctl(socket, 'queue');
    expect(human.stdout).toMatch(/^pending messages: none$/m);
    expect(human.stdout).toMatch(/^dead letters: 1$/m);
    expect(human.stdout).toMatch(/^\d+ +StartTransaction +\d+ +1 +\S+ +InternalError/m);

    const transactions = JSON.parse(
      (await cpctl(socket, 'transactions', '--json')).stdout,
    ) as TransactionsReport;
    expect(transactions.running).toHaveLength(1);
    expect(transactions.running[0]).not.toHaveProperty('transactionId');
    expect(transactions.running[0]?.localId).toBe(report.deadLetters[0]?.localTxId);
    expect((await cpctl(socket, 'transactions')).stdout).toMatch(/^1 +\d+ +pending +VALID01 /m);
  });

  it('auth finds an id on the list sent by SendLocalList and one in the cache, without sending Authorize', async () => {
    const h = await start();
    await h.booted();
    const socket = h.config.cli.socket;
    expect(
      await h.csms.call(CP_ID, 'SendLocalList', {
        listVersion: 1,
        updateType: 'Full',
        localAuthorizationList: [{ idTag: 'LISTED', idTagInfo: { status: 'Accepted' } }],
      }),
    ).toEqual({ status: 'Accepted' });
    // An id the central system answered for (it is not on the list) is cached.
    await h.runtime.authorizer.authorize('CACHED1');

    const mark = h.csms.mark();
    const listed = await cpctl(socket, 'auth', 'LISTED', '--json');
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual({
      localList: { enabled: true, version: 1, size: 1 },
      cache: { enabled: true, size: 1 },
      lookup: { idTag: 'LISTED', localList: { status: 'Accepted' } },
    } satisfies AuthReport);
    const cached = JSON.parse((await cpctl(socket, 'auth', 'CACHED1', '--json')).stdout) as AuthReport;
    expect(cached.lookup).toEqual({ idTag: 'CACHED1', cache: { status: 'Accepted' } });

    const stranger = await cpctl(socket, 'auth', 'STRANGER');
    expect(stranger.code).toBe(0);
    expect(stranger.stdout).toMatch(/^STRANGER +local list +not known$/m);
    expect(stranger.stdout).toMatch(/^STRANGER +cache +not known$/m);
    const summary = await cpctl(socket, 'auth');
    expect(summary.stdout).toBe('local list  version 1, 1 entry\ncache       1 entry\n');
    expect(h.csms.calls(CP_ID, 'Authorize', mark)).toEqual([]);
  });
});

describe('cpctl operator commands against the running daemon', () => {
  const start = useHarness();

  it('availability and unlock take the OCPP paths; reconnect reconnects; log-level applies at once', async () => {
    const h = await start();
    await h.booted();
    const socket = h.config.cli.socket;

    let mark = h.csms.mark();
    expect(await cpctl(socket, 'availability', '2', 'inoperative')).toMatchObject({
      code: 0,
      stdout: 'connector 2: Inoperative\n',
    });
    await h.csms.waitForCall(CP_ID, 'StatusNotification', { since: mark, where: on(2, 'Unavailable') });
    mark = h.csms.mark();
    expect((await cpctl(socket, 'availability', '2', 'operative')).code).toBe(0);
    await h.csms.waitForCall(CP_ID, 'StatusNotification', { since: mark, where: on(2, 'Available') });
    const unknown = await cpctl(socket, 'availability', '9', 'operative');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no connector 9');

    expect(await cpctl(socket, 'unlock', '1')).toMatchObject({ code: 0, stdout: 'connector 1: Unlocked\n' });
    expect((await cpctl(socket, 'sim', 'lock-fail', '1', 'on')).code).toBe(0);
    expect(await cpctl(socket, 'unlock', '1')).toMatchObject({
      code: 1,
      stderr: 'cpctl: connector 1: UnlockFailed\n',
    });

    // A new connection: the charge point reports every connector again.
    mark = h.csms.mark();
    const connections = h.csms.handshakes.length;
    expect(await cpctl(socket, 'reconnect')).toMatchObject({ code: 0 });
    await h.csms.waitForCall(CP_ID, 'StatusNotification', { since: mark, where: on(0, 'Available') });
    expect(h.csms.handshakes.length).toBe(connections + 1);

    expect(await cpctl(socket, 'log-level', 'warn')).toMatchObject({
      code: 0,
      stdout: 'log level warn (was debug)\n',
    });
    expect(h.log.level).toBe('warn');
    expect(
      h.sink.find((l) => l.msg === 'log level changed by a technician' && l.level === 'warn'),
    ).toBeDefined();
  });

  it('reset soft stops the running transaction like OCPP Reset and ends the runtime for a restart', async () => {
    const h = await start();
    await h.booted();
    await charging(h, 'CARD02');
    const mark = h.csms.mark();
    const reset = await cpctl(h.config.cli.socket, 'reset', 'soft');
    expect(reset).toMatchObject({ code: 0 });
    expect(reset.stdout).toContain('soft reset accepted');
    expect(await h.runtime.done).toEqual({ kind: 'reset', type: 'Soft' });
    const stop = h.csms.calls(CP_ID, 'StopTransaction', mark);
    expect(stop.map((c) => (c.payload as { reason?: string }).reason)).toEqual(['SoftReset']);
  });
});

type Profile = SetChargingProfileRequest['csChargingProfiles'];

describe('cpctl limits and the limit in status, with profiles the central system installed', () => {
  const start = useHarness();

  async function setProfile(h: Harness, connectorId: number, csChargingProfiles: Profile): Promise<void> {
    expect(await h.csms.call(CP_ID, 'SetChargingProfile', { connectorId, csChargingProfiles })).toEqual({
      status: 'Accepted',
    });
  }

  async function limits(socket: string, ...args: string[]): Promise<LimitsReport> {
    const result = await cpctl(socket, 'limits', ...args, '--json');
    expect(result).toMatchObject({ code: 0, stderr: '' });
    return JSON.parse(result.stdout) as LimitsReport;
  }

  it('each period with its source: the TxDefaultProfile, the ChargePointMaxProfile, the local limit, load sharing; status shows the limit in effect', async () => {
    const h = await start();
    await h.booted();
    const socket = h.config.cli.socket;
    // On the charge point's clock: a profile starting a moment after its now would show a leading
    // second of the limit before it.
    const anchor = h.runtime.time.nowMs();
    const startSchedule = new Date(anchor).toISOString();
    // Connector 1: 16 A, after 600 s 10 A, for 1200 s; the charge point: at most 20 A.
    await setProfile(h, 1, {
      chargingProfileId: 7,
      stackLevel: 0,
      chargingProfilePurpose: 'TxDefaultProfile',
      chargingProfileKind: 'Absolute',
      chargingSchedule: {
        startSchedule,
        duration: 1200,
        chargingRateUnit: 'A',
        chargingSchedulePeriod: [
          { startPeriod: 0, limit: 16 },
          { startPeriod: 600, limit: 10 },
        ],
      },
    });
    await setProfile(h, 0, {
      chargingProfileId: 1,
      stackLevel: 0,
      chargingProfilePurpose: 'ChargePointMaxProfile',
      chargingProfileKind: 'Absolute',
      chargingSchedule: {
        startSchedule,
        chargingRateUnit: 'W',
        chargingSchedulePeriod: [{ startPeriod: 0, limit: 13_800 }],
      },
    });
    const txDefault = { kind: 'profile', profileId: 7, purpose: 'TxDefaultProfile' } as const;
    const chargePointMax = { kind: 'profile', profileId: 1, purpose: 'ChargePointMaxProfile' } as const;

    const idle = await limits(socket, '1');
    // The whole seconds from the report's start to the profile's boundaries.
    const at = (s: number) => Math.ceil((anchor + s * 1000 - idle.start) / 1000);
    expect(idle).toEqual({
      connectorId: 1,
      start: expect.any(Number),
      durationS: 86_400,
      voltageV: 230,
      phases: 3,
      periods: [
        { startPeriod: 0, limitA: 16, limitW: 11_040, numberPhases: 3, source: txDefault },
        { startPeriod: at(600), limitA: 10, limitW: 6900, numberPhases: 3, source: txDefault },
        { startPeriod: at(1200), limitA: 20, limitW: 13_800, numberPhases: 3, source: chargePointMax },
      ],
      // No session: nothing is offered (IEC 61851-1 B1), and a session would get the profile's 16 A.
      inEffect: { amps: 0, state: 'noSession', limitA: 16, source: txDefault, paused: false },
    } satisfies LimitsReport);
    expect((await cpctl(socket, 'limits', '1')).stdout).toMatch(
      /^in effect now: 0 A: no session; limit 16 A \(TxDefaultProfile #7\)$/m,
    );
    expect(Math.abs(idle.start - Date.now())).toBeLessThan(60_000);
    expect(await limits(socket, '0', '--duration', '3600')).toMatchObject({
      connectorId: 0,
      durationS: 3600,
      periods: [{ startPeriod: 0, limitA: 20, limitW: 13_800, numberPhases: 3, source: chargePointMax }],
    });
    expect(await limits(socket, '0')).not.toHaveProperty('inEffect');

    // Connector 2 under the technician's local limit.
    expect(await cpctl(socket, 'limit', '2', '8')).toMatchObject({ code: 0 });
    expect((await limits(socket, '2')).periods).toEqual([
      { startPeriod: 0, limitA: 8, limitW: 5520, numberPhases: 3, source: { kind: 'local' } },
    ]);

    // Two sessions share the charge point's 20 A: connector 2 takes its 8 A, connector 1 the 12 A left.
    await charging(h, 'VALID01', 1);
    await charging(h, 'VALID02', 2);
    const shared = await limits(socket, '1');
    const sharedAt = (s: number) => Math.ceil((anchor + s * 1000 - shared.start) / 1000);
    expect(shared.periods).toEqual([
      { startPeriod: 0, limitA: 12, limitW: 8280, numberPhases: 3, source: { kind: 'loadSharing' } },
      { startPeriod: sharedAt(600), limitA: 10, limitW: 6900, numberPhases: 3, source: txDefault },
      {
        startPeriod: sharedAt(1200),
        limitA: 12,
        limitW: 8280,
        numberPhases: 3,
        source: { kind: 'loadSharing' },
      },
    ]);
    expect(shared.inEffect).toEqual({
      amps: 12,
      state: 'offered',
      limitA: 12,
      source: { kind: 'loadSharing' },
      paused: false,
    });

    const human = await cpctl(socket, 'limits', '1');
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(
      /^connector 1: composite schedule for 24:00:00 from .* \(230 V, 3 phases\)$/m,
    );
    expect(human.stdout).toMatch(/^in effect now: 12 A \(load sharing\)$/m);
    expect(human.stdout).toMatch(/^\+0:00:00 +\S+ \S+ \S+ +12\.0 A +8280 W +3 +load sharing$/m);
    expect(human.stdout).toMatch(/^\+0:(09|10):\d\d +\S+ \S+ \S+ +10\.0 A +6900 W +3 +TxDefaultProfile #7$/m);

    const status = JSON.parse((await cpctl(socket, 'status', '--json')).stdout) as StatusReport;
    expect(
      status.connectors.map(
        ({ id, currentLimitA, offerState, compositeLimitA, limitSource, limitPaused, localLimitA }) => ({
          id,
          currentLimitA,
          offerState,
          compositeLimitA,
          limitSource,
          limitPaused,
          localLimitA,
        }),
      ),
    ).toEqual([
      {
        id: 1,
        currentLimitA: 12,
        offerState: 'offered',
        compositeLimitA: 12,
        limitSource: { kind: 'loadSharing' },
        limitPaused: false,
        localLimitA: undefined,
      },
      {
        id: 2,
        currentLimitA: 8,
        offerState: 'offered',
        compositeLimitA: 8,
        limitSource: { kind: 'local' },
        limitPaused: false,
        localLimitA: 8,
      },
    ]);
    expect(h.board.connector(1)?.devices.pilot.currentLimit()).toBe(12);
    const text = (await cpctl(socket, 'status')).stdout;
    expect(text).toContain('12 A (load sharing)');
    expect(text).toContain('8 A (local limit)');
    expect(text).toContain('local limit: 8 A');
  });

  it('an unknown connector: one line and exit 1, as the other commands', async () => {
    const h = await start();
    await h.booted();
    expect(await cpctl(h.config.cli.socket, 'limits', '9')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'cpctl: no connector 9 (connectors: 1, 2)\n',
    });
  });

  it('trace --follow into a reader that closes early (cpctl trace | head) ends quietly with 0', async () => {
    const h = await start();
    await h.booted();
    const follow = spawnCpctl(h.config.cli.socket, ['trace', '--follow']);
    await follow.output((out) => out.includes('BootNotification'), 'the first frames');
    follow.child.stdout?.destroy();
    // The next frame written finds the pipe closed.
    await cpctl(h.config.cli.socket, 'sim', 'plug', '1');
    expect(await follow.exited()).toBe(0);
    expect(follow.stderr()).toBe('');
  });
});
