/**
 * The charging limit (the one owner of the contactor) over a GPIO connector lock on fake lines: a
 * lock whose feedback line cannot be read does not hold the cable as far as anyone knows.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GpioLock, GpioPilot, GpioRelay } from '../../hal/drivers/gpio-devices.js';
import { HardwareBoard } from '../../hal/hardware-board.js';
import { silentLogger } from '../../src/log.js';
import type { ChargingLimit, SessionEnergy } from '../../src/station/charging-limit.js';
import { Station } from '../../src/station/station.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeGpio, testLine } from '../support/fake-gpio.js';
import { MemoryAvailability } from '../support/memory-stores.js';
import { sixteenAmps } from '../support/sixteen-amps.js';

const L = testLine;
const RELAY = 5;
const CONNECTED = 7;
const READY = 8;
const LOCK = 10;
const LOCK_FEEDBACK = 11;

let gpio: FakeGpio;
let clock: FakeClock;
let board: HardwareBoard;
let station: Station;
let limit: ChargingLimit;
let lock: GpioLock;
let relay: GpioRelay;

/** One socket outlet with a lock and its feedback; a session runs, the EV asks (C). */
beforeEach(async () => {
  gpio = new FakeGpio();
  clock = new FakeClock();
  const deps = { lines: gpio.factory, clock, logger: silentLogger() };
  relay = new GpioRelay({ line: L(RELAY) }, deps);
  const pilot = new GpioPilot({ connected: { line: L(CONNECTED) }, ready: { line: L(READY) } }, deps, {
    maxCurrentA: 32,
    relay,
  });
  lock = new GpioLock({ line: L(LOCK), feedback: { line: L(LOCK_FEEDBACK) } }, deps);
  board = new HardwareBoard({
    name: 'bench',
    connectors: [{ id: 1, fixedCable: false, maxCurrentA: 32, phases: 1, relay, pilot, lock }],
    readers: [],
    faultInputs: [],
    log: silentLogger(),
  });
  board.safe();
  gpio.initial.set(CONNECTED, 1);
  gpio.initial.set(READY, 1);
  await board.start();
  station = new Station({ board, availability: new MemoryAvailability(), clock, log: silentLogger() });
  limit = sixteenAmps(board, station, clock);
  const session: SessionEnergy = { transaction: { startedAt: clock.now(), withheld: false } };
  limit.attach(() => session);
  await limit.start();
  const locking = lock.lock();
  gpio.line(LOCK_FEEDBACK).drive(1);
  clock.advance(20);
  expect(await locking).toBe(true);
  await limit.evaluate();
  expect(relay.isClosed()).toBe(true);
});

afterEach(async () => {
  limit.close();
  station.close();
  await board.stop();
});

describe('the owner of the contactor: a lock whose feedback cannot be read does not hold the cable', () => {
  it('the contactor opens while the line is unreadable, and closes again once it reads locked', async () => {
    gpio.line(LOCK_FEEDBACK).fail();
    await limit.evaluate();
    expect([relay.isClosed(), station.connector(1)?.fault()?.fault]).toEqual([false, 'ConnectorLockFailure']);

    gpio.line(LOCK_FEEDBACK).drive(1);
    await limit.evaluate();
    expect([relay.isClosed(), station.connector(1)?.fault()]).toEqual([true, undefined]);
  });
});
