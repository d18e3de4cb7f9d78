/**
 * Instructions instead of time: the hot calls of `npm run bench`, counted by valgrind's callgrind
 * in the charge point's main thread, ours and the floor, both under the daemon's Node flags.
 *
 * On the shared development VM a latency ratio of the bench moves by a third from one run to the
 * next (the machine's speed drifts within seconds; the two processes share two CPUs with the
 * central system), so a change to the message path of a few percent cannot be seen in it. Ours'
 * instruction counts repeat within a few percent (the floor's fall in one of two states some 20%
 * apart): judge such a change by ours' counts here, then confirm it with `npm run bench`.
 *
 * Each charge point boots afresh under valgrind (some 10 s) and gets, in the bench's order,
 * `--calls` GetConfiguration(1 key), ChangeConfiguration and TriggerMessage(Heartbeat) exchanges,
 * then as many TriggerMessage exchanges again; each phase is counted on its own (callgrind_control
 * zeroes the counters before it and dumps them after). Instructions of the kernel (syscalls) and
 * of V8's helper thread (the optimizing compiler) are not counted. Valgrind runs the process some
 * 30 times slower while the central system keeps its pace, so work that natively waits for a quiet
 * moment after a flood (the frame trace's writes, V8's memory reducer) falls within the phases and
 * is counted: read the counts as the CPU a message costs in all, not as its latency.
 *
 * Needs valgrind (Debian: `apt-get install valgrind`). Run: `npm run bench:instructions`
 * (`-- --calls N`, default 1000). Prints JSON on stdout and a table on stderr.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DevCsms } from '../test/csms/server.js';
import {
  benchConfig,
  CP,
  DAEMON,
  DAEMON_NODE_FLAGS,
  FLOOR,
  FLOOR_CP,
  hotCalls,
  settle,
  statusesDone,
  stopProcess,
} from './bench-compare.js';
import { benchRunsAlone } from './bench-lock.js';

/** Valgrind runs the charge point some 20-50 times slower: every wait is long. */
const WAIT_MS = 300_000;
/** EX_UNAVAILABLE: a tool this script needs is not installed. */
const EXIT_UNAVAILABLE = 69;

type Phase = 'getConfiguration' | 'changeConfiguration' | 'triggerHeartbeat' | 'triggerHeartbeatAgain';
type PhaseCounts = Record<Phase, number>;

interface Subject {
  chargePointId: string;
  /** The program and its arguments after the Node flags. */
  argv(url: string, dir: string): string[];
  /** Until it has nothing left to say after its BootNotification. */
  settled(csms: DevCsms): Promise<unknown>;
}

const OURS: Subject = {
  chargePointId: CP,
  argv(url, dir) {
    const configFile = join(dir, 'config.json');
    writeFileSync(
      configFile,
      JSON.stringify({ ...benchConfig(CP, url, join(dir, 'state')), log: { level: 'warn' } }),
    );
    return [DAEMON, '--config', configFile];
  },
  settled: (csms) => statusesDone(csms, 0, WAIT_MS),
};

const THE_FLOOR: Subject = {
  chargePointId: FLOOR_CP,
  argv: (url) => [FLOOR, url, FLOOR_CP],
  settled: () => settle(),
};

/** Main-thread instructions per call of each phase, in thousands. */
async function count(csms: DevCsms, url: string, subject: Subject, calls: number): Promise<PhaseCounts> {
  const dir = mkdtempSync(join(tmpdir(), 'cp-instructions-'));
  const out = join(dir, 'callgrind.out');
  const cp = subject.chargePointId;
  csms.clearFrames();
  const booted = csms.waitForCall(cp, 'BootNotification', { timeoutMs: WAIT_MS });
  const child = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      '--instr-atstart=no',
      // V8 writes machine code and runs it: valgrind must see it anew.
      '--smc-check=all-non-file',
      '--separate-threads=yes',
      `--callgrind-out-file=${out}`,
      process.execPath,
      ...DAEMON_NODE_FLAGS,
      ...subject.argv(url, dir),
    ],
    { stdio: 'ignore' },
  );
  try {
    await booted;
    await subject.settled(csms);
    // What boot set off (warm-ups, the first collections) ends before anything is counted.
    await settle(3000);
    const control = (...args: string[]) =>
      execFileSync('callgrind_control', [...args, String(child.pid)], { stdio: 'pipe' });
    control('-i', 'on');
    const { getConfiguration, changeConfiguration, resetSampleInterval, triggerHeartbeat } = hotCalls(
      csms,
      cp,
      WAIT_MS,
    );
    const phases: Array<[Phase, (i: number) => Promise<unknown>]> = [
      ['getConfiguration', getConfiguration],
      ['changeConfiguration', changeConfiguration],
      ['triggerHeartbeat', triggerHeartbeat],
      ['triggerHeartbeatAgain', triggerHeartbeat],
    ];
    const counts: Partial<PhaseCounts> = {};
    for (const [phase, run] of phases) {
      control('-z');
      for (let i = 0; i < calls; i++) {
        if (i % 100 === 0) csms.clearFrames();
        await run(i);
      }
      counts[phase] = Math.round(mainThreadInstructions(dir, () => control('-d', phase)) / calls / 1000);
      if (phase === 'changeConfiguration') await resetSampleInterval();
      // Under valgrind V8's compiler thread runs only when valgrind lets it: an idle moment between
      // phases lets it finish what the last phase queued, so each phase starts from the same point.
      await settle(500);
    }
    return counts as PhaseCounts;
  } finally {
    await stopProcess(child);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The `totals:` of the main thread's file (`-01`) among those `dump` writes. */
function mainThreadInstructions(dir: string, dump: () => void): number {
  const before = new Set(readdirSync(dir));
  dump();
  const file = readdirSync(dir).find((name) => !before.has(name) && name.endsWith('-01'));
  if (!file) throw new Error('callgrind wrote no dump of the main thread');
  const totals = /^totals: (\d+)/m.exec(readFileSync(join(dir, file), 'utf8'));
  if (!totals?.[1]) throw new Error(`no totals in ${file}`);
  return Number(totals[1]);
}

async function main(): Promise<void> {
  if (!benchRunsAlone('bench-instructions')) return;
  const { values } = parseArgs({ options: { calls: { type: 'string', default: '1000' } } });
  const calls = Number(values.calls);
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
  } catch {
    process.stderr.write(
      'bench-instructions: valgrind is not installed (Debian: apt-get install valgrind)\n',
    );
    process.exitCode = EXIT_UNAVAILABLE;
    return;
  }
  const csms = new DevCsms({ rules: { boot: { status: 'Accepted', interval: 3600 } } });
  const { url } = await csms.start();
  try {
    const ours = await count(csms, url, OURS, calls);
    const floor = await count(csms, url, THE_FLOOR, calls);
    const phases = Object.keys(ours) as Phase[];
    const ratios = Object.fromEntries(phases.map((p) => [p, Math.round((ours[p] / floor[p]) * 100) / 100]));
    process.stdout.write(
      `${JSON.stringify({ calls, kiloInstructionsPerCall: { ours, floor }, ratios }, null, 2)}\n`,
    );
    const rows = phases.map(
      (p) =>
        `${p.padEnd(24)}${String(ours[p]).padStart(10)}${String(floor[p]).padStart(10)}${`${ratios[p]}x`.padStart(9)}`,
    );
    process.stderr.write(
      `${['k instructions per call'.padEnd(24) + '      ours     floor    ratio', ...rows].join('\n')}\n`,
    );
  } finally {
    await csms.stop();
  }
}

await main();
