/**
 * `npm run bench`: the development central system (this process) against the built daemon
 * (a child process, as on the board) and, in the same run, against the floor (`bench-floor.ts`, a
 * bare `ws` charge point). Prints one JSON document of figures; targets in the README.
 *
 * Options: `--rounds <n>` (default 7; each round boots every charge point afresh, figures are the
 * medians over the rounds), `--only-compare` (skip every figure after the comparison with the floor),
 * `--only-transfer` (only the file transfer figures, scripts/bench-transfer.ts),
 * `--only-smart-charging` (only the smart-charging figures, scripts/bench-smart-charging.ts),
 * `--cpu-prof <dir>` (write a CPU profile of each daemon run into <dir>).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { request } from '../src/cli/client.js';
import { DevCsms } from '../test/csms/server.js';
import { Mosquitto } from '../test/support/mosquitto.js';
import { benchAuthorization } from './bench-auth.js';
import { benchCertificates } from './bench-certificates.js';
import { benchLimitEvaluation } from './bench-charging-limit.js';
import {
  CP,
  type DaemonOptions,
  floorTarget,
  measureRound,
  oursTarget,
  rssMb,
  settle,
  spawnDaemon,
  statusesDone,
  stopProcess,
  timeCalls,
  timeCommits,
} from './bench-compare.js';
import { benchUnderFaults, FAULT_FIGURES, FAULT_TARGETS_MS, type FaultFigures } from './bench-faults.js';
import {
  type Comparable,
  compare,
  floorAgainstItself,
  median,
  medianStats,
  type Ratio,
  type Stats,
} from './bench-figures.js';
import { benchRunsAlone } from './bench-lock.js';
import { benchMqttPublish } from './bench-mqtt.js';
import { BACKLOG_RSS_TARGET_MB, queueDrain, queuedBacklog } from './bench-queue.js';
import { benchSmartCharging, type SmartChargingFigures } from './bench-smart-charging.js';
import { benchTransfer, TRANSFER_RSS_TARGET_MB, type TransferFigures } from './bench-transfer.js';

/**
 * Rounds by default: with 7, two runs of the same floor agree within a few percent on the hot
 * calls; with 3 they did not within the 1.3x target (README, Benchmark, gives the figures).
 */
const DEFAULT_ROUNDS = 7;
const CALLS = 1000;
const SESSIONS = 200;
/** Durable commits timed per round: what one sync costs on this disk, beside the durable floor. */
const COMMITS = 200;
/** Issue 10's targets: the daemon's size after boot, and the smart-charging calls' p99. */
const RSS_AFTER_BOOT_TARGET_MB = 70;
const GET_COMPOSITE_SCHEDULE_P99_TARGET_MS = 2;
const SET_CHARGING_PROFILE_P99_TARGET_MS = 3;
/** Issue 8's targets, against the floor of the same run: the cold start, and the size after boot. */
const BOOT_RATIO_TARGET = 2;
const RSS_ABOVE_FLOOR_TARGET_MB = 10;
/** Issue 8's targets for the calls: ours / floor for those that keep nothing, else / durable floor. */
const HOT_CALL_RATIO_TARGET = 1.3;
const DURABLE_RATIO_TARGET = 2;
const HOT_CALLS = ['getConfigurationOneKeyP50Ms', 'triggerHeartbeatToHeartbeatReqP50Ms'] as const;
const DURABLE_CALLS = [
  'changeConfigurationP50Ms',
  'remoteStartToStartTransactionP50Ms',
  'remoteStopToStopTransactionP50Ms',
  'firstRemoteStartToStartTransactionMs',
  'firstRemoteStopToStopTransactionMs',
] as const;
const CPCTL = fileURLToPath(new URL('../src/bin/cpctl.js', import.meta.url));
const execFileAsync = promisify(execFile);

