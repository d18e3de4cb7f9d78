/**
 * `npm run bench`: the development central system (this process) against the built daemon
 * (a child process, as on the board). Prints one JSON document of figures; targets in the README.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { request } from '../src/cli/client.js';
import { silentLogger } from '../src/log.js';
import { openStore } from '../src/store/index.js';
import { DevCsms } from '../test/csms/server.js';
import { Mosquitto } from '../test/support/mosquitto.js';
import { benchAuthorization } from './bench-auth.js';
import { benchMqttPublish } from './bench-mqtt.js';

const CP = 'CP-BENCH-01';
const ROUNDS = 1000;
const QUEUED = 10_000;
const DAEMON = fileURLToPath(new URL('../src/bin/chargepointd.js', import.meta.url));
const CPCTL = fileURLToPath(new URL('../src/bin/cpctl.js', import.meta.url));
const execFileAsync = promisify(execFile);

interface Stats {
  p50: number;
  p99: number;
  max: number;
}

function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  const round = (n: number) => Math.round(n * 1000) / 1000;
  return { p50: round(at(0.5)), p99: round(at(0.99)), max: round(sorted.at(-1) ?? Number.NaN) };
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
  return Math.round((kb / 1024) * 10) / 10;
}

async function timeCalls(csms: DevCsms, count: number, run: (i: number) => Promise<unknown>): Promise<Stats> {
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

/** A daemon on `stateDir`, spawned as an executable exactly as the service manager runs it. */
function spawnDaemon(url: string, stateDir: string, mqttUrl?: string): ChildProcess {
  const configFile = join(stateDir, '..', `${CP}-${Date.now()}.json`);
  writeFileSync(
    configFile,
    JSON.stringify({
      chargePointId: CP,
      identity: { vendor: 'Bench', model: 'SimBoard' },
      csms: { url },
      stateDir,
      board: 'sim',
      cli: { socket: join(stateDir, 'cpctl.sock') },
      ocpp: { HeartbeatInterval: 3600, WebSocketPingInterval: 0, MeterValueSampleInterval: 0 },
      ...(mqttUrl ? { mqtt: { url: mqttUrl } } : {}),
      log: { level: 'warn' },
    }),
  );
  return spawn(DAEMON, ['--config', configFile], { stdio: ['ignore', 'ignore', 'inherit'] });
}

