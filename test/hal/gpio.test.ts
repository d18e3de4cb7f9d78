import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type GpioDirection, type GpioLine, sysfsLineFactory } from '../../hal/drivers/gpio-adapter.js';
import {
  type GpioDeps,
  GpioFaultInput,
  GpioInput,
  GpioLock,
  GpioPilot,
  GpioRelay,
} from '../../hal/drivers/gpio-devices.js';
import {
  type GpioRelayBoardOptions,
  gpioFaultInputOptionsSchema,
  gpioLockOptionsSchema,
  gpioPilotOptionsSchema,
  gpioRelayOptionsSchema,
  resolveLine,
  resolveLines,
} from '../../hal/drivers/gpio-lines.js';
import { HardwareBoard } from '../../hal/hardware-board.js';
import { SimRelay } from '../../hal/sim/devices.js';
import { BoardConfigurationError, type DeviceHealth, type PilotState } from '../../hal/types.js';
import { buildBoard, parseBoardFile } from '../../src/config/board-file.js';
import { silentLogger } from '../../src/log.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeGpio, FakeSysfs, testLine } from '../support/fake-gpio.js';

const L = testLine;

let gpio: FakeGpio;
let clock: FakeClock;
let deps: GpioDeps;

beforeEach(() => {
  gpio = new FakeGpio();
  clock = new FakeClock();
  deps = { lines: gpio.factory, clock, logger: silentLogger() };
});

function record<T>(emitter: { on(event: string, fn: (v: T) => void): unknown }, event: string): T[] {
  const seen: T[] = [];
  emitter.on(event, (v: T) => seen.push(v));
  return seen;
}

describe('line resolution (sysfs numbering)', () => {
  let root: string;

  function chip(dir: string, label: string, base: number, ngpio: number): void {
    const path = join(root, 'class', 'gpio', dir);
    mkdirSync(path, { recursive: true });
    writeFileSync(join(path, 'label'), `${label}\n`);
    writeFileSync(join(path, 'base'), `${base}\n`);
    writeFileSync(join(path, 'ngpio'), `${ngpio}\n`);
  }

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'gpio-sysfs-'));
  });

  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('adds the offset to a base of 0 (kernels before 6.6)', () => {
    chip('gpiochip0', 'pinctrl-bcm2711', 0, 58);
    chip('gpiochip504', 'raspberrypi-exp-gpio', 504, 8);
    expect(resolveLine({ chip: 'pinctrl-bcm2711', offset: 17 }, root)).toBe(17);
    expect(resolveLine({ chip: 'raspberrypi-exp-gpio', offset: 2 }, root)).toBe(506);
  });

  it('adds the offset to a shifted base of 512 (kernels 6.6 and later)', () => {
    chip('gpiochip512', 'pinctrl-bcm2711', 512, 58);
    chip('gpiochip570', 'raspberrypi-exp-gpio', 570, 8);
    expect(resolveLine({ chip: 'pinctrl-bcm2711', offset: 17 }, root)).toBe(529);
    expect(resolveLine({ chip: 'raspberrypi-exp-gpio', offset: 7 }, root)).toBe(577);
  });

  it('names the line and the chips it found when the label is unknown', () => {
    chip('gpiochip512', 'pinctrl-bcm2711', 512, 58);
    expect(() => resolveLine({ chip: 'pinctrl-rp1', offset: 4 }, root)).toThrow(
      /GPIO line pinctrl-rp1:4: no gpiochip labelled "pinctrl-rp1" .*found: "pinctrl-bcm2711"/,
    );
  });

  it('refuses a gpiochipN name, which shifts between kernels', () => {
    chip('gpiochip512', 'pinctrl-bcm2711', 512, 58);
    expect(() => resolveLine({ chip: 'gpiochip512', offset: 17 }, root)).toThrow(
      /name the chip by its label/,
    );
  });

  it('rejects an offset beyond the chip, naming the chip and line', () => {
    chip('gpiochip512', 'pinctrl-bcm2711', 512, 58);
    expect(resolveLine({ chip: 'pinctrl-bcm2711', offset: 57 }, root)).toBe(569);
    expect(() => resolveLine({ chip: 'pinctrl-bcm2711', offset: 58 }, root)).toThrow(
      'GPIO line pinctrl-bcm2711:58: offset 58 is out of range; chip "pinctrl-bcm2711" has 58 lines (0-57)',
    );
    expect(() => resolveLine({ chip: 'pinctrl-bcm2711', offset: -1 }, root)).toThrow(/out of range/);
  });

  it('rejects a label shared by two chips', () => {
    chip('gpiochip496', 'pca9555', 496, 16);
    chip('gpiochip480', 'pca9555', 480, 16);
    expect(() => resolveLine({ chip: 'pca9555', offset: 1 }, root)).toThrow(
      /2 gpiochips are labelled "pca9555" \(gpiochip480, gpiochip496\)/,
    );
  });

  it('explains a missing GPIO sysfs interface', () => {
    expect(() => resolveLine({ chip: 'pinctrl-bcm2711', offset: 17 }, root)).toThrow(
      /no GPIO sysfs interface/,
    );
  });

  it('resolves every line of a device option object', () => {
    chip('gpiochip512', 'pinctrl-bcm2711', 512, 58);
    const board: GpioRelayBoardOptions = {
      driver: 'gpio',
      line: { chip: 'pinctrl-bcm2711', offset: 5 },
      activeLow: true,
      feedback: { line: { chip: 'pinctrl-bcm2711', offset: 6 }, settleMs: 200 },
    };
    expect(resolveLines(board, root)).toEqual({
      driver: 'gpio',
      line: { sysfsNumber: 517, name: 'pinctrl-bcm2711:5' },
      activeLow: true,
      feedback: { line: { sysfsNumber: 518, name: 'pinctrl-bcm2711:6' }, settleMs: 200 },
    });
  });

  it('feeds a device straight from its board-file options', async () => {
    chip('gpiochip512', 'pinctrl-bcm2711', 512, 58);
    const board: GpioRelayBoardOptions = {
      driver: 'gpio',
      line: { chip: 'pinctrl-bcm2711', offset: 5 },
      activeLow: true,
    };
    const relay = new GpioRelay(resolveLines(board, root), deps);
    await relay.start();
    expect(gpio.line(517).direction).toBe('high');
  });
});

