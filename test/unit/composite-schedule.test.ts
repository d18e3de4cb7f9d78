import { describe, expect, it } from 'vitest';
import type {
  ChargingProfile,
  ChargingProfileKind,
  ChargingProfilePurpose,
  ChargingRateUnit,
  CompositeRequest,
  CompositeSchedule,
  ConnectorElectrical,
  ConstantLimit,
  LimitSource,
  RecurrencyKind,
  ScheduleTransaction,
} from '../../src/station/charging-profile-types.js';
import {
  compositeSchedule,
  NEXT_CHANGE_HORIZON_S,
  nextChange,
  roundDownToTenth,
  sameSource,
  toUnit,
} from '../../src/station/composite-schedule.js';

const T0 = Date.parse('2024-05-01T12:00:00.000Z');
const S = 1000;
const DAY_S = 86_400;
const WEEK_S = 7 * DAY_S;
const THREE_PHASE: ConnectorElectrical = { maxCurrentA: 32, phases: 3, voltageV: 230 };

interface ProfileSpec {
  id: number;
  purpose: ChargingProfilePurpose;
  connectorId?: number;
  stackLevel?: number;
  kind?: ChargingProfileKind;
  recurrency?: RecurrencyKind;
  validFrom?: number;
  validTo?: number;
  transactionId?: number;
  transactionLocalId?: number;
  startSchedule?: number;
  duration?: number;
  unit?: ChargingRateUnit;
  minChargingRate?: number;
  /** [startPeriod, limit, numberPhases?] */
  periods: ReadonlyArray<readonly [number, number, number?]>;
}

function profile(spec: ProfileSpec): ChargingProfile {
  const { periods, startSchedule, duration, unit, minChargingRate, ...rest } = spec;
  return {
    connectorId: spec.purpose === 'ChargePointMaxProfile' ? 0 : 1,
    stackLevel: 0,
    kind: 'Absolute',
    ...rest,
    schedule: {
      startSchedule,
      duration,
      unit: unit ?? 'A',
      minChargingRate,
      periods: periods.map(([startPeriod, limit, numberPhases]) => ({ startPeriod, limit, numberPhases })),
    },
  };
}

function request(fields: Partial<CompositeRequest> & Pick<CompositeRequest, 'profiles'>): CompositeRequest {
  return { connectorId: 1, now: T0, durationS: 400, electrical: THREE_PHASE, ...fields };
}

/** The periods as [startPeriod, limitA] pairs: what the OCTT catalogue prints. */
function limits(schedule: CompositeSchedule): Array<[number, number]> {
  return schedule.periods.map((p) => [p.startPeriod, p.limitA]);
}

const TX: ScheduleTransaction = { localId: 7, transactionId: 4711, startedAt: T0 - 60 * S };

