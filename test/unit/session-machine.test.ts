import { describe, expect, it, vi } from 'vitest';
import { loadSchemaCatalogue } from '../../src/ocpp/schema-catalogue.js';
import {
  IDLE,
  type PendingStart,
  type RunningTransaction,
  SESSION_TRANSITIONS,
  type SessionEvent,
  type SessionKind,
  type SessionState,
  transition,
} from '../../src/station/session-machine.js';
import {
  type ConnectorFacts,
  OCPP_STATUS_TRANSITIONS,
  statusOf,
  statusPath,
  statusTransitionAllowed,
} from '../../src/station/session-status.js';
import type { ConnectorStatus } from '../../src/station/types.js';
import { type SessionFixture, useSessionFixtures } from './session-fixture.js';

const TAG = 'VALID01';

/**
 * ChargePointStatus as the official OCPP 1.6 schema of StatusNotification.req spells it: the
 * statuses the table is checked over come from the specification, not from the table under test.
 */
const SPEC_STATUSES: readonly string[] = (() => {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
  const schema = loadSchemaCatalogue().find((s) => s.$id === 'urn:StatusNotification.req');
  const status = isObject(schema?.properties) ? schema.properties.status : undefined;
  if (!isObject(status) || !Array.isArray(status.enum))
    throw new Error('StatusNotification.req has no status enum');
  return status.enum.filter((v): v is string => typeof v === 'string');
})();
const isConnectorStatus = (s: string): s is ConnectorStatus => s in OCPP_STATUS_TRANSITIONS;
const STATUSES: readonly ConnectorStatus[] = SPEC_STATUSES.filter(isConnectorStatus);

const pending: PendingStart = { idTag: TAG };
const tx: RunningTransaction = {
  row: {
    localId: 1,
    connectorId: 1,
    idTag: TAG,
    meterStart: 0,
    startedAt: '2024-05-01T12:00:00.000Z',
    lastMeter: 0,
    lastMeterAt: '2024-05-01T12:00:00.000Z',
  },
  suspended: false,
};

/** One state of each kind, and one event of each type. */
const STATES: Record<SessionKind, SessionState> = {
  Idle: IDLE,
  Authorizing: { kind: 'Authorizing', attempt: { idTag: TAG } },
  Preparing: { kind: 'Preparing', pending },
  Starting: { kind: 'Starting', pending },
  Transaction: { kind: 'Transaction', tx },
  Stopping: { kind: 'Stopping', tx, shown: 'Charging' },
  Finishing: { kind: 'Finishing' },
};
const EVENTS: SessionEvent[] = [
  { type: 'authorize', attempt: { idTag: TAG } },
  { type: 'authorized', pending },
  { type: 'start', pending },
  { type: 'started', tx },
  { type: 'lapse' },
  { type: 'stop', tx, shown: 'Charging' },
  { type: 'stopped' },
  { type: 'released' },
];

describe('session state machine (pure)', () => {
  it('moves exactly along the rows of its table, and ignores every other event', () => {
    for (const state of Object.values(STATES)) {
      for (const event of EVENTS) {
        const row = SESSION_TRANSITIONS.find((t) => t.from === state.kind && t.on === event.type);
        expect(transition(state, event)?.kind, `${state.kind} on ${event.type}`).toBe(row?.to);
      }
    }
  });

  it('the OCPP 1.6 table has a row for every ChargePointStatus of the schema, leading only to those', () => {
    expect(SPEC_STATUSES).toHaveLength(9);
    expect(STATUSES).toEqual(SPEC_STATUSES);
    expect(Object.keys(OCPP_STATUS_TRANSITIONS).sort()).toEqual([...SPEC_STATUSES].sort());
    for (const targets of Object.values(OCPP_STATUS_TRANSITIONS))
      for (const to of targets) expect(SPEC_STATUSES).toContain(to);
  });

  it('the OCPP 1.6 table: no Available -> Finishing, no Preparing -> Unavailable, Faulted leads anywhere', () => {
    expect(statusTransitionAllowed('Available', 'Finishing')).toBe(false);
    expect(statusTransitionAllowed('Preparing', 'Unavailable')).toBe(false);
    expect(statusTransitionAllowed('Charging', 'Preparing')).toBe(false);
    expect(statusTransitionAllowed('Finishing', 'Available')).toBe(true);
    for (const to of STATUSES) expect(statusTransitionAllowed('Faulted', to)).toBe(true);
  });

  it('a status change the table lacks is reported through the status joining both', () => {
    expect(statusPath('Preparing', 'Unavailable')).toEqual(['Available', 'Unavailable']);
    expect(statusPath('Preparing', 'Reserved')).toEqual(['Available', 'Reserved']);
    expect(statusPath('Charging', 'Finishing')).toEqual(['Finishing']);
    for (const from of STATUSES)
      for (const to of STATUSES) {
        let at = from;
        for (const step of statusPath(from, to)) {
          expect(statusTransitionAllowed(at, step), `${from} -> ${to} via ${at} -> ${step}`).toBe(true);
          at = step;
        }
      }
  });

  it('derives the status from the state: the transaction first, then availability, reservation, cable', () => {
    const facts: ConnectorFacts = {
      faulted: false,
      inoperative: false,
      plugged: true,
      evAsksForEnergy: true,
      reserved: false,
      limitPaused: false,
    };
    expect(statusOf(STATES.Transaction, facts)).toBe('Charging');
    // The charging limit below the minimum current pauses it: the charger's choice.
    expect(statusOf(STATES.Transaction, { ...facts, limitPaused: true })).toBe('SuspendedEVSE');
    expect(statusOf(STATES.Transaction, { ...facts, limitPaused: true, evAsksForEnergy: false })).toBe(
      'SuspendedEV',
    );
    expect(statusOf(STATES.Transaction, { ...facts, evAsksForEnergy: false })).toBe('SuspendedEV');
    expect(statusOf({ kind: 'Transaction', tx: { ...tx, suspended: true } }, facts)).toBe('SuspendedEVSE');
    // A transaction being stopped keeps its status even when the EV has already gone.
    expect(statusOf(STATES.Stopping, { ...facts, plugged: false })).toBe('Charging');
    expect(statusOf(STATES.Transaction, { ...facts, inoperative: true })).toBe('Charging');
    expect(statusOf(STATES.Finishing, { ...facts, inoperative: true })).toBe('Finishing');
    expect(statusOf(STATES.Preparing, { ...facts, plugged: false })).toBe('Preparing');
    expect(statusOf(IDLE, { ...facts, reserved: true })).toBe('Reserved');
    expect(statusOf(IDLE, { ...facts, inoperative: true, reserved: true })).toBe('Unavailable');
    expect(statusOf(IDLE, { ...facts, plugged: false })).toBe('Available');
    expect(statusOf(STATES.Transaction, { ...facts, faulted: true })).toBe('Faulted');
  });
});

