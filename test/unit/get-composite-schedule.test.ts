import { describe, expect, it } from 'vitest';
import { OcppTime } from '../../src/clock.js';
import { registerGetCompositeSchedule } from '../../src/features/smart-charging/get-composite-schedule.js';
import { silentLogger } from '../../src/log.js';
import { RpcEndpoint, type Transport } from '../../src/ocpp/rpc.js';
import { MAX_COMPOSITE_DURATION_S } from '../../src/station/charging-profile-types.js';
import { T0, useSessionFixtures } from './session-fixture.js';

const fixture = useSessionFixtures();

/** GetCompositeSchedule over a real RpcEndpoint, on the fixture's profiles and fake clock. */
function getCompositeSchedule() {
  const fx = fixture();
  const sent: unknown[][] = [];
  const transport: Transport = { send: (text) => sent.push(JSON.parse(text) as unknown[]) > 0 };
  const rpc = new RpcEndpoint({ log: silentLogger(), clock: fx.clock, callTimeoutMs: 1000 });
  rpc.attach(transport);
  rpc.setGate('open');
  registerGetCompositeSchedule(
    { rpc, log: silentLogger(), config: fx.config, time: new OcppTime(fx.clock, false) },
    fx.chargingProfiles,
  );
  return { fx, rpc, sent };
}

describe('GetCompositeSchedule', () => {
  it('starts at the next whole second: a profile the central system started a moment after our now is in period 0', async () => {
    const { fx, rpc, sent } = getCompositeSchedule();
    fx.clock.advance(100);
    // The central system's "now", 200 ms ahead of ours.
    expect(
      fx.chargingProfiles.install({
        id: 1,
        connectorId: 1,
        stackLevel: 0,
        purpose: 'TxDefaultProfile',
        kind: 'Absolute',
        schedule: { startSchedule: T0 + 300, unit: 'A', periods: [{ startPeriod: 0, limit: 10 }] },
      }),
    ).toBe('Accepted');
    rpc.receive(JSON.stringify([2, 'g1', 'GetCompositeSchedule', { connectorId: 1, duration: 60 }]));
    await Promise.resolve();
    const start = new Date(T0 + 1000).toISOString();
    expect(sent).toEqual([
      [
        3,
        'g1',
        {
          status: 'Accepted',
          connectorId: 1,
          scheduleStart: start,
          chargingSchedule: {
            duration: 60,
            startSchedule: start,
            chargingRateUnit: 'A',
            chargingSchedulePeriod: [{ startPeriod: 0, limit: 10, numberPhases: 3 }],
          },
        },
      ],
    ]);
  });

  /** A Daily TxDefaultProfile on connector 1 whose `count` periods alternate 6 A and 16 A. */
  function dailyProfile(fx: ReturnType<typeof fixture>, count: number): void {
    const step = 86_400 / count;
    const periods = Array.from({ length: count }, (_, i) => ({
      startPeriod: i * step,
      limit: i % 2 ? 16 : 6,
    }));
    expect(
      fx.chargingProfiles.install({
        id: 7,
        connectorId: 1,
        stackLevel: 0,
        purpose: 'TxDefaultProfile',
        kind: 'Recurring',
        recurrency: 'Daily',
        schedule: { startSchedule: T0, unit: 'A', periods },
      }),
    ).toBe('Accepted');
  }

  function answer(sent: unknown[][]): {
    duration: number;
    chargingSchedulePeriod: Array<{ startPeriod: number }>;
  } {
    const [[type, , payload]] = sent as [[number, string, { chargingSchedule: never }]];
    expect(type).toBe(3);
    return payload.chargingSchedule;
  }

  it('covers at most a week, however long the duration asked (the schema bounds none), and says so', async () => {
    const { fx, rpc, sent } = getCompositeSchedule();
    dailyProfile(fx, 2);
    rpc.receive(
      JSON.stringify([2, 'g2', 'GetCompositeSchedule', { connectorId: 1, duration: 1_346_885_567 }]),
    );
    await Promise.resolve();
    const schedule = answer(sent);
    expect(schedule.duration).toBe(MAX_COMPOSITE_DURATION_S);
    // Two periods a day for seven days, from the profile's start (the fixture's now).
    expect(schedule.chargingSchedulePeriod).toHaveLength(14);
    expect(schedule.chargingSchedulePeriod.at(-1)!.startPeriod).toBe(6.5 * 86_400);
  });

  it('holds at most ChargingScheduleMaxPeriods periods, its duration ending where the first left out begins', async () => {
    const { fx, rpc, sent } = getCompositeSchedule();
    const maxPeriods = fx.config.getInt('ChargingScheduleMaxPeriods');
    dailyProfile(fx, 60);
    rpc.receive(JSON.stringify([2, 'g3', 'GetCompositeSchedule', { connectorId: 1, duration: 3 * 86_400 }]));
    await Promise.resolve();
    const schedule = answer(sent);
    expect(schedule.chargingSchedulePeriod).toHaveLength(maxPeriods);
    // 60 periods a day of 1440 s each, from the profile's start (the fixture's now).
    expect(schedule.duration).toBe(maxPeriods * 1440);
  });
});
