/**
 * Smart-charging figures over the wire, against the built daemon: GetCompositeSchedule of a
 * connector for a day with 20 profiles of 24 periods installed (recurring ones among them), and
 * SetChargingProfile (validated, persisted with synchronous=FULL, answered). Each round boots a
 * daemon afresh; each quantile is the median over the rounds, as for the comparison with the
 * floor (one burst of the shared machine's load otherwise decides a p99), and every round's
 * figures are reported too. The main bench (`scripts/bench.ts`) calls benchSmartCharging.
 */
import { join } from 'node:path';
import type { SetChargingProfileRequest } from '../src/ocpp/generated/messages.js';
import type { DevCsms } from '../test/csms/server.js';
import {
  CP,
  type DaemonOptions,
  settle,
  spawnDaemon,
  statusesDone,
  stopProcess,
  timeCalls,
} from './bench-compare.js';
import { medianStats, type Stats } from './bench-figures.js';

interface SmartChargingRound {
  getCompositeScheduleDay20ProfilesMs: Stats;
  setChargingProfileMs: Stats;
}

export interface SmartChargingFigures extends SmartChargingRound {
  smartChargingByRound: SmartChargingRound[];
}

const PERIODS = 24;
const COMPOSITES = 1000;
const SETS = 500;
const DAY_S = 86_400;
/** Connector 0 and connector 1 each get half of the 20, one per stack level 0..9. */
export const STACK_LEVELS = 10;

type Profile = SetChargingProfileRequest['csChargingProfiles'];

/**
 * Profile `n` of the 20: connector 0 carries ChargePointMaxProfiles, connector 1 TxDefaultProfiles;
 * every third is Recurring (Daily, or Weekly), the others Absolute, each with 24 periods of
 * 10 minutes to an hour and limits that cross each other, so the composite has many boundaries.
 */
export function benchProfile(n: number, startSchedule: string): { connectorId: number; profile: Profile } {
  const connectorId = n < STACK_LEVELS ? 0 : 1;
  const stackLevel = n % STACK_LEVELS;
  const recurring = n % 3 === 0;
  const step = 600 + (n % 6) * 600;
  return {
    connectorId,
    profile: {
      chargingProfileId: 1000 + n,
      stackLevel,
      chargingProfilePurpose: connectorId === 0 ? 'ChargePointMaxProfile' : 'TxDefaultProfile',
      chargingProfileKind: recurring ? 'Recurring' : 'Absolute',
      ...(recurring ? { recurrencyKind: n % 2 === 0 ? 'Daily' : 'Weekly' } : {}),
      chargingSchedule: {
        startSchedule,
        ...(recurring ? {} : { duration: PERIODS * step }),
        chargingRateUnit: n % 4 === 1 ? 'W' : 'A',
        chargingSchedulePeriod: Array.from({ length: PERIODS }, (_, i) => ({
          startPeriod: i * step,
          limit: n % 4 === 1 ? 4140 + ((i * 7 + n) % 20) * 690 : 6 + ((i * 7 + n) % 26),
        })),
      },
    },
  };
}

export async function benchSmartCharging(
  csms: DevCsms,
  url: string,
  dir: string,
  rounds: number,
  daemon: DaemonOptions = {},
): Promise<SmartChargingFigures> {
  const byRound: SmartChargingRound[] = [];
  for (let r = 0; r < rounds; r++)
    byRound.push(await smartChargingRound(csms, url, join(dir, `smart-charging-${r}`), daemon));
  return {
    getCompositeScheduleDay20ProfilesMs: medianStats(
      byRound.map((f) => f.getCompositeScheduleDay20ProfilesMs),
    ),
    setChargingProfileMs: medianStats(byRound.map((f) => f.setChargingProfileMs)),
    smartChargingByRound: byRound,
  };
}

async function smartChargingRound(
  csms: DevCsms,
  url: string,
  stateDir: string,
  daemon: DaemonOptions,
): Promise<SmartChargingRound> {
  csms.clearFrames();
  const child = spawnDaemon(url, stateDir, daemon);
  try {
    await statusesDone(csms);
    await settle();
    const startSchedule = new Date(Date.now() - 3_600_000).toISOString();
    const set = async ({ connectorId, profile }: { connectorId: number; profile: Profile }) => {
      const answer = await csms.call<{ status: string }>(CP, 'SetChargingProfile', {
        connectorId,
        csChargingProfiles: profile,
      });
      if (answer.status !== 'Accepted')
        throw new Error(`SetChargingProfile ${profile.chargingProfileId}: ${answer.status}`);
    };
    // Built before the clock runs: the figures are the daemon's, not the bench client's allocations.
    const profiles = Array.from({ length: 2 * STACK_LEVELS }, (_, n) => benchProfile(n, startSchedule));
    for (const profile of profiles) await set(profile);
    const getCompositeScheduleDay20ProfilesMs = await timeCalls(csms, COMPOSITES, async () => {
      const answer = await csms.call<{ status: string }>(CP, 'GetCompositeSchedule', {
        connectorId: 1,
        duration: DAY_S,
      });
      if (answer.status !== 'Accepted') throw new Error(`GetCompositeSchedule: ${answer.status}`);
    });
    // Each replaces one of the 20 (same id), so the count stays and every call does the whole work.
    const setChargingProfileMs = await timeCalls(csms, SETS, (i) => set(profiles[i % profiles.length]!));
    return { getCompositeScheduleDay20ProfilesMs, setChargingProfileMs };
  } finally {
    await stopProcess(child);
  }
}
