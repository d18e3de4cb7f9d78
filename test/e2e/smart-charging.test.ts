import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type {
  ClearChargingProfileRequest,
  SetChargingProfileRequest,
} from '../../src/ocpp/generated/messages.js';
import { CallError } from '../csms/server.js';
import { charging } from '../support/charging.js';
import { DiskFull, startOnFillingDisk } from '../support/disk-full.js';
import { CP_ID, type Harness, useHarness } from '../support/harness.js';

const TAG = 'VALID01';

type Profile = SetChargingProfileRequest['csChargingProfiles'];
type Period = Profile['chargingSchedule']['chargingSchedulePeriod'][number];

/** A charging profile as the OCTT sends it: Absolute from a second ago unless told otherwise, in amps. */
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
      // A second ago: the charge point keeps the central system's time only to a few ms.
      ...(fields.chargingProfileKind === 'Relative'
        ? {}
        : { startSchedule: new Date(Date.now() - 1000).toISOString() }),
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

const offered = (h: Harness, connectorId: number) =>
  h.board.connector(connectorId)?.devices.pilot.currentLimit();

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
    const installed: Array<[number, number, number, Profile['chargingProfilePurpose']]> = [
      [1, 1, 0, 'TxDefaultProfile'],
      [2, 1, 1, 'TxDefaultProfile'],
      [3, 2, 1, 'TxDefaultProfile'],
      [4, 0, 1, 'ChargePointMaxProfile'],
      [5, 2, 3, 'TxDefaultProfile'],
    ];
    for (const [id, connectorId, stackLevel, purpose] of installed)
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

type Composite = {
  status: string;
  connectorId?: number;
  scheduleStart?: string;
  chargingSchedule?: {
    duration?: number;
    startSchedule?: string;
    chargingRateUnit: 'A' | 'W';
    chargingSchedulePeriod: Period[];
  };
};

async function composite(h: Harness, connectorId: number, duration: number, chargingRateUnit?: 'A' | 'W') {
  return h.csms.call<Composite>(CP_ID, 'GetCompositeSchedule', {
    connectorId,
    duration,
    ...(chargingRateUnit ? { chargingRateUnit } : {}),
  });
}

/** The composite's periods as [startPeriod, limit], and x: the whole seconds from `anchor` to its start. */
async function periodsSince(h: Harness, anchor: number, duration: number, connectorId = 1) {
  const answer = await composite(h, connectorId, duration);
  expect(answer).toMatchObject({
    status: 'Accepted',
    connectorId,
    chargingSchedule: { duration, chargingRateUnit: 'A' },
  });
  // Both whole seconds: x is too.
  const x = Math.floor((Date.parse(answer.scheduleStart ?? '') - anchor) / 1000);
  const periods = answer.chargingSchedule?.chargingSchedulePeriod.map((p) => [p.startPeriod, p.limit]);
  return { x, periods };
}

/** The charge point's now (the central system's time) in whole seconds, where the OCTT's profiles are anchored. */
const wholeSecondNow = (h: Harness) => Math.floor(h.runtime.time.nowMs() / 1000) * 1000;
const iso = (ms: number) => new Date(ms).toISOString();

