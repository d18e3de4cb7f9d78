import { describe, expect, it } from 'vitest';
import type { ChargingProfile } from '../../src/station/charging-profile-types.js';
import { T0, useSessionFixtures } from './session-fixture.js';

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

describe('ChargingProfiles (the station side of smart charging)', () => {
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
