/**
 * Crash consistency: the daemon (a real process) is killed with SIGKILL at random points of
 * charging sessions (card, start, meter values, stop, while offline, while it boots and delivers its
 * queue), restarted on the same state directory each time, and at the end the frames the central
 * system recorded over the whole run are checked against the transactions the store holds.
 *
 * What is allowed: delivery is at-least-once. When the process dies after the central system
 * answered a transaction message but before the answer was committed (or while it was in flight),
 * that message is sent once more after the restart. Such a copy is recognised by its payload:
 * StartTransaction by connectorId + idTag + meterStart + timestamp (the timestamp is the start
 * instant persisted with the transaction, so two sessions cannot share it), MeterValues and
 * StopTransaction by their whole payload. A copy is accepted only when a kill happened between the
 * two transmissions, and there are never more copies than kills. The central system gives each
 * StartTransaction copy a new transactionId; only the last one may be used afterwards, the earlier
 * ones must never appear in a MeterValues or StopTransaction.
 *
 * Reproduce a failure with CRASH_SEED=<the printed seed> (kill points are chosen by frame count, so
 * the same seed replays the same plan; scheduling can still move a kill by a frame).
 * CRASH_DUMP=<file> writes the kill log, the daemons' link and outbox log lines and every frame.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { request } from '../../src/cli/client.js';
import type { DevCsms, FrameRecord } from '../csms/server.js';
import { energyOf, type MeterValuesReq, type StartReq, type StopReq } from '../support/charging.js';
import { useDaemonEnv } from '../support/daemon-process.js';

const CP = 'CP-CRASH-01';
/** Kills per seed: three seeds a run make 90 kills in all. */
const KILLS = 30;
/** Stop killing after this long even if fewer kills happened (the check below then fails). */
const BUDGET_MS = 120_000;
const WAIT_MS = 6_000;

/** mulberry32: small, fast, good enough to pick kill points reproducibly. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

class Killed extends Error {}

interface TxRow {
  local_id: number;
  connector_id: number;
  id_tag: string;
  transaction_id: number | null;
  meter_start: number;
  started_at: string;
  meter_stop: number | null;
  stopped_at: string | null;
  stop_reason: string | null;
}

interface Sent<P> {
  seq: number;
  id: string;
  payload: P;
  /** The answer's payload, when the central system answered (on that connection). */
  answer?: unknown;
}

const startKey = (p: { connectorId: number; idTag: string; meterStart: number; timestamp: string }) =>
  `${p.connectorId}|${p.idTag}|${p.meterStart}|${p.timestamp}`;

/**
 * Fixed seeds replay known kill plans on every run (a regression there is caught every time); one
 * new random seed per run widens the coverage over time and is printed so its failure can be replayed.
 */
const FIXED_SEEDS = [1389109047, 20261129];
const SEEDS = process.env.CRASH_SEED
  ? [Number(process.env.CRASH_SEED)]
  : [...FIXED_SEEDS, Math.floor(Math.random() * 2 ** 31)];

