/**
 * Crash loop: at least 200 SIGKILLs of the daemon (a real process) at random points of charging
 * sessions online and offline, local-list updates from the central system (SendLocalList) and
 * restarts (kills while booting and delivering the queue), each followed by a restart on the same
 * state directory. At the end: every stored transaction reached the central system, once but for
 * copies each explained by its own connection loss (test/support/transaction-audit.ts), in order,
 * metered monotonically; the queue is empty; the local list is one whole version the central
 * system sent, never older than the last one the charge point Accepted.
 *
 * FAULT_KILLS=<n> sets the kills per seed (default 70: with two fixed seeds and a random one, 210
 * a run). CRASH_SEED=<seed> replays one seed; CRASH_DUMP=<file> writes the kill log and every frame.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CrashRun } from '../support/crash-loop.js';
import { Rng, seedsFor } from '../support/prng.js';

const CP = 'CP-FAULT-KILL';
const KILLS = Number(process.env.FAULT_KILLS ?? 70);
/** About a second a kill; the budget leaves room for a loaded machine. */
const BUDGET_MS = KILLS * 4_000;

for (const seed of seedsFor([77031, 20261130], process.env.CRASH_SEED))
  describe(`crash loop: ${KILLS} SIGKILLs across sessions, local-list updates and restarts (seed ${seed})`, () => {
    const label = `crash loop seed ${seed}`;
    const run = new CrashRun({ cp: CP, rng: new Rng(seed), label, fast: true });

    beforeAll(async () => {
      console.log(`crash loop seed: ${seed} (CRASH_SEED=${seed} to reproduce), ${KILLS} kills`);
      await run.start();
    });
    afterAll(() => run.stop());

    it(
      'loses nothing, duplicates only within the documented window, keeps order and the local list whole',
      async () => {
        const phases = await run.killLoop({
          kills: KILLS,
          budgetMs: BUDGET_MS,
          plan: (rng) =>
            rng.weighted([
              ['boot', 15],
              ['list', 20],
              ['offline', 25],
              ['online', 40],
            ] as const),
        });

        const { rows, report } = await run.finish();
        console.log(
          `${label}: ${run.kills.length} kills, lives ${JSON.stringify(phases)}, ${rows.length} transactions, ` +
            `${report.copies} re-sent copies, ${report.meterValues} meter values, ` +
            `local list versions sent ${run.listVersionsSent.size} (last Accepted ${run.lastListAccepted}), ` +
            `stop reasons ${JSON.stringify(report.reasons)}`,
        );
        // Each life but a boot one drives a session, which a kill before its StartTransaction ends
        // without one (and a list update's kill ends before the session): a fifth of them is far
        // below what any seed gives, where a fixed share of the kills failed a random seed at CI's
        // 25 kills (6 transactions from 21 such lives, against 6.25).
        const sessionLives = (phases.online ?? 0) + (phases.offline ?? 0) + (phases.list ?? 0);
        expect(rows.length, `${label}: too few transactions to prove anything`).toBeGreaterThanOrEqual(
          Math.ceil(sessionLives / 5),
        );
        // Each update escapes its kill with a chance of 0.4: of ten, one gets through but for 0.6^10.
        if (run.listVersionsSent.size >= 10)
          expect(run.lastListAccepted, `${label}: no local list update got through`).toBeGreaterThan(0);
      },
      BUDGET_MS + 120_000,
    );
  });