describe('OCTT smart charging cases (catalogue numbers)', () => {
  it('TC_056: a TxDefaultProfile of 6 A on an idle connector is the composite', () => {
    const tx56 = profile({
      id: 1,
      purpose: 'TxDefaultProfile',
      startSchedule: T0,
      duration: 300,
      periods: [[0, 6, 3]],
    });
    const schedule = compositeSchedule(request({ profiles: [tx56], durationS: 300 }));
    expect(schedule.start).toBe(T0);
    expect(schedule.durationS).toBe(300);
    expect(limits(schedule)).toEqual([[0, 6]]);
    expect(schedule.periods[0]?.source).toEqual({
      kind: 'profile',
      profileId: 1,
      purpose: 'TxDefaultProfile',
    });
    expect(toUnit(schedule, 'A', THREE_PHASE).periods).toEqual([
      { startPeriod: 0, limit: 6, numberPhases: 3 },
    ]);
  });

  it('TC_056 in W: 6000 W comes back as 6000 W (and as 8.6 A, rounded down)', () => {
    for (const numberPhases of [1, 3]) {
      const tx56 = profile({
        id: 1,
        purpose: 'TxDefaultProfile',
        startSchedule: T0,
        duration: 300,
        unit: 'W',
        periods: [[0, 6000, numberPhases]],
      });
      const schedule = compositeSchedule(request({ profiles: [tx56], durationS: 300 }));
      expect(toUnit(schedule, 'W', THREE_PHASE).periods).toEqual([
        { startPeriod: 0, limit: 6000, numberPhases },
      ]);
      // 6000 / (230 * 3) = 8.695...; on one phase 26.08...
      expect(limits(schedule)).toEqual([[0, numberPhases === 3 ? 8.6 : 26]]);
    }
  });

  it('TC_057: a TxProfile carrying the running transactionId is the composite', () => {
    const tx57 = profile({
      id: 2,
      purpose: 'TxProfile',
      transactionId: TX.transactionId,
      startSchedule: T0,
      duration: 300,
      periods: [[0, 6]],
    });
    const schedule = compositeSchedule(request({ profiles: [tx57], transaction: TX, durationS: 300 }));
    expect(limits(schedule)).toEqual([[0, 6]]);
    expect(schedule.periods[0]?.source).toEqual({ kind: 'profile', profileId: 2, purpose: 'TxProfile' });
  });

  it('TC_082: a TxDefaultProfile set while a transaction runs is the composite', () => {
    const tx82 = profile({
      id: 3,
      purpose: 'TxDefaultProfile',
      startSchedule: T0,
      duration: 300,
      periods: [[0, 6]],
    });
    const schedule = compositeSchedule(request({ profiles: [tx82], transaction: TX, durationS: 300 }));
    expect(limits(schedule)).toEqual([[0, 6]]);
  });

  /** TC_066's three profiles, set x seconds before the composite is asked for. */
  function tc066(set: number, unit: ChargingRateUnit): ChargingProfile[] {
    const k = unit === 'W' ? 1000 : 1;
    const p = (pairs: Array<[number, number]>): Array<[number, number]> => pairs.map(([s, l]) => [s, l * k]);
    return [
      profile({
        id: 1,
        purpose: 'ChargePointMaxProfile',
        startSchedule: set,
        duration: 86_400,
        unit,
        periods: p([[0, 10]]),
      }),
      profile({
        id: 2,
        purpose: 'TxDefaultProfile',
        validTo: set + 401 * S,
        startSchedule: set,
        duration: 300,
        unit,
        periods: p([
          [0, 6],
          [60, 10],
          [120, 8],
          [180, 15],
          [260, 8],
        ]),
      }),
      profile({
        id: 3,
        purpose: 'TxProfile',
        transactionId: TX.transactionId,
        validTo: set + 401 * S,
        startSchedule: set,
        duration: 260,
        unit,
        periods: p([
          [0, 8],
          [50, 11],
          [140, 16],
          [200, 6],
          [240, 12],
        ]),
      }),
    ];
  }

  it('TC_066: 0->8, (50-x)->10, (200-x)->6, (240-x)->10: the TxProfile overrides the TxDefaultProfile after its end', () => {
    for (const x of [0, 3]) {
      const schedule = compositeSchedule(
        request({ profiles: tc066(T0 - x * S, 'A'), transaction: TX, durationS: 400 }),
      );
      expect(schedule.durationS).toBe(400);
      expect(limits(schedule)).toEqual([
        [0, 8],
        [50 - x, 10],
        [200 - x, 6],
        [240 - x, 10],
      ]);
      expect(schedule.periods.map((p) => p.source)).toEqual([
        { kind: 'profile', profileId: 3, purpose: 'TxProfile' },
        { kind: 'profile', profileId: 1, purpose: 'ChargePointMaxProfile' },
        { kind: 'profile', profileId: 3, purpose: 'TxProfile' },
        { kind: 'profile', profileId: 1, purpose: 'ChargePointMaxProfile' },
      ]);
    }
  });

  it('TC_066 in W (limits x1000): the composite in W carries the catalogue numbers exactly', () => {
    const schedule = compositeSchedule(request({ profiles: tc066(T0 - 3 * S, 'W'), transaction: TX }));
    expect(toUnit(schedule, 'W', THREE_PHASE).periods.map((p) => [p.startPeriod, p.limit])).toEqual([
      [0, 8000],
      [47, 10000],
      [197, 6000],
      [237, 10000],
    ]);
  });

  it('TC_067: each ClearChargingProfile leaves the composite the catalogue prints', () => {
    const set = T0 - 2 * S;
    const p1 = profile({
      id: 1,
      purpose: 'TxDefaultProfile',
      stackLevel: 1,
      startSchedule: set,
      duration: 400,
      periods: [
        [0, 6],
        [60, 8],
        [200, 10],
      ],
    });
    const p2 = profile({
      id: 2,
      purpose: 'TxDefaultProfile',
      validTo: set + 401 * S,
      startSchedule: set,
      duration: 400,
      periods: [
        [0, 7],
        [100, 9],
      ],
    });
    const p3 = profile({
      id: 3,
      purpose: 'ChargePointMaxProfile',
      startSchedule: set,
      duration: 86_400,
      periods: [
        [0, 11],
        [200, 12],
      ],
    });
    const at = (profiles: ChargingProfile[]) =>
      limits(compositeSchedule(request({ profiles, transaction: TX, durationS: 350 })));
    expect(at([p1, p2, p3])).toEqual([
      [0, 6],
      [58, 8],
      [198, 10],
    ]);
    expect(at([p2, p3])).toEqual([
      [0, 7],
      [98, 9],
    ]);
    expect(at([p3])).toEqual([
      [0, 11],
      [198, 12],
    ]);
    // All cleared: the charge point's own limit (the outlet's maximum here).
    expect(at([])).toEqual([[0, 32]]);
    expect(compositeSchedule(request({ profiles: [], durationS: 350 })).periods[0]?.source).toEqual({
      kind: 'hardware',
    });
  });

  it('TC_072: the higher stack level wins while valid, then the lower one takes over', () => {
    for (const x of [0, 4]) {
      const set = T0 - x * S;
      const p1 = profile({
        id: 1,
        purpose: 'TxDefaultProfile',
        validTo: set + 401 * S,
        startSchedule: set,
        duration: 400,
        periods: [
          [0, 6],
          [100, 8],
          [200, 10],
        ],
      });
      const p2 = profile({
        id: 2,
        purpose: 'TxDefaultProfile',
        stackLevel: 1,
        startSchedule: set,
        duration: 150,
        periods: [
          [0, 7],
          [100, 9],
        ],
      });
      expect(limits(compositeSchedule(request({ profiles: [p1, p2], durationS: 350 })))).toEqual([
        [0, 7],
        [100 - x, 9],
        [150 - x, 8],
        [200 - x, 10],
      ]);
    }
  });
});