interface OursOnly {
  getConfigurationAllKeysMs: Stats;
  controlSocketStatusMs: Stats;
  cpctlStatusJsonProcessMs: Stats;
  simPlugToStatusNotificationMs: Stats;
}

/** Figures only our daemon has: the whole configuration, the technician's commands, the sim board. */
function oursOnly(csms: DevCsms, socket: string) {
  return async (): Promise<OursOnly> => {
    const getConfigurationAllKeysMs = await timeCalls(csms, CALLS, () =>
      csms.call(CP, 'GetConfiguration', {}),
    );
    const controlSocketStatusMs = await timeCalls(csms, 200, () => request(socket, 'status', {}));
    const cpctlStatusJsonProcessMs = await timeCalls(csms, 20, () =>
      execFileAsync(CPCTL, ['--socket', socket, 'status', '--json']),
    );
    // Connector 1: the sessions run on connector 2.
    const simPlugToStatusNotificationMs = await timeCalls(csms, 200, async (i) => {
      const plugged = i % 2 === 0;
      const seen = csms.waitForCall(CP, 'StatusNotification', {
        since: csms.mark(),
        where: (p: { connectorId: number; status: string }) =>
          p.connectorId === 1 && p.status === (plugged ? 'Preparing' : 'Available'),
      });
      await request(socket, plugged ? 'sim.plug' : 'sim.unplug', { connectorId: 1 });
      await seen;
    });
    return {
      getConfigurationAllKeysMs,
      controlSocketStatusMs,
      cpctlStatusJsonProcessMs,
      simPlugToStatusNotificationMs,
    };
  };
}

/**
 * The charge points (ours, the floor, the durable floor, and both floors once more), `rounds`
 * times each, each going first in turn. The second run of each floor is compared with the first as
 * ours is (`floorAgainstItself`): the ratios two runs of the same code get in this run.
 */
