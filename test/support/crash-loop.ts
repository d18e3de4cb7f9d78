/**
 * The machinery of the SIGKILL tests: the daemon as a real process on one state directory, killed at
 * random points of what it is doing (charging sessions online and offline, local-list updates from
 * the central system, booting and delivering its queue) and restarted, over and over; then a last
 * life without a kill, after which the frames the central system recorded are audited against the
 * store (test/support/transaction-audit.ts).
 *
 * Kill points are chosen by frame count from a seeded Rng, so a seed replays the same plan
 * (scheduling can still move a kill by a frame).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'vitest';
import { request } from '../../src/cli/client.js';
import { DevCsms, type FrameRecord } from '../csms/server.js';
import type { MeterValuesReq, StartReq } from './charging.js';
import { DaemonProcess } from './daemon-process.js';
import { fastTempRoot } from './fast-temp.js';
import type { Rng } from './prng.js';
import {
  type AuditReport,
  auditTransactions,
  queueCounts,
  readTransactions,
  stopReceived,
  type TxRow,
} from './transaction-audit.js';

/** Thrown out of a step when the process is gone: nothing more is done in that life. */
export class Killed extends Error {}

const WAIT_MS = 6_000;

export interface CrashRunOptions {
  cp: string;
  rng: Rng;
  /** Names the run in failure messages and the console. */
  label: string;
  /** Extra OCPP keys over the run's defaults. */
  ocpp?: Record<string, string | number | boolean>;
  /** A state directory on tmpfs (long runs: fsync would dominate). Default: the system temp dir. */
  fast?: boolean;
}

/** What one life of the daemon does after it boots, unless it is killed first. */
export type LifePlan = 'boot' | 'list' | 'offline' | 'online';

/** One run: a central system, a state directory, and the daemon's lives on it. */
export class CrashRun {
  readonly csms = new DevCsms();
  /** The central system's last frame seq before each kill. */
  readonly kills: number[] = [];
  /** The central system's last frame seq when a connection of this charge point closed (kill or drop). */
  readonly breaks: number[] = [];
  readonly log: string[] = [];
  /** Every local list version the central system sent, and the last one the charge point Accepted. */
  readonly listVersionsSent = new Set<number>();
  lastListAccepted = 0;
  daemon: DaemonProcess | undefined;
  /** The run's directory: the daemon's config file, control socket and state directory. */
  dir = '';
  private url = '';

  constructor(readonly opts: CrashRunOptions) {}

  get cp(): string {
    return this.opts.cp;
  }

  get rng(): Rng {
    return this.opts.rng;
  }

  get socket(): string {
    return join(this.dir, 'cpctl.sock');
  }

  get dbFile(): string {
    return join(this.dir, 'state', 'chargepoint.db');
  }

  async start(): Promise<void> {
    this.dir = mkdtempSync(join(this.opts.fast ? fastTempRoot() : tmpdir(), 'cp-crash-'));
    ({ url: this.url } = await this.csms.start());
    this.csms.on('close', (cp, code, reason) => {
      if (cp !== this.cp) return;
      this.breaks.push(this.csms.mark());
      if (process.env.CRASH_DUMP) this.log.push(`csms close at seq ${this.csms.mark()}: ${code} ${reason}`);
    });
    if (process.env.CRASH_DUMP)
      this.csms.on('connection', () => this.log.push(`csms connection at seq ${this.csms.mark()}`));
  }

  async stop(): Promise<void> {
    if (this.daemon && this.daemon.child.exitCode === null) this.daemon.child.kill('SIGKILL');
    await this.daemon?.exitCode();
    await this.csms.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  config(): Record<string, unknown> {
    return {
      chargePointId: this.cp,
      identity: { vendor: 'V', model: 'M' },
      csms: {
        url: this.url,
        callTimeoutSeconds: 5,
        bootRetrySeconds: 1,
        reconnect: { initialSeconds: 0.05, maxSeconds: 0.2 },
      },
      stateDir: join(this.dir, 'state'),
      cli: { socket: this.socket },
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
        ...this.opts.ocpp,
      },
    };
  }

  /** A new life of the daemon on the run's state directory. */
  life(): DaemonLife {
    const life = new DaemonLife(this);
    this.daemon = life.daemon;
    return life;
  }