describe('which profiles apply', () => {
  const cpMax = profile({ id: 10, purpose: 'ChargePointMaxProfile', startSchedule: T0, periods: [[0, 20]] });
  const default0 = profile({
    id: 11,
    purpose: 'TxDefaultProfile',
    connectorId: 0,
    startSchedule: T0,
    periods: [[0, 12]],
  });

  it('a connector-0 TxDefaultProfile limits every connector, the ChargePointMaxProfile too', () => {
    for (const connectorId of [1, 2]) {
      expect(limits(compositeSchedule(request({ profiles: [cpMax, default0], connectorId })))).toEqual([
        [0, 12],
      ]);
    }
    const low = profile({ id: 12, purpose: 'ChargePointMaxProfile', startSchedule: T0, periods: [[0, 9]] });
    expect(limits(compositeSchedule(request({ profiles: [low, default0], connectorId: 2 })))).toEqual([
      [0, 9],
    ]);
  });

  it("connector 0's composite is the charge point's: ChargePointMaxProfile and hardware only", () => {
    const own = profile({
      id: 13,
      purpose: 'TxDefaultProfile',
      connectorId: 1,
      startSchedule: T0,
      periods: [[0, 8]],
    });
    const schedule = compositeSchedule(
      request({ profiles: [cpMax, default0, own], connectorId: 0, transaction: TX }),
    );
    expect(limits(schedule)).toEqual([[0, 20]]);
    expect(limits(compositeSchedule(request({ profiles: [default0], connectorId: 0 })))).toEqual([[0, 32]]);
  });

  it("another connector's TxDefaultProfile does not apply", () => {
    const other = profile({
      id: 14,
      purpose: 'TxDefaultProfile',
      connectorId: 2,
      startSchedule: T0,
      periods: [[0, 8]],
    });
    expect(limits(compositeSchedule(request({ profiles: [other], connectorId: 1 })))).toEqual([[0, 32]]);
  });

  it("on a tie of stack levels the connector's own TxDefaultProfile wins over connector 0's", () => {
    const own = profile({
      id: 1,
      purpose: 'TxDefaultProfile',
      connectorId: 1,
      startSchedule: T0,
      periods: [[0, 16]],
    });
    expect(limits(compositeSchedule(request({ profiles: [default0, own] })))).toEqual([[0, 16]]);
    expect(limits(compositeSchedule(request({ profiles: [own, default0] })))).toEqual([[0, 16]]);
    // A higher stack level on connector 0 still wins.
    const higher0 = { ...default0, stackLevel: 1 };
    expect(limits(compositeSchedule(request({ profiles: [own, higher0] })))).toEqual([[0, 12]]);
  });

  it('a TxProfile applies to its own transaction only: by local id, else by transactionId', () => {
    const byLocal = profile({
      id: 20,
      purpose: 'TxProfile',
      transactionLocalId: 7,
      startSchedule: T0,
      periods: [[0, 10]],
    });
    const otherLocal = { ...byLocal, transactionLocalId: 8 };
    const byTxId = profile({
      id: 21,
      purpose: 'TxProfile',
      transactionId: 4711,
      startSchedule: T0,
      periods: [[0, 11]],
    });
    const otherTxId = { ...byTxId, transactionId: 4712 };
    // The local id decides when present, even if the transactionId would match.
    const localDecides = { ...otherLocal, transactionId: 4711 };
    const unbound = profile({ id: 22, purpose: 'TxProfile', startSchedule: T0, periods: [[0, 5]] });
    const at = (profiles: ChargingProfile[], transaction?: ScheduleTransaction) =>
      limits(compositeSchedule(request({ profiles: [default0, ...profiles], transaction })));
    expect(at([byLocal], TX)).toEqual([[0, 10]]);
    expect(at([byTxId], TX)).toEqual([[0, 11]]);
    expect(at([otherLocal], TX)).toEqual([[0, 12]]);
    expect(at([otherTxId], TX)).toEqual([[0, 12]]);
    expect(at([localDecides], TX)).toEqual([[0, 12]]);
    expect(at([unbound], TX)).toEqual([[0, 12]]);
    expect(at([byTxId], { ...TX, transactionId: undefined })).toEqual([[0, 12]]);
    // Without a transaction no TxProfile applies.
    expect(at([byLocal, byTxId])).toEqual([[0, 12]]);
    // On another connector it does not apply either.
    expect(
      limits(compositeSchedule(request({ profiles: [default0, byLocal], connectorId: 2, transaction: TX }))),
    ).toEqual([[0, 12]]);
  });

  it('the TxProfile overrides the TxDefaultProfile also before its own schedule starts', () => {
    const later = profile({
      id: 20,
      purpose: 'TxProfile',
      transactionLocalId: 7,
      startSchedule: T0 + 100 * S,
      periods: [[0, 10]],
    });
    const schedule = compositeSchedule(
      request({ profiles: [cpMax, default0, later], transaction: TX, durationS: 200 }),
    );
    expect(limits(schedule)).toEqual([
      [0, 20],
      [100, 10],
    ]);
  });

  it('validFrom and validTo bound a profile: the lower stack level fills the gaps', () => {
    const window = profile({
      id: 30,
      purpose: 'TxDefaultProfile',
      stackLevel: 2,
      validFrom: T0 + 100 * S,
      validTo: T0 + 200 * S,
      startSchedule: T0 - DAY_S * S,
      periods: [[0, 8]],
    });
    expect(limits(compositeSchedule(request({ profiles: [default0, window], durationS: 300 })))).toEqual([
      [0, 12],
      [100, 8],
      [200, 12],
    ]);
  });
});

