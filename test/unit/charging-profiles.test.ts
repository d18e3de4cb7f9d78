import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { ChargingProfile } from '../../src/station/charging-profile-types.js';
import { type SessionFixture, T0, useSessionFixtures } from './session-fixture.js';

const TAG = 'VALID01';

const fixture = useSessionFixtures();

function txDefault(id: number, connectorId: number, fields: Partial<ChargingProfile> = {}): ChargingProfile {
  return {
    id,
    connectorId,
    stackLevel: 0,
    purpose: 'TxDefaultProfile',
    kind: 'Absolute',
    schedule: { startSchedule: T0, unit: 'A', periods: [{ startPeriod: 0, limit: 10 }] },
    ...fields,
  };
}

/** The ids of the charging profiles in the fixture's database, read through a connection of its own. */
function storedProfiles(fx: SessionFixture): number[] {
  const db = new Database(path.join(fx.dir, 'chargepoint.db'), { readonly: true });
  try {
    return db
      .prepare<[], { id: number }>('SELECT charging_profile_id AS id FROM charging_profiles ORDER BY id')
      .all()
      .map((r) => r.id);
  } finally {
    db.close();
  }
}

describe('ChargingProfiles (the station side of smart charging)', () => {
  it('rejects a negative stackLevel (the 1.6 schema lets it through), nothing stored', () => {
    const fx = fixture();
    expect(fx.chargingProfiles.install(txDefault(1, 1, { stackLevel: -1 }))).toBe('Rejected');
    expect(fx.chargingProfiles.all()).toEqual([]);
  });

  it('tells which connectors a change concerns: a connector-0 profile concerns all', async () => {
    const fx = fixture();
    const events: number[][] = [];
    fx.chargingProfiles.on('changed', (ids) => events.push(ids));
    expect(fx.chargingProfiles.install(txDefault(1, 2))).toBe('Accepted');
    expect(fx.chargingProfiles.install(txDefault(2, 0, { stackLevel: 1 }))).toBe('Accepted');
    expect(fx.chargingProfiles.clear({ id: 1 })).toBe('Accepted');
    const row = await fx.charging(1, TAG);
    expect(fx.chargingProfiles.install(txDefault(3, 1, { purpose: 'TxProfile' }))).toBe('Accepted');
    expect(fx.chargingProfiles.all().find((p) => p.id === 3)?.transactionLocalId).toBe(row.localId);
    await fx.engine.stopAll('Local');
    expect(events).toEqual([[2], [0, 1, 2], [2], [1], [1]]);
    expect(fx.chargingProfiles.all().map((p) => p.id)).toEqual([2]);
  });

  it('compositeFor: the connector, its running transaction, its electrical facts and the injected limits', async () => {
    const fx = fixture();
    expect(fx.chargingProfiles.compositeFor(3, T0, 60)).toBeUndefined();
    fx.chargingProfiles.install(txDefault(1, 1));
    expect(fx.chargingProfiles.compositeFor(1, T0, 60)).toEqual({
      profiles: fx.chargingProfiles.all(),
      connectorId: 1,
      now: T0,
      durationS: 60,
      electrical: { maxCurrentA: 32, phases: 3, voltageV: 230 },
      limits: [],
    });
    fx.chargingProfiles.setLimits((connectorId) => [{ limitA: 10 + connectorId, source: { kind: 'local' } }]);
    const row = await fx.charging(1, TAG);
    expect(fx.chargingProfiles.compositeFor(1, T0, 60)).toMatchObject({
      transaction: { localId: row.localId, startedAt: Date.parse(row.startedAt) },
      limits: [{ limitA: 11, source: { kind: 'local' } }],
    });
    // Connector 0 is the charge point: every outlet together, no transaction of its own.
    const whole = fx.chargingProfiles.compositeFor(0, T0, 60);
    expect(whole?.electrical).toEqual({ maxCurrentA: 64, phases: 3, voltageV: 230 });
    expect(whole).not.toHaveProperty('transaction');
  });

  it('refuses what the rules forbid, with the reason logged', () => {
    const fx = fixture();
    const { chargingProfiles } = fx;
    const rejected = (profile: ChargingProfile, reason: RegExp) => {
      expect(chargingProfiles.install(profile)).toBe('Rejected');
      expect(fx.logLines.at(-1)).toMatchObject({
        msg: 'charging profile rejected',
        reason: expect.stringMatching(reason),
      });
    };
    rejected(txDefault(1, 1, { purpose: 'TxProfile' }), /no transaction/);
    rejected(txDefault(1, 0, { purpose: 'TxProfile' }), /connector > 0/);
    rejected(txDefault(1, 1, { validFrom: T0, validTo: T0 }), /validTo/);
    rejected(
      txDefault(1, 1, { schedule: { unit: 'A', periods: [{ startPeriod: 0, limit: 10, numberPhases: 4 }] } }),
      /numberPhases/,
    );
    rejected(
      txDefault(1, 1, { schedule: { unit: 'A', periods: [{ startPeriod: 0, limit: -1 }] } }),
      /negative/,
    );
    rejected(
      txDefault(1, 1, { kind: 'Recurring', schedule: { startSchedule: T0, unit: 'A', periods: [] } }),
      /recurrencyKind/,
    );
    expect(chargingProfiles.all()).toEqual([]);
  });

  it('a remote start TxProfile is checked without a transaction and keeps no connector or transaction of its own', () => {
    const fx = fixture();
    const tx = txDefault(5, 0, { purpose: 'TxProfile', kind: 'Relative' });
    const { connectorId: _c, ...pending } = tx;
    expect(fx.chargingProfiles.forRemoteStart(tx, undefined)).toEqual(pending);
    expect(fx.chargingProfiles.forRemoteStart({ ...tx, transactionId: 7 }, 1)).toBeUndefined();
    expect(fx.chargingProfiles.forRemoteStart({ ...tx, purpose: 'TxDefaultProfile' }, 1)).toBeUndefined();
    expect(fx.chargingProfiles.all()).toEqual([]);
  });

  it('a TxProfile bound in a start that rolls back is not installed, not even for the row id handed out again', async () => {
    const fx = fixture();
    const tx = txDefault(5, 1, { purpose: 'TxProfile', kind: 'Relative' });
    const { connectorId: _c, ...pending } = tx;
    let rolledBack = 0;
    expect(() =>
      fx.repo.atomically(() => {
        const row = fx.repo.insert({
          connectorId: 1,
          idTag: TAG,
          meterStart: 0,
          startedAt: new Date(T0).toISOString(),
        });
        rolledBack = row.localId;
        fx.chargingProfiles.bindToTransaction(pending, row);
        throw new Error('the commit failed');
      }),
    ).toThrow('the commit failed');
    expect(fx.chargingProfiles.all()).toEqual([]);
    const row = await fx.charging(1, TAG);
    expect(row.localId).toBe(rolledBack);
    expect(fx.chargingProfiles.all()).toEqual([]);
  });
});