describe('Smart Charging: GetCompositeSchedule (OCTT numbers)', () => {
  const start = useHarness();

  it('TC_056_CS a TxDefaultProfile of 6 A / 6000 W on an idle connector is the composite, in the unit asked', async () => {
    const h = await start();
    await h.booted();
    const p = profile(
      { chargingProfileId: 56 },
      { duration: 300, chargingSchedulePeriod: [{ startPeriod: 0, limit: 6, numberPhases: 3 }] },
    );
    expect(await setProfile(h, 1, p)).toBe('Accepted');
    const before = Date.now();
    const answer = await composite(h, 1, 240, 'A');
    expect(answer).toMatchObject({
      status: 'Accepted',
      connectorId: 1,
      chargingSchedule: {
        duration: 240,
        chargingRateUnit: 'A',
        chargingSchedulePeriod: [{ startPeriod: 0, limit: 6, numberPhases: 3 }],
      },
    });
    // scheduleStart and startSchedule are now (the next whole second). The profile lasts 300 s
    // from its start, so a composite of 240 s stays inside it however long the exchange took.
    expect(answer.chargingSchedule?.startSchedule).toBe(answer.scheduleStart);
    expect(Math.abs(Date.parse(answer.scheduleStart ?? '') - before)).toBeLessThan(2000);

    const watts = profile(
      { chargingProfileId: 56 },
      {
        chargingRateUnit: 'W',
        duration: 300,
        chargingSchedulePeriod: [{ startPeriod: 0, limit: 6000, numberPhases: 3 }],
      },
    );
    expect(await setProfile(h, 1, watts)).toBe('Accepted');
    expect((await composite(h, 1, 240, 'W')).chargingSchedule).toMatchObject({
      chargingRateUnit: 'W',
      chargingSchedulePeriod: [{ startPeriod: 0, limit: 6000, numberPhases: 3 }],
    });
    // Without a unit: amps, one decimal, never above the profile (6000 W / 690 V = 8.69 A).
    expect((await composite(h, 1, 240)).chargingSchedule).toMatchObject({
      chargingRateUnit: 'A',
      chargingSchedulePeriod: [{ startPeriod: 0, limit: 8.6 }],
    });
  });

  it('TC_057_CS a TxProfile with the running transactionId is the composite; TC_082_CS a TxDefaultProfile during a transaction', async () => {
    const h = await start();
    await h.booted();
    const transactionId = await charging(h, TAG, 1);
    expect(
      await setProfile(
        h,
        1,
        profile(
          { chargingProfileId: 82 },
          { duration: 300, chargingSchedulePeriod: [{ startPeriod: 0, limit: 8 }] },
        ),
      ),
    ).toBe('Accepted');
    expect((await composite(h, 1, 240)).chargingSchedule?.chargingSchedulePeriod).toEqual([
      { startPeriod: 0, limit: 8, numberPhases: 3 },
    ]);
    const tx = profile(
      { chargingProfileId: 57, chargingProfilePurpose: 'TxProfile', transactionId },
      { duration: 300, chargingSchedulePeriod: SIX_AMPS },
    );
    expect(await setProfile(h, 1, tx)).toBe('Accepted');
    expect((await composite(h, 1, 240)).chargingSchedule?.chargingSchedulePeriod).toEqual([
      { startPeriod: 0, limit: 6, numberPhases: 3 },
    ]);
  });

  it('TC_066_CS three profiles: 0->8, (50-x)->10, (200-x)->6, (240-x)->10', async () => {
    const h = await start({ ocpp: { MaxChargingProfilesInstalled: 3, ChargingScheduleMaxPeriods: 5 } });
    await h.booted();
    const transactionId = await charging(h, TAG, 1);
    const anchor = wholeSecondNow(h);
    const startSchedule = iso(anchor);
    const validTo = iso(anchor + 401_000);
    const periods = (...pairs: Array<[number, number]>) =>
      pairs.map(([startPeriod, limit]) => ({ startPeriod, limit }));
    const p1 = profile(
      { chargingProfileId: 1, chargingProfilePurpose: 'ChargePointMaxProfile' },
      { startSchedule, duration: 86_400, chargingSchedulePeriod: periods([0, 10]) },
    );
    const p2 = profile(
      { chargingProfileId: 2, validTo },
      {
        startSchedule,
        duration: 300,
        chargingSchedulePeriod: periods([0, 6], [60, 10], [120, 8], [180, 15], [260, 8]),
      },
    );
    const p3 = profile(
      { chargingProfileId: 3, chargingProfilePurpose: 'TxProfile', transactionId, validTo },
      {
        startSchedule,
        duration: 260,
        chargingSchedulePeriod: periods([0, 8], [50, 11], [140, 16], [200, 6], [240, 12]),
      },
    );
    expect(await setProfile(h, 0, p1)).toBe('Accepted');
    expect(await setProfile(h, 1, p2)).toBe('Accepted');
    expect(await setProfile(h, 1, p3)).toBe('Accepted');
    const { x, periods: got } = await periodsSince(h, anchor, 400);
    expect(got).toEqual([
      [0, 8],
      [50 - x, 10],
      [200 - x, 6],
      [240 - x, 10],
    ]);
  });

  it('TC_067_CS ClearChargingProfile by id, by purpose and stack level, all: the composite follows', async () => {
    const h = await start();
    await h.booted();
    await charging(h, TAG, 1);
    const anchor = wholeSecondNow(h);
    const startSchedule = iso(anchor);
    const periods = (...pairs: Array<[number, number]>) =>
      pairs.map(([startPeriod, limit]) => ({ startPeriod, limit }));
    expect(
      await setProfile(
        h,
        1,
        profile(
          { chargingProfileId: 1, stackLevel: 1 },
          { startSchedule, duration: 400, chargingSchedulePeriod: periods([0, 6], [60, 8], [200, 10]) },
        ),
      ),
    ).toBe('Accepted');
    expect(
      await setProfile(
        h,
        1,
        profile(
          { chargingProfileId: 2, validTo: iso(anchor + 401_000) },
          { startSchedule, duration: 400, chargingSchedulePeriod: periods([0, 7], [100, 9]) },
        ),
      ),
    ).toBe('Accepted');
    expect(
      await setProfile(
        h,
        0,
        profile(
          { chargingProfileId: 3, chargingProfilePurpose: 'ChargePointMaxProfile' },
          { startSchedule, duration: 86_400, chargingSchedulePeriod: periods([0, 11], [200, 12]) },
        ),
      ),
    ).toBe('Accepted');

    expect(await clearProfile(h, { id: 1 })).toBe('Accepted');
    const afterId = await periodsSince(h, anchor, 350);
    expect(afterId.periods).toEqual([
      [0, 7],
      [100 - afterId.x, 9],
    ]);
    expect(await clearProfile(h, { chargingProfilePurpose: 'TxDefaultProfile', stackLevel: 0 })).toBe(
      'Accepted',
    );
    const afterPurpose = await periodsSince(h, anchor, 350);
    expect(afterPurpose.periods).toEqual([
      [0, 11],
      [200 - afterPurpose.x, 12],
    ]);
    expect(await clearProfile(h, {})).toBe('Accepted');
    // Nothing installed: the outlet's own maximum (the sim board's 32 A).
    expect((await periodsSince(h, anchor, 350)).periods).toEqual([[0, 32]]);
  });

  it('TC_072_CS stacking: the higher stack level wins while valid, then the lower one', async () => {
    const h = await start();
    await h.booted();
    const anchor = wholeSecondNow(h);
    const startSchedule = iso(anchor);
    const periods = (...pairs: Array<[number, number]>) =>
      pairs.map(([startPeriod, limit]) => ({ startPeriod, limit }));
    expect(
      await setProfile(
        h,
        1,
        profile(
          { chargingProfileId: 1, validTo: iso(anchor + 401_000) },
          { startSchedule, duration: 400, chargingSchedulePeriod: periods([0, 6], [100, 8], [200, 10]) },
        ),
      ),
    ).toBe('Accepted');
    expect(
      await setProfile(
        h,
        1,
        profile(
          { chargingProfileId: 2, stackLevel: 1 },
          { startSchedule, duration: 150, chargingSchedulePeriod: periods([0, 7], [100, 9]) },
        ),
      ),
    ).toBe('Accepted');
    const { x, periods: got } = await periodsSince(h, anchor, 350);
    expect(got).toEqual([
      [0, 7],
      [100 - x, 9],
      [150 - x, 8],
      [200 - x, 10],
    ]);
  });

  it('TC_059_CS a remote start with a TxProfile: Accepted, the transaction starts, the composite shows the profile', async () => {
    const h = await start();
    await h.booted();
    const mark = h.csms.mark();
    h.board.plug(1);
    const chargingProfile = profile(
      { chargingProfileId: 59, chargingProfilePurpose: 'TxProfile', chargingProfileKind: 'Relative' },
      { duration: 600, chargingSchedulePeriod: [{ startPeriod: 0, limit: 10 }] },
    );
    expect(
      await h.csms.call(CP_ID, 'RemoteStartTransaction', { connectorId: 1, idTag: TAG, chargingProfile }),
    ).toEqual({ status: 'Accepted' });
    await h.csms.waitForCall(CP_ID, 'StartTransaction', { since: mark });
    await h.status(1, 'Charging', mark);
    expect(h.runtime.chargingProfiles.all()).toMatchObject([
      {
        id: 59,
        connectorId: 1,
        purpose: 'TxProfile',
        transactionLocalId: h.runtime.transactions.transactionOn(1)?.localId,
      },
    ]);
    expect((await composite(h, 1, 300)).chargingSchedule?.chargingSchedulePeriod).toEqual([
      { startPeriod: 0, limit: 10, numberPhases: 3 },
    ]);
  });

  it('an unknown connector is Rejected; connector 0 is the charge point', async () => {
    const h = await start();
    await h.booted();
    expect(await composite(h, 3, 60)).toEqual({ status: 'Rejected' });
    expect((await composite(h, 0, 60)).chargingSchedule?.chargingSchedulePeriod).toEqual([
      { startPeriod: 0, limit: 64, numberPhases: 3 },
    ]);
  });
});