describe('kinds of schedule', () => {
  it('Absolute without startSchedule starts with the transaction, else now', () => {
    const noStart = profile({
      id: 1,
      purpose: 'TxDefaultProfile',
      periods: [
        [0, 6],
        [100, 10],
      ],
    });
    expect(
      limits(compositeSchedule(request({ profiles: [noStart], transaction: TX, durationS: 100 }))),
    ).toEqual([
      [0, 6],
      [40, 10],
    ]);
    expect(limits(compositeSchedule(request({ profiles: [noStart], durationS: 200 })))).toEqual([
      [0, 6],
      [100, 10],
    ]);
  });

  it('Relative starts with the transaction, else now; startSchedule plays no part', () => {
    const relative = profile({
      id: 1,
      purpose: 'TxDefaultProfile',
      kind: 'Relative',
      startSchedule: T0 - DAY_S * S,
      duration: 300,
      periods: [
        [0, 6],
        [100, 10],
      ],
    });
    expect(
      limits(compositeSchedule(request({ profiles: [relative], transaction: TX, durationS: 300 }))),
    ).toEqual([
      [0, 6],
      [40, 10],
      [240, 32],
    ]);
    expect(limits(compositeSchedule(request({ profiles: [relative], durationS: 400 })))).toEqual([
      [0, 6],
      [100, 10],
      [300, 32],
    ]);
  });

  it('Daily recurrence runs across midnight and restarts at the time of day of startSchedule', () => {
    const anchor = Date.parse('2024-05-01T22:00:00.000Z');
    const daily = profile({
      id: 1,
      purpose: 'TxDefaultProfile',
      kind: 'Recurring',
      recurrency: 'Daily',
      startSchedule: anchor,
      periods: [
        [0, 10],
        [2 * 3600, 16], // midnight
        [8 * 3600, 20],
      ],
    });
    const now = Date.parse('2024-05-03T21:30:00.000Z');
    expect(limits(compositeSchedule(request({ profiles: [daily], now, durationS: 9 * 3600 })))).toEqual([
      [0, 20],
      [1800, 10], // 22:00, the recurrence restarts
      [1800 + 7200, 16],
      [1800 + 8 * 3600, 20],
    ]);
  });

  it('Daily recurrence cuts a duration longer than a day at the day', () => {
    const anchor = T0 - 2 * DAY_S * S;
    const daily = profile({
      id: 1,
      purpose: 'TxDefaultProfile',
      kind: 'Recurring',
      recurrency: 'Daily',
      startSchedule: anchor,
      duration: DAY_S + 3600,
      periods: [
        [0, 10],
        [DAY_S - 100, 20],
      ],
    });
    expect(
      limits(compositeSchedule(request({ profiles: [daily], now: T0 - 200 * S, durationS: 400 }))),
    ).toEqual([
      [0, 10],
      [100, 20],
      [200, 10],
    ]);
  });

  it('Daily recurrence with a short duration leaves the rest of the day to the other limits', () => {
    const daily = profile({
      id: 1,
      purpose: 'TxDefaultProfile',
      kind: 'Recurring',
      recurrency: 'Daily',
      startSchedule: T0 - 10 * DAY_S * S,
      duration: 3600,
      periods: [[0, 10]],
    });
    expect(
      limits(compositeSchedule(request({ profiles: [daily], now: T0 - 600 * S, durationS: 2 * DAY_S }))),
    ).toEqual([
      [0, 32],
      [600, 10],
      [4200, 32],
      [600 + DAY_S, 10],
      [4200 + DAY_S, 32],
    ]);
  });

  it('Weekly recurrence runs across the week end and restarts at the weekday and time of startSchedule', () => {
    const anchor = Date.parse('2024-05-05T20:00:00.000Z'); // a Sunday
    const weekly = profile({
      id: 1,
      purpose: 'TxDefaultProfile',
      kind: 'Recurring',
      recurrency: 'Weekly',
      startSchedule: anchor,
      periods: [
        [0, 8],
        [3 * DAY_S, 12],
        [WEEK_S - 800, 14],
      ],
    });
    const now = anchor + 3 * WEEK_S * S - 1000 * S;
    expect(limits(compositeSchedule(request({ profiles: [weekly], now, durationS: 4 * DAY_S })))).toEqual([
      [0, 12],
      [200, 14],
      [1000, 8],
      [1000 + 3 * DAY_S, 12],
    ]);
  });

  it('a recurrence does not reach back before its startSchedule', () => {
    const daily = profile({
      id: 1,
      purpose: 'TxDefaultProfile',
      kind: 'Recurring',
      recurrency: 'Daily',
      startSchedule: T0 + 100 * S,
      periods: [[0, 10]],
    });
    expect(limits(compositeSchedule(request({ profiles: [daily], durationS: 200 })))).toEqual([
      [0, 32],
      [100, 10],
    ]);
  });
});

