import { execFile } from 'node:child_process';
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
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'src/bin/cpctl.ts'), '--socket', socket, ...args],
      { cwd: ROOT },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
