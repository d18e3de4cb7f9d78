/**
 * `npm run dev`: the development central system and the daemon on the simulated board, side by
 * side in one terminal, the daemon supervised as systemd supervises it on a board. Central-system
 * lines show every OCPP frame; daemon lines are its structured log made readable; `[dev]` lines
 * are the supervisor's. Commands typed here go to the central system (`help` lists them).
 *
 * - The daemon is restarted by the unit's own rule (systemd/chargepoint.service: Restart=,
 *   RestartSec=, RestartPreventExitStatus=): after a Reset or a firmware install (exit 10 / 11),
 *   and after a crash, RestartSec later; never after a usage or configuration error. A stop that
 *   takes longer than TimeoutStopSec= ends with SIGKILL, as there.
 * - Ctrl-C stops the daemon first and the central system once the daemon is gone, so what the
 *   daemon sends while it stops (StopTransaction of a running session) still reaches it. Both
 *   children run in process groups of their own: the terminal's SIGINT reaches only this process.
 *
 * Runs built (`node dist/scripts/dev.js`) or from source (`node --import tsx scripts/dev.ts`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import pretty from 'pino-pretty';
import { EXIT } from '../src/daemon.js';
import { readRestartPolicy, restartsAfter, withStopTimeout } from './systemd-restart.js';

const FROM_SOURCE = import.meta.url.endsWith('.ts');
const ROOT = fileURLToPath(new URL(FROM_SOURCE ? '..' : '../..', import.meta.url));
const CODE = FROM_SOURCE ? ROOT : join(ROOT, 'dist');
const EXTENSION = FROM_SOURCE ? 'ts' : 'js';
const CSMS = join(CODE, `test/csms/main.${EXTENSION}`);
const DAEMON = join(CODE, `src/bin/chargepointd.${EXTENSION}`);
const CONFIG = process.env.CHARGEPOINT_CONFIG ?? join(ROOT, 'config/dev.json');
const UNIT = join(ROOT, 'systemd/chargepoint.service');

const EXIT_MEANING: Record<number, string> = {
  [EXIT.stopped]: 'stopped on request',
  [EXIT.softReset]: 'Reset Soft, or a firmware install that restarts the runtime',
  [EXIT.hardReset]: 'Reset Hard, or a firmware install: on the board chargepoint-stop-post reboots it',
  [EXIT.usage]: 'usage error',
  [EXIT.internalError]: 'internal error',
  [EXIT.config]: 'configuration error: fix the file',
};

function say(line: string): void {
  process.stdout.write(`[dev] ${line}\n`);
}

/** A child in its own process group (so the terminal's Ctrl-C does not reach it), from source through tsx. */
function start(file: string, args: string[], stdio: Array<'ignore' | 'pipe' | 'inherit'>): ChildProcess {
  const options = { cwd: ROOT, stdio, detached: true };
  if (FROM_SOURCE) return spawn(process.execPath, ['--import', 'tsx', file, ...args], options);
  // The built daemon runs as an executable, as systemd runs it: its shebang carries the product's Node flags.
  return file === DAEMON ? spawn(file, args, options) : spawn(process.execPath, [file, ...args], options);
}

/** Each line the child writes, after `prefix`. */
function prefixLines(stream: Readable | null, prefix: string): Interface | undefined {
  if (!stream) return undefined;
  const lines = createInterface({ input: stream });
  lines.on('line', (line) => process.stdout.write(`${prefix} ${line}\n`));
  return lines;
}

/** SIGKILL to the process group `child` leads (each child here leads its own); gone already is fine. */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // ESRCH: nothing of the group is left.
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * The unit's rule; DEV_TIMEOUT_STOP_SEC (a systemd time span) stands in for its TimeoutStopSec=,
 * so the dev loop's own test of that kill waits a second or two, not the unit's 20.
 */
const policy = withStopTimeout(
  readRestartPolicy(readFileSync(UNIT, 'utf8')),
  process.env.DEV_TIMEOUT_STOP_SEC,
);
const interactive = process.stdin.isTTY === true;

