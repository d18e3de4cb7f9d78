import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AssembledConnector } from '../../hal/connector.js';
import { DEFAULT_SIM_SPEC, SimBoard } from '../../hal/sim/board.js';
import { SimEv, SimPilot, SimReader, SimRelay } from '../../hal/sim/devices.js';
import { SAVE_INTERVAL_MS, SIM_REGISTER_START_WH } from '../../hal/sim/registers.js';
import { type BoardFaultKind, type DeviceHealth, type FaultInput, HARDWARE_FAULTS } from '../../hal/types.js';
import type { Clock } from '../../src/clock.js';
import { createLogger } from '../../src/log.js';

class ManualClock implements Clock {
  t = 1_000_000;
  now = () => this.t;
  monotonic = () => this.t;
  setTimeout(): { cancel(): void } {
    throw new Error('the simulated devices never wait');
  }
}

class FakeFaultInput extends EventEmitter<{ change: [active: boolean] }> implements FaultInput {
  active = false;
  private lost = false;
  constructor(readonly kind: BoardFaultKind) {
    super();
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  isActive(): boolean {
    return this.active || this.lost;
  }
  readable(): boolean {
    return !this.lost;
  }
  set(active: boolean): void {
    this.active = active;
    this.emit('change', this.isActive());
  }
  unreadable(lost: boolean): void {
    this.lost = lost;
    this.emit('change', this.isActive());
  }
}

const HOUR = 3_600_000;

describe('simulated board', () => {
  it('plugging moves the pilot A -> C (EV asks for energy) and B when it pauses, with plug events', () => {
    const board = new SimBoard(DEFAULT_SIM_SPEC, new ManualClock());
    const c1 = board.connector(1)!;
    const events: unknown[] = [];
    c1.on('plug', (p) => events.push(['plug', p]));
    c1.on('pilot', (s) => events.push(['pilot', s]));
    expect(c1.devices.pilot.state()).toBe('A');
    board.plug(1);
    board.ev(1, 'pause');
    board.unplug(1);
    expect(events).toEqual([
      ['pilot', 'C'],
      ['plug', true],
      ['pilot', 'B'],
      ['pilot', 'A'],
      ['plug', false],
    ]);
  });

  it('the meter integrates only what the EV draws through a closed relay, within the offered current', async () => {
    const clock = new ManualClock();
    const board = new SimBoard(DEFAULT_SIM_SPEC, clock);
    const { relay, pilot, meter } = board.connector(1)!.devices;
    const start = SIM_REGISTER_START_WH;
    board.plug(1);
    clock.t += HOUR;
    expect((await meter!.read()).energyImportWh).toBe(start);
    await relay.set(true);
    board.meter(1, 7_000);
    clock.t += HOUR;
    expect(await meter!.read()).toMatchObject({ powerW: 7_000, voltageV: [230, 230, 230] });
    expect((await meter!.read()).energyImportWh - start).toBeCloseTo(7_000, 6);
    await pilot.setCurrentLimit(6); // 6 A x 230 V x 3 phases = 4140 W, below what the EV wants
    clock.t += HOUR / 2;
    expect(await meter!.read()).toMatchObject({ powerW: 4_140 });
    expect((await meter!.read()).energyImportWh - start).toBeCloseTo(9_070, 6);
    board.ev(1, 'pause');
    clock.t += HOUR;
    expect((await meter!.read()).energyImportWh - start).toBeCloseTo(9_070, 6);
  });

  it('starts at a fractional register and reads it exactly, as an Eastron float times 1000 would be', async () => {
    const board = new SimBoard(DEFAULT_SIM_SPEC, new ManualClock());
    const reading = await board.connector(2)!.devices.meter!.read();
    expect(reading.energyImportWh).toBe(SIM_REGISTER_START_WH);
    expect(Number.isInteger(reading.energyImportWh)).toBe(false);
  });

  // 11 kW for 3 s = 9.1666... Wh, none of it read before the session ends.
  it.each([
    ['the EV pauses', (board: SimBoard) => board.ev(1, 'pause')],
    ['the cable is unplugged', (board: SimBoard) => board.unplug(1)],
    ['the relay opens (stop)', (board: SimBoard) => void board.connector(1)!.devices.relay.set(false)],
  ])('a 3 s session at 11 kW bills its energy up to the moment %s', async (_, end) => {
    const clock = new ManualClock();
    const board = new SimBoard(DEFAULT_SIM_SPEC, clock);
    const { relay, meter } = board.connector(1)!.devices;
    board.meter(1, 11_000);
    board.plug(1);
    await relay.set(true);
    const meterStart = (await meter!.read()).energyImportWh;
    clock.t += 3_000;
    end(board);
    await relay.set(false);
    clock.t += HOUR;
    const meterStop = (await meter!.read()).energyImportWh;
    expect(meterStop - meterStart).toBeCloseTo((11_000 * 3) / 3_600, 9);
  });

  describe('register across restarts', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'sim-registers-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    async function session(board: SimBoard, clock: ManualClock, ms: number): Promise<number> {
      const { relay, meter } = board.connector(1)!.devices;
      board.plug(1);
      await relay.set(true);
      clock.t += ms;
      await relay.set(false);
      return (await meter!.read()).energyImportWh;
    }

    it('a restarted board reads the register where the stopped one left it', async () => {
      const clock = new ManualClock();
      const registerFile = join(dir, 'sim-meters.json');
      const first = new SimBoard(DEFAULT_SIM_SPEC, clock, { registerFile });
      const { relay, meter } = first.connector(1)!.devices;
      first.plug(1);
      await relay.set(true);
      clock.t += HOUR / 4;
      const last = (await meter!.read()).energyImportWh;
      clock.t += 1_000;
      await first.stop(); // relay still closed: the stop books the last second too
      const expected = last + 11_000 / 3_600;
      const second = new SimBoard(DEFAULT_SIM_SPEC, clock, { registerFile });
      expect((await second.connector(1)!.devices.meter!.read()).energyImportWh).toBeCloseTo(expected, 9);
      expect((await second.connector(2)!.devices.meter!.read()).energyImportWh).toBe(SIM_REGISTER_START_WH);
    });

    it('the register is on disk once energy stops flowing, without a clean stop', async () => {
      const clock = new ManualClock();
      const registerFile = join(dir, 'sim-meters.json');
      const ended = await session(new SimBoard(DEFAULT_SIM_SPEC, clock, { registerFile }), clock, HOUR);
      expect(ended - SIM_REGISTER_START_WH).toBeCloseTo(11_000, 6);
      await nextTurn();
      const after = new SimBoard(DEFAULT_SIM_SPEC, clock, { registerFile });
      expect((await after.connector(1)!.devices.meter!.read()).energyImportWh).toBe(ended);
    });

    it('while energy flows the file is written at most every SAVE_INTERVAL_MS', async () => {
      const clock = new ManualClock();
      const registerFile = join(dir, 'sim-meters.json');
      const board = new SimBoard(DEFAULT_SIM_SPEC, clock, { registerFile });
      const { relay, meter } = board.connector(1)!.devices;
      board.plug(1);
      await relay.set(true);
      const onDisk = (): number | undefined =>
        existsSync(registerFile)
          ? (JSON.parse(readFileSync(registerFile, 'utf8')) as { registersWh: Record<string, number> })
              .registersWh['1']
          : undefined;
      clock.t += SAVE_INTERVAL_MS - 1;
      await meter!.read();
      await nextTurn();
      expect(onDisk()).toBeUndefined();
      clock.t += 1;
      const reading = await meter!.read();
      await nextTurn();
      expect(onDisk()).toBe(reading.energyImportWh);
    });

    it('an unreadable register file is logged and the meters start over', async () => {
      const registerFile = join(dir, 'sim-meters.json');
      writeFileSync(registerFile, '{"version":1,"registersWh":{"1":-5}}');
      const lines: string[] = [];
      const log = createLogger({ level: 'error', destination: { write: (l: string) => lines.push(l) } });
      const board = new SimBoard(DEFAULT_SIM_SPEC, new ManualClock(), { registerFile, log });
      expect((await board.connector(1)!.devices.meter!.read()).energyImportWh).toBe(SIM_REGISTER_START_WH);
      expect(lines.join('')).toContain('simulated meter registers unreadable');
    });
  });