describe('TxProfiles and the life of their transaction', () => {
  it('a remote start TxProfile has its place under MaxChargingProfilesInstalled from the RemoteStartTransaction until its session lapses', async () => {
    const fx = fixture({ ocpp: { MaxChargingProfilesInstalled: 2, ConnectionTimeOut: 30 } });
    const remoteStart = (id: number, connectorId: number, idTag: string) => {
      const tx = txDefault(id, connectorId, { purpose: 'TxProfile', kind: 'Relative' });
      const pending = fx.chargingProfiles.forRemoteStart(tx, connectorId);
      return pending ? fx.engine.remoteStart(idTag, connectorId, pending) : 'Rejected';
    };
    expect(fx.chargingProfiles.install(txDefault(1, 0))).toBe('Accepted');
    expect(remoteStart(60, 1, TAG)).toBe('Accepted');
    await fx.settle();
    // One installed and one waiting for its transaction: the limit of two is reached.
    expect(remoteStart(61, 2, 'VALID02')).toBe('Rejected');
    expect(fx.chargingProfiles.install(txDefault(2, 2))).toBe('Rejected');
    expect(fx.logLines.at(-1)).toMatchObject({
      reason: expect.stringMatching(/MaxChargingProfilesInstalled/),
    });
    // No cable within ConnectionTimeOut: the session lapses and its place is free again.
    fx.clock.advance(31_000);
    await fx.settle();
    expect(fx.engine.pendingTxProfiles()).toEqual([]);
    expect(fx.chargingProfiles.install(txDefault(2, 2))).toBe('Accepted');
    expect(remoteStart(62, 1, TAG)).toBe('Rejected');
    expect(fx.chargingProfiles.clear({ id: 2 })).toBe('Accepted');
    expect(remoteStart(62, 1, TAG)).toBe('Accepted');
    await fx.settle();
    fx.board.plug(1);
    await fx.settle();
    expect(fx.engine.transactionOn(1)).toBeDefined();
    expect(fx.chargingProfiles.all().map((p) => p.id)).toEqual([1, 62]);
    expect(storedProfiles(fx)).toEqual([1, 62]);
  });

  it('a SetChargingProfile(TxProfile) for a transaction being stopped is Rejected; nothing survives the stop', async () => {
    const fx = fixture();
    const row = await fx.charging(1, TAG);
    const stopping = fx.engine.stopAll('Local');
    expect(fx.chargingProfiles.install(txDefault(9, 1, { purpose: 'TxProfile' }))).toBe('Rejected');
    expect(fx.logLines.at(-1)).toMatchObject({ reason: expect.stringMatching(/being stopped/) });
    await stopping;
    await fx.settle();
    expect(fx.chargingProfiles.all()).toEqual([]);
    expect(storedProfiles(fx)).toEqual([]);
    expect(fx.stops().map((s) => s.tx.localId)).toEqual([row.localId]);
  });
});
