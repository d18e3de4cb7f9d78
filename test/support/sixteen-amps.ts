import type { Clock } from '../../src/clock.js';
import { type Logger, silentLogger } from '../../src/log.js';
import { ChargingLimit } from '../../src/station/charging-limit.js';
import type { Station } from '../../src/station/station.js';

/**
 * The owner of the outputs with a constant 16 A composite, on `clock`, no profiles or local
 * limits; logging to `log` (nowhere by default).
 */
export function sixteenAmps(
  board: ConstructorParameters<typeof ChargingLimit>[0]['board'],
  station: Station,
  clock: Clock,
  log: Logger = silentLogger(),
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
    log,
  });
}
