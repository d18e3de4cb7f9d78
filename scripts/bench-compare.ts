/**
 * The figures the bench takes of two charge points on the same central system: ours (the built
 * daemon) and the floor (`bench-floor.ts`, a bare `ws` charge point). Each is spawned fresh, as
 * its own process, for every round; the same code times both, so ours / floor is what our runtime
 * costs beyond Node, the socket and the central system.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from '../src/cli/client.js';
import { errorMessage } from '../src/error-message.js';
import { silentLogger } from '../src/log.js';
import { openStore } from '../src/store/index.js';
import type { DevCsms } from '../test/csms/server.js';
import { type Comparable, round3, type Stats, stats } from './bench-figures.js';

export const CP = 'CP-BENCH-01';
export const FLOOR_CP = 'CP-FLOOR-01';
const DURABLE_FLOOR_CP = 'CP-DURABLE-FLOOR-01';
export const DAEMON = fileURLToPath(new URL('../src/bin/chargepointd.js', import.meta.url));
export const FLOOR = fileURLToPath(new URL('./bench-floor.js', import.meta.url));
/** The Node flags of the daemon's shebang line: the floor runs on the same heap settings. */
export const DAEMON_NODE_FLAGS = (readFileSync(DAEMON, 'utf8').split('\n', 1)[0] ?? '')
  .split(/\s+/)
  .filter((word) => word.startsWith('--'));
/** Start-up work (lazy compiles, warm-up, the first GC) settles before the resident size is read. */
const SETTLE_MS = 1000;
const SESSION_CONNECTOR = 2;
/** Between two looks at a daemon that is not answering yet. */
const POLL_MS = 20;

/** The process's resident size now (VmRSS), or its peak since the start or the last reset (VmHWM). */
export function rssMb(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1]);
  return Math.round((kb / 1024) * 10) / 10;
}

/**
 * CPU time the process's main thread has run, from /proc/<pid>/schedstat: a boot's cost that the
 * other processes of a busy machine do not stretch, as they stretch its wall-clock time.
 */
export function cpuMs(pid: number): number {
  const ns = Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ', 1)[0]);
  return Math.round(ns / 1e5) / 10;
}

export function settle(ms = SETTLE_MS): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function timeCalls(
  csms: DevCsms,
  count: number,
  run: (i: number) => Promise<unknown>,
): Promise<Stats> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    // The development central system records every frame; keep its memory (and its GC) out of the figures.
    if (i % 100 === 0) csms.clearFrames();
    const start = performance.now();
    await run(i);
    samples.push(performance.now() - start);
  }
  return stats(samples);
}

export interface DaemonOptions {
  mqttUrl?: string;
  /** OCPP configuration keys on top of the bench's own (no heartbeats, no WebSocket pings, no samples). */
  ocpp?: Record<string, string | number | boolean>;
  /** Extra Node flags for the daemon (e.g. `--cpu-prof`); it then runs through `node`, with its shebang's flags. */
  nodeFlags?: string[];
  /** Provisioning sections on top of the bench's own (e.g. `firmware`). */
  config?: Record<string, unknown>;
}

/** The provisioning of a bench charger on the simulated board, before the daemon's or the bench's own. */
export function benchConfig(
  chargePointId: string,
  url: string,
  stateDir: string,
  ocpp: DaemonOptions['ocpp'] = {},
) {
  return {
    chargePointId,
    identity: { vendor: 'Bench', model: 'SimBoard' },
    csms: { url },
    stateDir,
    board: 'sim',
    cli: { socket: join(stateDir, 'cpctl.sock') },
    ocpp: { HeartbeatInterval: 3600, WebSocketPingInterval: 0, MeterValueSampleInterval: 0, ...ocpp },
  };
}

/** A daemon on `stateDir`, spawned as an executable exactly as the service manager runs it. */
export function spawnDaemon(url: string, stateDir: string, opts: DaemonOptions = {}): ChildProcess {
  const configFile = join(stateDir, '..', `${CP}-${Date.now()}.json`);
  writeFileSync(
    configFile,
    JSON.stringify({
      ...benchConfig(CP, url, stateDir, opts.ocpp),
      ...(opts.mqttUrl ? { mqtt: { url: opts.mqttUrl } } : {}),
      log: { level: 'warn' },
      ...opts.config,
    }),
  );
  const stdio: ['ignore', 'ignore', 'inherit'] = ['ignore', 'ignore', 'inherit'];
  if (!opts.nodeFlags?.length) return spawn(DAEMON, ['--config', configFile], { stdio });
  return spawn(process.execPath, [...DAEMON_NODE_FLAGS, ...opts.nodeFlags, DAEMON, '--config', configFile], {
    stdio,
  });
}

/**
 * Resolves once the daemon answers on its control socket (the store is open and the board up),
 * whether or not it reaches a central system.
 */
export async function untilAnswering(socket: string, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      await request(socket, 'version', {});
      return;
    } catch (error) {
      if (performance.now() > deadline) throw new Error(`no answer on ${socket}: ${errorMessage(error)}`);
      await settle(POLL_MS);
    }
  }
}

