import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import type { LimitInEffect } from '../../src/station/charging-limit.js';
import type {
  ChargingProfile,
  ChargingProfilePurpose,
  LimitSource,
} from '../../src/station/charging-profile-types.js';
import { compositeSchedule } from '../../src/station/composite-schedule.js';
import { type SessionFixture, T0, useSessionFixtures } from './session-fixture.js';

const TAG = 'VALID01';
const OTHER = 'VALID02';
const MINUTE = 60_000;

const fixture = useSessionFixtures();

const TX_DEFAULT: LimitSource = { kind: 'profile', profileId: 7, purpose: 'TxDefaultProfile' };

/** An Absolute profile from T0 whose periods start at the given minutes with the given amps. */
function profile(
  purpose: ChargingProfilePurpose,
  connectorId: number,
  periods: ReadonlyArray<[minute: number, amps: number]>,
  id = 7,
): ChargingProfile {
  return {
    id,
    connectorId,
    stackLevel: 0,
    purpose,
    kind: 'Absolute',
    schedule: {
      startSchedule: T0,
      unit: 'A',
      periods: periods.map(([minute, limit]) => ({ startPeriod: minute * 60, limit })),
    },
  };
}

/** Every limit the pilot of a connector was set to, with the fake clock's time of the command. */
function pilotCommands(fx: SessionFixture, connectorId: number): Array<[number, number]> {
  const pilot = fx.board.connector(connectorId)!.devices.pilot;
  const commands: Array<[number, number]> = [];
  const original = pilot.setCurrentLimit.bind(pilot);
  vi.spyOn(pilot, 'setCurrentLimit').mockImplementation((amps) => {
    commands.push([fx.clock.now() - T0, amps]);
    return original(amps);
  });
  return commands;
}

const offered = (fx: SessionFixture, id: number) => fx.board.connector(id)?.devices.pilot.currentLimit();
const closed = (fx: SessionFixture, id: number) => fx.board.connector(id)?.devices.relay.isClosed();