  it('a simulated fault faults the connector with that code until cleared', () => {
    const board = new SimBoard(DEFAULT_SIM_SPEC, new ManualClock());
    const c2 = board.connector(2)!;
    const faults: unknown[] = [];
    c2.on('fault', (f) => faults.push(f));
    board.fault(2, 'GroundFailure');
    expect(c2.fault()).toEqual({ fault: 'GroundFailure', info: 'simulated fault', kind: 'reported' });
    board.clear(2);
    expect(c2.fault()).toBeUndefined();
    expect(faults).toEqual(['GroundFailure', undefined]);
  });

  it('refuses a fault code no device can raise, such as LocalListConflict', () => {
    const board = new SimBoard(DEFAULT_SIM_SPEC, new ManualClock());
    for (const code of ['LocalListConflict', 'ResetFailure', 'NoError', 'Meltdown'])
      expect(() => board.fault(1, code)).toThrow(new RangeError(`${code} is not a hardware fault code`));
    expect(board.connector(1)!.fault()).toBeUndefined();
    for (const code of HARDWARE_FAULTS) {
      board.fault(1, code);
      expect(board.connector(1)!.fault()?.fault).toBe(code);
    }
  });

  it('a failing lock refuses to lock and reports ConnectorLockFailure until it works again', async () => {
    const board = new SimBoard(DEFAULT_SIM_SPEC, new ManualClock());
    const c1 = board.connector(1)!;
    board.lockFail(1, true);
    expect(await c1.lock!.unlock()).toBe(false);
    expect(c1.fault()).toEqual({ fault: 'ConnectorLockFailure', info: 'unlock failed', kind: 'device' });
    board.lockFail(1, false);
    expect(await c1.lock!.unlock()).toBe(true);
    expect(c1.fault()).toBeUndefined();
  });