describe('board-file schemas', () => {
  const ajv = new Ajv({ strict: true, allowUnionTypes: true });
  const line = { chip: 'pinctrl-bcm2711', offset: 17 };

  it('accept complete device entries', () => {
    expect(
      ajv.validate(gpioRelayOptionsSchema, {
        driver: 'gpio',
        line,
        activeLow: true,
        feedback: { line, activeLow: false, settleMs: 250 },
      }),
    ).toBe(true);
    expect(
      ajv.validate(gpioPilotOptionsSchema, {
        driver: 'gpio',
        connected: { line, debounceMs: 50 },
        ready: { line, activeLow: true },
        fault: { line },
        enable: { line },
      }),
    ).toBe(true);
    expect(
      ajv.validate(gpioLockOptionsSchema, { driver: 'gpio', line, feedback: { line }, timeoutMs: 1500 }),
    ).toBe(true);
    expect(ajv.validate(gpioFaultInputOptionsSchema, { driver: 'gpio', kind: 'tamper', line })).toBe(true);
  });

  it('reject unknown fields, raw numbers and unknown kinds', () => {
    expect(ajv.validate(gpioRelayOptionsSchema, { driver: 'gpio', line, actveLow: true })).toBe(false);
    expect(ajv.validate(gpioRelayOptionsSchema, { driver: 'gpio', line: 17 })).toBe(false);
    expect(ajv.validate(gpioRelayOptionsSchema, { driver: 'gpio', line: { ...line, pin: 3 } })).toBe(false);
    expect(ajv.validate(gpioPilotOptionsSchema, { driver: 'gpio', connected: { line } })).toBe(false);
    expect(ajv.validate(gpioFaultInputOptionsSchema, { driver: 'gpio', kind: 'doorOpen', line })).toBe(false);
    expect(ajv.validate(gpioLockOptionsSchema, { driver: 'modbus', line })).toBe(false);
  });
});

describe('GpioInput (debounce, active-low)', () => {
  it('emits a change once, after the new level has been stable for debounceMs', () => {
    const input = new GpioInput({ line: L(4), debounceMs: 30 }, deps);
    const changes = record<boolean>(input, 'change');
    input.open();
    const pin = gpio.line(4);
    expect(pin.direction).toBe('in');
    expect(pin.edge).toBe('both');

    pin.drive(1);
    clock.advance(29);
    expect(changes).toEqual([]);
    pin.drive(1);
    clock.advance(29);
    expect(changes).toEqual([]);
    clock.advance(1);
    expect(changes).toEqual([true]);
    expect(input.isActive()).toBe(true);
    clock.advance(1000);
    expect(changes).toEqual([true]);
  });

  it('ignores a glitch shorter than the debounce time', () => {
    const input = new GpioInput({ line: L(4) }, deps);
    const changes = record<boolean>(input, 'change');
    input.open();
    gpio.line(4).drive(1);
    clock.advance(15);
    gpio.line(4).drive(0);
    clock.advance(1000);
    expect(changes).toEqual([]);
    expect(input.isActive()).toBe(false);
  });

  it('reads an active-low line as active at electrical low, from the first read on', () => {
    gpio.initial.set(4, 0);
    const input = new GpioInput({ line: L(4), activeLow: true }, deps);
    input.open();
    expect(input.isActive()).toBe(true);
    gpio.line(4).drive(1);
    clock.advance(20);
    expect(input.isActive()).toBe(false);
  });

  it('reports an unreadable line and recovers on the next level', () => {
    const input = new GpioInput({ line: L(4) }, deps);
    const readable = record<boolean>(input, 'readable');
    input.open();
    gpio.line(4).fail();
    gpio.line(4).fail();
    expect(input.readable()).toBe(false);
    gpio.line(4).drive(0);
    expect(input.readable()).toBe(true);
    expect(readable).toEqual([false, true]);
  });
});