describe('the charging limit in process: one owner of the pilot and the contactor', () => {
  it('a new period reaches the pilot exactly at its boundary, on the fake clock, without polling', async () => {
    const fx = fixture();
    expect(
      fx.chargingProfiles.install(
        profile('TxDefaultProfile', 0, [
          [0, 16],
          [15, 10],
          [45, 24],
        ]),
      ),
    ).toBe('Accepted');
    await fx.charging(1, TAG);
    const commands = pilotCommands(fx, 1);
    expect(offered(fx, 1)).toBe(16);
    expect(fx.limit.limitInEffect(1)).toEqual({
      amps: 16,
      state: 'offered',
      limitA: 16,
      source: TX_DEFAULT,
      paused: false,
    });
    fx.clock.advance(15 * MINUTE - 1);
    await fx.settle();
    expect(offered(fx, 1)).toBe(16);
    fx.clock.advance(1);
    await fx.settle();
    fx.clock.advance(30 * MINUTE);
    await fx.settle();
    expect(commands).toEqual([
      [15 * MINUTE, 10],
      [45 * MINUTE, 24],
    ]);
    expect(closed(fx, 1)).toBe(true);
    // One timer for the next boundary (and the engine's own), not one per second.
    expect(fx.clock.pending).toBeLessThanOrEqual(3);
  });

  it('an idle connector offers nothing and says why, with the limit a session would get, announced at each boundary', async () => {
    const fx = fixture();
    await fx.settle();
    const changes: LimitInEffect[] = [];
    fx.limit.on('changed', (connectorId, limit) => {
      if (connectorId === 1) changes.push(limit);
    });
    fx.chargingProfiles.install(
      profile('TxDefaultProfile', 1, [
        [0, 16],
        [15, 10],
      ]),
    );
    await fx.settle();
    fx.clock.advance(15 * MINUTE);
    await fx.settle();
    // The offer stays 0 A (IEC 61851-1 B1); only what a session would get changes, and is announced.
    expect(offered(fx, 1)).toBe(0);
    expect(changes).toEqual([
      { amps: 0, state: 'noSession', limitA: 16, source: TX_DEFAULT, paused: false },
      { amps: 0, state: 'noSession', limitA: 10, source: TX_DEFAULT, paused: false },
    ]);
    fx.board.fault(1, 'GroundFailure');
    await fx.settle();
    expect(fx.limit.limitInEffect(1)).toEqual({
      amps: 0,
      state: 'faulted',
      limitA: 10,
      source: TX_DEFAULT,
      paused: false,
    });
  });

  it('below 6 A charging pauses (SuspendedEVSE, nothing offered, contactor open) and resumes when the limit rises', async () => {
    const fx = fixture();
    fx.chargingProfiles.install(
      profile('TxDefaultProfile', 1, [
        [0, 16],
        [10, 5],
        [20, 5.5],
        [30, 8],
      ]),
    );
    await fx.charging(1, TAG);
    const from = fx.statuses(1).length;
    fx.clock.advance(10 * MINUTE);
    await fx.settle();
    expect(fx.statusOf(1)).toBe('SuspendedEVSE');
    expect([offered(fx, 1), closed(fx, 1)]).toEqual([0, false]);
    expect(fx.limit.limitInEffect(1)).toEqual({
      amps: 0,
      state: 'belowMinimum',
      limitA: 5,
      source: TX_DEFAULT,
      paused: true,
    });
    const register = (await fx.board.connector(1)!.meter!.read()).energyImportWh;
    // Another limit below the minimum is no new status.
    fx.clock.advance(10 * MINUTE);
    await fx.settle();
    expect((await fx.board.connector(1)!.meter!.read()).energyImportWh).toBe(register);
    fx.clock.advance(10 * MINUTE);
    await fx.settle();
    expect(fx.statusOf(1)).toBe('Charging');
    expect([offered(fx, 1), closed(fx, 1)]).toEqual([8, true]);
    expect(fx.statuses(1).slice(from)).toEqual(['SuspendedEVSE', 'Charging']);
    expect(fx.stops()).toEqual([]);
  });

  it("pauses below the schedule's minChargingRate although the limit is above 6 A", async () => {
    const fx = fixture();
    const slow = profile('TxDefaultProfile', 1, [
      [0, 12],
      [10, 8],
    ]);
    fx.chargingProfiles.install({ ...slow, schedule: { ...slow.schedule, minChargingRate: 10 } });
    await fx.charging(1, TAG);
    expect([fx.statusOf(1), offered(fx, 1)]).toEqual(['Charging', 12]);
    fx.clock.advance(10 * MINUTE);
    await fx.settle();
    expect([fx.statusOf(1), offered(fx, 1), closed(fx, 1)]).toEqual(['SuspendedEVSE', 0, false]);
  });

  it('an EV that pauses while charging is paused by the limit shows SuspendedEV, and Charging once both allow it', async () => {
    const fx = fixture();
    await fx.charging(1, TAG);
    await fx.limit.setLocalLimit(1, 0);
    await fx.settle();
    expect(fx.statusOf(1)).toBe('SuspendedEVSE');
    fx.board.ev(1, 'pause');
    await fx.settle();
    expect(fx.statusOf(1)).toBe('SuspendedEV');
    await fx.limit.setLocalLimit(1, 32);
    fx.board.ev(1, 'charge');
    await fx.settle();
    expect(fx.statusOf(1)).toBe('Charging');
    expect(closed(fx, 1)).toBe(true);
  });

  it('the local limit caps the offer at once and is kept across a restart; the maximum lifts it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cp-limit-'));
    onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
    const first = fixture({ dir });
    await first.charging(1, TAG);
    await first.limit.setLocalLimit(1, 10);
    expect([offered(first, 1), closed(first, 1)]).toEqual([10, true]);
    await expect(first.limit.setLocalLimit(1, 33)).rejects.toThrow("outside connector 1's 0..32 A");
    first.close();

    const again = fixture({ dir });
    await again.settle();
    expect(again.limit.localLimit(1)).toBe(10);
    // The power cut ended the session: nothing is offered until the next one, which gets 10 A.
    expect(again.limit.limitInEffect(1)).toEqual({
      amps: 0,
      state: 'noSession',
      limitA: 10,
      source: { kind: 'local' },
      paused: false,
    });
    await again.charging(1, TAG);
    expect(again.limit.limitInEffect(1)).toEqual({
      amps: 10,
      state: 'offered',
      limitA: 10,
      source: { kind: 'local' },
      paused: false,
    });
    expect(offered(again, 1)).toBe(10);
    await again.limit.setLocalLimit(1, 32);
    expect(again.limit.localLimit(1)).toBeUndefined();
    expect(offered(again, 1)).toBe(32);
  });

  it("a DC outlet's power setpoint follows the limit (A x nominal voltage), 0 while paused", async () => {
    const fx = fixture({
      board: { connectors: [{ id: 1, dc: true, maxCurrentA: 100, nominalVoltageV: 400 }] },
    });
    const setpoint = fx.board.connector(1)!.devices.powerSetpoint!;
    await fx.charging(1, TAG);
    expect(setpoint.powerLimit()).toBe(40_000);
    await fx.limit.setLocalLimit(1, 25);
    expect(setpoint.powerLimit()).toBe(10_000);
    await fx.limit.setLocalLimit(1, 5);
    expect([setpoint.powerLimit(), fx.statusOf(1)]).toEqual([0, 'SuspendedEVSE']);
  });

  it('IEC 61851-1 B1/B2: the pilot offers its limit only while a session may draw energy', async () => {
    const fx = fixture();
    await fx.settle();
    expect([offered(fx, 1), offered(fx, 2)]).toEqual([0, 0]);
    // The EV is plugged in and would charge: no PWM before anyone is authorized.
    fx.board.plug(1);
    await fx.settle();
    expect([fx.statusOf(1), offered(fx, 1), closed(fx, 1)]).toEqual(['Preparing', 0, false]);
    await fx.engine.presentIdTag(TAG, [1]);
    await fx.settle();
    expect([fx.statusOf(1), offered(fx, 1), closed(fx, 1), offered(fx, 2)]).toEqual([
      'Charging',
      32,
      true,
      0,
    ]);
    // Made Inoperative while charging (Scheduled): the session keeps its energy until it ends.
    expect(fx.station.changeAvailability(1, 'Inoperative')).toBe('Scheduled');
    await fx.settle();
    expect([offered(fx, 1), closed(fx, 1)]).toEqual([32, true]);
    await fx.engine.presentIdTag(TAG, [1]);
    await fx.settle();
    expect(fx.stops()).toHaveLength(1);
    expect([offered(fx, 1), closed(fx, 1)]).toEqual([0, false]);
  });

  it('a stop commands its contactor open even when a pause (SuspendedEVSE) had opened it already', async () => {
    const fx = fixture();
    await fx.charging(1, TAG);
    await fx.limit.setLocalLimit(1, 0);
    await fx.settle();
    expect([fx.statusOf(1), closed(fx, 1)]).toEqual(['SuspendedEVSE', false]);
    const set = vi.spyOn(fx.board.connector(1)!.devices.relay, 'set');

    await fx.engine.presentIdTag(TAG, [1]);
    await fx.settle();
    expect(fx.stops().map((s) => s.tx.connectorId)).toEqual([1]);
    expect(set.mock.calls).toEqual([[false]]);
    expect(closed(fx, 1)).toBe(false);
  });
});

