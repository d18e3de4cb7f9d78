/**
 * The charging limit (the one owner of the pilot and the contactor) over the GPIO drivers on fake
 * lines: what it reads of a relay's feedback contact, and how a failed pilot write is logged.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GpioPilot, GpioRelay } from '../../hal/drivers/gpio-devices.js';
import { HardwareBoard } from '../../hal/hardware-board.js';
import { createLogger } from '../../src/log.js';
import type { ChargingLimit, SessionEnergy } from '../../src/station/charging-limit.js';
import { Station } from '../../src/station/station.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeGpio, testLine } from '../support/fake-gpio.js';
import { LogSink } from '../support/harness.js';
import { MemoryAvailability } from '../support/memory-stores.js';
import { sixteenAmps } from '../support/sixteen-amps.js';

const L = testLine;
const RELAY = 5;
const RELAY_FEEDBACK = 6;
const PILOT_ENABLE = 9;

let gpio: FakeGpio;
let clock: FakeClock;
let sink: LogSink;
let board: HardwareBoard;
let station: Station;
let limit: ChargingLimit;
let session: SessionEnergy;

/** One outlet: a relay with a feedback contact, a digital pilot with an enable output. */
beforeEach(async () => {
  gpio = new FakeGpio();
  clock = new FakeClock();
  sink = new LogSink();
  session = {};
  const log = createLogger({ level: 'debug', destination: sink });
  const deps = { lines: gpio.factory, clock, logger: log };
  const relay = new GpioRelay({ line: L(RELAY), feedback: { line: L(RELAY_FEEDBACK) } }, deps);
  const pilot = new GpioPilot(
    { connected: { line: L(7) }, ready: { line: L(8) }, enable: { line: L(PILOT_ENABLE) } },
    deps,
    { maxCurrentA: 32, relay },
  );
  board = new HardwareBoard({
    name: 'bench',
    connectors: [{ id: 1, fixedCable: true, maxCurrentA: 32, phases: 1, relay, pilot }],
    readers: [],
    faultInputs: [],
    log,
  });
  board.safe();
  await board.start();
  station = new Station({ board, availability: new MemoryAvailability(), clock, log });
  limit = sixteenAmps(board, station, clock, log);
  limit.attach(() => session);
});

afterEach(async () => {
  limit.close();
  station.close();
  await board.stop();
});

describe('the owner of the contactor: a feedback contact it cannot read is not known open', () => {
  beforeEach(async () => {
    await limit.start();
    clock.advance(300);
  });

  it('commanded open, its last reading open: not known open until the line reads again', async () => {
    expect(limit.contactorOpen(1)).toBe(true);
    gpio.line(RELAY_FEEDBACK).fail();
    expect(limit.contactorOpen(1)).toBe(false);
    let opened: boolean | undefined;
    const waiting = limit.untilContactorOpen(1).then((open) => {
      opened = open;
    });
    await Promise.resolve();
    expect(opened).toBeUndefined();
    gpio.line(RELAY_FEEDBACK).drive(0);
    await waiting;
    expect([opened, limit.contactorOpen(1)]).toEqual([true, true]);
  });

  it('a weld seen after the line reads again keeps it closed; its opening is awaited', async () => {
    gpio.line(RELAY_FEEDBACK).fail();
    let opened: boolean | undefined;
    const waiting = limit.untilContactorOpen(1).then((open) => {
      opened = open;
    });
    gpio.line(RELAY_FEEDBACK).drive(1);
    clock.advance(20);
    await Promise.resolve();
    expect([opened, limit.contactorOpen(1)]).toEqual([undefined, false]);
    gpio.line(RELAY_FEEDBACK).drive(0);
    clock.advance(20);
    await waiting;
    expect([opened, limit.contactorOpen(1)]).toEqual([true, true]);
  });
});

describe('a pilot write that fails is logged once', () => {
  it('by the charging limit, which commanded it, with the connector and the line', async () => {
    await limit.start();
    // A session: the limit is offered, and the enable output cannot be written.
    gpio.line(PILOT_ENABLE).failWrites = true;
    session = { transaction: { startedAt: clock.now(), withheld: false } };
    await limit.evaluate();
    expect(board.connectors[0]?.devices.pilot.currentLimit()).toBe(16);
    const errors = sink.lines.filter((l) => l.level === 'error');
    expect(errors).toEqual([
      expect.objectContaining({
        msg: 'pilot limit not commanded',
        connectorId: 1,
        err: expect.stringMatching(/^GPIO line test-chip:9 \(sysfs 9\): write failed: /),
      }),
    ]);
    expect(board.connectors[0]?.devices.pilot.health()).toMatchObject({ ok: false });
  });

  it('by the pilot when the write follows the contactor (no caller hears of it)', async () => {
    await limit.start();
    session = { transaction: { startedAt: clock.now(), withheld: false } };
    await limit.evaluate();
    gpio.line(PILOT_ENABLE).failWrites = true;
    // The EV asks (C): the contactor closes, and the pilot's permission follows it, unwritten.
    gpio.line(7).drive(1);
    gpio.line(8).drive(1);
    clock.advance(20);
    await limit.evaluate();
    expect(board.connectors[0]?.devices.relay.isClosed()).toBe(true);
    expect(sink.lines.filter((l) => l.level === 'error')).toEqual([
      expect.objectContaining({
        msg: 'pilot enable write failed',
        err: expect.objectContaining({ message: expect.stringMatching(/^GPIO line test-chip:9 /) }),
      }),
    ]);
  });
});