describe('GpioRelay', () => {
  function relay(feedback = true): GpioRelay {
    return new GpioRelay({ line: L(5), ...(feedback ? { feedback: { line: L(6) } } : {}) }, deps);
  }

  it('opens an active-low output inactive (high) and drives it low to close', async () => {
    const r = new GpioRelay({ line: L(5), activeLow: true }, deps);
    await r.start();
    const out = gpio.line(5);
    expect(out.direction).toBe('high');
    await r.set(true);
    await r.set(false);
    expect(out.writes).toEqual([0, 1]);
  });

  it('drives an active-high output high to close', async () => {
    const r = relay(false);
    await r.start();
    expect(gpio.line(5).direction).toBe('low');
    await r.set(true);
    expect(gpio.line(5).writes).toEqual([1]);
    expect(r.isClosed()).toBe(true);
    expect(r.feedback()).toBeUndefined();
  });

  it("emits 'change' when the commanded state changes", async () => {
    const r = relay(false);
    const changes = record<boolean>(r, 'change');
    await r.start();
    await r.set(true);
    await r.set(true);
    await r.set(false);
    expect(changes).toEqual([true, false]);
  });

  it('is healthy when the contact follows within the settle time', async () => {
    const r = relay();
    const health = record<DeviceHealth>(r, 'health');
    await r.start();
    await r.set(true);
    clock.advance(100);
    gpio.line(6).drive(1);
    clock.advance(1000);
    expect(r.feedback()).toBe(true);
    expect(r.health()).toEqual({ ok: true });
    expect(health).toEqual([]);
  });

  it("emits 'feedback' for each debounced change of the contact, and tells its settle time", async () => {
    const r = relay();
    const contacts = record<boolean>(r, 'feedback');
    await r.start();
    expect(r.feedbackSettleMs).toBe(300);
    expect(relay(false).feedbackSettleMs).toBeUndefined();
    await r.set(true);
    gpio.line(6).drive(1);
    clock.advance(20);
    gpio.line(6).drive(0);
    clock.advance(20);
    expect(contacts).toEqual([true, false]);
  });

  it('judges a contact that bounces while settling only once settled', async () => {
    const r = relay();
    const health = record<DeviceHealth>(r, 'health');
    await r.start();
    clock.advance(300);
    await r.set(true);
    gpio.line(6).drive(1);
    clock.advance(50);
    gpio.line(6).drive(0);
    clock.advance(50);
    gpio.line(6).drive(1);
    clock.advance(1000);
    expect(health).toEqual([]);
  });

  it('reports a contactor that did not close after the settle time, and recovers', async () => {
    const r = relay();
    const health = record<DeviceHealth>(r, 'health');
    await r.start();
    await r.set(true);
    clock.advance(299);
    expect(r.health().ok).toBe(true);
    clock.advance(1);
    expect(r.health()).toEqual({ ok: false, fault: 'PowerSwitchFailure', info: 'contactor did not close' });

    gpio.line(6).drive(1);
    clock.advance(20);
    expect(r.health()).toEqual({ ok: true });
    expect(health).toEqual([
      { ok: false, fault: 'PowerSwitchFailure', info: 'contactor did not close' },
      { ok: true },
    ]);
  });

  it('reports a welded contactor that stays closed after opening', async () => {
    const r = relay();
    await r.start();
    await r.set(true);
    gpio.line(6).drive(1);
    clock.advance(300);
    await r.set(false);
    clock.advance(300);
    expect(r.health()).toEqual({ ok: false, fault: 'PowerSwitchFailure', info: 'contactor welded' });
  });

  it('reports a contact found closed at start as welded', async () => {
    gpio.initial.set(6, 1);
    const r = relay();
    await r.start();
    clock.advance(300);
    expect(r.health()).toEqual({ ok: false, fault: 'PowerSwitchFailure', info: 'contactor welded' });
  });

  it('faults a contact found closed at start at once, until a settled reading agrees', async () => {
    gpio.initial.set(6, 1);
    const r = relay();
    const health = record<DeviceHealth>(r, 'health');
    await r.start();
    // Commanded open, found closed: welded, or still opening after a previous run closed it.
    const welded: DeviceHealth = { ok: false, fault: 'PowerSwitchFailure', info: 'contactor welded' };
    expect(r.health()).toEqual(welded);
    // It was still opening: it opens within the settle time, and only the settled reading clears it.
    clock.advance(100);
    gpio.line(6).drive(0);
    clock.advance(20);
    expect(r.health()).toEqual(welded);
    clock.advance(179);
    expect(r.health()).toEqual(welded);
    clock.advance(1);
    expect(r.health()).toEqual({ ok: true });
    expect(health).toEqual([welded, { ok: true }]);
  });

  it('is healthy at once when the contact is found open at start', async () => {
    const r = relay();
    const health = record<DeviceHealth>(r, 'health');
    await r.start();
    expect(r.health()).toEqual({ ok: true });
    clock.advance(300);
    expect(health).toEqual([]);
  });

  it('reports a contact that closes during operation while commanded open', async () => {
    const r = relay();
    await r.start();
    clock.advance(300);
    expect(r.health().ok).toBe(true);
    gpio.line(6).drive(1);
    clock.advance(20);
    expect(r.health()).toEqual({ ok: false, fault: 'PowerSwitchFailure', info: 'contactor welded' });
    gpio.line(6).drive(0);
    clock.advance(20);
    expect(r.health()).toEqual({ ok: true });
  });

  it('reports a contact that drops out while commanded closed', async () => {
    const r = relay();
    await r.start();
    await r.set(true);
    gpio.line(6).drive(1);
    clock.advance(300);
    gpio.line(6).drive(0);
    clock.advance(20);
    expect(r.health()).toEqual({
      ok: false,
      fault: 'PowerSwitchFailure',
      info: 'contactor opened while commanded closed',
    });
  });

  it('reports an unreadable feedback line', async () => {
    const r = relay();
    await r.start();
    gpio.line(6).fail();
    expect(r.health()).toEqual({ ok: false, fault: 'PowerSwitchFailure', info: 'relay feedback unreadable' });
    gpio.line(6).drive(0);
    expect(r.health()).toEqual({ ok: true });
  });

  it('says its contact is unknown while the feedback line cannot be read, until a level read again has held', async () => {
    const r = relay();
    const contacts = record<boolean>(r, 'feedback');
    await r.start();
    clock.advance(300);
    expect([r.feedback(), r.feedbackReadable()]).toEqual([false, true]);
    // The last reading, open, is stale now: the contact may have welded meanwhile.
    gpio.line(6).fail();
    expect([r.feedback(), r.feedbackReadable()]).toEqual([false, false]);
    // It reads again, closed: until that has held, the stale open reading is no reading.
    gpio.line(6).drive(1);
    clock.advance(19);
    expect(r.feedbackReadable()).toBe(false);
    clock.advance(1);
    expect([r.feedback(), r.feedbackReadable()]).toEqual([true, true]);
    expect(contacts).toEqual([true]);
    // Unreadable again, then the same level: known at once, and announced to whoever waits for it.
    gpio.line(6).fail();
    expect(r.feedbackReadable()).toBe(false);
    gpio.line(6).drive(1);
    expect(r.feedbackReadable()).toBe(true);
    expect(contacts).toEqual([true, true]);
    expect(relay(false).feedbackReadable()).toBe(true);
  });

  it('rejects a command the output cannot take and reports it', async () => {
    const r = relay(false);
    await r.start();
    gpio.line(5).failWrites = true;
    await expect(r.set(true)).rejects.toThrow(/GPIO line test-chip:5 \(sysfs 5\): write failed/);
    expect(r.isClosed()).toBe(false);
    expect(r.health()).toEqual({ ok: false, fault: 'PowerSwitchFailure', info: 'relay output write failed' });
    gpio.line(5).failWrites = false;
    await r.set(true);
    expect(r.health()).toEqual({ ok: true });
  });

  it('opens the contactor and releases its lines on stop', async () => {
    const r = relay();
    await r.start();
    await r.set(true);
    await r.stop();
    expect(gpio.line(5).writes).toEqual([1, 0]);
    expect(gpio.line(5).closed).toBe(true);
    expect(gpio.line(6).closed).toBe(true);
  });

  it('fails to start naming the line, and leaves no line open', async () => {
    gpio.refuse.add(6);
    const r = relay();
    await expect(r.start()).rejects.toThrow(
      /GPIO line test-chip:6 \(sysfs 6\): cannot open as input: EACCES: permission denied/,
    );
    expect(gpio.line(5).closed).toBe(true);
  });
});