  /**
   * Lives of the daemon until `kills` SIGKILLs happened (fails the test if the budget runs out first), each doing what
   * `plan` picks: killed while booting, or booted and then a local-list update and an online
   * session, an offline session, or an online session, each killed at a random frame. Returns how
   * many lives each plan got.
   */
  async killLoop(opts: {
    kills: number;
    budgetMs: number;
    plan: (rng: Rng) => LifePlan;
  }): Promise<Partial<Record<LifePlan, number>>> {
    const { rng, csms } = this;
    const { label } = this.opts;
    const deadline = Date.now() + opts.budgetMs;
    const lives: Partial<Record<LifePlan, number>> = {};
    let n = 0;
    while (this.kills.length < opts.kills && Date.now() < deadline) {
      n += 1;
      const life = this.life();
      const plan = opts.plan(rng);
      lives[plan] = (lives[plan] ?? 0) + 1;
      try {
        if (plan === 'boot') {
          life.killAfterFrames(rng.int(1, 12), 'booting');
          await life.booted();
        } else {
          await life.booted();
          if (plan === 'list') await this.localListUpdate(life);
          if (plan === 'offline') await this.offlineSession(life, n);
          else {
            // Counted on the session's own frames: the security events every boot queues (one per
            // life, delivered ahead of the session's messages) would otherwise use up the window
            // before the card, and a run of short lives would start hardly any transaction.
            life.killAfterFrames(rng.int(1, 16), 'online session', securityEventFrames());
            await this.onlineSession(life, n);
          }
        }
      } catch (err) {
        if (!(err instanceof Killed))
          throw new Error(
            `${label}, iteration ${n}: ${(err as Error).message}\n${this.log.slice(-5).join('\n')}`,
          );
      } finally {
        csms.refuseConnections(false);
      }
      await this.bury(life, n);
    }
    expect(
      this.kills.length,
      `${label}: only ${this.kills.length} kills in the time budget`,
    ).toBeGreaterThanOrEqual(opts.kills);
    return lives;
  }

  /** Ends `life` (SIGKILL if still running), keeps its interesting log lines, waits for the disconnect. */
  async bury(life: DaemonLife, n: number): Promise<void> {
    await life.end();
    if (process.env.CRASH_DUMP)
      for (const l of life.daemon.lines)
        if (/connect|closed|stop|power|outbox|answer|fail/i.test(String(l.msg) + String(l.module)))
          this.log.push(`  daemon ${n}: ${JSON.stringify(l)}`);
    await this.csms.waitForDisconnect(this.cp, { timeoutMs: WAIT_MS });
  }

  /** A session driven online: card, start, maybe meter values, stop by card or by unplugging. */
  async onlineSession(life: DaemonLife, n: number): Promise<void> {
    const { rng } = this;
    const connectorId = rng.pick([1, 2]);
    const idTag = this.cardFor(n);
    const mark = this.csms.mark();
    await life.ctl('sim.plug', connectorId);
    await life.call(
      'StatusNotification',
      mark,
      (p: { connectorId: number; status: string }) =>
        p.connectorId === connectorId && p.status === 'Preparing',
    );
    await life.ctl('sim.swipe', idTag);
    await life.call('StartTransaction', mark, (p: StartReq) => p.idTag === idTag);
    if (rng.chance(0.35))
      await life.call('MeterValues', mark, (p: MeterValuesReq) => p.connectorId === connectorId);
    if (rng.chance(0.5)) await life.ctl('sim.swipe', idTag);
    else await life.ctl('sim.unplug', connectorId);
    await life.call('StopTransaction', mark);
    await life.ctl('sim.unplug', connectorId);
  }