describe('a charge controller that switches its contactor on the pilot (Relay.switchesOnPilot)', () => {
  it('is permitted from the start of the transaction while the EV waits in B, and not before or after', async () => {
    const fx = fixture();
    const relay = fx.board.connector(1)!.devices.relay;
    // As the EV-CC-AC1's relay: its contactor is the device's to close once the EV asks.
    Object.assign(relay, { switchesOnPilot: true });
    fx.board.ev(1, 'pause');
    fx.board.plug(1);
    await fx.settle();
    expect([offered(fx, 1), closed(fx, 1)]).toEqual([0, false]);
    await fx.engine.presentIdTag(TAG, [1]);
    await fx.settle();
    expect(fx.engine.transactionOn(1)).toBeDefined();
    expect([offered(fx, 1), closed(fx, 1)]).toEqual([32, true]);
    // Paused by the limit: the permission is withdrawn, whatever the pilot.
    await fx.limit.setLocalLimit(1, 5);
    expect([offered(fx, 1), closed(fx, 1)]).toEqual([0, false]);
    await fx.limit.setLocalLimit(1, 16);
    expect([offered(fx, 1), closed(fx, 1)]).toEqual([16, true]);
    await fx.engine.presentIdTag(TAG, [1]);
    await fx.settle();
    expect([offered(fx, 1), closed(fx, 1)]).toEqual([0, false]);
    // A relay that waits for the EV to ask still does: connector 2's stays open in B.
    fx.board.ev(2, 'pause');
    await fx.charging(2, OTHER);
    expect([offered(fx, 2), closed(fx, 2)]).toEqual([32, false]);
  });
});