describe('the statuses the engine reports follow the OCPP 1.6 table', () => {
  const fixture = useSessionFixtures();

  function expectLawful(fx: SessionFixture): void {
    for (const id of fx.station.connectorIds()) {
      const seen = [fx.statuses(id)[0] ?? 'Available', ...fx.statuses(id)];
      for (let i = 1; i < seen.length; i++) {
        const [from, to] = [seen[i - 1], seen[i]];
        if (from && to)
          expect(statusTransitionAllowed(from, to), `connector ${id}: ${seen.join(' ')}`).toBe(true);
      }
    }
  }

  it('across sessions: card first, remote start, pauses, unplugs with and without a stop, faults, availability', async () => {
    for (const stopOnDisconnect of [true, false]) {
      const fx = fixture({
        ocpp: { StopTransactionOnEVSideDisconnect: stopOnDisconnect, ConnectionTimeOut: 30 },
      });
      // Card first on the two-connector reader, then connector 1 plugged.
      fx.board.swipe(TAG);
      await fx.settle();
      fx.board.plug(1);
      await fx.settle();
      fx.board.ev(1, 'pause');
      await fx.settle();
      fx.board.ev(1, 'charge');
      await fx.settle();
      fx.board.unplug(1);
      await fx.settle();
      await fx.engine.stopAll('Local');
      // A remote start that times out, another that is cut by ChangeAvailability.
      fx.engine.remoteStart(TAG, 2);
      fx.clock.advance(30_000);
      await fx.settle();
      fx.engine.remoteStart(TAG, 2);
      fx.station.changeAvailability(2, 'Inoperative');
      await fx.settle();
      fx.station.changeAvailability(2, 'Operative');
      // Charging, the EV faults, a scheduled Inoperative, the cable taken.
      await fx.charging(2, TAG);
      fx.station.changeAvailability(2, 'Inoperative');
      fx.board.fault(2, 'OverCurrentFailure');
      await fx.settle();
      fx.board.clear(2);
      await fx.settle();
      fx.board.unplug(2);
      await fx.settle();
      expect(fx.stops().map((s) => s.stop.reason)).toEqual([
        stopOnDisconnect ? 'EVDisconnected' : 'Local',
        'Other',
      ]);
      expect(fx.statusOf(2)).toBe('Unavailable');
      expectLawful(fx);
    }
  });

  it('the fault kind decides the stop reason: an emergency stop is EmergencyStop whatever its text', async () => {
    const fx = fixture();
    await fx.charging(1, TAG);
    const hw = fx.board.connector(1);
    if (!hw) throw new Error('no connector 1');
    vi.spyOn(hw, 'fault').mockReturnValue({
      fault: 'OtherError',
      info: 'mushroom button',
      kind: 'emergencyStop',
    });
    fx.board.fault(1, 'OtherError');
    await fx.settle();
    expect(fx.stops().map((s) => s.stop.reason)).toEqual(['EmergencyStop']);
    expect(hw.devices.relay.isClosed()).toBe(false);
  });
});