describe('GpioPilot', () => {
  let relay: SimRelay;

  function pilot(extra: { fault?: boolean; enable?: boolean } = {}): GpioPilot {
    return new GpioPilot(
      {
        connected: { line: L(10) },
        ready: { line: L(11), activeLow: true },
        ...(extra.fault ? { fault: { line: L(12) } } : {}),
        ...(extra.enable ? { enable: { line: L(13) } } : {}),
      },
      deps,
      { maxCurrentA: 32, relay },
    );
  }

  beforeEach(() => {
    relay = new SimRelay();
    gpio.initial.set(11, 1); // active-low ready: not asserted
  });

  it("follows A -> B -> C -> B -> A with a 'state' event on each change", async () => {
    const p = pilot();
    const states = record<PilotState>(p, 'state');
    await p.start();
    expect(p.state()).toBe('A');
    gpio.line(10).drive(1);
    clock.advance(20);
    expect(p.state()).toBe('B');
    gpio.line(11).drive(0);
    clock.advance(20);
    expect(p.state()).toBe('C');
    gpio.line(11).drive(1);
    clock.advance(20);
    gpio.line(10).drive(0);
    clock.advance(20);
    expect(states).toEqual(['B', 'C', 'B', 'A']);
    expect(p.health()).toEqual({ ok: true });
  });

  it('ignores ready while no EV is connected', async () => {
    const p = pilot();
    const states = record<PilotState>(p, 'state');
    await p.start();
    gpio.line(11).drive(0);
    clock.advance(20);
    expect(p.state()).toBe('A');
    gpio.line(10).drive(1);
    clock.advance(20);
    expect(states).toEqual(['C']);
  });

  it('announces the state found at start', async () => {
    gpio.initial.set(10, 1);
    const p = pilot();
    const states = record<PilotState>(p, 'state');
    await p.start();
    expect(states).toEqual(['B']);
  });

  it('goes to F with EVCommunicationError while the fault input is active', async () => {
    const p = pilot({ fault: true });
    const health = record<DeviceHealth>(p, 'health');
    await p.start();
    gpio.line(10).drive(1);
    clock.advance(20);
    gpio.line(12).drive(1);
    clock.advance(20);
    expect(p.state()).toBe('F');
    expect(p.health()).toEqual({
      ok: false,
      fault: 'EVCommunicationError',
      info: 'pilot fault input active',
    });
    gpio.line(12).drive(0);
    clock.advance(20);
    expect(p.state()).toBe('B');
    expect(health).toEqual([
      { ok: false, fault: 'EVCommunicationError', info: 'pilot fault input active' },
      { ok: true },
    ]);
  });

  it('reports an input it cannot read', async () => {
    const p = pilot();
    await p.start();
    gpio.line(11).fail();
    expect(p.health()).toEqual({
      ok: false,
      fault: 'EVCommunicationError',
      info: 'pilot ready input unreadable',
    });
  });

  it('offers the outlet maximum, and gives permission only while the relay is closed and current is offered', async () => {
    const p = pilot({ enable: true });
    expect(p.currentLimit()).toBe(32);
    await p.start();
    const enable = gpio.line(13);
    expect(enable.direction).toBe('low');
    expect(enable.level).toBe(0);
    await relay.set(true);
    expect(enable.level).toBe(1);
    await p.setCurrentLimit(0);
    expect(p.currentLimit()).toBe(0);
    expect(enable.level).toBe(0);
    await p.setCurrentLimit(10);
    expect(enable.level).toBe(1);
    await relay.set(false);
    expect(enable.level).toBe(0);
    await expect(p.setCurrentLimit(-1)).rejects.toThrow(RangeError);
    await relay.set(true);
    expect(enable.level).toBe(1);
    await p.stop();
    expect(enable.level).toBe(0);
    expect(enable.closed).toBe(true);
  });

  it('reports an enable output it cannot write', async () => {
    const p = pilot({ enable: true });
    await p.start();
    await relay.set(true);
    gpio.line(13).failWrites = true;
    await expect(p.setCurrentLimit(32)).rejects.toThrow(/test-chip:13/);
    expect(p.health()).toEqual({
      ok: false,
      fault: 'InternalError',
      info: 'pilot enable output write failed',
    });
    gpio.line(13).failWrites = false;
    await p.setCurrentLimit(32);
    expect(p.health()).toEqual({ ok: true });
  });
});

