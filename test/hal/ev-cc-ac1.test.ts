import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { decodeStatus, EV_CC_AC1, EvCcAc1Controller, EvCcAc1Pilot } from '../../hal/drivers/ev-cc-ac1.js';
import { ModbusBus } from '../../hal/drivers/modbus-bus.js';
import { ModbusPowerSetpoint } from '../../hal/drivers/modbus-setpoint.js';
import type { DeviceHealth, PilotState } from '../../hal/types.js';
import { systemClock } from '../../src/clock.js';
import { BoardFileError, buildBoard, parseBoardFile } from '../../src/config/board-file.js';
import { createLogger, silentLogger } from '../../src/log.js';
import type { SessionEnergy } from '../../src/station/charging-limit.js';
import { Station } from '../../src/station/station.js';
import { FakeClock } from '../support/fake-clock.js';
import { LogSink } from '../support/harness.js';
import { MemoryAvailability } from '../support/memory-stores.js';
import { ModbusTestServer } from '../support/modbus-server.js';
import { sixteenAmps } from '../support/sixteen-amps.js';

const log = silentLogger();
/** Short enough that a silent controller is noticed quickly, long enough for a loaded CI machine. */
const BUS = { timeoutMs: 250, retries: 1 };
const POLL_MS = 50;
const UNIT = 1;
const SETPOINT_UNIT = 2;
const letter = (state: PilotState): number => state.charCodeAt(0);

/** Resolves once `done()` holds, checked now and on every change the controller announces. */
function until(controller: EvCcAc1Controller, done: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (!done()) return;
      controller.off('change', check);
      resolve();
    };
    controller.on('change', check);
    check();
  });
}

function healthWhere(
  device: { on(event: 'health', fn: (h: DeviceHealth) => void): unknown },
  match: (h: DeviceHealth) => boolean,
): Promise<DeviceHealth> {
  return new Promise((resolve) => device.on('health', (h) => match(h) && resolve(h)));
}

describe('EV-CC-AC1 status register', () => {
  it('holds the IEC 61851-1 state as an ASCII letter in its low byte', () => {
    expect([0x41, 0x42, 0x43, 0x44, 0x45, 0x46].map(decodeStatus)).toEqual(['A', 'B', 'C', 'D', 'E', 'F']);
    expect(decodeStatus(0x0143)).toBe('C');
    for (const word of [0, 1, 0x47, 0x61]) expect(decodeStatus(word)).toBeUndefined();
  });
});