  it('a welded or stuck-open contactor: the contact leaves the command, a PowerSwitchFailure until it follows again', async () => {
    const board = new SimBoard(DEFAULT_SIM_SPEC, new ManualClock());
    const c1 = board.connector(1)!;
    const { relay } = c1.devices;
    const contacts: boolean[] = [];
    relay.on('feedback', (closed) => contacts.push(closed));
    expect(relay.feedbackSettleMs).toBe(0);
    board.relayContact(1, 'welded');
    expect(relay.feedback()).toBe(true);
    expect(c1.fault()).toEqual({ fault: 'PowerSwitchFailure', info: 'contactor welded', kind: 'device' });
    await relay.set(true);
    expect(relay.health()).toEqual({ ok: true });
    board.relayContact(1, 'stuck-open');
    expect(relay.health()).toEqual({
      ok: false,
      fault: 'PowerSwitchFailure',
      info: 'contactor did not close',
    });
    await relay.set(false);
    board.relayContact(1, 'follows');
    expect(c1.fault()).toBeUndefined();
    await relay.set(true);
    expect(contacts).toEqual([true, false, true]);
  });

  it('a contactor that welds on close: the contact follows the close, then stays closed when opened, until it follows again', async () => {
    const board = new SimBoard(DEFAULT_SIM_SPEC, new ManualClock());
    const c1 = board.connector(1)!;
    const { relay } = c1.devices;
    const contacts: boolean[] = [];
    relay.on('feedback', (closed) => contacts.push(closed));
    board.relayContact(1, 'welds-on-close');
    expect(relay.feedback()).toBe(false);
    expect(c1.fault()).toBeUndefined();
    await relay.set(true);
    expect(relay.feedback()).toBe(true);
    expect(relay.health()).toEqual({ ok: true });
    await relay.set(false);
    expect(relay.feedback()).toBe(true);
    expect(c1.fault()).toEqual({ fault: 'PowerSwitchFailure', info: 'contactor welded', kind: 'device' });
    // Welded now: closing and opening again change nothing of the contact.
    await relay.set(true);
    await relay.set(false);
    expect(relay.feedback()).toBe(true);
    board.relayContact(1, 'follows');
    expect(c1.fault()).toBeUndefined();
    expect(contacts).toEqual([true, false]);
  });