export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** Every connector reported after the boot was accepted. */
export async function statusesDone(csms: DevCsms, since = 0, timeoutMs?: number): Promise<void> {
  await csms.waitForCall(CP, 'StatusNotification', {
    since,
    where: (p: { connectorId: number }) => p.connectorId === SESSION_CONNECTOR,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });
}

/**
 * The calls the bench times many times over, as the central system sends them to `cp`, each
 * answered (TriggerMessage: once its Heartbeat has arrived too). `resetSampleInterval` puts back
 * what the ChangeConfiguration calls changed.
 */
export function hotCalls(csms: DevCsms, cp: string, timeoutMs?: number) {
  const opts = timeoutMs === undefined ? {} : { timeoutMs };
  const sampleInterval = (value: string) =>
    csms.call(cp, 'ChangeConfiguration', { key: 'MeterValueSampleInterval', value }, opts);
  return {
    getConfiguration: () => csms.call(cp, 'GetConfiguration', { key: ['HeartbeatInterval'] }, opts),
    changeConfiguration: (i: number) => sampleInterval(String(10 + (i % 50))),
    resetSampleInterval: () => sampleInterval('0'),
    async triggerHeartbeat(): Promise<void> {
      const heartbeat = csms.waitForCall(cp, 'Heartbeat', { since: csms.mark(), ...opts });
      await csms.call(cp, 'TriggerMessage', { requestedMessage: 'Heartbeat' }, opts);
      await heartbeat;
    },
  };
}

/** What differs between the two charge points; the timing code is shared. */
export interface Target {
  readonly chargePointId: string;
  spawn(url: string, dir: string): ChildProcess;
  /** After its BootNotification: until it has nothing left to say (ours: every connector's status). */
  settled(csms: DevCsms, bootCallId: string): Promise<void>;
  /** Makes a session startable by RemoteStartTransaction (ours: the EV's cable in, Preparing). */
  readyForSession(csms: DevCsms): Promise<void>;
  /** After StartTransaction was answered: until the session runs (Charging reported). */
  running(csms: DevCsms, since: number): Promise<void>;
  /** After StopTransaction was sent: until the next session can start. */
  afterStop(csms: DevCsms, since: number): Promise<void>;
}

function statusOf(csms: DevCsms, since: number, status: string, chargePointId = CP): Promise<unknown> {
  return csms.waitForCall(chargePointId, 'StatusNotification', {
    since,
    where: (p: { connectorId: number; status: string }) =>
      p.connectorId === SESSION_CONNECTOR && p.status === status,
  });
}

export function oursTarget(stateDir: string, opts: DaemonOptions = {}): Target {
  const socket = join(stateDir, 'cpctl.sock');
  return {
    chargePointId: CP,
    spawn: (url) => spawnDaemon(url, stateDir, opts),
    settled: (csms) => statusesDone(csms),
    async readyForSession(csms) {
      const mark = csms.mark();
      const preparing = statusOf(csms, mark, 'Preparing');
      await request(socket, 'sim.plug', { connectorId: SESSION_CONNECTOR });
      await preparing;
    },
    running: (csms, since) => statusOf(csms, since, 'Charging').then(() => undefined),
    async afterStop(csms, since) {
      // The cable out (Available) and in again (Preparing) before the next remote start.
      await statusOf(csms, since, 'Finishing');
      const available = statusOf(csms, csms.mark(), 'Available');
      await request(socket, 'sim.unplug', { connectorId: SESSION_CONNECTOR });
      await available;
      await this.readyForSession(csms);
    },
  };
}

/**
 * The floor (`bench-floor.ts`); with `databaseFile`, the durable floor: the same charge point
 * committing what it must keep to that file before it acts, one synced commit each, as ours does.
 */
export function floorTarget(databaseFile?: string): Target {
  const chargePointId = databaseFile === undefined ? FLOOR_CP : DURABLE_FLOOR_CP;
  const durable = databaseFile === undefined ? [] : [databaseFile];
  return {
    chargePointId,
    spawn: (url) =>
      spawn(process.execPath, [...DAEMON_NODE_FLAGS, FLOOR, url, chargePointId, ...durable], {
        stdio: ['ignore', 'ignore', 'inherit'],
      }),
    settled: (csms, bootCallId) =>
      csms
        .waitForFrame(chargePointId, (f) => f.direction === 'out' && f.message?.id === bootCallId)
        .then(() => undefined),
    readyForSession: async () => {},
    // Charging reported, as ours reports it: the answer to StartTransaction has been applied (and,
    // durable, committed) before the RemoteStopTransaction comes, for both alike.
    running: (csms, since) => statusOf(csms, since, 'Charging', chargePointId).then(() => undefined),
    afterStop: async () => {},
  };
}

export interface SessionTimes {
  startMs: number;
  stopMs: number;
}