describe('Phoenix Contact EV Charge Control Basic over Modbus TCP (pymodbus)', () => {
  let server: ModbusTestServer;
  let bus: ModbusBus;
  let controller: EvCcAc1Controller;
  const coils = () => server.get(UNIT, 'coil', EV_CC_AC1.enable, 3);

  beforeAll(async () => {
    server = await ModbusTestServer.start({ type: 'tcp' }, [UNIT, SETPOINT_UNIT]);
    bus = new ModbusBus({ transport: { type: 'tcp', host: '127.0.0.1', port: server.port! }, ...BUS, log });
  });
  beforeEach(async () => {
    await server.setWords(UNIT, 'input', EV_CC_AC1.status, [letter('A'), 0, 0, 0]);
    await server.setWords(UNIT, 'holding', EV_CC_AC1.maxCurrent, [0]);
    // As after the controller's power-up: not enabled, not available, unlocked.
    await server.setWords(UNIT, 'coil', EV_CC_AC1.enable, [0, 0, 0]);
    controller = new EvCcAc1Controller({ bus, unitId: UNIT, maxCurrentA: 32, pollIntervalMs: POLL_MS, log });
  });
  afterEach(async () => {
    await controller.pilot.stop();
    await controller.relay.stop();
    await controller.lock.stop();
    await server.setMode(UNIT, { mode: 'normal' });
  });
  afterAll(async () => {
    await bus.close();
    await server.stop();
  });

  async function start(): Promise<void> {
    await controller.relay.start();
    await controller.pilot.start();
    await controller.lock.start();
  }

  it('reads each state change, and makes the station available without enabling charging', async () => {
    await start();
    const { pilot } = controller;
    expect(pilot.state()).toBe('A');
    expect(pilot.health()).toEqual({ ok: true });
    expect(await coils()).toEqual([0, 1, 0]);
    const states: PilotState[] = [];
    pilot.on('state', (s) => states.push(s));
    for (const state of ['B', 'C', 'B', 'A'] as const) {
      await server.setWords(UNIT, 'input', EV_CC_AC1.status, [letter(state)]);
      await until(controller, () => pilot.state() === state);
    }
    expect(states).toEqual(['B', 'C', 'B', 'A']);
  });

  it('writes the current limit to 22000 (whole A, within 6..63 and the outlet) and reads back 24003', async () => {
    await start();
    const { pilot } = controller;
    // Until told otherwise: the outlet's maximum.
    expect(await server.get(UNIT, 'holding', EV_CC_AC1.maxCurrent)).toEqual([32]);
    await pilot.setCurrentLimit(16);
    expect(await server.get(UNIT, 'holding', EV_CC_AC1.maxCurrent)).toEqual([16]);
    expect(pilot.currentLimit()).toBe(16);
    // The controller applies it and says so in 24003.
    await server.setWords(UNIT, 'input', EV_CC_AC1.status + EV_CC_AC1.appliedCurrentOffset, [16]);
    await until(controller, () => pilot.appliedCurrentA() === 16);
    await pilot.setCurrentLimit(13.8);
    expect(await server.get(UNIT, 'holding', EV_CC_AC1.maxCurrent)).toEqual([13]);
    await pilot.setCurrentLimit(50);
    expect(await server.get(UNIT, 'holding', EV_CC_AC1.maxCurrent)).toEqual([32]);
    await expect(pilot.setCurrentLimit(-1)).rejects.toThrow(RangeError);
  });

  it('enables charging (coil 20000) only while the relay is closed and at least 6 A are offered', async () => {
    await start();
    const { pilot, relay } = controller;
    const changes: boolean[] = [];
    relay.on('change', (closed) => changes.push(closed));
    await relay.set(true);
    expect((await coils())[0]).toBe(1);
    await pilot.setCurrentLimit(5);
    expect((await coils())[0]).toBe(0);
    // The register keeps the last current it can express: 22000 has no 5 A.
    expect(await server.get(UNIT, 'holding', EV_CC_AC1.maxCurrent)).toEqual([32]);
    await pilot.setCurrentLimit(6);
    expect([(await coils())[0], ...(await server.get(UNIT, 'holding', EV_CC_AC1.maxCurrent))]).toEqual([
      1, 6,
    ]);
    await pilot.setCurrentLimit(0);
    expect((await coils())[0]).toBe(0);
    await pilot.setCurrentLimit(10);
    await relay.set(false);
    expect((await coils())[0]).toBe(0);
    expect(changes).toEqual([true, false]);
    await relay.set(true);
    await controller.relay.stop();
    await controller.pilot.stop();
    expect((await coils())[0]).toBe(1);
    // The last part out withdraws the permission.
    await controller.lock.stop();
    expect((await coils())[0]).toBe(0);
  });

  it('safe() withdraws a permission a killed run left on, before anything starts', async () => {
    await server.setWords(UNIT, 'coil', EV_CC_AC1.enable, [1, 1, 1]);
    // Another device on the line holds it open, so the read below, queued behind the write, tells
    // when the write is done.
    bus.retain();
    controller.relay.safe();
    await bus.readRegisters(UNIT, 'input', EV_CC_AC1.status, 1);
    await bus.release();
    expect(await coils()).toEqual([0, 1, 1]);
    expect(controller.relay.isClosed()).toBe(false);
  });

  it('locks and unlocks with coil 20002', async () => {
    await start();
    const { lock } = controller;
    expect(await lock.lock()).toBe(true);
    expect([lock.isLocked(), (await coils())[2]]).toEqual([true, 1]);
    expect(await lock.unlock()).toBe(true);
    expect([lock.isLocked(), (await coils())[2]]).toEqual([false, 0]);
  });

  it('a controller that stops answering is EVCommunicationError, never state A; its outputs are written again when it answers', async () => {
    await server.setWords(UNIT, 'input', EV_CC_AC1.status, [letter('C')]);
    await start();
    const { pilot, relay, lock } = controller;
    await relay.set(true);
    expect(pilot.state()).toBe('C');
    const failed = healthWhere(pilot, (h) => !h.ok);
    await server.setMode(UNIT, { mode: 'silent' });
    expect(await failed).toMatchObject({ ok: false, fault: 'EVCommunicationError' });
    expect(pilot.state()).toBe('C');
    // Commands go nowhere: each part says so.
    await expect(pilot.setCurrentLimit(20)).rejects.toThrow(/holding register 22000 not written/);
    expect(await lock.lock()).toBe(false);
    expect(lock.health()).toMatchObject({ ok: false, fault: 'ConnectorLockFailure' });
    await expect(relay.set(true)).rejects.toThrow(/coil 20000 not written/);
    expect(relay.health()).toMatchObject({ ok: false, fault: 'PowerSwitchFailure' });
    // It restarted meanwhile: its volatile outputs are lost.
    await server.setWords(UNIT, 'coil', EV_CC_AC1.enable, [0, 0, 0]);
    const healthy = healthWhere(pilot, (h) => h.ok);
    await server.setMode(UNIT, { mode: 'normal' });
    await healthy;
    await until(controller, () => relay.health().ok && lock.health().ok);
    expect(await coils()).toEqual([1, 1, 1]);
    expect(await server.get(UNIT, 'holding', EV_CC_AC1.maxCurrent)).toEqual([20]);
  });

  it('a failed write is logged once: by the caller it is thrown to, by the driver where it answers no more than false', async () => {
    const sink = new LogSink();
    controller = new EvCcAc1Controller({
      bus,
      unitId: UNIT,
      maxCurrentA: 32,
      pollIntervalMs: POLL_MS,
      log: createLogger({ destination: sink }),
    });
    await start();
    const { pilot, relay, lock } = controller;
    const failed = healthWhere(pilot, (h) => !h.ok);
    await server.setMode(UNIT, { mode: 'silent' });
    await failed;
    // Thrown: the caller (the charging limit) logs it, with what it means for the connector.
    await expect(relay.set(true)).rejects.toThrow(/coil 20000 not written/);
    await expect(pilot.setCurrentLimit(20)).rejects.toThrow(/holding register 22000 not written/);
    // The lock's caller hears only false: the driver says why.
    expect(await lock.lock()).toBe(false);
    expect(sink.lines.filter((l) => l.level === 'warn' || l.level === 'error')).toEqual([
      expect.objectContaining({
        level: 'warn',
        msg: expect.stringMatching(/^charge controller unit 1 not answering/),
      }),
      expect.objectContaining({
        level: 'error',
        msg: 'connector lock failed',
        err: expect.stringMatching(/^EV-CC-AC1 unit 1: coil 20002 not written: /),
      }),
    ]);
  });

  it('a status that is no IEC 61851 state is EVCommunicationError, the state kept', async () => {
    await server.setWords(UNIT, 'input', EV_CC_AC1.status, [letter('B')]);
    await start();
    const failed = healthWhere(controller.pilot, (h) => !h.ok);
    await server.setWords(UNIT, 'input', EV_CC_AC1.status, [0x5a]);
    expect(await failed).toMatchObject({
      fault: 'EVCommunicationError',
      info: expect.stringMatching(/0x5a/),
    });
    expect(controller.pilot.state()).toBe('B');
  });

  describe('DC power setpoint (modbus-setpoint)', () => {
    it('writes the limit in register steps, rounded down within the rating, and 0 when stopped', async () => {
      const setpoint = new ModbusPowerSetpoint({
        bus,
        unitId: SETPOINT_UNIT,
        register: 100,
        resolutionW: 10,
        maxPowerW: 50_000,
        log,
      });
      // A killed run left the module at full power.
      await server.setWords(SETPOINT_UNIT, 'holding', 100, [5_000]);
      bus.retain();
      setpoint.safe();
      await bus.readRegisters(SETPOINT_UNIT, 'holding', 100, 1);
      await bus.release();
      expect(await server.get(SETPOINT_UNIT, 'holding', 100)).toEqual([0]);
      await setpoint.start();
      expect(await server.get(SETPOINT_UNIT, 'holding', 100)).toEqual([5_000]);
      await setpoint.setPowerLimit(11_045);
      expect(await server.get(SETPOINT_UNIT, 'holding', 100)).toEqual([1_104]);
      await setpoint.setPowerLimit(80_000);
      expect([setpoint.powerLimit(), ...(await server.get(SETPOINT_UNIT, 'holding', 100))]).toEqual([
        80_000, 5_000,
      ]);
      await setpoint.setPowerLimit(0);
      expect(await server.get(SETPOINT_UNIT, 'holding', 100)).toEqual([0]);
      await setpoint.setPowerLimit(20_000);
      await setpoint.stop();
      expect(await server.get(SETPOINT_UNIT, 'holding', 100)).toEqual([0]);
    });

    it('a module that does not take its setpoint is InternalError until it does', async () => {
      const setpoint = new ModbusPowerSetpoint({
        bus,
        unitId: SETPOINT_UNIT,
        register: 7,
        maxPowerW: 30_000,
        log,
      });
      await setpoint.start();
      await server.setMode(SETPOINT_UNIT, { mode: 'exception', code: 4 });
      await expect(setpoint.setPowerLimit(10_000)).rejects.toThrow(/register 7 not written/);
      expect(setpoint.health()).toMatchObject({ ok: false, fault: 'InternalError' });
      await server.setMode(SETPOINT_UNIT, { mode: 'normal' });
      await setpoint.setPowerLimit(10_000);
      expect(setpoint.health()).toEqual({ ok: true });
      expect(await server.get(SETPOINT_UNIT, 'holding', 7)).toEqual([10_000]);
      await setpoint.stop();
    });
  });

  describe('board file', () => {
    const connector = (extra: Record<string, unknown>) => ({
      id: 1,
      fixedCable: false,
      maxCurrentA: 16,
      phases: 3,
      relay: { driver: 'ev-cc-ac1' },
      pilot: { driver: 'ev-cc-ac1' },
      lock: { driver: 'ev-cc-ac1' },
      controller: {
        driver: 'ev-cc-ac1',
        transport: { type: 'tcp', host: '127.0.0.1', port: server.port },
        unitId: UNIT,
        pollIntervalMs: 100,
        ...BUS,
      },
      ...extra,
    });
    const board = (extra: Record<string, unknown> = {}, without?: 'controller') => ({
      name: 'phoenix',
      kind: 'hardware',
      connectors: [Object.fromEntries(Object.entries(connector(extra)).filter(([key]) => key !== without))],
    });

    it('gives the connector its pilot, relay and lock from one controller definition', async () => {
      await server.setWords(UNIT, 'input', EV_CC_AC1.status, [letter('B')]);
      const built = await buildBoard(await parseBoardFile(board(), 'phoenix.json'), {
        log,
        clock: systemClock,
      });
      built.safe();
      await built.start();
      try {
        const { pilot, relay, lock } = built.connectors[0]!.devices;
        expect(pilot).toBeInstanceOf(EvCcAc1Pilot);
        expect([pilot.state(), built.connectors[0]!.plugged(), built.connectors[0]!.fault()]).toEqual([
          'B',
          true,
          undefined,
        ]);
        expect(await server.get(UNIT, 'holding', EV_CC_AC1.maxCurrent)).toEqual([16]);
        await relay.set(true);
        expect(await lock!.lock()).toBe(true);
        expect(await coils()).toEqual([1, 1, 1]);
      } finally {
        await built.stop();
      }
      expect((await coils())[0]).toBe(0);
    });

    it('the owner of the offered current permits a session while the EV waits in B: the controller offers the PWM, the EV goes to C', async () => {
      await server.setWords(UNIT, 'input', EV_CC_AC1.status, [letter('B')]);
      const built = await buildBoard(await parseBoardFile(board(), 'phoenix.json'), {
        log,
        clock: systemClock,
      });
      built.safe();
      await built.start();
      const station = new Station({
        board: built,
        availability: new MemoryAvailability(),
        clock: systemClock,
        log,
      });
      const limit = sixteenAmps(built, station, systemClock);
      let session: SessionEnergy = {};
      limit.attach(() => session);
      try {
        const { relay, lock, pilot } = built.connectors[0]!.devices;
        expect(relay.switchesOnPilot).toBe(true);
        await limit.start();
        // Plugged, nobody authorized: no permission, so the controller offers no PWM (B1).
        expect((await coils())[0]).toBe(0);
        expect(await lock!.lock()).toBe(true);
        session = { transaction: { startedAt: Date.now(), withheld: false } };
        await limit.evaluate();
        expect([(await coils())[0], ...(await server.get(UNIT, 'holding', EV_CC_AC1.maxCurrent))]).toEqual([
          1, 16,
        ]);
        // Seeing the PWM the EV asks (C); the controller closes its contactor, the permission stays.
        const asks = new Promise<void>((resolve) => pilot.on('state', (state) => state === 'C' && resolve()));
        await server.setWords(UNIT, 'input', EV_CC_AC1.status, [letter('C')]);
        await asks;
        await limit.evaluate();
        expect((await coils())[0]).toBe(1);
        session = {};
        await limit.evaluate();
        expect((await coils())[0]).toBe(0);
      } finally {
        limit.close();
        station.close();
        await built.stop();
      }
    });

    it('a charge permission the pilot cannot withdraw (coil 20000 refused) is commanded open on the clock until it is written: the fault clears', async () => {
      await server.setWords(UNIT, 'input', EV_CC_AC1.status, [letter('C')]);
      // The driver and the owner of the outputs log to one place, as in the daemon.
      const sink = new LogSink();
      const logged = createLogger({ destination: sink });
      const built = await buildBoard(await parseBoardFile(board(), 'phoenix.json'), {
        log: logged,
        clock: systemClock,
      });
      built.safe();
      await built.start();
      // The retries run on this clock; the controller polls on the real one.
      const clock = new FakeClock(Date.parse('2024-05-01T12:00:00.000Z'));
      const station = new Station({ board: built, availability: new MemoryAvailability(), clock, log });
      const limit = sixteenAmps(built, station, clock, logged);
      let session: SessionEnergy = {};
      limit.attach(() => session);
      // The controller takes the relay's write of coil 20000 and refuses the ones after it.
      let enableWrites = 0;
      let refusing = false;
      const writeCoil = ModbusBus.prototype.writeCoil;
      const refusals = vi.spyOn(ModbusBus.prototype, 'writeCoil').mockImplementation(function (
        this: ModbusBus,
        unitId,
        address,
        on,
      ) {
        if (address === EV_CC_AC1.enable && refusing && ++enableWrites > 1)
          return Promise.reject(new Error('Modbus exception 4: server device failure'));
        return writeCoil.call(this, unitId, address, on);
      });
      const { relay, lock } = built.connectors[0]!.devices;
      const opens: Array<Promise<void>> = [];
      const set = relay.set.bind(relay);
      vi.spyOn(relay, 'set').mockImplementation((closed) => {
        const command = set(closed);
        if (!closed) opens.push(command.catch(() => undefined));
        return command;
      });
      try {
        await limit.start();
        expect(await lock!.lock()).toBe(true);
        session = { transaction: { startedAt: clock.now(), withheld: false } };
        await limit.evaluate();
        expect((await coils())[0]).toBe(1);
        // The session ends: the relay's open is written, the pilot's (offering 0 A) is refused.
        refusing = true;
        session = {};
        await limit.evaluate();
        expect([relay.isClosed(), enableWrites]).toEqual([false, 2]);
        expect(relay.health()).toMatchObject({ ok: false, fault: 'PowerSwitchFailure' });
        expect(station.status(1)).toMatchObject({ status: 'Faulted', errorCode: 'PowerSwitchFailure' });
        expect(limit.contactorOpen(1)).toBe(false);
        // The refused pilot write is logged once, by the episode of opens it begins (not by the driver).
        expect(sink.lines.filter((l) => l.level === 'error' || l.level === 'warn')).toEqual([
          expect.objectContaining({
            msg: 'pilot limit not commanded, the relay faulted: commanding the contactor open until its output answers',
            connectorId: 1,
          }),
        ]);
        // Nothing else happens: the retries command the permission off, 1 s after the failure...
        const before = opens.length;
        clock.advance(1000);
        expect(opens).toHaveLength(before + 1);
        await opens.at(-1);
        expect(relay.health().ok).toBe(false);
        // ...and 2 s after that one; the controller takes it now.
        refusing = false;
        clock.advance(2000);
        expect(opens).toHaveLength(before + 2);
        await opens.at(-1);
        expect(relay.health()).toEqual({ ok: true });
        // The EV is still plugged in (no session engine here to say Finishing).
        expect(station.status(1)).toMatchObject({ status: 'Preparing', errorCode: 'NoError' });
        expect(limit.contactorOpen(1)).toBe(true);
        expect((await coils())[0]).toBe(0);
      } finally {
        limit.close();
        station.close();
        await built.stop();
        // The bus of every later test is a ModbusBus too.
        refusals.mockRestore();
      }
    });

    it.each([
      [
        {},
        'controller' as const,
        /connector 1: pilot: driver "ev-cc-ac1" needs the connector's "controller"/,
      ],
      [
        { relay: { driver: 'gpio', line: { chip: 'x', offset: 1 } } },
        undefined,
        /pilot and relay must both be "ev-cc-ac1" or neither/,
      ],
    ])('refuses a controller part that cannot work (%#)', async (extra, without, message) => {
      const file = await parseBoardFile(board(extra, without), 'phoenix.json');
      await expect(buildBoard(file, { log, clock: systemClock })).rejects.toThrow(BoardFileError);
      await expect(buildBoard(file, { log, clock: systemClock })).rejects.toThrow(message);
    });
  });
});