describe('Smart Charging: the answer does not wait for the charging limit', () => {
  const start = useHarness();

  it('SetChargingProfile is answered before any composite is computed; the pilot follows after', async () => {
    const h = await start();
    await h.booted();
    const session = await charging(h, TAG, 1);
    expect(session).toBeGreaterThan(0);
    const profiles = h.runtime.chargingProfiles;
    const compositeFor = profiles.compositeFor.bind(profiles);
    let answered = false;
    const beforeAnswer: number[] = [];
    const afterAnswer: number[] = [];
    profiles.compositeFor = (connectorId, now, durationS) => {
      (answered ? afterAnswer : beforeAnswer).push(connectorId);
      return compositeFor(connectorId, now, durationS);
    };
    h.runtime.rpc.on('frame', (frame) => {
      if (frame.direction === 'out' && frame.text.startsWith('[3,')) answered = true;
    });
    const tenAmps = profile(
      { chargingProfileId: 90 },
      { chargingSchedulePeriod: [{ startPeriod: 0, limit: 10 }] },
    );
    expect(await setProfile(h, 1, tenAmps)).toBe('Accepted');
    await new Promise<void>((resolve) => {
      const check = () => (offered(h, 1) === 10 ? resolve() : h.runtime.chargingLimit.once('changed', check));
      check();
    });
    expect(beforeAnswer).toEqual([]);
    expect(afterAnswer).toContain(1);
  });
});