/** One remote session: RemoteStart -> StartTransaction.req, RemoteStop -> StopTransaction.req. */
async function session(csms: DevCsms, target: Target, idTag: string): Promise<SessionTimes> {
  const cp = target.chargePointId;
  let mark = csms.mark();
  const startSeen = csms.waitForCall(cp, 'StartTransaction', { since: mark });
  let t = performance.now();
  await csms.call(cp, 'RemoteStartTransaction', { connectorId: SESSION_CONNECTOR, idTag });
  const start = await startSeen;
  const startMs = performance.now() - t;
  const answer = await csms.waitForFrame(
    cp,
    (f) => f.direction === 'out' && f.message?.type === 'result' && f.message.id === start.id,
    { since: mark },
  );
  const { transactionId } = (answer.message as { payload: { transactionId: number } }).payload;
  await target.running(csms, mark);
  mark = csms.mark();
  const stopSeen = csms.waitForCall(cp, 'StopTransaction', { since: mark });
  t = performance.now();
  await csms.call(cp, 'RemoteStopTransaction', { transactionId });
  await stopSeen;
  const stopMs = performance.now() - t;
  await target.afterStop(csms, mark);
  return { startMs, stopMs };
}

export interface RoundOptions<E> {
  calls: number;
  sessions: number;
  /** Ours only: figures taken on the running charge point before the sessions (it is stopped after). */
  extras?: () => Promise<E>;
}

/** Boots a fresh `target`, takes every comparable figure, stops it. */
export async function measureRound<E extends object>(
  csms: DevCsms,
  url: string,
  dir: string,
  target: Target,
  opts: RoundOptions<E>,
): Promise<{ figures: Comparable; extras: E | undefined; rssAfterLoadMb: number }> {
  const cp = target.chargePointId;
  csms.clearFrames();
  const bootSeen = csms.waitForCall(cp, 'BootNotification', { timeoutMs: 15_000 });
  const started = performance.now();
  const child = target.spawn(url, dir);
  try {
    const boot = await bootSeen;
    const cpuToBootNotificationMs = cpuMs(child.pid ?? 0);
    const coldStartToBootNotificationMs = Math.round(boot.record.at - (performance.timeOrigin + started));
    await target.settled(csms, boot.id);
    // The EV plugged in before the idle second, not after it: ours is plugged over its control
    // socket, and the daemon is still closing that connection (cold code, about a millisecond)
    // when the answer and the Preparing status are in; a first session timed at once paid for it
    // (the floor has no such step). The first RemoteStart now finds it idle, EV waiting.
    await target.readyForSession(csms);
    await settle();
    const rssAfterBootMb = rssMb(child.pid ?? 0);

    const first = await session(csms, target, 'FIRST');

    const { getConfiguration, changeConfiguration, resetSampleInterval, triggerHeartbeat } = hotCalls(
      csms,
      cp,
    );
    const getConfigurationOneKeyMs = await timeCalls(csms, opts.calls, getConfiguration);
    const changeConfigurationMs = await timeCalls(csms, opts.calls, changeConfiguration);
    // Back to no periodic samples, as the sessions below are measured without them.
    await resetSampleInterval();
    const triggerHeartbeatToHeartbeatReqMs = await timeCalls(csms, opts.calls, triggerHeartbeat);
    const extras = await opts.extras?.();

    const starts: number[] = [];
    const stops: number[] = [];
    for (let i = 0; i < opts.sessions; i++) {
      if (i % 50 === 0) csms.clearFrames();
      const times = await session(csms, target, `BENCH${i}`);
      starts.push(times.startMs);
      stops.push(times.stopMs);
    }
    const rssAfterLoadMb = rssMb(child.pid ?? 0);
    const getConfigurationOneKeyWarmMs = await timeCalls(csms, opts.calls, getConfiguration);
    const triggerHeartbeatToHeartbeatReqWarmMs = await timeCalls(csms, opts.calls, triggerHeartbeat);
    return {
      figures: {
        coldStartToBootNotificationMs,
        cpuToBootNotificationMs,
        rssAfterBootMb,
        firstRemoteStartToStartTransactionMs: round3(first.startMs),
        firstRemoteStopToStopTransactionMs: round3(first.stopMs),
        getConfigurationOneKeyMs,
        changeConfigurationMs,
        triggerHeartbeatToHeartbeatReqMs,
        remoteStartToStartTransactionMs: stats(starts),
        remoteStopToStopTransactionMs: stats(stops),
        getConfigurationOneKeyWarmMs,
        triggerHeartbeatToHeartbeatReqWarmMs,
      },
      extras,
      rssAfterLoadMb,
    };
  } finally {
    await stopProcess(child);
  }
}

/**
 * One durable commit on the disk the daemon writes to: a row inserted with the store's own
 * settings (WAL, synchronous=FULL), as a transaction start or a configuration change commits.
 */
export function timeCommits(dir: string, count: number): Stats {
  const store = openStore({ dir, log: silentLogger(), fileName: 'commit-probe.db' });
  try {
    store.db.exec('CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)');
    const insert = store.db.prepare('INSERT INTO probe (payload) VALUES (?)');
    const samples: number[] = [];
    for (let i = 0; i < count; i++) {
      const start = performance.now();
      insert.run(
        `{"connectorId":2,"idTag":"BENCH${i}","meterStart":${i},"timestamp":"${new Date().toISOString()}"}`,
      );
      samples.push(performance.now() - start);
    }
    return stats(samples);
  } finally {
    store.close();
  }
}