async function compareWithFloor(
  csms: DevCsms,
  url: string,
  dir: string,
  rounds: number,
  daemon: DaemonOptions,
) {
  const ours: Comparable[] = [];
  const floor: Comparable[] = [];
  const durableFloor: Comparable[] = [];
  const floorAgain: Comparable[] = [];
  const durableFloorAgain: Comparable[] = [];
  const extras: OursOnly[] = [];
  const rssAfterLoad: number[] = [];
  const commits: Stats[] = [];
  // The central system's own first use of its code (its socket server, frame parsing, validators,
  // the waits, and their tiering up) fell in the first round's first charge point, always ours: a
  // first session after boot timed there took a millisecond more. One round of the floor, not
  // counted, warms it for all three.
  await measureRound(csms, url, dir, floorTarget(), { calls: CALLS, sessions: SESSIONS });
  for (let r = 0; r < rounds; r++) {
    const stateDir = join(dir, `live-${r}`);
    const runOurs = async () => {
      const round = await measureRound(csms, url, stateDir, oursTarget(stateDir, daemon), {
        calls: CALLS,
        sessions: SESSIONS,
        extras: oursOnly(csms, join(stateDir, 'cpctl.sock')),
      });
      ours.push(round.figures);
      if (round.extras) extras.push(round.extras);
      rssAfterLoad.push(round.rssAfterLoadMb);
    };
    const runFloor = (database: string | undefined, into: Comparable[]) => async () => {
      const round = await measureRound(csms, url, dir, floorTarget(database), {
        calls: CALLS,
        sessions: SESSIONS,
      });
      into.push(round.figures);
    };
    const runs = [
      runOurs,
      runFloor(undefined, floor),
      runFloor(join(dir, `durable-floor-${r}.db`), durableFloor),
      runFloor(undefined, floorAgain),
      runFloor(join(dir, `durable-floor-again-${r}.db`), durableFloorAgain),
    ];
    for (let i = 0; i < runs.length; i++) await runs[(r + i) % runs.length]?.();
    commits.push(timeCommits(join(dir, `commits-${r}`), COMMITS));
  }
  const oursMedian = (pick: (c: Comparable) => Stats) => medianStats(ours.map(pick));
  const extra = (pick: (o: OursOnly) => Stats) => medianStats(extras.map(pick));
  return {
    // The figures of earlier versions of this report, ours, medians over the rounds.
    coldStartToBootNotificationMs: median(ours.map((c) => c.coldStartToBootNotificationMs)),
    rssAfterBootMb: median(ours.map((c) => c.rssAfterBootMb)),
    rssAfterLoadMb: median(rssAfterLoad),
    getConfigurationOneKeyMs: oursMedian((c) => c.getConfigurationOneKeyMs),
    getConfigurationAllKeysMs: extra((o) => o.getConfigurationAllKeysMs),
    changeConfigurationMs: oursMedian((c) => c.changeConfigurationMs),
    triggerHeartbeatToHeartbeatReqMs: oursMedian((c) => c.triggerHeartbeatToHeartbeatReqMs),
    controlSocketStatusMs: extra((o) => o.controlSocketStatusMs),
    cpctlStatusJsonProcessMs: extra((o) => o.cpctlStatusJsonProcessMs),
    simPlugToStatusNotificationMs: extra((o) => o.simPlugToStatusNotificationMs),
    firstRemoteStartToStartTransactionMs: median(ours.map((c) => c.firstRemoteStartToStartTransactionMs)),
    // One sample per round each, so a median of three moves with one slow disk sync: every round's.
    firstSessionByRound: Object.fromEntries(
      Object.entries({ ours, floor, durableFloor }).map(([name, rounds]) => [
        name,
        rounds.map((c) => [c.firstRemoteStartToStartTransactionMs, c.firstRemoteStopToStopTransactionMs]),
      ]),
    ),
    remoteStartToStartTransactionMs: oursMedian((c) => c.remoteStartToStartTransactionMs),
    remoteStopToStopTransactionMs: oursMedian((c) => c.remoteStopToStopTransactionMs),
    sqliteFullCommitMs: medianStats(commits),
    versusFloor: compare(ours, floor, durableFloor),
    floorAgainstItself: floorAgainstItself(floorAgain, durableFloorAgain, floor, durableFloor),
  };
}

/**
 * The daemon as shipped with everything on: the OCPP frame trace (on by default) and the MQTT
 * bridge to a real broker. Its size after boot, and a state change's way to an MQTT subscriber.
 */
async function withMqtt(csms: DevCsms, url: string, dir: string) {
  const stateDir = join(dir, 'mqtt');
  const broker = await Mosquitto.start();
  try {
    csms.clearFrames();
    const child = spawnDaemon(url, stateDir, { mqttUrl: broker.url });
    await statusesDone(csms);
    await settle();
    const rssWithMqttAndTraceMb = rssMb(child.pid ?? 0);
    const publish = await benchMqttPublish({
      brokerUrl: broker.url,
      socket: join(stateDir, 'cpctl.sock'),
      prefix: `chargepoint/${CP}/`,
    });
    await stopProcess(child);
    return {
      rssWithMqttAndTraceMb,
      mqttStatePublishP50Ms: publish.mqttStatePublishP50Ms,
      mqttStatePublishP99Ms: publish.mqttStatePublishP99Ms,
      mqttPublishRounds: publish.rounds,
    };
  } finally {
    await broker.dispose();
  }
}

/** A 1,000,000-entry local list: updates and decisions on the store, then a daemon's size with it. */
async function largeList(csms: DevCsms, url: string, dir: string) {
  const stateDir = join(dir, 'list');
  const figures = await benchAuthorization(stateDir);
  csms.clearFrames();
  const child = spawnDaemon(url, stateDir);
  await statusesDone(csms);
  await settle();
  const daemonRssWith1MListMb = rssMb(child.pid ?? 0);
  await stopProcess(child);
  return { ...figures, daemonRssWith1MListMb };
}