describe('Smart Charging: a TxProfile across a restart', () => {
  const start = useHarness();

  it('ends with its transaction at a stop; one a power cut left behind its stopped transaction is dropped at start', async () => {
    const h = await start();
    await h.booted();
    await charging(h, TAG, 1);
    const tx = profile(
      { chargingProfileId: 90, chargingProfilePurpose: 'TxProfile' },
      { chargingSchedulePeriod: SIX_AMPS },
    );
    expect(await setProfile(h, 1, tx)).toBe('Accepted');
    expect(
      await setProfile(h, 1, profile({ chargingProfileId: 91 }, { chargingSchedulePeriod: SIX_AMPS })),
    ).toBe('Accepted');
    const localId = h.runtime.transactions.transactionOn(1)?.localId;
    await h.runtime.stop();
    // The graceful stop ended the transaction, and its TxProfile with it.
    const db = new Database(join(h.stateDir, 'chargepoint.db'));
    const stored = () => db.prepare('SELECT charging_profile_id FROM charging_profiles').pluck().all();
    expect(stored()).toEqual([91]);
    // As if the power went after the stop was committed and before its TxProfile was deleted.
    db.prepare(
      `INSERT INTO charging_profiles (charging_profile_id, connector_id, stack_level, purpose, kind, local_tx_id, schedule)
       VALUES (90, 1, 0, 'TxProfile', 'Absolute', ?, '{"unit":"A","periods":[{"startPeriod":0,"limit":6}]}')`,
    ).run(localId);
    db.close();

    const mark = h.csms.mark();
    await h.startRuntime();
    await h.booted(mark);
    expect(h.runtime.chargingProfiles.all().map((p) => p.id)).toEqual([91]);
    expect(h.sink.find((l) => l.msg === 'TxProfiles of transactions that ended removed')).toMatchObject({
      dropped: 1,
    });
  });
});

describe('Smart Charging: a disk that refuses the write', () => {
  const start = useHarness();

  it('SetChargingProfile is Rejected (the store reports it), nothing is installed; Accepted once it writes again', async () => {
    const h = await start({ deferStart: true });
    const disk = new DiskFull();
    await startOnFillingDisk(h, disk);
    await h.booted();
    disk.fill();
    const p = profile({ chargingProfileId: 40 }, { chargingSchedulePeriod: SIX_AMPS });
    expect(await setProfile(h, 1, p)).toBe('Rejected');
    expect(h.runtime.store.health.snapshot()).toMatchObject({ state: 'degraded' });
    expect(h.runtime.chargingProfiles.all()).toEqual([]);
    disk.free();
    expect(h.runtime.store.health.probe()).toBe(true);
    expect(await setProfile(h, 1, p)).toBe('Accepted');
    expect(h.runtime.chargingProfiles.all().map((installed) => installed.id)).toEqual([40]);
  });
});