  /** A session while the central system is unreachable; killed offline or while delivering after it. */
  async offlineSession(life: DaemonLife, n: number): Promise<void> {
    const { rng, csms } = this;
    const connectorId = rng.pick([1, 2]);
    const idTag = this.cardFor(n);
    const actions: Array<() => Promise<void>> = [
      () => life.ctl('sim.plug', connectorId),
      () => life.ctl('sim.swipe', idTag),
      () => (rng.chance(0.5) ? life.ctl('sim.swipe', idTag) : life.ctl('sim.unplug', connectorId)),
      () => life.ctl('sim.unplug', connectorId),
    ];
    const closed = life.step(csms.waitForDisconnect(this.cp, { timeoutMs: WAIT_MS }));
    csms.refuseConnections(true);
    if (csms.isConnected(this.cp)) csms.dropConnection(this.cp);
    await closed;
    const killAt = rng.chance(0.5) ? rng.int(1, actions.length) : undefined;
    for (const [i, action] of actions.entries()) {
      await action();
      if (killAt === i + 1) {
        csms.refuseConnections(false);
        life.kill(`offline, after action ${killAt}`);
        throw new Killed();
      }
    }
    // Reconnect and die while the queue is being delivered.
    life.killAfterFrames(rng.int(1, 10), 'reconnecting with a queue');
    csms.refuseConnections(false);
    await life.call('StopTransaction', csms.mark());
  }

  /**
   * The central system replaces the local list (a Full update; version v holds the cards of
   * `listEntries(v)`), and the daemon may die while it applies it or before the answer leaves.
   */
  async localListUpdate(life: DaemonLife): Promise<void> {
    const version = this.listVersionsSent.size + 1;
    this.listVersionsSent.add(version);
    // Killed while applying it or before its answer leaves, or not at all (then the next step's kill).
    if (this.rng.chance(0.6)) life.killAfterFrames(this.rng.int(1, 2), `local list version ${version}`);
    const localAuthorizationList = listEntries(version).map((idTag) => ({
      idTag,
      idTagInfo: { status: 'Accepted' },
    }));
    const answer = await life.step(
      this.csms.call<{ status: string }>(
        this.cp,
        'SendLocalList',
        { listVersion: version, updateType: 'Full', localAuthorizationList },
        { timeoutMs: WAIT_MS },
      ),
    );
    expect(answer.status, `${this.opts.label}: SendLocalList version ${version}`).toBe('Accepted');
    this.lastListAccepted = version;
  }

  /**
   * The last life: no kill. Everything the store holds must reach the central system, the queue ends
   * empty, the local list is one whole version sent, and the audit holds.
   */
  async finish(): Promise<{ rows: TxRow[]; report: AuditReport }> {
    const last = this.life();
    await last.booted();
    return this.settle(last);
  }

  /**
   * Waits until the central system has the StopTransaction of every stored transaction (all must be
   * stopped), stops `life` gracefully, and audits: queue empty, local list whole, transactions
   * delivered once (but for the allowed copies), in order, metered monotonically.
   */
  async settle(life: DaemonLife): Promise<{ rows: TxRow[]; report: AuditReport }> {
    const { label } = this.opts;
    const rows = readTransactions(this.dbFile);
    expect(
      rows.every((r) => r.stopped_at !== null),
      `${label}: a transaction left open`,
    ).toBe(true);
    for (const row of rows)
      await this.csms.waitForFrame(
        this.cp,
        (r) =>
          r.direction === 'in' &&
          r.message?.type === 'call' &&
          r.message.action === 'StopTransaction' &&
          stopReceived(this.csms.frames, this.cp, row),
        { timeoutMs: WAIT_MS * 2, what: `StopTransaction of local transaction ${row.local_id} (${label})` },
      );
    life.daemon.child.kill('SIGTERM');
    expect(await life.daemon.exitCode()).toBe(0);

    const counts = queueCounts(this.dbFile);
    expect([counts.outbox, counts.deadLetters], `${label}: outbox and dead letters after the run`).toEqual([
      0, 0,
    ]);
    this.checkLocalList();
    if (process.env.CRASH_DUMP)
      writeFileSync(
        process.env.CRASH_DUMP,
        [...this.log, ...this.csms.frames.map((f) => `${f.seq} ${f.direction} ${f.text.slice(0, 200)}`)].join(
          '\n',
        ),
      );
    const finalRows = readTransactions(this.dbFile);
    const report = auditTransactions({
      frames: this.csms.frames,
      cp: this.cp,
      rows: finalRows,
      breaks: this.breaks,
      label,
    });
    return { rows: finalRows, report };
  }