  it('a contactor output that cannot be driven fails every command, a PowerSwitchFailure until one succeeds', async () => {
    const board = new SimBoard(DEFAULT_SIM_SPEC, new ManualClock());
    const [c1, c2] = [board.connector(1)!, board.connector(2)!];
    await c1.devices.relay.set(true);
    await c2.devices.relay.set(true);
    board.relayOutputFails(1, true);
    await expect(c1.devices.relay.set(false)).rejects.toThrow('relay output write failed');
    expect(c1.devices.relay.isClosed()).toBe(true);
    expect(c1.fault()).toEqual({
      fault: 'PowerSwitchFailure',
      info: 'relay output write failed',
      kind: 'device',
    });
    // The board's safe state: the other contactor is still opened, then the failure is thrown.
    expect(() => board.safe()).toThrow('relay output write failed');
    expect(c2.devices.relay.isClosed()).toBe(false);
    board.relayOutputFails(1, false);
    expect(c1.fault()).toBeDefined();
    await c1.devices.relay.set(false);
    expect(c1.devices.relay.isClosed()).toBe(false);
    expect(c1.fault()).toBeUndefined();
  });

  it('an unreadable pilot faults its connector (EVCommunicationError); an unreadable tamper input counts as active', () => {
    const board = new SimBoard(DEFAULT_SIM_SPEC, new ManualClock());
    const [c1, c2] = [board.connector(1)!, board.connector(2)!];
    board.pilotUnreadable(1, true);
    expect(c1.devices.pilot.health()).toEqual({
      ok: false,
      fault: 'EVCommunicationError',
      info: 'pilot input unreadable',
    });
    expect(c1.fault()).toEqual({
      fault: 'EVCommunicationError',
      info: 'pilot input unreadable',
      kind: 'device',
    });
    expect(c2.fault()).toBeUndefined();
    board.pilotUnreadable(1, false);
    expect(c1.fault()).toBeUndefined();

    const [tamper] = board.faultInputs;
    const changes: boolean[] = [];
    tamper!.on('change', (active) => changes.push(active));
    board.tamperUnreadable(true);
    expect(tamper!.readable()).toBe(false);
    expect(tamper!.isActive()).toBe(true);
    // Active, as a safety input nobody can see must be, and said to be unreadable, not opened.
    expect(c2.fault()).toEqual({ fault: 'OtherError', info: 'tamper input unreadable', kind: 'tamper' });
    // Opened meanwhile: still active once readable again, and closing it releases it.
    board.tamper(true);
    board.tamperUnreadable(false);
    expect(tamper!.isActive()).toBe(true);
    expect(c2.fault()).toEqual({ fault: 'OtherError', info: 'tamper detected', kind: 'tamper' });
    board.tamper(false);
    expect(c2.fault()).toBeUndefined();
    expect(changes).toEqual([true, false]);
  });

