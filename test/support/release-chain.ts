import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type RestartPolicy, readRestartPolicy, restartsAfter } from '../../scripts/systemd-restart.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const UNIT = join(ROOT, 'systemd/chargepoint.service');

/** Runs `command`; throws with its stderr unless it exits 0. */
function runOrThrow(command: string, args: string[], cwd?: string): string {
  const result = spawnSync(command, args, { encoding: 'utf8', cwd });
  if (result.error) throw result.error;
  if (result.status !== 0)
    throw new Error(`${command} ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return result.stdout;
}

/** A release tarball of this build as a build server makes it (scripts/make-release.sh --version). */
export function makeRelease(version: string, out: string): string {
  return runOrThrow('bash', [
    join(ROOT, 'scripts/make-release.sh'),
    '--version',
    version,
    '--out',
    out,
  ]).trim();
}

/** Writes a release tree's SHA256SUMS and the MANIFEST's hash of it again, as a build of the tree would. */
export function resumRelease(release: string): void {
  const script = `
    find . -type f ! -path ./SHA256SUMS ! -path ./MANIFEST -printf '%P\\0' | LC_ALL=C sort -z | xargs -0r sha256sum > SHA256SUMS
    sed -i "s/^sha256sums=.*/sha256sums=$(sha256sum < SHA256SUMS | cut -d' ' -f1)/" MANIFEST`;
  runOrThrow('bash', ['-c', script], release);
}

/**
 * The release image `image` of `version` with its release tree changed by `edit` (given the
 * release directory) and its SHA256SUMS and MANIFEST made again, as a build of the changed tree
 * would make them: an image every check of the install hook passes. Written over `image`.
 */
export function alterRelease(image: string, version: string, edit: (dir: string) => void): void {
  const dir = mkdtempSync(`${image}.tree-`);
  try {
    runOrThrow('tar', ['-xzf', image, '-C', dir]);
    const release = join(dir, `chargepoint-${version}`);
    edit(release);
    resumRelease(release);
    runOrThrow('tar', ['-czf', image, '-C', dir, `chargepoint-${version}`]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** How a run of the service ended. */
export interface RunEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One start of the service: what ExecStartPre= said, then the daemon's process and its output. */
export class ServiceRun {
  /** stdout lines: the daemon's structured log (a line that is no JSON is kept as `{ text }`). */
  readonly log: Array<Record<string, unknown>> = [];
  stderr = '';
  readonly ended: Promise<RunEnd>;
  private readonly waiters = new Set<() => void>();
  /** Its output has ended ('close': after the last line, unlike 'exit'). */
  private closed = false;

  constructor(
    /** 1 for the first start. */
    readonly number: number,
    /** What ExecStartPre= wrote to stderr before this start. */
    readonly preStderr: string,
    readonly child: ChildProcess,
  ) {
    if (child.stdout) {
      createInterface({ input: child.stdout }).on('line', (line) => {
        this.log.push(parseLine(line));
        this.wake();
      });
    }
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    this.ended = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    child.once('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  /** The first log entry whose `msg` is one of `messages`; rejects if the process ends before one. */
  waitForLog(...messages: string[]): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const entry = this.log.find((e) => typeof e.msg === 'string' && messages.includes(e.msg));
        if (entry) {
          this.waiters.delete(check);
          resolve(entry);
        } else if (this.closed) {
          this.waiters.delete(check);
          reject(new Error(`run ${this.number} ended before logging ${messages}: ${this.stderr}`));
        }
      };
      this.waiters.add(check);
      check();
    });
  }

  private wake(): void {
    for (const check of [...this.waiters]) check();
  }
}

function parseLine(line: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed === 'object' && parsed !== null) return { ...parsed };
  } catch {
    // A broken release may write anything.
  }
  return { text: line };
}

/** What the supervisor runs: systemd/chargepoint.service's ExecStartPre=- and ExecStart=. */
export interface ServiceCommands {
  /** Run before every start; its failure never blocks the start (the unit's "-"). */
  execStartPre: string;
  /** The daemon's argv, resolved at every start (through PREFIX/current, as systemd execs it). */
  execStart: string[];
  /** The environment of both. */
  env: NodeJS.ProcessEnv;
}

/**
 * chargepoint.service as systemd runs it, for tests of the whole firmware release chain: before
 * every start ExecStartPre=, then the daemon, each in a process group of its own (ended with the
 * main process, as KillMode=mixed ends the control group); restarted by the unit's own rule
 * (Restart=, RestartSec=, RestartPreventExitStatus=, read from the unit file as scripts/dev.ts
 * reads it).
 */
export class SupervisedService {
  readonly runs: ServiceRun[] = [];
  private readonly policy: RestartPolicy = readRestartPolicy(readFileSync(UNIT, 'utf8'));
  private readonly waiters = new Set<() => void>();
  private stopping = false;
  /** The service will not start again by itself (stopped, or an exit the unit does not restart). */
  private inactive = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private starting: Promise<void> | undefined;

  constructor(private readonly commands: ServiceCommands) {}

  /** Starts the service (systemctl start). */
  start(): void {
    this.starting = this.startOnce();
  }

  /** Run `number` (1-based) once it has started; rejects if the service stays down before it. */
  run(number: number): Promise<ServiceRun> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const run = this.runs[number - 1];
        if (run) {
          this.waiters.delete(check);
          resolve(run);
        } else if (this.inactive) {
          this.waiters.delete(check);
          const last = this.runs.at(-1);
          reject(
            new Error(`the service stopped after ${this.runs.length} runs, the last ending ${last?.stderr}`),
          );
        }
      };
      this.waiters.add(check);
      check();
    });
  }

  /** systemctl stop: SIGTERM to the daemon, SIGKILL after TimeoutStopSec=; no restart. */
  async stop(): Promise<RunEnd | undefined> {
    const end = await this.halt();
    this.inactive = true;
    this.wake();
    return end;
  }

  /** systemctl restart (or try-restart of a running service): stopped, then started again. */
  async restart(): Promise<void> {
    await this.halt();
    this.stopping = false;
    this.start();
  }

  private async halt(): Promise<RunEnd | undefined> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    await this.starting;
    const run = this.runs.at(-1);
    if (!run) return undefined;
    if (run.child.exitCode === null && run.child.signalCode === null) {
      run.child.kill('SIGTERM');
      const kill = setTimeout(() => killGroup(run.child), this.policy.stopTimeoutMs);
      await run.ended;
      clearTimeout(kill);
    }
    return run.ended;
  }

  private async startOnce(): Promise<void> {
    const { execStartPre, execStart, env } = this.commands;
    const preStderr = await new Promise<string>((resolve) => {
      execFile(execStartPre, [], { env }, (_error, _stdout, stderr) => resolve(stderr));
    });
    if (this.stopping) return;
    const [command, ...args] = execStart;
    if (!command) throw new Error('ExecStart= is empty');
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const run = new ServiceRun(this.runs.length + 1, preStderr, child);
    this.runs.push(run);
    this.wake();
    void run.ended.then(({ code, signal }) => {
      killGroup(child);
      if (this.stopping) return;
      if (!restartsAfter(this.policy, code, signal)) {
        this.inactive = true;
        this.wake();
        return;
      }
      this.restartTimer = setTimeout(() => {
        this.starting = this.startOnce();
      }, this.policy.delayMs);
    });
  }

  private wake(): void {
    for (const check of [...this.waiters]) check();
  }
}

/** SIGKILL to the process group `child` leads; gone already is fine. */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // ESRCH: nothing of the group is left.
  }
}
