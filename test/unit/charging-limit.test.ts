import { describe, expect, it } from 'vitest';
import { type ConnectorSituation, decideOutputs } from '../../src/station/charging-outputs.js';
import {
  linesOf,
  MIN_CHARGING_CURRENT_A,
  type ShareDemand,
  type SupplyLine,
  shareSupply,
} from '../../src/station/load-sharing.js';

/** A charging session on a healthy, operative connector, the EV asking, the cable locked. */
const charging: ConnectorSituation = {
  transaction: { withheld: false },
  evAsks: true,
  cableHeld: true,
  faulted: false,
  switchesOnPilot: false,
  relayTest: false,
  limitA: 16,
  minA: MIN_CHARGING_CURRENT_A,
};

describe('the outputs of one connector (pilot offer, contactor)', () => {
  it('offers the limit and closes the contactor for a running transaction whose EV asks', () => {
    expect(decideOutputs(charging)).toEqual({
      offeredA: 16,
      contactorClosed: true,
      paused: false,
      offer: 'offered',
    });
  });

  it('pauses below 6 A: nothing offered (PWM off), contactor open; 6 A itself charges', () => {
    expect(decideOutputs({ ...charging, limitA: 5.9 })).toEqual({
      offeredA: 0,
      contactorClosed: false,
      paused: true,
      offer: 'belowMinimum',
    });
    expect(decideOutputs({ ...charging, limitA: 6 })).toEqual({
      offeredA: 6,
      contactorClosed: true,
      paused: false,
      offer: 'offered',
    });
  });

  it("pauses below the period's minChargingRate when it is above 6 A", () => {
    expect(decideOutputs({ ...charging, limitA: 9, minA: 10 })).toMatchObject({
      offeredA: 0,
      paused: true,
      offer: 'belowMinimum',
    });
    expect(decideOutputs({ ...charging, limitA: 10, minA: 10 })).toMatchObject({
      offeredA: 10,
      paused: false,
    });
  });

  it('keeps the contactor open while the EV pauses (B) or the cable is not locked, still offering the limit', () => {
    expect(decideOutputs({ ...charging, evAsks: false })).toEqual({
      offeredA: 16,
      contactorClosed: false,
      paused: false,
      offer: 'offered',
    });
    expect(decideOutputs({ ...charging, cableHeld: false })).toMatchObject({
      offeredA: 16,
      contactorClosed: false,
    });
  });

  it('withholds everything for a refused id (MaxEnergyOnInvalidId) and for a fault, and says which', () => {
    expect(decideOutputs({ ...charging, transaction: { withheld: true } })).toEqual({
      offeredA: 0,
      contactorClosed: false,
      paused: false,
      offer: 'energyWithheld',
    });
    expect(decideOutputs({ ...charging, faulted: true })).toMatchObject({
      offeredA: 0,
      contactorClosed: false,
      offer: 'faulted',
    });
    // A fault is named first: it keeps any session from energy, whatever else holds.
    expect(decideOutputs({ ...charging, transaction: { withheld: true }, faulted: true }).offer).toBe(
      'faulted',
    );
  });

  it('without a transaction nothing is offered (IEC 61851-1 B1: +12 V, no PWM) and the contactor stays open', () => {
    const { transaction: _, ...idle } = charging;
    expect(decideOutputs(idle)).toEqual({
      offeredA: 0,
      contactorClosed: false,
      paused: false,
      offer: 'noSession',
    });
    expect(decideOutputs({ ...idle, evAsks: false })).toEqual({
      offeredA: 0,
      contactorClosed: false,
      paused: false,
      offer: 'noSession',
    });
    // A limit below the minimum is reported (a session would pause), but no session is the reason.
    expect(decideOutputs({ ...idle, limitA: 0 })).toMatchObject({ paused: true, offer: 'noSession' });
    expect(decideOutputs({ ...idle, switchesOnPilot: true })).toMatchObject({
      offeredA: 0,
      contactorClosed: false,
    });
  });

  it('a charge controller that switches on the pilot is permitted while the EV waits in B, never without a session', () => {
    const controller: ConnectorSituation = { ...charging, switchesOnPilot: true, evAsks: false };
    expect(decideOutputs(controller)).toEqual({
      offeredA: 16,
      contactorClosed: true,
      paused: false,
      offer: 'offered',
    });
    expect(decideOutputs({ ...controller, limitA: 5 })).toMatchObject({
      offeredA: 0,
      contactorClosed: false,
    });
    expect(decideOutputs({ ...controller, faulted: true })).toMatchObject({ contactorClosed: false });
    expect(decideOutputs({ ...controller, transaction: { withheld: true } })).toMatchObject({
      contactorClosed: false,
    });
    expect(decideOutputs({ ...controller, cableHeld: false })).toMatchObject({ contactorClosed: false });
  });

  it("closes the contactor for a technician's relay test only on an idle, unfaulted connector", () => {
    const { transaction: _, ...idle } = charging;
    expect(decideOutputs({ ...idle, relayTest: true }).contactorClosed).toBe(true);
    expect(decideOutputs({ ...idle, relayTest: true, faulted: true }).contactorClosed).toBe(false);
  });
});