describe('units, phases and the minimum', () => {
  it('W converts with the nominal voltage and the phases in use (the period’s, at most the outlet’s)', () => {
    const w = (numberPhases?: number) =>
      profile({
        id: 1,
        purpose: 'TxDefaultProfile',
        startSchedule: T0,
        unit: 'W',
        periods: [[0, 11_040, numberPhases]],
      });
    const onePhase: ConnectorElectrical = { maxCurrentA: 63, phases: 1, voltageV: 230 };
    const at = (numberPhases: number | undefined, electrical: ConnectorElectrical) =>
      compositeSchedule(request({ profiles: [w(numberPhases)], electrical })).periods[0];
    expect(at(undefined, { ...THREE_PHASE, maxCurrentA: 63 })).toMatchObject({ limitA: 16, numberPhases: 3 });
    expect(at(1, { ...THREE_PHASE, maxCurrentA: 63 })).toMatchObject({ limitA: 48, numberPhases: 1 });
    expect(at(undefined, onePhase)).toMatchObject({ limitA: 48, numberPhases: 1 });
    expect(at(3, onePhase)).toMatchObject({ limitA: 48, numberPhases: 1 });
    expect(at(undefined, { ...THREE_PHASE, maxCurrentA: 63, voltageV: 120 })).toMatchObject({ limitA: 30.6 });
  });

  it('A and W profiles meet per phase: the lower current wins, its own phases convert it', () => {
    const cpMaxW = profile({
      id: 1,
      purpose: 'ChargePointMaxProfile',
      startSchedule: T0,
      unit: 'W',
      periods: [[0, 6900, 1]],
    });
    const txA = profile({ id: 2, purpose: 'TxDefaultProfile', startSchedule: T0, periods: [[0, 25, 3]] });
    const [period] = compositeSchedule(request({ profiles: [cpMaxW, txA] })).periods;
    // 6900 W on one phase is 30 A: the TxDefaultProfile's 25 A is lower.
    expect(period).toMatchObject({ limitA: 25, numberPhases: 3, source: { kind: 'profile', profileId: 2 } });
  });

  it('the phases come from the charging profile, else the ChargePointMaxProfile, else the outlet', () => {
    const cpMax = profile({
      id: 1,
      purpose: 'ChargePointMaxProfile',
      startSchedule: T0,
      periods: [[0, 10, 2]],
    });
    const tx = profile({ id: 2, purpose: 'TxDefaultProfile', startSchedule: T0, periods: [[0, 20, 1]] });
    expect(compositeSchedule(request({ profiles: [cpMax, tx] })).periods[0]).toMatchObject({
      limitA: 10,
      numberPhases: 1,
    });
    expect(compositeSchedule(request({ profiles: [cpMax] })).periods[0]).toMatchObject({ numberPhases: 2 });
    expect(
      compositeSchedule(request({ profiles: [], electrical: { ...THREE_PHASE, phases: 1 } })).periods[0],
    ).toMatchObject({
      numberPhases: 1,
    });
  });

  it('the outlet maximum and the constant limits take part; ties name profile, local, loadSharing, hardware', () => {
    const tx = profile({ id: 2, purpose: 'TxDefaultProfile', startSchedule: T0, periods: [[0, 16]] });
    const cpMax = profile({ id: 1, purpose: 'ChargePointMaxProfile', startSchedule: T0, periods: [[0, 16]] });
    const local = (limitA: number): ConstantLimit => ({ limitA, source: { kind: 'local' } });
    const share = (limitA: number): ConstantLimit => ({ limitA, source: { kind: 'loadSharing' } });
    const sourceOf = (profiles: ChargingProfile[], constants: ConstantLimit[], maxCurrentA = 32) =>
      compositeSchedule(request({ profiles, limits: constants, electrical: { ...THREE_PHASE, maxCurrentA } }))
        .periods[0]?.source;
    expect(sourceOf([cpMax, tx], [local(16), share(16)], 16)).toEqual({
      kind: 'profile',
      profileId: 2,
      purpose: 'TxDefaultProfile',
    });
    expect(sourceOf([cpMax], [share(16), local(16)], 16)).toEqual({
      kind: 'profile',
      profileId: 1,
      purpose: 'ChargePointMaxProfile',
    });
    expect(sourceOf([], [share(16), local(16)], 16)).toEqual({ kind: 'local' });
    expect(sourceOf([], [share(16)], 16)).toEqual({ kind: 'loadSharing' });
    expect(sourceOf([tx], [share(10), local(12)])).toEqual({ kind: 'loadSharing' });
    const schedule = compositeSchedule(request({ profiles: [tx], limits: [local(12), share(10)] }));
    expect(limits(schedule)).toEqual([[0, 10]]);
  });

  it('limits are rounded down to 0.1 A; W is converted from the unrounded amps', () => {
    expect(roundDownToTenth(10.149)).toBe(10.1);
    expect(roundDownToTenth(11040 / 690)).toBe(16);
    expect(roundDownToTenth(15.999_999_999_9)).toBe(16);
    const w = profile({
      id: 1,
      purpose: 'TxDefaultProfile',
      startSchedule: T0,
      unit: 'W',
      periods: [[0, 7000]],
    });
    const schedule = compositeSchedule(request({ profiles: [w] }));
    expect(schedule.periods[0]).toMatchObject({ limitA: 10.1 });
    expect(toUnit(schedule, 'W', THREE_PHASE).periods[0]?.limit).toBe(7000);
    // A hardware limit in W: 32 A * 230 V * 3.
    expect(toUnit(compositeSchedule(request({ profiles: [] })), 'W', THREE_PHASE).periods[0]?.limit).toBe(
      22_080,
    );
  });

  it('minChargingRate is exposed in A and leaves the limit as computed', () => {
    const tx = profile({
      id: 1,
      purpose: 'TxDefaultProfile',
      startSchedule: T0,
      unit: 'W',
      minChargingRate: 4140,
      periods: [
        [0, 2760, 3],
        [100, 2760, 1],
      ],
    });
    const schedule = compositeSchedule(request({ profiles: [tx], durationS: 200 }));
    expect(schedule.periods.map((p) => [p.startPeriod, p.limitA, p.minChargingRateA])).toEqual([
      [0, 4, 6],
      [100, 12, 18],
    ]);
    const without = compositeSchedule(
      request({ profiles: [{ ...tx, schedule: { ...tx.schedule, minChargingRate: undefined } }] }),
    );
    expect(without.periods[0]?.minChargingRateA).toBeUndefined();
  });
});

