/**
 * The self-test's contactor steps over the GPIO relay on fake lines: what it takes for a
 * confirmation of the feedback contact.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GpioPilot, GpioRelay } from '../../hal/drivers/gpio-devices.js';
import { HardwareBoard } from '../../hal/hardware-board.js';
import { silentLogger } from '../../src/log.js';
import type { ChargingLimit } from '../../src/station/charging-limit.js';
import { type SelfTestReport, SelfTests } from '../../src/station/self-test.js';
import { Station } from '../../src/station/station.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeGpio, testLine } from '../support/fake-gpio.js';
import { MemoryAvailability } from '../support/memory-stores.js';
import { sixteenAmps } from '../support/sixteen-amps.js';

const L = testLine;
const RELAY = 5;
const RELAY_FEEDBACK = 6;
const SETTLE_MS = 200;
const DEBOUNCE_MS = 20;

let gpio: FakeGpio;
let clock: FakeClock;
let relay: GpioRelay;
let board: HardwareBoard;
let station: Station;
let limit: ChargingLimit;
let tests: SelfTests;

/** A tethered outlet: a relay with a feedback contact, a digital pilot; no lock, meter or reader. */
beforeEach(async () => {
  gpio = new FakeGpio();
  clock = new FakeClock();
  const deps = { lines: gpio.factory, clock, logger: silentLogger() };
  relay = new GpioRelay({ line: L(RELAY), feedback: { line: L(RELAY_FEEDBACK), settleMs: SETTLE_MS } }, deps);
  const pilot = new GpioPilot({ connected: { line: L(7) }, ready: { line: L(8) } }, deps, {
    maxCurrentA: 32,
    relay,
  });
  board = new HardwareBoard({
    name: 'bench',
    connectors: [{ id: 1, fixedCable: true, maxCurrentA: 32, phases: 1, relay, pilot }],
    readers: [],
    faultInputs: [],
    log: silentLogger(),
  });
  board.safe();
  await board.start();
  station = new Station({ board, availability: new MemoryAvailability(), clock, log: silentLogger() });
  limit = sixteenAmps(board, station, clock);
  limit.attach(() => ({}));
  await limit.start();
  clock.advance(SETTLE_MS);
  tests = new SelfTests({
    board,
    station,
    sessions: { hold: () => () => {} },
    limit,
    clock,
    log: silentLogger(),
  });
});

afterEach(async () => {
  limit.close();
  station.close();
  await board.stop();
});

/** Runs the test to its end, the clock moving on whenever it waits. */
async function selfTest(): Promise<SelfTestReport> {
  const hw = station.connector(1);
  if (!hw) throw new Error('no connector 1');
  let report: SelfTestReport | undefined;
  const running = tests.run(hw).then((r) => {
    report = r;
  });
  while (!report) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    clock.advance(DEBOUNCE_MS);
  }
  await running;
  return report;
}

describe('the self-test: a feedback contact that cannot be read confirms nothing', () => {
  it('an open whose feedback line fails as it is commanded is not confirmed by the last reading', async () => {
    relay.on('change', (closed) => {
      // The contact follows the close; as the open is commanded, its line stops answering.
      if (closed) gpio.line(RELAY_FEEDBACK).drive(1);
      else gpio.line(RELAY_FEEDBACK).fail();
    });
    const report = await selfTest();
    expect(
      report.steps.filter((s) => s.step.startsWith('contactor')).map((s) => [s.step, s.result, s.detail]),
    ).toEqual([
      ['contactorClose', 'pass', 'closed, confirmed by feedback'],
      ['contactorOpen', 'fail', 'opened, not confirmed: the feedback contact cannot be read'],
    ]);
  });

  it('a last reading of open is no confirmation of the open either', async () => {
    // The contact does not follow the close (its last reading stays open); the line fails as the open is commanded.
    relay.on('change', (closed) => {
      if (!closed) gpio.line(RELAY_FEEDBACK).fail();
    });
    const report = await selfTest();
    expect(
      report.steps.filter((s) => s.step.startsWith('contactor')).map((s) => [s.step, s.result, s.detail]),
    ).toEqual([
      // The relay's own settle check finds it stuck first and the fault opens it: by the time the
      // step judges, the line has failed too.
      ['contactorClose', 'fail', 'closed, not confirmed: the feedback contact cannot be read'],
      // Its last reading, open, is older than the open: no confirmation of it.
      ['contactorOpen', 'fail', 'opened, not confirmed: the feedback contact cannot be read'],
    ]);
  });

  it('a feedback line that cannot be read before the test is no weld: the faulted contactor is not closed', async () => {
    gpio.line(RELAY_FEEDBACK).drive(1);
    clock.advance(DEBOUNCE_MS);
    gpio.line(RELAY_FEEDBACK).fail();
    const report = await selfTest();
    expect(
      report.steps.filter((s) => s.step.startsWith('contactor')).map((s) => [s.step, s.result, s.detail]),
    ).toEqual([
      [
        'contactorClose',
        'skipped',
        'connector faulted (PowerSwitchFailure: relay feedback unreadable): the contactor stays open',
      ],
    ]);
  });
});