const demand = (
  connectorId: number,
  startedAt: number,
  capA = 32,
  minA = 6,
  lines: readonly SupplyLine[] = [1, 2, 3],
): ShareDemand => ({ connectorId, capA, minA, startedAt, lines });

describe('load sharing: one supply split among the sessions that want energy', () => {
  it('gives each its own cap when the supply carries them all', () => {
    expect(shareSupply(80, [demand(1, 1), demand(2, 2)])).toEqual([
      { connectorId: 1, paused: false, limitA: 32 },
      { connectorId: 2, paused: false, limitA: 32 },
    ]);
  });

  it('splits a short supply in equal shares, rounded down to 0.1 A', () => {
    expect(shareSupply(40, [demand(1, 1), demand(2, 2)])).toEqual([
      { connectorId: 1, paused: false, limitA: 20 },
      { connectorId: 2, paused: false, limitA: 20 },
    ]);
    expect(
      shareSupply(40, [demand(1, 1), demand(2, 2), demand(3, 3)]).map((s) => s.paused || s.limitA),
    ).toEqual([13.3, 13.3, 13.3]);
  });

  it('leaves what a connector with a lower cap cannot take to the others (max-min fair)', () => {
    expect(
      shareSupply(40, [demand(1, 1, 10), demand(2, 2), demand(3, 3)]).map((s) => s.paused || s.limitA),
    ).toEqual([10, 15, 15]);
  });

  it('pauses the newest session when even 6 A each does not fit, whatever the order it is given in', () => {
    expect(shareSupply(16, [demand(2, 300), demand(1, 100), demand(3, 200)])).toEqual([
      { connectorId: 1, paused: false, limitA: 8 },
      { connectorId: 3, paused: false, limitA: 8 },
      { connectorId: 2, paused: true },
    ]);
    expect(shareSupply(11.9, [demand(1, 100), demand(2, 200)])).toEqual([
      { connectorId: 1, paused: false, limitA: 11.9 },
      { connectorId: 2, paused: true },
    ]);
    expect(shareSupply(12, [demand(1, 100), demand(2, 200)]).map((s) => s.paused || s.limitA)).toEqual([
      6, 6,
    ]);
  });

  it("respects a session's higher minimum (minChargingRate): the newest pauses rather than go below it", () => {
    expect(shareSupply(20, [demand(1, 100, 32, 6), demand(2, 200, 32, 12)])).toEqual([
      { connectorId: 1, paused: false, limitA: 20 },
      { connectorId: 2, paused: true },
    ]);
  });

  it('counts a 1-phase outlet on its own line only: outlets on different lines do not share', () => {
    const onLine = (id: number, line: SupplyLine) => demand(id, id, 32, 6, [line]);
    // Three 1-phase outlets, one per line, on a 32 A supply: each line carries one of them.
    expect(
      shareSupply(32, [onLine(1, 1), onLine(2, 2), onLine(3, 3)]).map((s) => s.paused || s.limitA),
    ).toEqual([32, 32, 32]);
    // Two on L1 share it; the one on L2 has its line to itself.
    expect(
      shareSupply(32, [onLine(1, 1), onLine(2, 1), onLine(3, 2)]).map((s) => s.paused || s.limitA),
    ).toEqual([16, 16, 32]);
    // A 3-phase outlet shares L1 with one and L2 with another: 16 A each; L3 carries only 16.
    expect(
      shareSupply(32, [onLine(1, 1), onLine(2, 2), demand(3, 3)]).map((s) => s.paused || s.limitA),
    ).toEqual([16, 16, 16]);
    // When the 1-phase outlet on L1 takes only its cap, the 3-phase one gets the rest of L1.
    expect(
      shareSupply(32, [demand(1, 1, 10, 6, [1]), demand(2, 2)]).map((s) => s.paused || s.limitA),
    ).toEqual([10, 22]);
  });

  it('counts a 1-phase outlet on the line the board file names, on every line when it does not say', () => {
    expect(linesOf({ phases: 3 })).toEqual([1, 2, 3]);
    expect(linesOf({ phases: 3, phase: 2 })).toEqual([1, 2, 3]);
    expect(linesOf({ phases: 1 })).toEqual([1, 2, 3]);
    expect(linesOf({ phases: 1, phase: 3 })).toEqual([3]);
  });

  it('pauses everyone when not even one minimum fits', () => {
    expect(shareSupply(5, [demand(1, 1)])).toEqual([{ connectorId: 1, paused: true }]);
    expect(shareSupply(5, [])).toEqual([]);
  });
});
