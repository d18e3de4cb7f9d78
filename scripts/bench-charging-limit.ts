/**
 * The CPU time of one re-evaluation of the charging limit (the owner of each connector's offered
 * current, src/station/charging-limit.ts) with the 20 profiles of the smart-charging bench
 * installed over the wire and a session on each connector, so every evaluation computes the
 * composites, the next boundary and the load-sharing split. Measured in process: the runtime on
 * the simulated board in this process, `process.cpuUsage()` around each evaluation. The main
 * bench (`scripts/bench.ts`) calls benchLimitEvaluation.
 */
import { join } from 'node:path';
import { SimBoard } from '../hal/sim/board.js';
import { systemClock } from '../src/clock.js';
import { parseConfig } from '../src/config/file.js';
import { silentLogger } from '../src/log.js';
import { Runtime } from '../src/runtime.js';
import type { DevCsms } from '../test/csms/server.js';
import { benchConfig } from './bench-compare.js';
import { type Stats, stats } from './bench-figures.js';
import { benchProfile, STACK_LEVELS } from './bench-smart-charging.js';

export interface LimitEvaluationFigures {
  /** CPU time (user + system) of one `ChargingLimit.evaluate()`, ms. */
  limitReevaluationCpuMs: Stats;
}

const CP = 'CP-BENCH-LIMIT';
const WARM_UP = 200;
const EVALUATIONS = 2000;

/** Plugs a cable into `connectorId`, presents a card and waits until the session charges. */
async function session(csms: DevCsms, board: SimBoard, connectorId: number): Promise<void> {
  const charging = csms.waitForCall(CP, 'StatusNotification', {
    since: csms.mark(),
    where: (p: { connectorId: number; status: string }) =>
      p.connectorId === connectorId && p.status === 'Charging',
  });
  board.plug(connectorId);
  board.swipe(`BENCH0${connectorId}`);
  await charging;
}

export async function benchLimitEvaluation(
  csms: DevCsms,
  url: string,
  dir: string,
): Promise<LimitEvaluationFigures> {
  const stateDir = join(dir, 'charging-limit');
  const config = parseConfig(benchConfig(CP, url, stateDir), dir);
  csms.clearFrames();
  const board = new SimBoard({ name: 'sim', connectors: [{ id: 1 }, { id: 2 }] }, systemClock);
  const booted = csms.waitForCall(CP, 'StatusNotification', {
    where: (p: { connectorId: number }) => p.connectorId === 2,
  });
  const runtime = await Runtime.start({ config, log: silentLogger(), board });
  try {
    await booted;
    const startSchedule = new Date(Date.now() - 3_600_000).toISOString();
    for (let n = 0; n < 2 * STACK_LEVELS; n++) {
      const { connectorId, profile } = benchProfile(n, startSchedule);
      const answer = await csms.call<{ status: string }>(CP, 'SetChargingProfile', {
        connectorId,
        csChargingProfiles: profile,
      });
      if (answer.status !== 'Accepted')
        throw new Error(`SetChargingProfile ${profile.chargingProfileId}: ${answer.status}`);
    }
    await session(csms, board, 1);
    await session(csms, board, 2);
    const limit = runtime.chargingLimit;
    for (let i = 0; i < WARM_UP; i++) await limit.evaluate();
    const samples: number[] = [];
    for (let i = 0; i < EVALUATIONS; i++) {
      const before = process.cpuUsage();
      await limit.evaluate();
      const spent = process.cpuUsage(before);
      samples.push((spent.user + spent.system) / 1000);
    }
    return { limitReevaluationCpuMs: stats(samples) };
  } finally {
    await runtime.stop();
  }
}