describe('periods', () => {
  it('neighbours with equal limit, phases and source are merged; a new source starts a period', () => {
    const tx = profile({
      id: 1,
      purpose: 'TxDefaultProfile',
      startSchedule: T0,
      periods: [
        [0, 10],
        [100, 10],
        [200, 40],
        [300, 10],
      ],
    });
    const schedule = compositeSchedule(request({ profiles: [tx], durationS: 400 }));
    expect(schedule.periods.map((p) => [p.startPeriod, p.limitA, p.source.kind])).toEqual([
      [0, 10, 'profile'],
      [200, 32, 'hardware'],
      [300, 10, 'profile'],
    ]);
  });

  it('a merged stretch keeps the lowest unrounded limit, so its W never exceeds any part of it', () => {
    const tx = profile({
      id: 1,
      purpose: 'TxDefaultProfile',
      startSchedule: T0,
      unit: 'W',
      periods: [
        [0, 6960],
        [100, 6900],
      ],
    });
    const schedule = compositeSchedule(request({ profiles: [tx], durationS: 200 }));
    expect(limits(schedule)).toEqual([[0, 10]]);
    expect(toUnit(schedule, 'W', THREE_PHASE).periods).toEqual([
      { startPeriod: 0, limit: 6900, numberPhases: 3 },
    ]);
  });

  it('in a unit, periods equal after conversion are merged and sources are not reported', () => {
    const tx = profile({
      id: 1,
      purpose: 'TxDefaultProfile',
      startSchedule: T0,
      periods: [
        [0, 16],
        [100, 32],
        [200, 16],
      ],
    });
    const cpMax = profile({
      id: 2,
      purpose: 'ChargePointMaxProfile',
      startSchedule: T0 + 100 * S,
      periods: [[0, 16]],
    });
    const schedule = compositeSchedule(request({ profiles: [tx, cpMax], durationS: 300 }));
    expect(schedule.periods.length).toBe(3);
    expect(toUnit(schedule, 'A', THREE_PHASE)).toEqual({
      start: T0,
      durationS: 300,
      unit: 'A',
      periods: [{ startPeriod: 0, limit: 16, numberPhases: 3 }],
    });
    expect(toUnit(schedule, 'W', THREE_PHASE).periods).toEqual([
      { startPeriod: 0, limit: 11_040, numberPhases: 3 },
    ]);
  });

  it('cover exactly [now, now + duration): later changes are left out, a change between seconds shows from the next', () => {
    const tx = profile({
      id: 1,
      purpose: 'TxDefaultProfile',
      startSchedule: T0,
      periods: [
        [0, 10],
        [100, 12],
        [300, 14],
      ],
    });
    expect(limits(compositeSchedule(request({ profiles: [tx], durationS: 300 })))).toEqual([
      [0, 10],
      [100, 12],
    ]);
    expect(limits(compositeSchedule(request({ profiles: [tx], now: T0 + 400, durationS: 300 })))).toEqual([
      [0, 10],
      [100, 12],
    ]);
    expect(limits(compositeSchedule(request({ profiles: [tx], now: T0 + 400, durationS: 301 })))).toEqual([
      [0, 10],
      [100, 12],
      [300, 14],
    ]);
    expect(limits(compositeSchedule(request({ profiles: [tx], durationS: 0 })))).toEqual([[0, 10]]);
  });
});