  it('a silent meter fails every read with PowerMeterFailure; an absent reader reads no card', async () => {
    const board = new SimBoard(DEFAULT_SIM_SPEC, new ManualClock());
    const c1 = board.connector(1)!;
    board.meterSilent(1, true);
    await expect(c1.meter!.readNow()).rejects.toThrow('meter does not answer');
    expect(c1.fault()).toEqual({ fault: 'PowerMeterFailure', info: 'meter does not answer', kind: 'device' });
    board.meterSilent(1, false);
    expect((await c1.meter!.readNow()).energyImportWh).toBe(SIM_REGISTER_START_WH);

    const tags: string[] = [];
    board.readers[0]!.reader.on('tag', (t) => tags.push(t));
    board.readerAbsent(1, true);
    expect(c1.warning()).toEqual({ fault: 'ReaderFailure', info: 'reader reader-1 absent' });
    board.swipe('04A32B1C');
    board.readerAbsent(1, false);
    board.swipe('04A32B1D');
    expect(tags).toEqual(['04A32B1D']);
    expect(() => board.readerAbsent(2, true)).toThrow(/no reader 2/);
  });

  it('swipes reach the reader serving the connectors; unknown connectors and readers are refused', () => {
    const board = new SimBoard(DEFAULT_SIM_SPEC, new ManualClock());
    const tags: string[] = [];
    board.readers[0]!.reader.on('tag', (t) => tags.push(t));
    board.swipe('04A32B1C');
    expect(tags).toEqual(['04A32B1C']);
    expect(board.readers[0]!.connectorIds).toEqual([1, 2]);
    expect(() => board.swipe('X', 2)).toThrow(RangeError);
    expect(() => board.plug(3)).toThrow(/no connector 3/);
  });

  it('a fixed-cable connector has no lock', () => {
    const board = new SimBoard({ connectors: [{ id: 1, fixedCable: true }] }, new ManualClock());
    expect(board.connector(1)!.lock).toBeUndefined();
    expect(() => board.lockFail(1, true)).toThrow(/fixed cable/);
  });
});

describe('simulated EV within the offered current and power', () => {
  it("draws no more than the limit allows at the connector's nominal voltage, following each change at once", async () => {
    const clock = new ManualClock();
    const board = new SimBoard(
      { connectors: [{ id: 1, maxCurrentA: 16, phases: 1, nominalVoltageV: 120 }] },
      clock,
    );
    const { relay, pilot, meter, nominalVoltageV } = board.connector(1)!.devices;
    expect(nominalVoltageV).toBe(120);
    board.meter(1, 7_000);
    board.plug(1);
    await relay.set(true);
    const start = (await meter!.read()).energyImportWh;
    // 16 A x 120 V x 1 phase.
    expect(await meter!.read()).toMatchObject({ powerW: 1_920, voltageV: [120], currentA: [16] });
    clock.t += HOUR;
    await pilot.setCurrentLimit(10);
    expect(await meter!.read()).toMatchObject({ powerW: 1_200, currentA: [10] });
    clock.t += HOUR;
    await pilot.setCurrentLimit(0);
    expect((await meter!.read()).powerW).toBe(0);
    clock.t += HOUR;
    expect((await meter!.read()).energyImportWh - start).toBeCloseTo(1_920 + 1_200, 6);
    await pilot.setCurrentLimit(16);
    clock.t += HOUR / 2;
    expect((await meter!.read()).energyImportWh - start).toBeCloseTo(1_920 + 1_200 + 960, 6);
  });

  it('the default connectors convert at the simulated grid voltage (230 V)', () => {
    const board = new SimBoard(DEFAULT_SIM_SPEC, new ManualClock());
    expect(board.connector(1)!.devices.nominalVoltageV).toBe(230);
    expect(board.connector(1)!.devices.powerSetpoint).toBeUndefined();
  });

  it("a DC outlet's power setpoint caps the power, as does its current limit", async () => {
    const clock = new ManualClock();
    const board = new SimBoard(
      { connectors: [{ id: 1, fixedCable: true, maxCurrentA: 200, nominalVoltageV: 400, dc: true }] },
      clock,
    );
    const { relay, pilot, meter, powerSetpoint, phases } = board.connector(1)!.devices;
    expect(phases).toBe(1);
    // Until told otherwise it offers what the outlet can deliver: 200 A x 400 V.
    expect(powerSetpoint!.powerLimit()).toBe(80_000);
    board.meter(1, 50_000);
    board.plug(1);
    await relay.set(true);
    const start = (await meter!.read()).energyImportWh;
    expect(await meter!.read()).toMatchObject({ powerW: 50_000, voltageV: [400] });
    clock.t += HOUR;
    await powerSetpoint!.setPowerLimit(20_000);
    expect((await meter!.read()).powerW).toBe(20_000);
    clock.t += HOUR;
    await pilot.setCurrentLimit(25);
    expect((await meter!.read()).powerW).toBe(10_000);
    await powerSetpoint!.setPowerLimit(0);
    expect((await meter!.read()).powerW).toBe(0);
    clock.t += HOUR;
    expect((await meter!.read()).energyImportWh - start).toBeCloseTo(70_000, 6);
    await expect(powerSetpoint!.setPowerLimit(-1)).rejects.toThrow(RangeError);
  });
});

