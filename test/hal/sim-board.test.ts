import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { AssembledConnector } from '../../hal/connector.js';
import { DEFAULT_SIM_SPEC, SimBoard } from '../../hal/sim/board.js';
import { SimEv, SimPilot, SimReader, SimRelay } from '../../hal/sim/devices.js';
import { type BoardFaultKind, type DeviceHealth, type FaultInput, HARDWARE_FAULTS } from '../../hal/types.js';
import type { Clock } from '../../src/clock.js';

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
  constructor(readonly kind: BoardFaultKind) {
    super();
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  isActive(): boolean {
    return this.active;
  }
  set(active: boolean): void {
    this.active = active;
    this.emit('change', active);
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
    board.plug(1);
    clock.t += HOUR;
    expect((await meter!.read()).energyImportWh).toBe(0);
    await relay.set(true);
    board.meter(1, 7_000);
    clock.t += HOUR;
    expect(await meter!.read()).toMatchObject({
      energyImportWh: 7_000,
      powerW: 7_000,
      voltageV: [230, 230, 230],
    });
    await pilot.setCurrentLimit(6); // 6 A x 230 V x 3 phases = 4140 W, below what the EV wants
    clock.t += HOUR / 2;
    expect(await meter!.read()).toMatchObject({ energyImportWh: 9_070, powerW: 4_140 });
    board.ev(1, 'pause');
    clock.t += HOUR;
    expect((await meter!.read()).energyImportWh).toBe(9_070);
  });

  it('a simulated fault faults the connector with that code until cleared', () => {
    const board = new SimBoard(DEFAULT_SIM_SPEC, new ManualClock());
    const c2 = board.connector(2)!;
    const faults: unknown[] = [];
    c2.on('fault', (f) => faults.push(f));
    board.fault(2, 'GroundFailure');
    expect(c2.fault()).toEqual({ fault: 'GroundFailure', info: 'simulated fault' });
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
    expect(c1.fault()).toEqual({ fault: 'ConnectorLockFailure', info: 'unlock failed' });
    board.lockFail(1, false);
    expect(await c1.lock!.unlock()).toBe(true);
    expect(c1.fault()).toBeUndefined();
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
    expect(hw.fault()).toEqual({ fault: 'OtherError', info: 'emergency stop' });
    expect(hw.problems()).toContainEqual({ device: 'emergencyStop', fault: 'OtherError' });
    estop.set(false);
    expect(hw.fault()).toBeUndefined();
  });

  it('an unhealthy relay faults the connector with its code', () => {
    const { hw, relay } = connector();
    const broken: DeviceHealth = { ok: false, fault: 'PowerSwitchFailure', info: 'contactor welded' };
    relay.health = () => broken;
    const seen: unknown[] = [];
    hw.on('fault', (f, info) => seen.push([f, info]));
    relay.emit('health', broken);
    expect(hw.fault()).toEqual({ fault: 'PowerSwitchFailure', info: 'contactor welded' });
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