  /** Half the sessions use a card of the current local list, the others a card nobody knows. */
  private cardFor(n: number): string {
    const list = listEntries(this.lastListAccepted);
    return this.lastListAccepted > 0 && this.rng.chance(0.5) ? this.rng.pick(list) : `CR${n}`;
  }

  /** A list update is one SQL transaction: the store holds one whole version, never a mix. */
  private checkLocalList(): void {
    if (this.listVersionsSent.size === 0) return;
    const { label } = this.opts;
    const db = new Database(this.dbFile, { readonly: true });
    try {
      const row = db.prepare('SELECT version FROM local_auth_list_version').get() as
        | { version: number }
        | undefined;
      const tags = (db.prepare('SELECT id_tag FROM local_auth_list').all() as Array<{ id_tag: string }>)
        .map((r) => r.id_tag)
        .sort();
      const version = row?.version ?? 0;
      expect(version, `${label}: local list version below the last one Accepted`).toBeGreaterThanOrEqual(
        this.lastListAccepted,
      );
      // Every update cut by a kill before its commit: the store still holds the list it started with (none).
      if (version === 0) {
        expect(tags, `${label}: local list entries while no version was ever stored`).toEqual([]);
        return;
      }
      expect(this.listVersionsSent.has(version), `${label}: local list version ${version} never sent`).toBe(
        true,
      );
      expect(tags, `${label}: local list entries of version ${version}`).toEqual(
        [...listEntries(version)].sort(),
      );
    } finally {
      db.close();
    }
  }
}

/** A predicate for the frames of SecurityEventNotification calls and of the answers to them. */
function securityEventFrames(): (r: FrameRecord) => boolean {
  const ids = new Set<string>();
  return ({ message }) => {
    if (message?.type === 'call') {
      if (message.action !== 'SecurityEventNotification') return false;
      ids.add(message.id);
      return true;
    }
    return message !== undefined && ids.has(message.id);
  };
}

/** The cards of local list version `v`: one to five, named after the version. */
export function listEntries(v: number): string[] {
  return Array.from({ length: (v % 5) + 1 }, (_, i) => `LL${v}-${i}`);
}

/** One life of the daemon: everything it does is raced against its death. */
export class DaemonLife {
  readonly daemon: DaemonProcess;
  readonly spawnedAt: number;
  private dead = false;
  private readonly exited: Promise<void>;
  private detachKiller: (() => void) | undefined;

  constructor(private readonly run: CrashRun) {
    this.daemon = DaemonProcess.withConfig(run.dir, run.config());
    this.spawnedAt = run.csms.mark();
    this.exited = this.daemon.exitCode().then(() => {
      this.dead = true;
    });
  }

  kill(why: string): void {
    const child = this.daemon.child;
    if (child.exitCode !== null || child.signalCode !== null || child.killed) return;
    const { csms, kills, log } = this.run;
    kills.push(csms.mark());
    log.push(`kill #${kills.length} at seq ${csms.mark()}: ${why}`);
    child.kill('SIGKILL');
  }

  /** SIGKILL as the n-th frame from or to this charge point is recorded, not counting `skip`'s. */
  killAfterFrames(n: number, phase: string, skip: (r: FrameRecord) => boolean = () => false): void {
    const { csms, cp } = this.run;
    let seen = 0;
    const onFrame = (r: FrameRecord) => {
      if (r.chargePointId !== cp || skip(r) || ++seen < n) return;
      const what = r.message?.type === 'call' ? r.message.action : r.message?.type;
      this.kill(`${phase}, frame ${n} (${r.direction} ${what})`);
      detach();
    };
    const detach = () => csms.off('frame', onFrame);
    this.detachKiller?.();
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
    const socket = this.run.socket;
    if (method === 'sim.swipe') await this.step(request(socket, method, { idTag: String(arg) }));
    else await this.step(request(socket, method, { connectorId: Number(arg) }));
  }

  // biome-ignore lint/suspicious/noExplicitAny: lets predicates read payload fields, as DevCsms.waitForCall does
  call<P = any>(action: string, since: number, where: (p: P) => boolean = () => true) {
    return this.step(this.run.csms.waitForCall(this.run.cp, action, { since, timeoutMs: WAIT_MS, where }));
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
