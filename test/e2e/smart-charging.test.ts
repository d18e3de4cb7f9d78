import { describe, expect, it } from 'vitest';
import type {
  ClearChargingProfileRequest,
  SetChargingProfileRequest,
} from '../../src/ocpp/generated/messages.js';
import { CallError } from '../csms/server.js';
import { charging } from '../support/charging.js';
import { CP_ID, type Harness, useHarness } from '../support/harness.js';

const TAG = 'VALID01';

type Profile = SetChargingProfileRequest['csChargingProfiles'];
type Period = Profile['chargingSchedule']['chargingSchedulePeriod'][number];

/** A charging profile as the OCTT sends it: Absolute from now unless told otherwise, in amps. */
function profile(
  fields: Partial<Omit<Profile, 'chargingSchedule'>> & { chargingProfileId: number },
  schedule: Partial<Profile['chargingSchedule']> & { chargingSchedulePeriod: Period[] },
): Profile {
  return {
    stackLevel: 0,
    chargingProfilePurpose: 'TxDefaultProfile',
    chargingProfileKind: 'Absolute',
    ...fields,
    chargingSchedule: {
      chargingRateUnit: 'A',
      ...(fields.chargingProfileKind === 'Relative' ? {} : { startSchedule: new Date().toISOString() }),
      ...schedule,
    },
  };
}

async function setProfile(h: Harness, connectorId: number, csChargingProfiles: Profile): Promise<string> {
  const answer = await h.csms.call<{ status: string }>(CP_ID, 'SetChargingProfile', {
    connectorId,
    csChargingProfiles,
  });
  return answer.status;
}

async function clearProfile(h: Harness, req: ClearChargingProfileRequest): Promise<string> {
  return (await h.csms.call<{ status: string }>(CP_ID, 'ClearChargingProfile', req)).status;
}

const SIX_AMPS = [{ startPeriod: 0, limit: 6 }];