describe('load sharing: the board supply split among the charging connectors', () => {
  it('two sessions share 40 A equally; each share is in its composite; a stop gives the other its full limit', async () => {
    const fx = fixture({ supplyMaxCurrentA: 40 });
    await fx.charging(1, TAG);
    expect(offered(fx, 1)).toBe(32);
    await fx.charging(2, OTHER);
    expect([offered(fx, 1), offered(fx, 2)]).toEqual([20, 20]);
    expect([closed(fx, 1), closed(fx, 2)]).toEqual([true, true]);
    expect(fx.limit.limitInEffect(2)).toEqual({
      amps: 20,
      state: 'offered',
      limitA: 20,
      source: { kind: 'loadSharing' },
      paused: false,
    });
    expect(
      compositeSchedule(fx.chargingProfiles.compositeFor(1, fx.clock.now(), 3600)!).periods,
    ).toMatchObject([{ startPeriod: 0, limitA: 20, numberPhases: 3, source: { kind: 'loadSharing' } }]);
    // The EV on connector 1 pauses by itself (SuspendedEV): its share goes to connector 2.
    fx.board.ev(1, 'pause');
    await fx.settle();
    expect(fx.statusOf(1)).toBe('SuspendedEV');
    expect(offered(fx, 2)).toBe(32);
    fx.board.ev(1, 'charge');
    await fx.settle();
    expect([offered(fx, 1), offered(fx, 2)]).toEqual([20, 20]);
    await fx.engine.presentIdTag(TAG, [1]);
    await fx.settle();
    expect(fx.stops().map((s) => s.tx.connectorId)).toEqual([1]);
    expect(offered(fx, 2)).toBe(32);
    expect(fx.limit.limitInEffect(2)?.source).toEqual({ kind: 'hardware' });
  });

  it('when even 6 A each does not fit, the newest session pauses (SuspendedEVSE) and resumes when the first stops', async () => {
    const fx = fixture({ supplyMaxCurrentA: 10 });
    await fx.charging(1, TAG);
    expect(offered(fx, 1)).toBe(10);
    fx.clock.advance(MINUTE);
    await fx.charging(2, OTHER);
    expect(fx.statusOf(2)).toBe('SuspendedEVSE');
    expect([offered(fx, 2), closed(fx, 2)]).toEqual([0, false]);
    expect([fx.statusOf(1), offered(fx, 1), closed(fx, 1)]).toEqual(['Charging', 10, true]);
    expect(fx.limit.limitInEffect(2)).toEqual({
      amps: 0,
      state: 'belowMinimum',
      limitA: 0,
      source: { kind: 'loadSharing' },
      paused: true,
    });
    await fx.engine.presentIdTag(TAG, [1]);
    await fx.settle();
    expect([fx.statusOf(2), offered(fx, 2), closed(fx, 2)]).toEqual(['Charging', 10, true]);
    expect(fx.statuses(2).filter((s) => s === 'SuspendedEVSE')).toHaveLength(1);
  });

  it('1-phase outlets on different supply lines do not share; one whose line is unknown shares with all', async () => {
    const fx = fixture({
      supplyMaxCurrentA: 32,
      board: {
        connectors: [
          { id: 1, phases: 1, phase: 1 },
          { id: 2, phases: 1, phase: 2 },
          { id: 3, phases: 1 },
        ],
      },
    });
    await fx.charging(1, TAG);
    await fx.charging(2, OTHER);
    expect([offered(fx, 1), offered(fx, 2)]).toEqual([32, 32]);
    expect(fx.limit.limitInEffect(2)?.source).toEqual({ kind: 'hardware' });
    // Connector 3's line is not known: its share counts on every line, L1 and L2 included.
    await fx.charging(3, 'VALID03');
    expect([offered(fx, 1), offered(fx, 2), offered(fx, 3)]).toEqual([16, 16, 16]);
  });

  it('a ChargePointMaxProfile is shared too, and re-split exactly at its boundary', async () => {
    const fx = fixture();
    const cpMax = profile('ChargePointMaxProfile', 0, [
      [0, 24],
      [30, 64],
    ]);
    expect(fx.chargingProfiles.install(cpMax)).toBe('Accepted');
    await fx.charging(1, TAG);
    await fx.charging(2, OTHER);
    expect([offered(fx, 1), offered(fx, 2)]).toEqual([12, 12]);
    const commands = pilotCommands(fx, 2);
    fx.clock.advance(30 * MINUTE);
    await fx.settle();
    expect([offered(fx, 1), offered(fx, 2)]).toEqual([32, 32]);
    expect(commands).toEqual([[30 * MINUTE, 32]]);
  });
});