describe('GpioLock', () => {
  it('without feedback, confirms at once and drives the output (active-low)', async () => {
    const lock = new GpioLock({ line: L(20), activeLow: true }, deps);
    await lock.start();
    expect(gpio.line(20).direction).toBe('high');
    expect(await lock.lock()).toBe(true);
    expect(lock.isLocked()).toBe(true);
    expect(await lock.unlock()).toBe(true);
    expect(lock.isLocked()).toBe(false);
    expect(gpio.line(20).writes).toEqual([0, 1]);
  });

  it('with feedback, resolves true once the feedback confirms', async () => {
    const lock = new GpioLock({ line: L(20), feedback: { line: L(21) } }, deps);
    await lock.start();
    const locking = lock.lock();
    expect(lock.feedback()).toBe(false);
    clock.advance(400);
    gpio.line(21).drive(1);
    clock.advance(20);
    expect(await locking).toBe(true);
    expect(lock.feedback()).toBe(true);
    expect(lock.isLocked()).toBe(true);
    expect(lock.health()).toEqual({ ok: true });
  });

  it('fails with ConnectorLockFailure when feedback does not confirm in time, and recovers', async () => {
    const lock = new GpioLock({ line: L(20), feedback: { line: L(21) }, timeoutMs: 500 }, deps);
    const health = record<DeviceHealth>(lock, 'health');
    await lock.start();
    const locking = lock.lock();
    clock.advance(500);
    expect(await locking).toBe(false);
    expect(lock.isLocked()).toBe(false);
    expect(lock.health()).toEqual({
      ok: false,
      fault: 'ConnectorLockFailure',
      info: 'lock not confirmed by feedback within 500 ms',
    });

    const retry = lock.lock();
    gpio.line(21).drive(1);
    clock.advance(20);
    expect(await retry).toBe(true);
    expect(health).toEqual([
      { ok: false, fault: 'ConnectorLockFailure', info: 'lock not confirmed by feedback within 500 ms' },
      { ok: true },
    ]);
  });

  it('fails an unlock that feedback does not confirm', async () => {
    gpio.initial.set(21, 1);
    const lock = new GpioLock({ line: L(20), feedback: { line: L(21) } }, deps);
    await lock.start();
    const unlocking = lock.unlock();
    clock.advance(1000);
    expect(await unlocking).toBe(false);
    expect(lock.health()).toEqual({
      ok: false,
      fault: 'ConnectorLockFailure',
      info: 'unlock not confirmed by feedback within 1000 ms',
    });
  });

  it('settles a superseded command as false without a fault', async () => {
    const lock = new GpioLock({ line: L(20), feedback: { line: L(21) } }, deps);
    await lock.start();
    const locking = lock.lock();
    const unlocking = lock.unlock();
    expect(await locking).toBe(false);
    expect(await unlocking).toBe(true);
    expect(lock.health()).toEqual({ ok: true });
  });

  it('feedback that leaves the commanded state by itself is a failure until the next success', async () => {
    const lock = new GpioLock({ line: L(20), feedback: { line: L(21) } }, deps);
    await lock.start();
    const locking = lock.lock();
    gpio.line(21).drive(1);
    clock.advance(20);
    expect(await locking).toBe(true);
    // The cable is forced out under a session.
    gpio.line(21).drive(0);
    clock.advance(20);
    expect(lock.health()).toEqual({
      ok: false,
      fault: 'ConnectorLockFailure',
      info: 'lock released while commanded locked',
    });
    expect(await lock.unlock()).toBe(true);
    expect(lock.health()).toEqual({ ok: true });
  });

  it('is not known locked while its feedback line cannot be read: a fault until the line reads again', async () => {
    const lock = new GpioLock({ line: L(20), feedback: { line: L(21) } }, deps);
    const health = record<DeviceHealth>(lock, 'health');
    await lock.start();
    const locking = lock.lock();
    gpio.line(21).drive(1);
    clock.advance(20);
    expect(await locking).toBe(true);
    // The last reading, locked, is stale now: the cable may have been forced out meanwhile.
    gpio.line(21).fail();
    expect([lock.isLocked(), lock.feedback(), lock.feedbackReadable()]).toEqual([false, true, false]);
    expect(lock.health()).toEqual({
      ok: false,
      fault: 'ConnectorLockFailure',
      info: 'lock feedback unreadable',
    });
    // It reads again, locked: known at once, and the fault clears.
    gpio.line(21).drive(1);
    expect([lock.isLocked(), lock.feedbackReadable()]).toEqual([true, true]);
    expect(health).toEqual([
      { ok: false, fault: 'ConnectorLockFailure', info: 'lock feedback unreadable' },
      { ok: true },
    ]);
    expect(new GpioLock({ line: L(22) }, deps).feedbackReadable()).toBe(true);
  });

  it('a stale reading confirms no command: it waits for the line to read again', async () => {
    gpio.initial.set(21, 1);
    const lock = new GpioLock({ line: L(20), feedback: { line: L(21) }, timeoutMs: 500 }, deps);
    await lock.start();
    gpio.line(21).fail();
    let locked: boolean | undefined;
    const locking = lock.lock().then((ok) => {
      locked = ok;
    });
    await nextTurn();
    expect([locked, lock.isLocked()]).toEqual([undefined, false]);
    // A level that differs from the stale one counts once it has held; it still is not locked.
    gpio.line(21).drive(0);
    clock.advance(20);
    await nextTurn();
    expect([locked, lock.isLocked()]).toEqual([undefined, false]);
    gpio.line(21).drive(1);
    clock.advance(20);
    await locking;
    expect([locked, lock.isLocked()]).toEqual([true, true]);
    expect(lock.health()).toEqual({ ok: true });

    // Unreadable through the whole timeout: the lock failed.
    gpio.line(21).fail();
    const relocking = lock.lock();
    clock.advance(500);
    expect(await relocking).toBe(false);
    expect(lock.isLocked()).toBe(false);
  });

  it('reports a lock output it cannot write', async () => {
    const lock = new GpioLock({ line: L(20) }, deps);
    await lock.start();
    gpio.line(20).failWrites = true;
    expect(await lock.lock()).toBe(false);
    expect(lock.health()).toEqual({
      ok: false,
      fault: 'ConnectorLockFailure',
      info: 'lock output write failed',
    });
  });
});

