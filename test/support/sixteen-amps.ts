import type { Clock } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import { ChargingLimit } from '../../src/station/charging-limit.js';
import type { Station } from '../../src/station/station.js';

/** The owner of the outputs with a constant 16 A composite, on `clock`, no profiles or local limits. */
export function sixteenAmps(
  board: ConstructorParameters<typeof ChargingLimit>[0]['board'],
  station: Station,
  clock: Clock,
): ChargingLimit {
  const period = { startPeriod: 0, limitA: 16, numberPhases: 3, source: { kind: 'hardware' as const } };
  return new ChargingLimit({
    board,
    station,
    composites: {
      limitNow: () => ({ ...period }),
      limitNowAndNextChange: () => ({ period: { ...period }, nextChangeMs: undefined }),
    },
    localLimits: { all: () => new Map(), set: () => {}, remove: () => {} },
    clock,
    time: { nowMs: () => clock.now() },
    log: silentLogger(),
  });
}
