import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SIM_SPEC, SimBoard } from '../../hal/sim/board.js';
import { Runtime } from '../../src/runtime.js';
import {
  charging,
  goOffline,
  type MeterValuesReq,
  type StartReq,
  type StopReq,
} from '../support/charging.js';
import { FakeClock } from '../support/fake-clock.js';
import { CP_ID, Harness, type HarnessOptions } from '../support/harness.js';

/**
 * The whole runtime in process on a fake clock whose wall time the tests step (an NTP step, a
 * manual date change) while monotonic time runs on, against the scripted central system over a
 * real WebSocket. The charger boots at 1970 (a board without an RTC); the central system's clock
 * reads CS_T0 at that moment and runs on with the monotonic clock, so every timestamp the charger
 * sends has one right value.
 */
const CS_T0 = Date.parse('2026-11-29T10:00:00.000Z');
const YEARS_57 = Date.parse('2083-11-29T10:00:00.000Z') - CS_T0;
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const iso = (ms: number) => new Date(ms).toISOString();

interface Booted {
  h: Harness;
  clock: FakeClock;
  /** What the central system's clock reads now. */
  csNow(): number;
}

const running: Harness[] = [];
afterEach(async () => {
  for (const h of running.splice(0)) await h.stop();
});

async function boot(opts: HarnessOptions = {}, waitForBoot = true): Promise<Booted> {
  const clock = new FakeClock(0);
  const csNow = () => CS_T0 + clock.monotonic();
  const h = await Harness.create({ ...opts, deferStart: true });
  running.push(h);
  h.csms.rules.heartbeatCurrentTime = () => iso(csNow());
  h.board = new SimBoard(DEFAULT_SIM_SPEC, clock);
  h.runtime = await Runtime.start({ config: h.config, log: h.log, board: h.board, clock });
  if (waitForBoot) await until(clock, () => h.runtime.registration.status === 'Accepted', 'registration');
  return { h, clock, csNow };
}

/**
 * Runs the fake clock a second at a time and lets what its timers set off reach the central system
 * in between: one jump past a call timeout while a frame is still on the (real) wire would time the
 * call out, which no real second does.
 */