describe('GpioFaultInput', () => {
  it('reports its kind and debounced, active-low state', async () => {
    gpio.initial.set(30, 1);
    const estop = new GpioFaultInput({ kind: 'emergencyStop', line: L(30), activeLow: true }, deps);
    const changes = record<boolean>(estop, 'change');
    await estop.start();
    expect(estop.kind).toBe('emergencyStop');
    expect(estop.isActive()).toBe(false);
    gpio.line(30).drive(0);
    clock.advance(5);
    gpio.line(30).drive(1);
    clock.advance(100);
    expect(changes).toEqual([]);
    gpio.line(30).drive(0);
    clock.advance(20);
    expect(estop.isActive()).toBe(true);
    gpio.line(30).drive(1);
    clock.advance(20);
    expect(changes).toEqual([true, false]);
  });

  it('announces an input already active at start', async () => {
    gpio.initial.set(31, 1);
    const tamper = new GpioFaultInput({ kind: 'tamper', line: L(31) }, deps);
    const changes = record<boolean>(tamper, 'change');
    await tamper.start();
    expect(changes).toEqual([true]);
  });

  it('counts as active while it cannot be read', async () => {
    const estop = new GpioFaultInput({ kind: 'emergencyStop', line: L(30) }, deps);
    await estop.start();
    expect(estop.readable()).toBe(true);
    gpio.line(30).fail();
    expect(estop.isActive()).toBe(true);
    expect(estop.readable()).toBe(false);
    gpio.line(30).drive(0);
    expect(estop.isActive()).toBe(false);
    expect(estop.readable()).toBe(true);
  });

  it('fails to start naming the line', async () => {
    gpio.refuse.add(30);
    const estop = new GpioFaultInput({ kind: 'emergencyStop', line: L(30) }, deps);
    await expect(estop.start()).rejects.toThrow(/GPIO line test-chip:30 \(sysfs 30\): cannot open as input/);
  });
});

