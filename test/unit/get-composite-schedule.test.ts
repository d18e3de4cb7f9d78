import { describe, expect, it } from 'vitest';
import { OcppTime } from '../../src/clock.js';
import { registerGetCompositeSchedule } from '../../src/features/smart-charging/get-composite-schedule.js';
import { silentLogger } from '../../src/log.js';
import { RpcEndpoint, type Transport } from '../../src/ocpp/rpc.js';
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
    { rpc, log: silentLogger(), time: new OcppTime(fx.clock, false) },
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
});