describe('nextChange', () => {
  it('is the first instant the composite changes, skipping boundaries that change nothing', () => {
    const cpMax = profile({ id: 1, purpose: 'ChargePointMaxProfile', startSchedule: T0, periods: [[0, 16]] });
    const tx = profile({
      id: 2,
      purpose: 'TxDefaultProfile',
      startSchedule: T0,
      periods: [
        [0, 20],
        [100, 24],
        [250, 10],
      ],
    });
    expect(nextChange(request({ profiles: [cpMax, tx] }))).toBe(T0 + 250 * S);
    // Exact to the millisecond when now is between seconds.
    expect(nextChange(request({ profiles: [cpMax, tx], now: T0 + 10_250 }))).toBe(T0 + 250 * S);
    expect(nextChange(request({ profiles: [cpMax, tx], now: T0 + 250 * S }))).toBe(
      T0 + 250 * S + 7 * DAY_S * S,
    );
  });

  it('sees a change of phases or minimum charging rate at the same limit', () => {
    const tx = profile({
      id: 2,
      purpose: 'TxDefaultProfile',
      startSchedule: T0,
      minChargingRate: 1380,
      unit: 'W',
      periods: [
        [0, 30_000, 3],
        [60, 30_000, 1],
      ],
    });
    expect(nextChange(request({ profiles: [tx] }))).toBe(T0 + 60 * S);
  });

  it('is the horizon end when nothing changes within it; a Weekly recurrence is found days ahead', () => {
    expect(nextChange(request({ profiles: [] }))).toBe(T0 + NEXT_CHANGE_HORIZON_S * S);
    expect(nextChange(request({ profiles: [] }), 3600)).toBe(T0 + 3600 * S);
    const weekly = profile({
      id: 1,
      purpose: 'TxDefaultProfile',
      kind: 'Recurring',
      recurrency: 'Weekly',
      startSchedule: T0 - WEEK_S * S,
      periods: [
        [0, 8],
        [5 * DAY_S, 12],
      ],
    });
    expect(nextChange(request({ profiles: [weekly] }))).toBe(T0 + 5 * DAY_S * S);
  });

  it('reports a change that is gone before the next whole second: the pilot follows it there', () => {
    // 0 A from T0 + 100 s to T0 + 100.5 s; the composite from T0 + 0.6 s samples neither.
    const window = profile({
      id: 1,
      purpose: 'TxDefaultProfile',
      stackLevel: 1,
      validFrom: T0 + 100 * S,
      validTo: T0 + 100_500,
      startSchedule: T0,
      periods: [[0, 0]],
    });
    const now = T0 + 600;
    expect(limits(compositeSchedule(request({ profiles: [window], now, durationS: 200 })))).toEqual([
      [0, 32],
    ]);
    expect(nextChange(request({ profiles: [window], now }))).toBe(T0 + 100 * S);
    expect(
      limits(compositeSchedule(request({ profiles: [window], now: T0 + 100 * S, durationS: 0 }))),
    ).toEqual([[0, 0]]);
    expect(nextChange(request({ profiles: [window], now: T0 + 100 * S }))).toBe(T0 + 100_500);
  });

  it('a schedule anchored at now that becomes valid in its last millisecond is a change (fast-check seed -276641694)', () => {
    // Idle connector, no startSchedule: the schedule starts at each evaluation's now. Seen from
    // T0 + 1 ms it is valid only from T0 + 2 s to its end at T0 + 2.001 s, but evaluated at T0 + 2 s
    // it starts again there and limits to 0 A: skipping the instant would leave 6 A offered until
    // the horizon, a week later, as nothing else changes.
    const fromTwo = profile({
      id: 1,
      purpose: 'TxDefaultProfile',
      connectorId: 0,
      validFrom: T0 + 2 * S,
      duration: 2,
      minChargingRate: 0,
      periods: [[0, 0]],
    });
    const electrical: ConnectorElectrical = { maxCurrentA: 6, phases: 1, voltageV: 230 };
    const at = (now: number, durationS = 3): CompositeRequest =>
      request({ profiles: [fromTwo], now, durationS, electrical });
    expect(limits(compositeSchedule(at(T0 + 1)))).toEqual([[0, 6]]);
    expect(nextChange(at(T0 + 1), 3)).toBe(T0 + 2 * S);
    expect(limits(compositeSchedule(at(T0 + 2 * S)))).toEqual([
      [0, 0],
      [2, 6],
    ]);
  });
});

describe('sameSource (periods merge by it; the charging limit announces a change of it)', () => {
  it('the same charging profile, or the same kind of constant limit', () => {
    const profile: Extract<LimitSource, { kind: 'profile' }> = {
      kind: 'profile',
      profileId: 7,
      purpose: 'TxDefaultProfile',
    };
    expect(sameSource(profile, { ...profile })).toBe(true);
    expect(sameSource(profile, { ...profile, profileId: 8 })).toBe(false);
    expect(sameSource(profile, { ...profile, purpose: 'TxProfile' })).toBe(false);
    expect(sameSource(profile, { kind: 'hardware' })).toBe(false);
    expect(sameSource({ kind: 'local' }, { kind: 'local' })).toBe(true);
    expect(sameSource({ kind: 'local' }, { kind: 'loadSharing' })).toBe(false);
  });
});