describe('HardwareBoard.safe: outputs first, before any device starts', () => {
  function board(): HardwareBoard {
    const outlet = (id: number, relayLine: number, enableLine: number, activeLow: boolean) => {
      const relay = new GpioRelay({ line: L(relayLine), activeLow }, deps);
      const pilot = new GpioPilot(
        {
          connected: { line: L(relayLine + 2) },
          ready: { line: L(relayLine + 3) },
          enable: { line: L(enableLine) },
        },
        deps,
        { maxCurrentA: 32, relay },
      );
      return { id, fixedCable: true, maxCurrentA: 32, phases: 1 as const, relay, pilot };
    };
    return new HardwareBoard({
      name: 'bench',
      connectors: [outlet(1, 10, 11, false), outlet(2, 20, 21, true)],
      readers: [],
      faultInputs: [new GpioFaultInput({ kind: 'emergencyStop', line: L(30) }, deps)],
      log: silentLogger(),
    });
  }

  it('drives every relay open and every permission off, even past an output that fails, then names it', async () => {
    gpio.refuse.add(10);
    const b = board();
    expect(() => b.safe()).toThrow(/connector 1 relay: GPIO line test-chip:10/);
    // Opened at the inactive level and written so: raw 1 for the active-low relay.
    expect([gpio.line(11).direction, gpio.line(11).writes]).toEqual(['low', [0]]);
    expect([gpio.line(20).direction, gpio.line(20).writes]).toEqual(['high', [1]]);
    expect([gpio.line(21).direction, gpio.line(21).writes]).toEqual(['low', [0]]);
    // Nothing else was opened: no input, no fault input.
    expect([...gpio.lines.keys()].sort()).toEqual([11, 20, 21]);
    await b.stop();
    expect([11, 20, 21].map((n) => gpio.line(n).closed)).toEqual([true, true, true]);
    expect(gpio.line(20).level).toBe(1);
  });

  it('a start after safe() keeps the outputs it opened, and stop() releases everything once', async () => {
    const b = board();
    b.safe();
    await b.start();
    expect(b.connectors[0]?.devices.relay.isClosed()).toBe(false);
    await b.connectors[0]?.devices.relay.set(true);
    expect(gpio.line(10).level).toBe(1);
    await b.stop();
    expect(gpio.line(10).level).toBe(0);
    expect([10, 11, 20, 21, 30].map((n) => gpio.line(n).closed)).toEqual([true, true, true, true, true]);
  });
});

