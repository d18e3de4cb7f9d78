import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type GpioDeps, GpioPilot, GpioRelay, type ResolvedLine } from '../../hal/drivers/gpio-devices.js';
import { HardwareBoard } from '../../hal/hardware-board.js';
import { silentLogger } from '../../src/log.js';
import type { ChargingLimit } from '../../src/station/charging-limit.js';
import { Station } from '../../src/station/station.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeGpio } from '../support/fake-gpio.js';
import { MemoryAvailability } from '../support/memory-stores.js';
import { sixteenAmps } from '../support/sixteen-amps.js';

const L = (n: number): ResolvedLine => ({ sysfsNumber: n, name: `test-chip:${n}` });
const RELAY = 5;
const RELAY_FEEDBACK = 6;

describe('the owner of the contactor: a feedback contact it cannot read is not known open', () => {
  let gpio: FakeGpio;
  let clock: FakeClock;
  let board: HardwareBoard;
  let station: Station;
  let limit: ChargingLimit;

  beforeEach(async () => {
    gpio = new FakeGpio();
    clock = new FakeClock();
    const deps: GpioDeps = { lines: gpio.factory, clock, logger: silentLogger() };
    const relay = new GpioRelay({ line: L(RELAY), feedback: { line: L(RELAY_FEEDBACK) } }, deps);
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
    clock.advance(300);
  });

  afterEach(async () => {
    limit.close();
    station.close();
    await board.stop();
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