describe('a contactor whose open command fails is tried again on the clock', () => {
  /** The times (ms since `from`) of every open command the relay of `connectorId` gets. */
  function openCommands(fx: SessionFixture, connectorId: number, from: number): number[] {
    const relay = fx.board.connector(connectorId)!.devices.relay;
    const times: number[] = [];
    const original = relay.set.bind(relay);
    vi.spyOn(relay, 'set').mockImplementation((closed) => {
      if (!closed) times.push(fx.clock.now() - from);
      return original(closed);
    });
    return times;
  }

  /** Moves the fake clock second by second, letting each retry's outcome settle. */
  async function seconds(fx: SessionFixture, n: number): Promise<void> {
    for (let s = 0; s < n; s++) {
      fx.clock.advance(1000);
      await fx.settle();
    }
  }

  it('after 1 s, backing off to every 10 s, logged once, until it opens: with no other event', async () => {
    const fx = fixture();
    await fx.charging(1, TAG);
    const relay = fx.board.connector(1)!.devices.relay;
    fx.board.relayOutputFails(1, true);
    const from = fx.clock.now();
    const opens = openCommands(fx, 1, from);
    // The driver ends the session with its card: the StopTransaction is recorded, the open fails.
    await fx.engine.presentIdTag(TAG, [1]);
    await fx.settle();
    expect(fx.stops()).toHaveLength(1);
    expect(relay.isClosed()).toBe(true);
    expect(fx.station.status(1)).toMatchObject({ status: 'Faulted', errorCode: 'PowerSwitchFailure' });

    await seconds(fx, 30);
    expect(opens).toEqual([0, 1000, 3000, 7000, 15_000, 25_000]);
    expect(relay.isClosed()).toBe(true);
    // The output works again: nothing else happens, the next retry opens the contactor.
    fx.board.relayOutputFails(1, false);
    await seconds(fx, 4);
    expect(relay.isClosed()).toBe(true);
    await seconds(fx, 1);
    expect(relay.isClosed()).toBe(false);
    expect(opens.at(-1)).toBe(35_000);
    expect(fx.station.status(1)).toMatchObject({ status: 'Finishing', errorCode: 'NoError' });
    // Opened: no more retries.
    await seconds(fx, 60);
    expect(opens).toHaveLength(7);

    const failures = fx.logLines.filter((l) => l.msg === 'contactor open failed: retrying until it opens');
    expect(failures).toEqual([
      expect.objectContaining({ connectorId: 1, err: 'relay output write failed', level: 50 }),
    ]);
    expect(fx.logLines.find((l) => l.msg === 'contactor opened after failed attempts')).toMatchObject({
      connectorId: 1,
      failures: 6,
    });
  });

  it('stops retrying once the contactor may close again (a new session on the cable)', async () => {
    const fx = fixture();
    await fx.charging(1, TAG);
    const relay = fx.board.connector(1)!.devices.relay;
    const from = fx.clock.now();
    const opens: number[] = [];
    // An output that fails to open without the relay noticing it (no fault): the session logic goes on.
    const set = relay.set.bind(relay);
    let failing = true;
    vi.spyOn(relay, 'set').mockImplementation(async (closed) => {
      if (closed) return set(closed);
      opens.push(fx.clock.now() - from);
      if (failing) throw new Error('relay output write failed');
      return set(closed);
    });
    await fx.engine.presentIdTag(TAG, [1]);
    await fx.settle();
    await seconds(fx, 3);
    expect(opens).toEqual([0, 1000, 3000]);
    // The driver takes the cable and starts again: the contactor may stay closed now.
    fx.board.unplug(1);
    await fx.charging(1, TAG);
    expect(fx.statusOf(1)).toBe('Charging');
    expect(relay.isClosed()).toBe(true);
    failing = false;
    await seconds(fx, 60);
    expect(opens).toEqual([0, 1000, 3000]);
    expect(relay.isClosed()).toBe(true);
  });

  /** What happens to the contactor and the cable's lock of a connector, in order, from now on. */
  function contactorAndLock(fx: SessionFixture, connectorId: number): string[] {
    const { devices, lock } = fx.board.connector(connectorId)!;
    const order: string[] = [];
    devices.relay.on('change', (closed) => order.push(closed ? 'contactor closed' : 'contactor opened'));
    const unlock = lock!.unlock.bind(lock);
    vi.spyOn(lock!, 'unlock').mockImplementation(async () => {
      const unlocked = await unlock();
      if (unlocked) order.push('cable unlocked');
      return unlocked;
    });
    return order;
  }

  it('keeps the cable locked while the open is retried, and releases it once the contactor opens', async () => {
    const fx = fixture();
    await fx.charging(1, TAG);
    const { devices, lock } = fx.board.connector(1)!;
    fx.board.relayOutputFails(1, true);
    const order = contactorAndLock(fx, 1);
    await fx.engine.presentIdTag(TAG, [1]);
    await fx.settle();
    expect(fx.stops()).toHaveLength(1);
    expect([devices.relay.isClosed(), lock!.isLocked()]).toEqual([true, true]);
    await seconds(fx, 30);
    expect(lock!.isLocked()).toBe(true);
    fx.board.relayOutputFails(1, false);
    await seconds(fx, 5);
    expect([devices.relay.isClosed(), lock!.isLocked()]).toEqual([false, false]);
    expect(order).toEqual(['contactor opened', 'cable unlocked']);
    expect(fx.statusOf(1)).toBe('Finishing');
  });

  it('UnlockConnector answers UnlockFailed while the contactor is not known open, Unlocked once it is', async () => {
    const fx = fixture();
    await fx.charging(1, TAG);
    const { lock } = fx.board.connector(1)!;
    fx.board.relayOutputFails(1, true);
    // The central system's unlock stops the transaction (UnlockCommand); its open fails.
    expect(await fx.engine.unlock(1)).toBe('UnlockFailed');
    expect(fx.stops()).toEqual([
      expect.objectContaining({ stop: expect.objectContaining({ reason: 'UnlockCommand' }) }),
    ]);
    await seconds(fx, 3);
    expect(await fx.engine.unlock(1)).toBe('UnlockFailed');
    expect(lock!.isLocked()).toBe(true);
    fx.board.relayOutputFails(1, false);
    await seconds(fx, 4);
    expect(lock!.isLocked()).toBe(false);
    expect(await fx.engine.unlock(1)).toBe('Unlocked');
  });

  it('a failed lock is not tried again (an unlock) while the contactor is not known open', async () => {
    const fx = fixture();
    await fx.charging(1, TAG);
    const { lock } = fx.board.connector(1)!;
    fx.board.relayOutputFails(1, true);
    await fx.engine.presentIdTag(TAG, [1]);
    await fx.settle();
    // The lock jams (ConnectorLockFailure) and works again; the EV side is unplugged, the moment
    // its retry (an unlock) comes, and again every 30 s: all while the open is retried.
    fx.board.lockFail(1, true);
    expect(await lock!.lock()).toBe(false);
    fx.board.lockFail(1, false);
    fx.board.unplug(1);
    await seconds(fx, 40);
    expect(lock!.isLocked()).toBe(true);
    fx.board.relayOutputFails(1, false);
    await seconds(fx, 10);
    expect(lock!.isLocked()).toBe(false);
  });

  it('a driver that records the open before its write fails (EV-CC-AC1: isClosed() false) is retried too, the cable kept locked', async () => {
    const fx = fixture();
    await fx.charging(1, TAG);
    const { devices, lock } = fx.board.connector(1)!;
    const relay = devices.relay;
    const from = fx.clock.now();
    const opens: number[] = [];
    // As the EV-CC-AC1's enable coil: the command is the state, whatever the write did.
    let permitted = relay.isClosed();
    let failing = true;
    const set = relay.set.bind(relay);
    vi.spyOn(relay, 'isClosed').mockImplementation(() => permitted);
    vi.spyOn(relay, 'set').mockImplementation(async (closed) => {
      permitted = closed;
      if (!closed) opens.push(fx.clock.now() - from);
      if (failing) throw new Error('coil 20000 not written: timed out');
      return set(closed);
    });
    await fx.engine.presentIdTag(TAG, [1]);
    await fx.settle();
    expect(relay.isClosed()).toBe(false);
    await seconds(fx, 8);
    expect(opens).toEqual([0, 1000, 3000, 7000]);
    expect(lock!.isLocked()).toBe(true);
    failing = false;
    await seconds(fx, 8);
    expect(opens).toEqual([0, 1000, 3000, 7000, 15_000]);
    expect(lock!.isLocked()).toBe(false);
  });
});

