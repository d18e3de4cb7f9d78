/**
 * `npm run bench`: the development central system (this process) against the built daemon
 * (a child process, as on the board). Prints one JSON document of figures; targets in the README.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { request } from '../src/cli/client.js';
import { DevCsms } from '../test/csms/server.js';

const CP = 'CP-BENCH-01';
const ROUNDS = 1000;
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

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cp-bench-'));
  const csms = new DevCsms({ rules: { boot: { status: 'Accepted', interval: 3600 } } });
  const { url } = await csms.start();
  const configFile = join(dir, 'chargepoint.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      chargePointId: CP,
      identity: { vendor: 'Bench', model: 'SimBoard' },
      csms: { url },
      stateDir: join(dir, 'state'),
      board: 'sim',
      cli: { socket: join(dir, 'cpctl.sock') },
      ocpp: { HeartbeatInterval: 3600, WebSocketPingInterval: 0 },
      log: { level: 'warn' },
    }),
  );

  const bootSeen = csms.waitForCall(CP, 'BootNotification', { timeoutMs: 15_000 });
  const started = performance.now();
  // Spawned as an executable, exactly as the service manager runs it (its shebang carries the Node flags).
  const child = spawn(DAEMON, ['--config', configFile], { stdio: ['ignore', 'ignore', 'inherit'] });
  const boot = await bootSeen;
  const coldStartMs = Math.round(boot.record.at - (performance.timeOrigin + started));
  await csms.waitForCall(CP, 'StatusNotification', {
    where: (p: { connectorId: number }) => p.connectorId === 2,
  });
  // Let start-up work (lazy schema compiles, first GC) settle before reading the resident size.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const rssAfterBootMb = rssMb(child.pid ?? 0);

  const getConfiguration = await timeCalls(csms, ROUNDS, () => csms.call(CP, 'GetConfiguration', {}));
  const changeConfiguration = await timeCalls(csms, ROUNDS, (i) =>
    csms.call(CP, 'ChangeConfiguration', { key: 'MeterValueSampleInterval', value: String(10 + (i % 50)) }),
  );
  const triggerHeartbeat = await timeCalls(csms, ROUNDS, async () => {
    const mark = csms.mark();
    const heartbeat = csms.waitForCall(CP, 'Heartbeat', { since: mark });
    await csms.call(CP, 'TriggerMessage', { requestedMessage: 'Heartbeat' });
    await heartbeat;
  });
  const rssAfterLoadMb = rssMb(child.pid ?? 0);

  // Technician's view: the control socket alone, and the whole cpctl process as typed on the board.
  const socket = join(dir, 'cpctl.sock');
  const statusSocket = await timeCalls(csms, 200, () => request(socket, 'status', {}));
  const statusCpctl = await timeCalls(csms, 20, () =>
    execFileAsync(CPCTL, ['--socket', socket, 'status', '--json']),
  );
  const simPlug = await timeCalls(csms, 200, async (i) => {
    const plugged = i % 2 === 0;
    const mark = csms.mark();
    const seen = csms.waitForCall(CP, 'StatusNotification', {
      since: mark,
      where: (p: { connectorId: number; status: string }) =>
        p.connectorId === 1 && p.status === (plugged ? 'Preparing' : 'Available'),
    });
    await request(socket, plugged ? 'sim.plug' : 'sim.unplug', { connectorId: 1 });
    await seen;
  });

  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  await csms.stop();
  rmSync(dir, { recursive: true, force: true });

  const report = {
    machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
    coldStartToBootNotificationMs: coldStartMs,
    rssAfterBootMb,
    rssAfterLoadMb,
    getConfigurationAllKeysMs: getConfiguration,
    changeConfigurationMs: changeConfiguration,
    triggerHeartbeatToHeartbeatReqMs: triggerHeartbeat,
    rounds: ROUNDS,
    controlSocketStatusMs: statusSocket,
    cpctlStatusJsonProcessMs: statusCpctl,
    simPlugToStatusNotificationMs: simPlug,
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

await main();
