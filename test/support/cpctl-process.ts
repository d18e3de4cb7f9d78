import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface CpctlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real cpctl (from source through tsx), as a technician would on the board. */
export function cpctl(socket: string, ...args: string[]): Promise<CpctlResult> {
  return cpctlThrough(undefined, socket, ...args);
}

/** cpctl run through `wrap` (e.g. setpriv for other credentials); its exit code and output. */
export function cpctlThrough(
  wrap: ((argv: string[]) => string[]) | undefined,
  socket: string,
  ...args: string[]
): Promise<CpctlResult> {
  const [command, ...rest] = (wrap ?? ((argv) => argv))(cpctlArgv(socket, args));
  return new Promise((resolve) => {
    execFile(command!, rest, { cwd: ROOT }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The command line of cpctl from source. */
function cpctlArgv(socket: string, args: string[]): string[] {
  return [process.execPath, '--import', 'tsx', join(ROOT, 'src/bin/cpctl.ts'), '--socket', socket, ...args];
}

/** A cpctl that keeps running (`--watch`), its output as it comes. */
export interface RunningCpctl {
  readonly child: ChildProcess;
  /** Everything written to stdout so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with stdout once `pred` holds for it: checked now and at every chunk. */
  output(pred: (stdout: string) => boolean, what: string, timeoutMs?: number): Promise<string>;
  /** The exit code (null after a signal). */
  exited(): Promise<number | null>;
}

/**
 * Wraps cpctl's argv in script(1), which gives it a terminal (a pty): what is written to its stdin
 * is typed at that terminal (^C: the terminal's SIGINT), and its stdout is what the terminal shows.
 */
export function onTerminal(argv: string[]): string[] {
  // `exec`: script(1) runs the command through $SHELL, and a shell left waiting in between (dash
  // does not exec a quoted command) dies of the terminal's SIGINT itself, so script reports 130
  // whatever cpctl exited with.
  const command = `exec ${argv.map((a) => `'${a}'`).join(' ')}`;
  return ['script', '--quiet', '--return', '--command', command, '/dev/null'];
}

/** Starts the real cpctl without waiting for it (through `wrap`, e.g. `onTerminal`). */
export function spawnCpctl(
  socket: string,
  args: string[],
  wrap?: (argv: string[]) => string[],
): RunningCpctl {
  const argv = cpctlArgv(socket, args);
  const [command, ...rest] = wrap ? wrap(argv) : argv;
  const child = spawn(command!, rest, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    output: (pred, what, timeoutMs = 15_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (!pred(out)) return false;
          done();
          resolve(out);
          return true;
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`cpctl ${args.join(' ')}: ${what} not seen; stdout:\n${out}\nstderr:\n${err}`));
        }, timeoutMs);
        const onData = () => void check();
        const done = () => {
          clearTimeout(timer);
          child.stdout?.off('data', onData);
        };
        child.stdout?.on('data', onData);
        check();
      }),
    exited: () => exit,
  };
}