let daemon: ChildProcess | undefined;
let restartTimer: NodeJS.Timeout | undefined;
let stopping = false;

// A 10 s heartbeat interval, so a newcomer sees heartbeats without waiting minutes.
const csms = start(
  CSMS,
  ['--port', process.env.CSMS_PORT ?? '9000', '--interval', '10', ...(interactive ? ['--repl'] : [])],
  [interactive ? 'pipe' : 'ignore', 'pipe', 'pipe'],
);
say(`central system started (pid ${csms.pid})`);
// From the start: a central system that cannot listen (its port taken) ends the loop before any daemon.
csms.on('exit', (code, signal) => {
  if (stopping) return;
  say(`central system ${signal ? `killed by ${signal}` : `exited with code ${code}`}: stopping`);
  void stop(1);
});
// The central system reads commands from a pipe, not from the terminal: a process outside the
// terminal's foreground group that reads it would be stopped (SIGTTIN).
if (interactive && csms.stdin) {
  // Typed after the central system has gone: nothing reads it, and that is no reason to fail.
  csms.stdin.on('error', () => {});
  process.stdin.pipe(csms.stdin);
}
const csmsLines = prefixLines(csms.stdout, '[csms]');
prefixLines(csms.stderr, '[csms]');

// The daemon would retry anyway; starting it once the central system listens keeps the log tidy.
await new Promise<void>((resolve) => {
  const listening = (line: string) => {
    if (!line.startsWith('Dev CSMS listening')) return;
    csmsLines?.off('line', listening);
    resolve();
  };
  csmsLines?.on('line', listening);
  csms.once('exit', () => resolve());
});

// pino-pretty writes the readable lines to our stdout itself; each daemon run pipes into it.
const readable = pretty({
  colorize: process.stdout.isTTY,
  translateTime: 'HH:MM:ss.l',
  ignore: 'pid,hostname,chargePointId',
  singleLine: true,
});

function startDaemon(): void {
  restartTimer = undefined;
  const child = start(DAEMON, ['--config', CONFIG], ['ignore', 'pipe', 'inherit']);
  daemon = child;
  say(`chargepointd started (pid ${child.pid})`);
  child.stdout?.pipe(readable, { end: false });
  child.on('exit', (code, signal) => {
    daemon = undefined;
    // As systemd ends what is left of a service's control group once its main process is gone.
    killGroup(child);
    const how = signal
      ? `killed by ${signal}`
      : `exited with code ${code} (${EXIT_MEANING[code ?? -1] ?? 'crash'})`;
    if (stopping) return say(`chargepointd ${how}`);
    if (restartsAfter(policy, code, signal)) {
      say(`chargepointd ${how}: restarting in ${policy.delayMs / 1000} s, as systemd would`);
      restartTimer = setTimeout(startDaemon, policy.delayMs);
      return;
    }
    say(`chargepointd ${how}: not restarted (systemd would not)`);
    void stop(code ?? 1);
  });
}

/** The daemon first, then the central system; exits with `code`. */
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearTimeout(restartTimer);
  const running = daemon;
  if (running) {
    // KillMode=mixed: SIGTERM to the daemon alone, and if it has not gone TimeoutStopSec later,
    // SIGKILL to it and every process it started.
    running.kill('SIGTERM');
    const killer = setTimeout(() => {
      say(
        `chargepointd still running ${policy.stopTimeoutMs / 1000} s after SIGTERM (TimeoutStopSec): killing it, as systemd would`,
      );
      killGroup(running);
    }, policy.stopTimeoutMs);
    await exited(running);
    clearTimeout(killer);
  }
  if (csms.exitCode === null && csms.signalCode === null) {
    csms.kill('SIGTERM');
    await exited(csms);
  }
  say('stopped');
  process.exit(code);
}

// npm forwards the terminal's SIGINT, so it may come twice: stop() runs once.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop(0));
// However this process ends, it leaves no child behind.
process.on('exit', () => {
  if (daemon) killGroup(daemon);
  killGroup(csms);
});

if (!stopping) startDaemon();