describe('a welded contact (feedback closed while commanded open) keeps the cable locked', () => {
  async function seconds(fx: SessionFixture, n: number): Promise<void> {
    for (let s = 0; s < n; s++) {
      fx.clock.advance(1000);
      await fx.settle();
    }
  }

  it('a session that ends welded: Faulted, the cable locked, UnlockConnector UnlockFailed; the contact opens, the cable is released', async () => {
    const fx = fixture();
    // The contact follows the close, and stays closed when the contactor is commanded open.
    fx.board.relayContact(1, 'welds-on-close');
    await fx.charging(1, TAG);
    const { devices, lock } = fx.board.connector(1)!;
    const unlocks = vi.spyOn(lock!, 'unlock');
    await fx.engine.presentIdTag(TAG, [1]);
    await fx.settle();
    expect(fx.stops()).toHaveLength(1);
    expect(fx.station.status(1)).toMatchObject({
      status: 'Faulted',
      errorCode: 'PowerSwitchFailure',
      info: 'contactor welded',
    });
    // Commanded open, yet the conductors are live.
    expect([devices.relay.isClosed(), devices.relay.feedback(), lock!.isLocked()]).toEqual([
      false,
      true,
      true,
    ]);
    expect(fx.limit.contactorOpen(1)).toBe(false);
    await seconds(fx, 60);
    expect(lock!.isLocked()).toBe(true);
    expect(await fx.engine.unlock(1)).toBe('UnlockFailed');
    expect(lock!.isLocked()).toBe(true);
    expect(unlocks).not.toHaveBeenCalled();
    // The weld clears: nothing else happens, the cable kept locked for it is released.
    fx.board.relayContact(1, 'follows');
    await fx.settle();
    expect(lock!.isLocked()).toBe(false);
    expect(unlocks).toHaveBeenCalledTimes(1);
    expect(fx.station.status(1)).toMatchObject({ status: 'Finishing', errorCode: 'NoError' });
    expect(await fx.engine.unlock(1)).toBe('Unlocked');
  });
});