async function advance(clock: FakeClock, ms: number): Promise<void> {
  let left = ms;
  do {
    const step = Math.min(left, SECOND);
    clock.advance(step);
    left -= step;
    for (let turn = 0; turn < 20; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
  } while (left > 0);
}

/**
 * Fires the timers due now (the runtime defers work with zero-delay timeouts) until `pred` holds;
 * the short real pause between rounds lets the WebSocket frames they send travel.
 */
async function until(clock: FakeClock, pred: () => boolean, what: string): Promise<void> {
  for (let turn = 0; turn < 200; turn++) {
    if (pred()) return;
    await advance(clock, 0);
    await new Promise<void>((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('one time source: the central system clock, kept on the monotonic clock', () => {
  it('a charger booted at 1970 stamps with the time BootNotification.conf gave', async () => {
    const { h, csNow } = await boot();
    const stamps = h.csms
      .calls(CP_ID, 'StatusNotification')
      .map((c) => (c.payload as { timestamp: string }).timestamp);
    expect(stamps.length).toBeGreaterThan(0);
    for (const stamp of stamps) expect(stamp).toBe(iso(csNow()));
  });

  it('an NTP step forward and back during a transaction moves no timestamp', async () => {
    const { h, clock, csNow } = await boot({ ocpp: { MeterValueSampleInterval: 30 } });
    const mark = h.csms.mark();
    const transactionId = await charging(h, 'TAG-1');
    const start = h.csms.calls(CP_ID, 'StartTransaction', mark)[0]?.payload as StartReq;
    expect(start.timestamp).toBe(iso(csNow()));
    const startedAt = csNow();

    clock.stepWall(YEARS_57);
    await advance(clock, 30 * SECOND);
    clock.stepWall(-YEARS_57 - HOUR);
    await advance(clock, 30 * SECOND);
    await until(clock, () => h.csms.calls(CP_ID, 'MeterValues', mark).length >= 2, 'two samples');
    const stopMark = h.csms.mark();
    await h.csms.call(CP_ID, 'RemoteStopTransaction', { transactionId });
    const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: stopMark });
    const finishing = await h.status(1, 'Finishing', stopMark);

    const sampled = h.csms
      .calls(CP_ID, 'MeterValues', mark)
      .map((c) => (c.payload as MeterValuesReq).meterValue[0]?.timestamp);
    expect(sampled).toEqual([iso(startedAt + 30 * SECOND), iso(startedAt + 60 * SECOND)]);
    expect((stop.payload as StopReq).timestamp).toBe(iso(csNow()));
    expect((finishing as { timestamp?: string }).timestamp).toBe(iso(csNow()));
  });

  it('an expired card, on the local list or in the cache, is refused after the wall clock steps back', async () => {
    const { h, clock, csNow } = await boot({
      ocpp: { LocalAuthListEnabled: true, LocalAuthorizeOffline: true, AuthorizationCacheEnabled: true },
    });
    const expiryDate = iso(csNow() + HOUR);
    h.csms.rules.authorize = () => ({ status: 'Accepted', expiryDate });
    await h.csms.call(CP_ID, 'SendLocalList', {
      listVersion: 1,
      updateType: 'Full',
      localAuthorizationList: [{ idTag: 'LISTED', idTagInfo: { status: 'Accepted', expiryDate } }],
    });
    expect((await h.runtime.authorizer.authorize('CACHED')).source).toBe('central');
    await goOffline(h);

    await advance(clock, 2 * HOUR);
    clock.stepWall(-3 * HOUR);
    for (const idTag of ['LISTED', 'CACHED']) {
      const decision = await h.runtime.authorizer.authorize(idTag);
      expect(decision.info.status, idTag).toBe('Expired');
    }
  });

  it('a reservation does not expire early when the wall clock steps forward', async () => {
    const { h, clock, csNow } = await boot();
    const reservation = { connectorId: 1, idTag: 'R-1', reservationId: 7 };
    const answer = await h.csms.call<{ status: string }>(CP_ID, 'ReserveNow', {
      ...reservation,
      expiryDate: iso(csNow() + 30 * MINUTE),
    });
    expect(answer.status).toBe('Accepted');

    clock.stepWall(2 * HOUR);
    await advance(clock, 5 * MINUTE);
    expect(h.runtime.reservations.all().map((r) => r.reservationId)).toEqual([7]);
    await advance(clock, 25 * MINUTE);
    expect(h.runtime.reservations.all()).toEqual([]);
  });

  it('a wall clock stepped back does not hold a Rejected charger off the central system', async () => {
    const { h, clock } = await boot(
      {
        csms: {
          rules: { boot: (_req, count) => ({ status: count === 1 ? 'Rejected' : 'Accepted', interval: 60 }) },
        },
      },
      false,
    );
    await until(clock, () => h.csms.calls(CP_ID, 'BootNotification').length > 0, 'the first boot');
    const mark = h.csms.mark();
    const closed = new Promise<void>((resolve) => h.runtime.link.once('close', () => resolve()));
    h.csms.dropConnection(CP_ID);
    await closed;
    clock.stepWall(-24 * HOUR);
    await advance(clock, SECOND);
    await until(clock, () => h.csms.isConnected(CP_ID), 'the reconnection');
    await advance(clock, MINUTE);
    await until(clock, () => h.csms.calls(CP_ID, 'BootNotification', mark).length > 0, 'a new boot');
    expect(h.runtime.registration.status).not.toBe('Rejected');
  });

  it('a step of the system clock is logged', async () => {
    const { h, clock } = await boot();
    clock.stepWall(-HOUR);
    await advance(clock, MINUTE);
    const line = await h.sink.waitFor((l) => l.msg.startsWith('system clock stepped'));
    expect(line.stepMs).toBe(-HOUR);
  });

  it('a step of the system clock reaches the central system as SettingSystemTime, stamped on the time kept', async () => {
    const { h, clock, csNow } = await boot();
    const stepped = () =>
      h.csms
        .calls(CP_ID, 'SecurityEventNotification')
        .map((c) => c.payload as { type: string; timestamp: string; techInfo?: string })
        .filter((p) => p.type === 'SettingSystemTime' && p.techInfo?.startsWith('system clock stepped'));
    clock.stepWall(-HOUR);
    await advance(clock, MINUTE);
    await until(clock, () => stepped().length === 1, 'the SettingSystemTime notification');
    const [event] = stepped();
    expect(event?.techInfo).toMatch(/^system clock stepped by -3600000 ms to /);
    // Detected within the minute that ran since the step, on the central system's timeline (not 1970).
    const at = Date.parse(event!.timestamp);
    expect(at).toBeGreaterThanOrEqual(csNow() - MINUTE - SECOND);
    expect(at).toBeLessThanOrEqual(csNow());
    expect(h.runtime.securityEvents.newest(10).map((e) => e.type)).toContain('SettingSystemTime');
  });
});