for (const seed of SEEDS)
  describe(`SIGKILL at random points of charging sessions loses, duplicates and reorders nothing (seed ${seed})`, () => {
    const rand = prng(seed);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
    const chance = (p: number) => rand() < p;
    const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));

    const env = useDaemonEnv('cp-crash-', CP, { scope: 'all' });
    let csms: DevCsms;
    /** The central system's last frame seq before each kill. */
    const kills: number[] = [];
    /** The central system's last frame seq when a connection of this charge point closed (kill or drop). */
    const breaks: number[] = [];
    const log: string[] = [];

    beforeAll(async () => {
      // The seed is what makes a failure reproducible.
      console.log(`crash test seed: ${seed} (CRASH_SEED=${seed} to reproduce)`);
      csms = env().csms;
      csms.on('close', (cp) => {
        if (cp === CP) breaks.push(csms.mark());
      });
      if (process.env.CRASH_DUMP) {
        csms.on('close', (_cp, code, reason) =>
          log.push(`csms close at seq ${csms.mark()}: ${code} ${reason}`),
        );
        csms.on('connection', () => log.push(`csms connection at seq ${csms.mark()}`));
      }
    });
    const dbFile = () => join(env().stateDir, 'chargepoint.db');
    const config = () =>
      env().daemonConfig({
        csms: {
          url: env().url,
          callTimeoutSeconds: 5,
          bootRetrySeconds: 1,
          reconnect: { initialSeconds: 0.05, maxSeconds: 0.2 },
        },
        log: { level: 'info' },
        ocpp: {
          MeterValueSampleInterval: 1,
          HeartbeatInterval: 3600,
          WebSocketPingInterval: 0,
          TransactionMessageRetryInterval: 1,
          TransactionMessageAttempts: 100,
          AllowOfflineTxForUnknownId: true,
          LocalAuthorizeOffline: true,
          StopTransactionOnEVSideDisconnect: true,
        },
      });

    /** One life of the daemon: everything it does is raced against its death. */
    class Life {
      readonly daemon = env().spawn(config());
      readonly spawnedAt = csms.mark();
      private dead = false;
      private readonly exited: Promise<void>;
      private detachKiller: (() => void) | undefined;

      constructor() {
        this.exited = this.daemon.exitCode().then(() => {
          this.dead = true;
        });
      }

      kill(why: string): void {
        const child = this.daemon.child;
        if (child.exitCode !== null || child.signalCode !== null || child.killed) return;
        kills.push(csms.mark());
        log.push(`kill #${kills.length} at seq ${csms.mark()}: ${why}`);
        child.kill('SIGKILL');
      }

      /** SIGKILL as the n-th frame from or to this charge point is recorded. */
      killAfterFrames(n: number, phase: string): void {
        let seen = 0;
        const onFrame = (r: FrameRecord) => {
          if (r.chargePointId !== CP || ++seen < n) return;
          const what = r.message?.type === 'call' ? r.message.action : r.message?.type;
          this.kill(`${phase}, frame ${n} (${r.direction} ${what})`);
          detach();
        };
        const detach = () => csms.off('frame', onFrame);
        csms.on('frame', onFrame);
        this.detachKiller = detach;
      }

      /** Resolves with `p`, or throws Killed once the process is gone (then nothing more is done). */
      async step<T>(p: Promise<T>): Promise<T> {
        p.catch(() => undefined);
        let result: T | typeof Killed;
        try {
          result = await Promise.race([p, this.exited.then(() => Killed)]);
        } catch (err) {
          // The socket of a process being killed fails before the exit is seen.
          if (this.daemon.child.killed) throw new Killed();
          throw err;
        }
        if (this.dead || this.daemon.child.killed || result === Killed) throw new Killed();
        return result as T;
      }

      async ctl(method: 'sim.plug' | 'sim.unplug', connectorId: number): Promise<void>;
      async ctl(method: 'sim.swipe', idTag: string): Promise<void>;
      async ctl(method: 'sim.plug' | 'sim.unplug' | 'sim.swipe', arg: number | string): Promise<void> {
        if (method === 'sim.swipe') await this.step(request(env().socket, method, { idTag: arg as string }));
        else await this.step(request(env().socket, method, { connectorId: arg as number }));
      }

      call<P>(action: string, since: number, where: (p: P) => boolean = () => true) {
        return this.step(csms.waitForCall(CP, action, { since, timeoutMs: WAIT_MS, where }));
      }

      async booted(): Promise<void> {
        await this.call('BootNotification', this.spawnedAt);
        await this.call(
          'StatusNotification',
          this.spawnedAt,
          (p: { connectorId: number }) => p.connectorId === 2,
        );
      }

      /** Ends this life (if the kill point was not reached) and waits for the process to be gone. */
      async end(): Promise<void> {
        this.kill('end of the iteration');
        await this.exited;
        this.detachKiller?.();
      }
    }

    /** A session driven online: card, start, maybe meter values, stop by card or by unplugging. */
    async function onlineSession(life: Life, n: number): Promise<void> {
      const connectorId = pick([1, 2]);
      const idTag = `CR${n}`;
      const mark = csms.mark();
      await life.ctl('sim.plug', connectorId);
      await life.call(
        'StatusNotification',
        mark,
        (p: { connectorId: number; status: string }) =>
          p.connectorId === connectorId && p.status === 'Preparing',
      );
      await life.ctl('sim.swipe', idTag);
      await life.call('StartTransaction', mark, (p: StartReq) => p.idTag === idTag);
      if (chance(0.35))
        await life.call('MeterValues', mark, (p: MeterValuesReq) => p.connectorId === connectorId);
      if (chance(0.5)) await life.ctl('sim.swipe', idTag);
      else await life.ctl('sim.unplug', connectorId);
      await life.call('StopTransaction', mark);
      await life.ctl('sim.unplug', connectorId);
    }

    /** A session while the central system is unreachable; killed offline or while delivering after it. */
    async function offlineSession(life: Life, n: number): Promise<void> {
      const connectorId = pick([1, 2]);
      const idTag = `CR${n}`;
      const actions: Array<() => Promise<void>> = [
        () => life.ctl('sim.plug', connectorId),
        () => life.ctl('sim.swipe', idTag),
        () => (chance(0.5) ? life.ctl('sim.swipe', idTag) : life.ctl('sim.unplug', connectorId)),
        () => life.ctl('sim.unplug', connectorId),
      ];
      const closed = life.step(csms.waitForDisconnect(CP, { timeoutMs: WAIT_MS }));
      csms.refuseConnections(true);
      if (csms.isConnected(CP)) csms.dropConnection(CP);
      await closed;
      const killAt = chance(0.5) ? int(1, actions.length) : undefined;
      for (const [i, action] of actions.entries()) {
        await action();
        if (killAt === i + 1) {
          csms.refuseConnections(false);
          life.kill(`offline, after action ${killAt}`);
          throw new Killed();
        }
      }
      // Reconnect and die while the queue is being delivered.
      life.killAfterFrames(int(1, 10), 'reconnecting with a queue');
      csms.refuseConnections(false);
      await life.call('StopTransaction', csms.mark());
    }

    it(`${KILLS} kills across charging sessions; every transaction delivered once, in order, metered monotonically`, async () => {
      const deadline = Date.now() + BUDGET_MS;
      let n = 0;
      while (kills.length < KILLS && Date.now() < deadline) {
        n += 1;
        const life = new Life();
        try {
          if (chance(0.15)) {
            life.killAfterFrames(int(1, 12), 'booting');
            await life.booted();
          } else {
            await life.booted();
            if (chance(0.3)) await offlineSession(life, n);
            else {
              life.killAfterFrames(int(1, 16), 'online session');
              await onlineSession(life, n);
            }
          }
        } catch (err) {
          if (!(err instanceof Killed)) {
            throw new Error(
              `seed ${seed}, iteration ${n}: ${(err as Error).message}\n${log.slice(-5).join('\n')}`,
            );
          }
        } finally {
          csms.refuseConnections(false);
        }
        await life.end();
        if (process.env.CRASH_DUMP)
          for (const l of life.daemon.lines)
            if (/connect|closed|stop|power|outbox|answer|fail/i.test(String(l.msg) + String(l.module)))
              log.push(`  daemon ${n}: ${JSON.stringify(l)}`);
        await csms.waitForDisconnect(CP, { timeoutMs: WAIT_MS });
      }
      expect(
        kills.length,
        `seed ${seed}: only ${kills.length} kills in the time budget`,
      ).toBeGreaterThanOrEqual(KILLS);

      // The last life: no kill. Everything the store holds must reach the central system.
      const last = new Life();
      await last.booted();
      const reader = new Database(dbFile(), { readonly: true });
      const rows = reader.prepare('SELECT * FROM transactions ORDER BY local_id').all() as TxRow[];
      reader.close();
      expect(
        rows.every((r) => r.stopped_at !== null),
        `seed ${seed}: a transaction left open after the restart`,
      ).toBe(true);
      for (const row of rows) {
        const key = `${row.connector_id}|${row.id_tag}|${row.meter_start}|${row.started_at}`;
        await csms.waitForFrame(
          CP,
          (r) => {
            if (r.direction !== 'in' || r.message?.type !== 'call' || r.message.action !== 'StopTransaction')
              return false;
            const tid = (r.message.payload as StopReq).transactionId;
            return transactionMessages().starts.some(
              (s) => startKey(s.payload) === key && answerId(s) === tid,
            );
          },
          { timeoutMs: WAIT_MS, what: `StopTransaction of local transaction ${row.local_id} (seed ${seed})` },
        );
      }
      last.daemon.child.kill('SIGTERM');
      expect(await last.daemon.exitCode()).toBe(0);

      const db = new Database(dbFile(), { readonly: true });
      const outbox = db.prepare('SELECT COUNT(*) AS n FROM outbox').get() as { n: number };
      const dead = db.prepare('SELECT COUNT(*) AS n FROM outbox_dead_letter').get() as { n: number };
      const finalRows = db.prepare('SELECT * FROM transactions ORDER BY local_id').all() as TxRow[];
      db.close();
      expect([outbox.n, dead.n], `seed ${seed}: outbox and dead letters after the run`).toEqual([0, 0]);

      if (process.env.CRASH_DUMP) {
        const { writeFileSync } = await import('node:fs');
        writeFileSync(
          process.env.CRASH_DUMP,
          [...log, ...csms.frames.map((f) => `${f.seq} ${f.direction} ${f.text.slice(0, 200)}`)].join('\n'),
        );
      }
      const report = check(finalRows);
      // What the run covered, next to its seed.
      console.log(
        `crash test seed ${seed}: ${kills.length} kills, ${finalRows.length} transactions, ` +
          `${report.copies} re-sent copies, ${report.meterValues} meter values, stop reasons ${JSON.stringify(report.reasons)}`,
      );
      expect(finalRows.length, `seed ${seed}: too few transactions to prove anything`).toBeGreaterThanOrEqual(
        8,
      );
    }, 180_000);

    function answerId(s: Sent<StartReq>): number | undefined {
      return (s.answer as { transactionId?: number } | undefined)?.transactionId;
    }

    function transactionMessages() {
      const answers = new Map<string, unknown>();
      for (const f of csms.frames)
        if (f.chargePointId === CP && f.direction === 'out' && f.message?.type === 'result')
          answers.set(f.message.id, f.message.payload);
      const of = <P>(action: string): Array<Sent<P>> =>
        csms.frames.flatMap((f) =>
          f.chargePointId === CP &&
          f.direction === 'in' &&
          f.message?.type === 'call' &&
          f.message.action === action
            ? [
                {
                  seq: f.seq,
                  id: f.message.id,
                  payload: f.message.payload as P,
                  answer: answers.get(f.message.id),
                },
              ]
            : [],
        );
      return {
        starts: of<StartReq>('StartTransaction'),
        meters: of<MeterValuesReq>('MeterValues'),
        stops: of<StopReq>('StopTransaction'),
      };
    }

    /** Groups identical payloads. Returns the first transmission of each and the later ones (copies). */
    function firstCopies<P>(
      sent: Array<Sent<P>>,
      key: (p: P) => string,
      what: string,
    ): { first: Array<Sent<P>>; copies: Array<{ from: number; seq: number; what: string }> } {
      const groups = new Map<string, Array<Sent<P>>>();
      for (const s of sent) groups.set(key(s.payload), [...(groups.get(key(s.payload)) ?? []), s]);
      const copies: Array<{ from: number; seq: number; what: string }> = [];
      for (const [k, group] of groups)
        for (let i = 1; i < group.length; i++)
          copies.push({ from: group[i - 1]!.seq, seq: group[i]!.seq, what: `${what} ${k}` });
      return { first: [...groups.values()].map((g) => g[0]!), copies };
    }

    /**
     * Every copy needs a connection loss between it and the previous transmission, and one loss
     * accounts for one copy at most: with one CALL in flight, only one message can be caught between
     * sending and committing its answer. Matched greedily by the copies' sending order (optimal for
     * intervals sorted by their end).
     */
    function matchCopiesToBreaks(copies: Array<{ from: number; seq: number; what: string }>): void {
      const used = new Set<number>();
      for (const copy of [...copies].sort((a, b) => a.seq - b.seq)) {
        const index = breaks.findIndex((b, i) => !used.has(i) && b >= copy.from && b < copy.seq);
        expect(
          index,
          `seed ${seed}: ${copy.what} sent again at seq ${copy.seq} without a crash or connection loss of its own since seq ${copy.from}`,
        ).toBeGreaterThanOrEqual(0);
        used.add(index);
      }
    }

    function check(rows: TxRow[]) {
      const { starts, meters, stops } = transactionMessages();
      const startGroups = new Map<string, Array<Sent<StartReq>>>();
      for (const s of starts)
        startGroups.set(startKey(s.payload), [...(startGroups.get(startKey(s.payload)) ?? []), s]);
      const startCopies = firstCopies(starts, startKey, 'StartTransaction');
      const meterCopies = firstCopies(meters, (p) => JSON.stringify(p), 'MeterValues');
      const stopCopies = firstCopies(stops, (p) => JSON.stringify(p), 'StopTransaction');
      const all = [...startCopies.copies, ...meterCopies.copies, ...stopCopies.copies];
      matchCopiesToBreaks(all);
      const copies = all.length;

      // Every persisted transaction has its StartTransaction, and every StartTransaction a persisted transaction.
      const rowKeys = rows.map((r) => `${r.connector_id}|${r.id_tag}|${r.meter_start}|${r.started_at}`);
      expect(new Set(rowKeys).size, `seed ${seed}: two transactions share a start key`).toBe(rows.length);
      expect(
        [...startGroups.keys()].sort(),
        `seed ${seed}: StartTransactions vs stored transactions`,
      ).toEqual([...rowKeys].sort());

      const usedIds = new Set<number>();
      const reasons: Record<string, number> = {};
      for (const row of rows) {
        const key = `${row.connector_id}|${row.id_tag}|${row.meter_start}|${row.started_at}`;
        const group = startGroups.get(key)!;
        const lastStart = group.at(-1)!;
        const tid = answerId(lastStart);
        const where = `seed ${seed}, local transaction ${row.local_id} (${key})`;
        expect(tid, `${where}: its last StartTransaction was not answered`).toBeDefined();
        expect(row.transaction_id, `${where}: stored transactionId`).toBe(tid);
        // Earlier copies' ids were never committed, so nothing may name them.
        for (const early of group.slice(0, -1)) {
          const dead = answerId(early);
          if (dead === undefined) continue;
          expect(
            [...meters, ...stops].some((m) => m.payload.transactionId === dead),
            `${where}: transactionId ${dead} of a superseded StartTransaction was used`,
          ).toBe(false);
        }
        const txStops = stopCopies.first.filter((s) => s.payload.transactionId === tid);
        expect(txStops.length, `${where}: StopTransactions for transactionId ${tid}`).toBe(1);
        const stop = txStops[0]!;
        expect(stop.payload.meterStop, `${where}: meterStop`).toBe(row.meter_stop);
        expect(stop.payload.reason, `${where}: reason`).toBe(row.stop_reason);
        reasons[row.stop_reason ?? '?'] = (reasons[row.stop_reason ?? '?'] ?? 0) + 1;
        // Order by arrival: the (last) Start, then every MeterValues, then the Stop.
        const txMeters = meters.filter((m) => m.payload.transactionId === tid);
        for (const m of txMeters) {
          expect(m.seq, `${where}: MeterValues before its StartTransaction`).toBeGreaterThan(lastStart.seq);
          expect(m.seq, `${where}: MeterValues after its StopTransaction`).toBeLessThan(stop.seq);
        }
        expect(stop.seq, `${where}: StopTransaction before its StartTransaction`).toBeGreaterThan(
          lastStart.seq,
        );
        // Meter values never go backwards, from meterStart to meterStop.
        const energy = [row.meter_start, ...txMeters.map((m) => energyOf(m.payload)), stop.payload.meterStop];
        for (let i = 1; i < energy.length; i++)
          expect(energy[i]!, `${where}: energy ${energy.join(', ')}`).toBeGreaterThanOrEqual(energy[i - 1]!);
        const stamps = txMeters.map((m) => Date.parse(m.payload.meterValue[0]!.timestamp));
        for (let i = 1; i < stamps.length; i++)
          expect(stamps[i]!, `${where}: MeterValues out of chronological order`).toBeGreaterThanOrEqual(
            stamps[i - 1]!,
          );
        usedIds.add(tid!);
      }
      // Nothing names a transaction the store does not know.
      for (const m of [...meters, ...stops])
        expect(
          usedIds.has(m.payload.transactionId!),
          `seed ${seed}: unknown transactionId ${m.payload.transactionId} at seq ${m.seq}`,
        ).toBe(true);
      return { copies, meterValues: meterCopies.first.length, reasons };
    }
  });