describe('Smart Charging: SetChargingProfile and ClearChargingProfile', () => {
  const start = useHarness();

  it('TC_058_1_CS a TxProfile while no transaction runs is Rejected', async () => {
    const h = await start();
    await h.booted();
    const tx = profile(
      { chargingProfileId: 581, chargingProfilePurpose: 'TxProfile', transactionId: 1 },
      { chargingSchedulePeriod: SIX_AMPS },
    );
    expect(await setProfile(h, 1, tx)).toBe('Rejected');
    const { transactionId: _named, ...unnamed } = tx;
    expect(await setProfile(h, 1, unnamed)).toBe('Rejected');
    expect(h.runtime.chargingProfiles.all()).toEqual([]);
  });

  it('TC_058_2_CS a TxProfile naming another transaction is Rejected; the running one is Accepted and bound to it', async () => {
    const h = await start();
    await h.booted();
    const transactionId = await charging(h, TAG, 1);
    const tx = (id: number) =>
      profile(
        { chargingProfileId: 582, chargingProfilePurpose: 'TxProfile', transactionId: id },
        { chargingSchedulePeriod: SIX_AMPS },
      );
    expect(await setProfile(h, 1, tx(transactionId + 1))).toBe('Rejected');
    // Connector 2 runs no transaction, nor may connector 0 carry a TxProfile.
    expect(await setProfile(h, 2, tx(transactionId))).toBe('Rejected');
    expect(await setProfile(h, 0, tx(transactionId))).toBe('Rejected');
    expect(await setProfile(h, 1, tx(transactionId))).toBe('Accepted');
    const localId = h.runtime.transactions.transactionOn(1)?.localId;
    expect(h.runtime.chargingProfiles.all()).toMatchObject([
      { id: 582, connectorId: 1, purpose: 'TxProfile', transactionId, transactionLocalId: localId },
    ]);
  });

  it('a TxProfile ends with its transaction; the TxDefaultProfile stays', async () => {
    const h = await start();
    await h.booted();
    const transactionId = await charging(h, TAG, 1);
    const tx = profile(
      { chargingProfileId: 10, chargingProfilePurpose: 'TxProfile' },
      { chargingSchedulePeriod: SIX_AMPS },
    );
    expect(await setProfile(h, 1, tx)).toBe('Accepted');
    expect(
      await setProfile(h, 1, profile({ chargingProfileId: 11 }, { chargingSchedulePeriod: SIX_AMPS })),
    ).toBe('Accepted');
    const mark = h.csms.mark();
    expect(await h.csms.call(CP_ID, 'RemoteStopTransaction', { transactionId })).toEqual({
      status: 'Accepted',
    });
    await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    expect(await clearProfile(h, { id: 10 })).toBe('Unknown');
    expect(await clearProfile(h, { id: 11 })).toBe('Accepted');
  });

  it('ChargePointMaxProfile only on connector 0; an unknown connector is Rejected', async () => {
    const h = await start();
    await h.booted();
    const max = profile(
      { chargingProfileId: 1, chargingProfilePurpose: 'ChargePointMaxProfile' },
      { chargingSchedulePeriod: [{ startPeriod: 0, limit: 10 }] },
    );
    expect(await setProfile(h, 1, max)).toBe('Rejected');
    expect(await setProfile(h, 0, max)).toBe('Accepted');
    expect(
      await setProfile(h, 3, profile({ chargingProfileId: 2 }, { chargingSchedulePeriod: SIX_AMPS })),
    ).toBe('Rejected');
    expect(
      await setProfile(h, 0, profile({ chargingProfileId: 3 }, { chargingSchedulePeriod: SIX_AMPS })),
    ).toBe('Accepted');
    expect(h.runtime.chargingProfiles.all().map((p) => [p.id, p.connectorId])).toEqual([
      [1, 0],
      [3, 0],
    ]);
  });

  it('a profile replaces the one with its id, and the one with its purpose and stack level on its connector', async () => {
    const h = await start();
    await h.booted();
    const byId = (limit: number) =>
      profile({ chargingProfileId: 7, stackLevel: limit }, { chargingSchedulePeriod: SIX_AMPS });
    expect(await setProfile(h, 1, byId(1))).toBe('Accepted');
    expect(await setProfile(h, 2, byId(2))).toBe('Accepted');
    expect(
      await setProfile(
        h,
        2,
        profile({ chargingProfileId: 8, stackLevel: 2 }, { chargingSchedulePeriod: SIX_AMPS }),
      ),
    ).toBe('Accepted');
    // Same purpose and stack level on another connector: both stay.
    expect(
      await setProfile(
        h,
        1,
        profile({ chargingProfileId: 9, stackLevel: 2 }, { chargingSchedulePeriod: SIX_AMPS }),
      ),
    ).toBe('Accepted');
    expect(h.runtime.chargingProfiles.all().map((p) => [p.id, p.connectorId, p.stackLevel])).toEqual([
      [8, 2, 2],
      [9, 1, 2],
    ]);
  });

  it('ClearChargingProfile by id, by connector, by purpose and stack level, all; Unknown when nothing matches', async () => {
    const h = await start();
    await h.booted();
    const set = (
      id: number,
      connectorId: number,
      stackLevel: number,
      purpose: Profile['chargingProfilePurpose'],
    ) =>
      setProfile(
        h,
        connectorId,
        profile(
          { chargingProfileId: id, stackLevel, chargingProfilePurpose: purpose },
          { chargingSchedulePeriod: SIX_AMPS },
        ),
      );
    for (const [id, connectorId, stackLevel, purpose] of [
      [1, 1, 0, 'TxDefaultProfile'],
      [2, 1, 1, 'TxDefaultProfile'],
      [3, 2, 1, 'TxDefaultProfile'],
      [4, 0, 1, 'ChargePointMaxProfile'],
      [5, 2, 3, 'TxDefaultProfile'],
    ] as const)
      expect(await set(id, connectorId, stackLevel, purpose)).toBe('Accepted');
    const ids = () => h.runtime.chargingProfiles.all().map((p) => p.id);
    expect(await clearProfile(h, { id: 99 })).toBe('Unknown');
    expect(await clearProfile(h, { id: 1 })).toBe('Accepted');
    expect(ids()).toEqual([2, 3, 4, 5]);
    expect(await clearProfile(h, { chargingProfilePurpose: 'TxDefaultProfile', stackLevel: 1 })).toBe(
      'Accepted',
    );
    expect(ids()).toEqual([4, 5]);
    expect(await clearProfile(h, { connectorId: 1 })).toBe('Unknown');
    expect(await clearProfile(h, { connectorId: 2 })).toBe('Accepted');
    expect(ids()).toEqual([4]);
    expect(await clearProfile(h, {})).toBe('Accepted');
    expect(ids()).toEqual([]);
    expect(await clearProfile(h, {})).toBe('Unknown');
  });

  it('restart keeps the profiles: a new runtime on the same state directory clears them by id', async () => {
    const h = await start();
    await h.booted();
    expect(
      await setProfile(h, 1, profile({ chargingProfileId: 31 }, { chargingSchedulePeriod: SIX_AMPS })),
    ).toBe('Accepted');
    const max = profile(
      {
        chargingProfileId: 32,
        chargingProfilePurpose: 'ChargePointMaxProfile',
        chargingProfileKind: 'Recurring',
        recurrencyKind: 'Daily',
      },
      {
        duration: 86_400,
        chargingSchedulePeriod: [
          { startPeriod: 0, limit: 16 },
          { startPeriod: 3600, limit: 10 },
        ],
      },
    );
    expect(await setProfile(h, 0, max)).toBe('Accepted');
    const before = h.runtime.chargingProfiles.all();
    await h.runtime.stop();
    const mark = h.csms.mark();
    await h.startRuntime();
    await h.booted(mark);
    expect(h.runtime.chargingProfiles.all()).toEqual(before);
    expect(await clearProfile(h, { id: 32 })).toBe('Accepted');
    expect(await clearProfile(h, { id: 31 })).toBe('Accepted');
  });
});