describe('a contactor whose close command fails is commanded open on the clock until its output answers', () => {
  async function seconds(fx: SessionFixture, n: number): Promise<void> {
    for (let s = 0; s < n; s++) {
      fx.clock.advance(1000);
      await fx.settle();
    }
  }

  it('Faulted, the session stopped; once the output is repaired the fault clears within the back-off, no close again', async () => {
    const fx = fixture();
    const relay = fx.board.connector(1)!.devices.relay;
    const commands: Array<[number, boolean]> = [];
    const set = relay.set.bind(relay);
    let from = fx.clock.now();
    vi.spyOn(relay, 'set').mockImplementation((closed) => {
      commands.push([fx.clock.now() - from, closed]);
      return set(closed);
    });
    fx.board.relayOutputFails(1, true);
    fx.board.plug(1);
    await fx.engine.presentIdTag(TAG, [1]);
    await fx.settle();
    from = fx.clock.now();
    expect(fx.station.status(1)).toMatchObject({ status: 'Faulted', errorCode: 'PowerSwitchFailure' });
    expect(fx.stops()).toEqual([
      expect.objectContaining({ stop: expect.objectContaining({ reason: 'Other' }) }),
    ]);
    expect(fx.board.connector(1)!.lock!.isLocked()).toBe(true);
    await seconds(fx, 30);
    expect(fx.statusOf(1)).toBe('Faulted');
    fx.board.relayOutputFails(1, false);
    await seconds(fx, 10);
    expect(fx.station.status(1)).toMatchObject({ status: 'Finishing', errorCode: 'NoError' });
    expect(fx.board.connector(1)!.lock!.isLocked()).toBe(false);
    fx.board.unplug(1);
    await fx.settle();
    expect(fx.statusOf(1)).toBe('Available');
    // One close (the failed one), then only opens: at 1, 3, 7, 15, 25 s and the one that worked at 35 s.
    expect(commands.filter(([, closed]) => closed)).toHaveLength(1);
    expect(commands.filter(([at, closed]) => !closed && at > 0).map(([at]) => at)).toEqual([
      1000, 3000, 7000, 15_000, 25_000, 35_000,
    ]);
    expect(fx.starts()).toHaveLength(1);
    await seconds(fx, 60);
    expect(commands.filter(([at]) => at > 35_000)).toEqual([]);
    expect(
      fx.logLines.filter(
        (l) => l.msg === 'contactor close failed: commanding it open until its output answers',
      ),
    ).toHaveLength(1);
  });

  it('a stop opens the contactor at once, and its meter reads after: the pilot and the other connectors follow once it is recorded', async () => {
    const fx = fixture({ supplyMaxCurrentA: 40 });
    await fx.charging(1, TAG);
    await fx.charging(2, OTHER);
    expect([offered(fx, 1), offered(fx, 2)]).toEqual([20, 20]);
    const meter = fx.board.connector(1)!.devices.meter!;
    const read = meter.read.bind(meter);
    const contactorAtMeterStop: Array<boolean | undefined> = [];
    vi.spyOn(meter, 'read').mockImplementation(() => {
      contactorAtMeterStop.push(closed(fx, 1));
      return read();
    });
    await fx.engine.presentIdTag(TAG, [1]);
    await fx.settle();
    expect(fx.stops().map((s) => s.tx.connectorId)).toEqual([1]);
    // Every read of the stop found the contactor open already.
    expect(contactorAtMeterStop.length).toBeGreaterThan(0);
    expect(contactorAtMeterStop.every((c) => c === false)).toBe(true);
    // The evaluation after the stop: connector 2 gets the whole supply, connector 1 offers nothing.
    expect([offered(fx, 1), offered(fx, 2)]).toEqual([0, 32]);
  });

  it('a stop during an evaluation decided before it never lets that evaluation close the contactor again', async () => {
    const fx = fixture();
    await fx.charging(1, TAG);
    const relay = fx.board.connector(1)!.devices.relay;
    const pilot = fx.board.connector(1)!.devices.pilot;
    // An evaluation stuck at connector 1's pilot, with the session still running in its decisions.
    let release!: () => void;
    vi.spyOn(pilot, 'setCurrentLimit').mockImplementationOnce(
      () => new Promise<void>((resolve) => (release = resolve)),
    );
    const limited = fx.limit.setLocalLimit(1, 10);
    await fx.settle();
    expect(release).toBeDefined();
    const commands: boolean[] = [];
    relay.on('change', (isClosed) => commands.push(isClosed));

    // The stop waits for the evaluation in progress, which waits for the pilot.
    const stopping = fx.engine.presentIdTag(TAG, [1]);
    await fx.settle();
    expect(commands).toEqual([]);
    release();
    await Promise.all([stopping, limited]);
    await fx.settle();
    expect(fx.stops().map((s) => s.tx.connectorId)).toEqual([1]);
    // Opened once, after the stale evaluation ended; never closed again.
    expect(commands).toEqual([false]);
    expect(closed(fx, 1)).toBe(false);
  });
});