describe('assembled connector', () => {
  function connector(extra: { faultInputs?: FaultInput[]; readers?: SimReader[] } = {}) {
    const clock = new ManualClock();
    const ev = new SimEv();
    const relay = new SimRelay();
    const pilot = new SimPilot(ev, 16);
    const hw = new AssembledConnector(
      { id: 1, fixedCable: false, maxCurrentA: 16, phases: 1, relay, pilot },
      extra.faultInputs,
      extra.readers,
    );
    return { hw, ev, relay, clock };
  }

  it('an emergency stop faults every connector with OtherError', () => {
    const estop = new FakeFaultInput('emergencyStop');
    const { hw } = connector({ faultInputs: [estop] });
    estop.set(true);
    expect(hw.fault()).toEqual({ fault: 'OtherError', info: 'emergency stop', kind: 'emergencyStop' });
    expect(hw.problems()).toContainEqual({ device: 'emergencyStop', fault: 'OtherError' });
    estop.set(false);
    expect(hw.fault()).toBeUndefined();
  });

  it('an emergency stop input that cannot be read counts as pressed, and says it is unreadable', () => {
    const estop = new FakeFaultInput('emergencyStop');
    const { hw } = connector({ faultInputs: [estop] });
    const seen: unknown[] = [];
    hw.on('fault', (f, info) => seen.push([f, info]));
    estop.unreadable(true);
    expect(hw.fault()).toEqual({
      fault: 'OtherError',
      info: 'emergency stop input unreadable',
      kind: 'emergencyStop',
    });
    estop.unreadable(false);
    expect(hw.fault()).toBeUndefined();
    expect(seen).toEqual([
      ['OtherError', 'emergency stop input unreadable'],
      [undefined, undefined],
    ]);
  });

  it('an unhealthy relay faults the connector with its code', () => {
    const { hw, relay } = connector();
    const broken: DeviceHealth = { ok: false, fault: 'PowerSwitchFailure', info: 'contactor welded' };
    relay.health = () => broken;
    const seen: unknown[] = [];
    hw.on('fault', (f, info) => seen.push([f, info]));
    relay.emit('health', broken);
    expect(hw.fault()).toEqual({ fault: 'PowerSwitchFailure', info: 'contactor welded', kind: 'device' });
    expect(seen).toEqual([['PowerSwitchFailure', 'contactor welded']]);
  });

  it('a failed reader is a warning, not a fault', () => {
    const reader = new SimReader('front', new ManualClock());
    const { hw } = connector({ readers: [reader] });
    const failed: DeviceHealth = { ok: false, fault: 'ReaderFailure', info: 'port vanished' };
    reader.health = () => failed;
    reader.emit('health', failed);
    expect(hw.fault()).toBeUndefined();
    expect(hw.warning()).toEqual({ fault: 'ReaderFailure', info: 'port vanished' });
  });
});

/** The register file is written on the turn after the change that settled it. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