describe('Smart Charging: bad input', () => {
  const start = useHarness();

  it('a schema violation is a CALLERROR; the limits of the configuration keys are Rejected', async () => {
    const h = await start({
      ocpp: {
        ChargeProfileMaxStackLevel: 2,
        ChargingScheduleMaxPeriods: 3,
        MaxChargingProfilesInstalled: 2,
        ChargingScheduleAllowedChargingRateUnit: 'Current',
      },
    });
    await h.booted();
    const { chargingSchedule: _missing, ...noSchedule } = profile(
      { chargingProfileId: 1 },
      { chargingSchedulePeriod: SIX_AMPS },
    );
    await expect(
      h.csms.call(CP_ID, 'SetChargingProfile', { connectorId: 1, csChargingProfiles: noSchedule }),
    ).rejects.toMatchObject({ name: 'CallError', code: expect.stringMatching(/Violation/) });
    await expect(
      h.csms.call(CP_ID, 'SetChargingProfile', {
        connectorId: 1,
        csChargingProfiles: {
          ...profile({ chargingProfileId: 1 }, { chargingSchedulePeriod: SIX_AMPS }),
          chargingProfileKind: 'Sometimes',
        },
      }),
    ).rejects.toBeInstanceOf(CallError);

    const periods = (n: number) =>
      Array.from({ length: n }, (_, i) => ({ startPeriod: i * 60, limit: 6 + i }));
    expect(
      await setProfile(h, 1, profile({ chargingProfileId: 2 }, { chargingSchedulePeriod: periods(4) })),
    ).toBe('Rejected');
    expect(
      await setProfile(
        h,
        1,
        profile({ chargingProfileId: 2, stackLevel: 3 }, { chargingSchedulePeriod: SIX_AMPS }),
      ),
    ).toBe('Rejected');
    expect(
      await setProfile(
        h,
        1,
        profile(
          { chargingProfileId: 2 },
          { chargingRateUnit: 'W', chargingSchedulePeriod: [{ startPeriod: 0, limit: 6000 }] },
        ),
      ),
    ).toBe('Rejected');
    expect(
      await setProfile(
        h,
        1,
        profile({ chargingProfileId: 2 }, { chargingSchedulePeriod: [{ startPeriod: 60, limit: 6 }] }),
      ),
    ).toBe('Rejected');
    expect(
      await setProfile(
        h,
        1,
        profile(
          { chargingProfileId: 2 },
          {
            chargingSchedulePeriod: [
              { startPeriod: 0, limit: 6 },
              { startPeriod: 0, limit: 8 },
            ],
          },
        ),
      ),
    ).toBe('Rejected');
    const { startSchedule: _none, ...unanchored } = profile(
      { chargingProfileId: 2, chargingProfileKind: 'Recurring', recurrencyKind: 'Daily' },
      { chargingSchedulePeriod: SIX_AMPS },
    ).chargingSchedule;
    expect(
      await setProfile(h, 1, {
        ...profile(
          { chargingProfileId: 2, chargingProfileKind: 'Recurring', recurrencyKind: 'Daily' },
          { chargingSchedulePeriod: SIX_AMPS },
        ),
        chargingSchedule: unanchored,
      }),
    ).toBe('Rejected');
    expect(h.runtime.chargingProfiles.all()).toEqual([]);

    // At the limits: accepted. Two installed; a replacement does not count twice; a third is one too many.
    expect(
      await setProfile(
        h,
        1,
        profile({ chargingProfileId: 2, stackLevel: 2 }, { chargingSchedulePeriod: periods(3) }),
      ),
    ).toBe('Accepted');
    expect(
      await setProfile(h, 2, profile({ chargingProfileId: 3 }, { chargingSchedulePeriod: SIX_AMPS })),
    ).toBe('Accepted');
    expect(
      await setProfile(h, 2, profile({ chargingProfileId: 4 }, { chargingSchedulePeriod: SIX_AMPS })),
    ).toBe('Accepted');
    expect(
      await setProfile(h, 1, profile({ chargingProfileId: 5 }, { chargingSchedulePeriod: SIX_AMPS })),
    ).toBe('Rejected');
    expect(h.runtime.chargingProfiles.all().map((p) => p.id)).toEqual([2, 4]);
    await h.sink.waitFor(
      (l) => l.msg === 'charging profile rejected' && /MaxChargingProfilesInstalled/.test(String(l.reason)),
    );
  });

  it('TC_060_CS a remote start whose TxProfile names a transaction, or breaks a limit, is Rejected and starts nothing', async () => {
    const h = await start({ ocpp: { ChargingScheduleMaxPeriods: 1 } });
    await h.booted();
    const tx = (fields: Partial<Profile>, periods: Period[] = SIX_AMPS) => ({
      ...profile(
        { chargingProfileId: 60, chargingProfilePurpose: 'TxProfile', chargingProfileKind: 'Relative' },
        { chargingSchedulePeriod: periods },
      ),
      ...fields,
    });
    const mark = h.csms.mark();
    for (const chargingProfile of [
      tx({ transactionId: 1 }),
      tx({ chargingProfilePurpose: 'TxDefaultProfile' }),
      tx({}, [
        { startPeriod: 0, limit: 6 },
        { startPeriod: 60, limit: 8 },
      ]),
    ])
      expect(
        await h.csms.call(CP_ID, 'RemoteStartTransaction', { connectorId: 1, idTag: TAG, chargingProfile }),
      ).toEqual({
        status: 'Rejected',
      });
    expect(h.csms.calls(CP_ID, 'StatusNotification', mark)).toEqual([]);
    expect(h.runtime.chargingProfiles.all()).toEqual([]);
  });
});
