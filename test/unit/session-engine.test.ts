import { describe, expect, it, vi } from 'vitest';
import type { MeterReading } from '../../hal/types.js';
import type { PendingTxProfile } from '../../src/station/charging-profile-types.js';
import { T0, useSessionFixtures } from './session-fixture.js';

const TAG = 'VALID01';
const OTHER = 'VALID02';
const HOUR = 3_600_000;
const TX_PROFILE: PendingTxProfile = {
  id: 9,
  stackLevel: 0,
  purpose: 'TxProfile',
  kind: 'Relative',
  schedule: { unit: 'A', periods: [{ startPeriod: 0, limit: 10 }] },
};

const fixture = useSessionFixtures();

const reading = (energyImportWh: number): MeterReading => ({ at: T0, energyImportWh });

describe('charging sessions in process (fake clock, simulated board)', () => {
  it('three hours of charging: a periodic sample every interval, monotonic, and the energy at the stop', async () => {
    const fx = fixture({ ocpp: { MeterValueSampleInterval: 60 } });
    await fx.charging(1, TAG);
    expect(fx.statusOf(1)).toBe('Charging');
    for (let minute = 0; minute < 180; minute++) {
      fx.clock.advance(60_000);
      await fx.settle();
    }
    await fx.engine.stopAll('Local');
    const samples = fx.timeline.filter((h) => h.kind === 'sampled');
    expect(samples).toHaveLength(180);
    const energies = samples.map((s) => s.reading.energyImportWh);
    expect(energies).toEqual([...energies].sort((a, b) => a - b));
    // The EV's 11 kW (below 32 A on three phases of 230 V) for three hours, within the meter's last Wh.
    const stop = fx.stops()[0]?.stop;
    expect(stop?.reason).toBe('Local');
    expect(stop?.meterStop).toBeGreaterThanOrEqual(32_999);
    expect(stop?.meterStop).toBeLessThanOrEqual(33_000);
  });

  it('a card first at a reader serving two connectors: the session starts on whichever is plugged first', async () => {
    const fx = fixture();
    expect(fx.board.readers[0]?.connectorIds).toEqual([1, 2]);
    fx.board.swipe(TAG);
    await fx.settle();
    // Pending for both free connectors: neither is available to another driver meanwhile.
    expect([fx.statusOf(1), fx.statusOf(2)]).toEqual(['Preparing', 'Preparing']);
    fx.board.plug(2);
    await fx.settle();
    expect(fx.starts().map((s) => [s.tx.connectorId, s.tx.idTag])).toEqual([[2, TAG]]);
    expect(fx.statusOf(2)).toBe('Charging');
    expect(fx.statusOf(1)).toBe('Available');
    // The other connector is free again: plugging it starts nothing.
    fx.board.plug(1);
    await fx.settle();
    expect(fx.starts()).toHaveLength(1);
    expect(fx.statusOf(1)).toBe('Preparing');
  });

  it('a card first at a two-connector reader, no cable within ConnectionTimeOut: both Available again', async () => {
    const fx = fixture({ ocpp: { ConnectionTimeOut: 30 } });
    fx.board.swipe(TAG);
    await fx.settle();
    fx.clock.advance(30_000);
    await fx.settle();
    expect([fx.statusOf(1), fx.statusOf(2)]).toEqual(['Available', 'Available']);
    fx.board.plug(1);
    await fx.settle();
    expect(fx.starts()).toEqual([]);
  });

  it('RemoteStartTransaction without connectorId goes to the connector where an EV waits plugged in', async () => {
    const fx = fixture();
    fx.board.plug(2);
    await fx.settle();
    expect(fx.engine.remoteStart(TAG)).toBe('Accepted');
    await fx.settle();
    expect(fx.starts().map((s) => s.tx.connectorId)).toEqual([2]);
    expect(fx.statusOf(1)).toBe('Available');
  });

  it('cable pulled during a transaction (StopTransactionOnEVSideDisconnect): StopTransaction, Finishing, Available; never Available while open', async () => {
    const fx = fixture({ ocpp: { StopTransactionOnEVSideDisconnect: true } });
    await fx.charging(1, TAG);
    const from = fx.timeline.length;
    fx.board.unplug(1);
    await fx.settle();
    const after = fx.timeline
      .slice(from)
      .flatMap((h) =>
        h.kind === 'stopped'
          ? [`stop ${h.stop.reason}`]
          : h.kind === 'status' && h.connectorId === 1
            ? [h.status]
            : [],
      );
    expect(after).toEqual(['stop EVDisconnected', 'Finishing', 'Available']);
  });

  it('StopTransactionOnEVSideDisconnect false: the EV leaves (SuspendedEV, contactor open) and comes back (Charging)', async () => {
    const fx = fixture({ ocpp: { StopTransactionOnEVSideDisconnect: false } });
    await fx.charging(1, TAG);
    const relay = fx.board.connector(1)?.devices.relay;
    fx.board.unplug(1);
    await fx.settle();
    expect(fx.statusOf(1)).toBe('SuspendedEV');
    expect(relay?.isClosed()).toBe(false);
    expect(fx.board.connector(1)?.lock?.isLocked()).toBe(true);
    fx.board.plug(1);
    await fx.settle();
    expect(fx.statusOf(1)).toBe('Charging');
    expect(relay?.isClosed()).toBe(true);
    expect(fx.stops()).toEqual([]);
  });

  it('a remote start waiting for the cable ends when its connector is set Inoperative: the cable then starts nothing', async () => {
    const fx = fixture();
    expect(fx.engine.remoteStart(TAG, 1)).toBe('Accepted');
    await fx.settle();
    expect(fx.statusOf(1)).toBe('Preparing');
    expect(fx.station.changeAvailability(1, 'Inoperative')).toBe('Accepted');
    await fx.settle();
    fx.board.plug(1);
    await fx.settle();
    expect(fx.starts()).toEqual([]);
    expect(fx.statusOf(1)).toBe('Unavailable');
    // Preparing -> Unavailable is not in the OCPP 1.6 table: through Available (B1, A8).
    expect(fx.statuses(1).slice(-3)).toEqual(['Preparing', 'Available', 'Unavailable']);
    // Back in service, the old session does not come back.
    fx.station.changeAvailability(1, 'Operative');
    await fx.settle();
    expect(fx.starts()).toEqual([]);
    expect(fx.statusOf(1)).toBe('Preparing');
  });

  it('the same through connector 0 (the whole charge point Inoperative)', async () => {
    const fx = fixture();
    fx.engine.remoteStart(TAG, 2);
    await fx.settle();
    fx.station.changeAvailability(0, 'Inoperative');
    await fx.settle();
    fx.station.changeAvailability(0, 'Operative');
    fx.board.plug(2);
    await fx.settle();
    expect(fx.starts()).toEqual([]);
  });

  it('a remote start waiting for the cable ends when its connector faults', async () => {
    const fx = fixture();
    fx.engine.remoteStart(TAG, 1);
    await fx.settle();
    fx.board.fault(1, 'GroundFailure');
    await fx.settle();
    expect(fx.statusOf(1)).toBe('Faulted');
    fx.board.clear(1);
    await fx.settle();
    expect(fx.statusOf(1)).toBe('Available');
    fx.board.plug(1);
    await fx.settle();
    expect(fx.starts()).toEqual([]);
  });

  it('a RemoteStartTransaction refused by a reservation leaves no TxProfile for the next session', async () => {
    const fx = fixture({
      authorize: (idTag) =>
        idTag === OTHER ? { status: 'Accepted', parentIdTag: 'GROUP' } : { status: 'Accepted' },
    });
    expect(
      fx.reservations.reserve({
        connectorId: 1,
        expiryDate: new Date(T0 + HOUR).toISOString(),
        idTag: OTHER,
        parentIdTag: 'GROUP',
        reservationId: 5,
      }),
    ).toBe('Accepted');
    expect(fx.engine.remoteStart(TAG, 1, TX_PROFILE)).toBe('Rejected');
    await fx.charging(1, OTHER);
    expect(fx.starts().map((s) => [s.tx.idTag, s.tx.reservationId])).toEqual([[OTHER, 5]]);
    expect(fx.engine.txProfileOn(1)).toBeUndefined();
  });

  it('a TxProfile of an accepted remote start stays with its transaction, and goes with it', async () => {
    const fx = fixture();
    fx.engine.remoteStart(TAG, 1, TX_PROFILE);
    fx.board.plug(1);
    await fx.settle();
    expect(fx.engine.txProfileOn(1)).toEqual(TX_PROFILE);
    // Installed with the transaction row it belongs to, in the SQL transaction that recorded it.
    const localId = fx.engine.transactionOn(1)?.localId;
    expect(localId).toBeDefined();
    expect(fx.chargingProfiles.all()).toEqual([
      { ...TX_PROFILE, connectorId: 1, transactionLocalId: localId },
    ]);
    await fx.engine.stopAll('Local');
    expect(fx.engine.txProfileOn(1)).toBeUndefined();
    expect(fx.chargingProfiles.all()).toEqual([]);
  });

  it('a meter that fails at the moment of the start: no transaction, a log line, the connector idle again', async () => {
    const fx = fixture();
    const meter = fx.board.connector(1)?.meter;
    if (!meter) throw new Error('no meter');
    vi.spyOn(meter, 'read').mockRejectedValueOnce(new Error('Modbus timeout'));
    await fx.charging(1, TAG).catch(() => undefined);
    expect(fx.starts()).toEqual([]);
    expect(fx.logLines.map((l) => l.msg)).toContain(
      'meter not readable at the start; transaction not started',
    );
    expect(fx.statusOf(1)).toBe('Preparing');
    expect(fx.board.connector(1)?.lock?.isLocked()).toBe(false);
    // The next attempt, with a meter that answers, starts from its reading.
    await fx.charging(1, TAG);
    expect(fx.starts().map((s) => s.tx.meterStart)).toEqual([0]);
  });

  it('never a meterStop below meterStart: a meter that reads lower (or not at all) at the stop', async () => {
    const fx = fixture();
    const meter = fx.board.connector(1)?.meter;
    if (!meter) throw new Error('no meter');
    const read = vi.spyOn(meter, 'read').mockResolvedValueOnce(reading(5000));
    await fx.charging(1, TAG);
    read.mockResolvedValueOnce(reading(4000));
    await fx.engine.stopAll('Local');
    fx.board.unplug(1);
    await fx.settle();
    read.mockResolvedValueOnce(reading(6000));
    await fx.charging(1, OTHER);
    read.mockRejectedValueOnce(new Error('Modbus timeout'));
    await fx.engine.stopAll('Local');
    expect(fx.stops().map((s) => [s.tx.meterStart, s.stop.meterStop])).toEqual([
      [5000, 5000],
      [6000, 6000],
    ]);
  });

  it('a fractional register is recorded and sent in whole Wh', async () => {
    const fx = fixture({ ocpp: { MeterValueSampleInterval: 60 } });
    const meter = fx.board.connector(1)?.meter;
    if (!meter) throw new Error('no meter');
    const read = vi.spyOn(meter, 'read').mockResolvedValueOnce(reading(1_234_567.0117));
    const row = await fx.charging(1, TAG);
    expect(row.meterStart).toBe(1_234_567);
    expect(fx.starts()[0]?.reading?.energyImportWh).toBe(1_234_567);
    // Every read until the stop: the sample and the register persistence in between.
    read.mockResolvedValue(reading(1_234_789.5));
    fx.clock.advance(60_000);
    await fx.settle();
    read.mockResolvedValueOnce(reading(1_234_999.6));
    await fx.engine.stopAll('Local');
    const stored = fx.repo.get(row.localId);
    expect(stored).toMatchObject({ meterStart: 1_234_567, lastMeter: 1_234_790, meterStop: 1_235_000 });
    expect(fx.stops()[0]?.stop.meterStop).toBe(1_235_000);
  });
});