describe("sysfs lines under the board's sysfsRoot", () => {
  let root: string;
  let sysfs: FakeSysfs;
  const opened: GpioLine[] = [];

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'gpio-tree-'));
    sysfs = new FakeSysfs(root).chip('pinctrl-bcm2711', 512, 8);
  });
  afterEach(() => {
    for (const line of opened.splice(0)) line.close();
    rmSync(root, { recursive: true, force: true });
  });

  function open(n: number, direction: GpioDirection, edge: 'none' | 'both'): GpioLine {
    const line = sysfsLineFactory(root)(n, direction, edge);
    opened.push(line);
    return line;
  }

  it('opens an input there, reads its level and reports each edge', async () => {
    sysfs.drive(513, 1);
    const input = open(513, 'in', 'both');
    expect(sysfs.direction(513)).toBe('in');
    expect(readFileSync(join(root, 'class/gpio/gpio513/edge'), 'utf8')).toBe('both');
    expect(input.read()).toBe(1);
    const edges: Array<0 | 1> = [];
    const fell = new Promise<void>((resolve) =>
      input.watch(
        (v) => {
          edges.push(v);
          if (v === 0) resolve();
        },
        (err) => {
          throw err;
        },
      ),
    );
    sysfs.drive(513, 0);
    await fell;
    expect(edges.at(-1)).toBe(0);
  });

  it('opens an output there at the requested level and writes it', () => {
    const output = open(514, 'low', 'none');
    expect(sysfs.direction(514)).toBe('low');
    output.write(1);
    expect(sysfs.level(514)).toBe(1);
    output.write(0);
    expect(sysfs.level(514)).toBe(0);
    opened.pop()?.close();
    expect(readFileSync(join(root, 'class/gpio/unexport'), 'utf8')).toBe('514');
  });

  it('a missing GPIO interface is a configuration error naming the path', () => {
    const bare = mkdtempSync(join(tmpdir(), 'gpio-none-'));
    try {
      expect(() => sysfsLineFactory(bare)(17, 'in', 'both')).toThrow(BoardConfigurationError);
      expect(() => sysfsLineFactory(bare)(17, 'in', 'both')).toThrow(
        `no GPIO sysfs interface at ${join(bare, 'class', 'gpio')}`,
      );
    } finally {
      rmSync(bare, { recursive: true, force: true });
    }
  });
});

describe('DC cabinet board (config/boards/dc-2.json) on a fake sysfs tree', () => {
  let root: string;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'gpio-dc-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('gives the cabinet charge permission while a session has the contactor closed', async () => {
    const sysfs = new FakeSysfs(root).chip('pinctrl-bcm2711', 512, 58);
    const doc = JSON.parse(readFileSync(new URL('../../config/boards/dc-2.json', import.meta.url), 'utf8'));
    // GPIO only: the meters, the power setpoints and the reader have their own tests.
    for (const connector of doc.connectors) {
      delete connector.meter;
      delete connector.powerSetpoint;
    }
    delete doc.readers;
    const file = await parseBoardFile({ ...doc, sysfsRoot: root }, 'dc-2.json');
    const board = await buildBoard(file, { log: silentLogger(), clock });
    const [first, second] = board.connectors;
    const RELAY_1 = 512 + 17;
    const ENABLE_1 = 512 + 25;
    const ENABLE_2 = 512 + 19;
    await board.start();
    try {
      expect(first!.devices.pilot.currentLimit()).toBe(200);
      expect(sysfs.direction(ENABLE_1)).toBe('low');
      expect(sysfs.level(ENABLE_1)).toBe(0);
      await first!.devices.relay.set(true);
      expect(sysfs.level(RELAY_1)).toBe(1);
      expect(sysfs.level(ENABLE_1)).toBe(1);
      expect(sysfs.level(ENABLE_2)).toBe(0);
      await first!.devices.pilot.setCurrentLimit(0);
      expect(sysfs.level(ENABLE_1)).toBe(0);
      await first!.devices.pilot.setCurrentLimit(125);
      expect(sysfs.level(ENABLE_1)).toBe(1);
      await first!.devices.relay.set(false);
      expect(sysfs.level(ENABLE_1)).toBe(0);
      await second!.devices.relay.set(true);
      expect(sysfs.level(ENABLE_2)).toBe(1);
    } finally {
      await board.stop();
    }
    expect(sysfs.level(ENABLE_2)).toBe(0);
  });
});

/** Every promise settled by now has run its callbacks. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