async function main(): Promise<void> {
  if (!benchRunsAlone('bench')) return;
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: String(DEFAULT_ROUNDS) },
      'only-compare': { type: 'boolean', default: false },
      'only-transfer': { type: 'boolean', default: false },
      'only-smart-charging': { type: 'boolean', default: false },
      'cpu-prof': { type: 'string' },
    },
  });
  if (values['only-transfer']) {
    const transfer = await benchTransfer();
    const report = { machine: { cpus: cpus().length, node: process.version }, ...transfer };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    process.stderr.write(targetTable(undefined, {}, undefined, undefined, undefined, transfer));
    return;
  }
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer`);
  const profileDir = values['cpu-prof'];
  const daemon: DaemonOptions = profileDir
    ? { nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${resolve(profileDir)}`, '--cpu-prof-interval=100'] }
    : {};
  const dir = mkdtempSync(join(tmpdir(), 'cp-bench-'));
  const csms = new DevCsms({ rules: { boot: { status: 'Accepted', interval: 3600 } } });
  const { url } = await csms.start();
  try {
    if (values['only-smart-charging']) {
      const smartCharging = await benchSmartCharging(csms, url, dir, rounds, daemon);
      const report = { machine: { cpus: cpus().length, node: process.version }, rounds, ...smartCharging };
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      process.stderr.write(targetTable(undefined, {}, undefined, undefined, smartCharging));
      return;
    }
    const live = await compareWithFloor(csms, url, dir, rounds, daemon);
    // The other latency figures next, before the phases that write hundreds of megabytes (the
    // 100,000-message queue, the 1,000,000-entry list): the kernel writes those back for seconds
    // after, and a p99 taken meanwhile measures that writeback (SetChargingProfile's p99 doubled).
    const smartCharging = values['only-compare']
      ? undefined
      : await benchSmartCharging(csms, url, dir, rounds, daemon);
    const drain = values['only-compare'] ? undefined : await queueDrain(csms, url, dir);
    const backlog = values['only-compare'] ? undefined : await queuedBacklog(csms, url, dir);
    const mqtt = values['only-compare'] ? undefined : await withMqtt(csms, url, dir);
    const list = values['only-compare'] ? undefined : await largeList(csms, url, dir);
    const faults = values['only-compare'] ? undefined : await benchUnderFaults(dir);
    const limitEvaluation = values['only-compare'] ? undefined : await benchLimitEvaluation(csms, url, dir);
    const certificates = values['only-compare'] ? undefined : await benchCertificates();
    const transfer = values['only-compare'] ? undefined : await benchTransfer();
    const report = {
      machine: { cpus: cpus().length, node: process.version },
      rounds,
      callsPerRound: CALLS,
      sessionsPerRound: SESSIONS,
      ...live,
      ...drain,
      ...backlog,
      ...mqtt,
      ...list,
      ...faults,
      ...smartCharging,
      ...limitEvaluation,
      ...certificates,
      ...transfer,
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    process.stderr.write(table(live.versusFloor, live.floorAgainstItself));
    process.stderr.write(
      targetTable(live.rssAfterBootMb, live.versusFloor, backlog, faults, smartCharging, transfer),
    );
  } finally {
    await csms.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The comparison, readable at a terminal (stderr, so stdout stays one JSON document). */
function table(rows: Record<string, Ratio>, floorAgainstItself: Record<string, number>): string {
  const width = Math.max(...Object.keys(rows).map((name) => name.length));
  const cell = (value: string | number | undefined, size: number) => String(value ?? '').padStart(size);
  const times = (ratio: number | undefined) => (ratio === undefined ? undefined : `${ratio.toFixed(2)}x`);
  const lines = Object.entries(rows).map(
    ([name, r]) =>
      `${name.padEnd(width)}  ${cell(r.ours, 9)}  ${cell(r.floor, 9)}  ${cell(times(r.ratio), 7)}  ${cell(r.durableFloor, 12)}  ${cell(times(r.ratioToDurableFloor), 9)}  ${cell(times(floorAgainstItself[name]), 11)}`,
  );
  const head = `${'figure'.padEnd(width)}  ${cell('ours', 9)}  ${cell('floor', 9)}  ${cell('ratio', 7)}  ${cell('durable floor', 12)}  ${cell('ratio', 9)}  ${cell('floor/floor', 11)}`;
  return `${head}\n${lines.join('\n')}\n`;
}

await main();

/** The figures with a target of their own (README), as measured, also on stderr. */
function targetTable(
  rssAfterBootMb: number | undefined,
  versusFloor: Record<string, Ratio>,
  backlog: { daemonRssWith100kQueuedMb: number } | undefined,
  faults: FaultFigures | undefined,
  smartCharging: SmartChargingFigures | undefined,
  transfer?: TransferFigures,
): string {
  const rows: Array<[string, number, number]> = [];
  if (rssAfterBootMb !== undefined) rows.push(['rssAfterBootMb', rssAfterBootMb, RSS_AFTER_BOOT_TARGET_MB]);
  const boot = versusFloor.coldStartToBootNotificationMs;
  const rss = versusFloor.rssAfterBootMb;
  if (boot) rows.push(['coldStartToBootNotificationMs (x floor)', boot.ratio, BOOT_RATIO_TARGET]);
  if (rss)
    rows.push([
      'rssAfterBootMb (MB above floor)',
      Math.round((rss.ours - rss.floor) * 10) / 10,
      RSS_ABOVE_FLOOR_TARGET_MB,
    ]);
  for (const name of HOT_CALLS) {
    const ratio = versusFloor[name]?.ratio;
    if (ratio !== undefined) rows.push([`${name} (x floor)`, ratio, HOT_CALL_RATIO_TARGET]);
  }
  for (const name of DURABLE_CALLS) {
    const ratio = versusFloor[name]?.ratioToDurableFloor;
    if (ratio !== undefined) rows.push([`${name} (x durable floor)`, ratio, DURABLE_RATIO_TARGET]);
  }
  if (backlog)
    rows.push(['daemonRssWith100kQueuedMb', backlog.daemonRssWith100kQueuedMb, BACKLOG_RSS_TARGET_MB]);
  if (faults)
    rows.push(
      ...FAULT_FIGURES.map((name): [string, number, number] => [
        `${name} (max)`,
        faults[name].max,
        FAULT_TARGETS_MS[name],
      ]),
    );
  if (smartCharging)
    rows.push(
      [
        'getCompositeScheduleDay20ProfilesMs (p99)',
        smartCharging.getCompositeScheduleDay20ProfilesMs.p99,
        GET_COMPOSITE_SCHEDULE_P99_TARGET_MS,
      ],
      [
        'setChargingProfileMs (p99)',
        smartCharging.setChargingProfileMs.p99,
        SET_CHARGING_PROFILE_P99_TARGET_MS,
      ],
    );
  if (transfer)
    rows.push([
      'download50MbPeakRssAboveIdleMb (daemon)',
      transfer.download50MbPeakRssAboveIdleMb,
      TRANSFER_RSS_TARGET_MB,
    ]);
  const width = Math.max(...rows.map(([name]) => name.length));
  const cell = (value: string | number, size: number) => String(value).padStart(size);
  const lines = rows.map(
    ([name, value, target]) =>
      `${name.padEnd(width)}  ${cell(value, 9)}  ${cell(`<= ${target}`, 9)}  ${cell(value <= target ? 'met' : 'MISSED', 6)}`,
  );
  return `\n${'figure'.padEnd(width)}  ${cell('measured', 9)}  ${cell('target', 9)}  ${cell('', 6)}\n${lines.join('\n')}\n`;
}