async function stopDaemon(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

async function statusesDone(csms: DevCsms, since = 0): Promise<void> {
  await csms.waitForCall(CP, 'StatusNotification', {
    since,
    where: (p: { connectorId: number }) => p.connectorId === 2,
  });
}

/** Boot, idle size, protocol latencies, the technician's commands, charging sessions. */
async function liveDaemon(csms: DevCsms, url: string, dir: string) {
  const stateDir = join(dir, 'live');
  const bootSeen = csms.waitForCall(CP, 'BootNotification', { timeoutMs: 15_000 });
  const started = performance.now();
  const child = spawnDaemon(url, stateDir);
  const boot = await bootSeen;
  const coldStartMs = Math.round(boot.record.at - (performance.timeOrigin + started));
  await statusesDone(csms);
  // Let start-up work (lazy schema compiles, first GC) settle before reading the resident size.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const rssAfterBootMb = rssMb(child.pid ?? 0);

  const getConfiguration = await timeCalls(csms, ROUNDS, () => csms.call(CP, 'GetConfiguration', {}));
  const changeConfiguration = await timeCalls(csms, ROUNDS, (i) =>
    csms.call(CP, 'ChangeConfiguration', { key: 'MeterValueSampleInterval', value: String(10 + (i % 50)) }),
  );
  const triggerHeartbeat = await timeCalls(csms, ROUNDS, async () => {
    const heartbeat = csms.waitForCall(CP, 'Heartbeat', { since: csms.mark() });
    await csms.call(CP, 'TriggerMessage', { requestedMessage: 'Heartbeat' });
    await heartbeat;
  });

  const socket = join(stateDir, 'cpctl.sock');
  const statusSocket = await timeCalls(csms, 200, () => request(socket, 'status', {}));
  const statusCpctl = await timeCalls(csms, 20, () =>
    execFileAsync(CPCTL, ['--socket', socket, 'status', '--json']),
  );
  const simPlug = await timeCalls(csms, 200, async (i) => {
    const plugged = i % 2 === 0;
    const seen = csms.waitForCall(CP, 'StatusNotification', {
      since: csms.mark(),
      where: (p: { connectorId: number; status: string }) =>
        p.connectorId === 1 && p.status === (plugged ? 'Preparing' : 'Available'),
    });
    await request(socket, plugged ? 'sim.plug' : 'sim.unplug', { connectorId: 1 });
    await seen;
  });

  // Sessions: the EV is plugged, the central system starts and stops remotely.
  await request(socket, 'sim.plug', { connectorId: 2 });
  const remoteStart: number[] = [];
  const remoteStop: number[] = [];
  for (let i = 0; i < 200; i++) {
    if (i % 50 === 0) csms.clearFrames();
    let mark = csms.mark();
    const startSeen = csms.waitForCall(CP, 'StartTransaction', { since: mark });
    let t = performance.now();
    await csms.call(CP, 'RemoteStartTransaction', { connectorId: 2, idTag: `BENCH${i}` });
    const start = await startSeen;
    remoteStart.push(performance.now() - t);
    const answer = await csms.waitForFrame(
      CP,
      (f) => f.direction === 'out' && f.message?.type === 'result' && f.message.id === start.id,
      { since: mark },
    );
    const transactionId = (answer.message as { payload: { transactionId: number } }).payload.transactionId;
    await csms.waitForCall(CP, 'StatusNotification', {
      since: mark,
      where: (p: { connectorId: number; status: string }) => p.connectorId === 2 && p.status === 'Charging',
    });
    mark = csms.mark();
    const stopSeen = csms.waitForCall(CP, 'StopTransaction', { since: mark });
    t = performance.now();
    await csms.call(CP, 'RemoteStopTransaction', { transactionId });
    await stopSeen;
    remoteStop.push(performance.now() - t);
    // Back to Preparing (cable still in the EV) before the next remote start.
    await request(socket, 'sim.unplug', { connectorId: 2 });
    await csms.waitForCall(CP, 'StatusNotification', {
      since: mark,
      where: (p: { connectorId: number; status: string }) => p.connectorId === 2 && p.status === 'Available',
    });
    await request(socket, 'sim.plug', { connectorId: 2 });
  }
  const rssAfterLoadMb = rssMb(child.pid ?? 0);
  await stopDaemon(child);
  return {
    coldStartToBootNotificationMs: coldStartMs,
    rssAfterBootMb,
    rssAfterLoadMb,
    getConfigurationAllKeysMs: getConfiguration,
    changeConfigurationMs: changeConfiguration,
    triggerHeartbeatToHeartbeatReqMs: triggerHeartbeat,
    controlSocketStatusMs: statusSocket,
    cpctlStatusJsonProcessMs: statusCpctl,
    simPlugToStatusNotificationMs: simPlug,
    remoteStartToStartTransactionMs: stats(remoteStart),
    remoteStopToStopTransactionMs: stats(remoteStop),
  };
}

/** 10,000 transaction messages queued while offline, drained after the daemon (re)connects. */
async function queueDrain(csms: DevCsms, url: string, dir: string) {
  const stateDir = join(dir, 'drain');
  const store = openStore({ dir: stateDir, log: silentLogger() });
  store.db.transaction(() => {
    const tx = store.db
      .prepare(
        `INSERT INTO transactions (connector_id, id_tag, transaction_id, meter_start, started_at, last_meter, last_meter_at, stop_reason, meter_stop, stopped_at)
         VALUES (1, 'QUEUED', 4242, 0, ?, 0, ?, 'Local', 0, ?)`,
      )
      .run(new Date().toISOString(), new Date().toISOString(), new Date().toISOString());
    const insert = store.db.prepare(
      "INSERT INTO outbox (action, local_tx_id, payload, created_at) VALUES ('MeterValues', ?, ?, ?)",
    );
    for (let i = 0; i < QUEUED; i++) {
      const at = new Date(Date.now() - (QUEUED - i) * 1000).toISOString();
      const payload = {
        connectorId: 1,
        meterValue: [
          {
            timestamp: at,
            sampledValue: [{ value: String(i), measurand: 'Energy.Active.Import.Register', unit: 'Wh' }],
          },
        ],
      };
      insert.run(tx.lastInsertRowid, JSON.stringify(payload), at);
    }
  })();
  store.close();
  csms.clearFrames();
  const first = csms.waitForCall(CP, 'MeterValues', { timeoutMs: 30_000 });
  const child = spawnDaemon(url, stateDir);
  const t0 = (await first).record.at;
  let last = 0;
  await new Promise<void>((resolve) => {
    let count = 0;
    const onFrame = (r: {
      chargePointId: string;
      direction: string;
      message?: { type: string; action?: string };
    }) => {
      if (r.direction !== 'in' || r.message?.type !== 'call' || r.message.action !== 'MeterValues') return;
      count++;
      last = Date.now();
      if (count === QUEUED - 1) {
        csms.off('frame', onFrame);
        resolve();
      }
    };
    csms.on('frame', onFrame);
  });
  await stopDaemon(child);
  return {
    queueDrainMessages: QUEUED,
    queueDrainMessagesPerSecond: Math.round((QUEUED / (last - t0)) * 1000),
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
    const child = spawnDaemon(url, stateDir, broker.url);
    await statusesDone(csms);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const rssWithMqttAndTraceMb = rssMb(child.pid ?? 0);
    const publish = await benchMqttPublish({
      brokerUrl: broker.url,
      socket: join(stateDir, 'cpctl.sock'),
      prefix: `chargepoint/${CP}/`,
    });
    await stopDaemon(child);
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
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const daemonRssWith1MListMb = rssMb(child.pid ?? 0);
  await stopDaemon(child);
  return { ...figures, daemonRssWith1MListMb };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cp-bench-'));
  const csms = new DevCsms({ rules: { boot: { status: 'Accepted', interval: 3600 } } });
  const { url } = await csms.start();
  try {
    const live = await liveDaemon(csms, url, dir);
    const drain = await queueDrain(csms, url, dir);
    const mqtt = await withMqtt(csms, url, dir);
    const list = await largeList(csms, url, dir);
    const report = {
      machine: { cpus: cpus().length, node: process.version },
      rounds: ROUNDS,
      ...live,
      ...drain,
      ...mqtt,
      ...list,
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } finally {
    await csms.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
