import { spawn } from 'node:child_process';

/** What the install hook did: exit 0 = installed (DESIGN.md item 9). */
export type HookOutcome = { installed: true } | { installed: false; reason: string };

/** The end of the hook's output kept for the reason of a failure (the technician reads it). */
const REASON_TAIL = 200;

/**
 * Runs the install hook: its argv with the image path appended, no shell. A hook that cannot be
 * started, is killed or exits non-zero did not install anything, so the running firmware stays.
 */
export function runInstallHook(argv: readonly string[], image: string): Promise<HookOutcome> {
  const [command, ...args] = argv;
  if (command === undefined) return Promise.resolve({ installed: false, reason: 'no install hook' });
  return new Promise((resolve) => {
    const child = spawn(command, [...args, image], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-REASON_TAIL);
    });
    child.on('error', (error) => resolve({ installed: false, reason: `install hook: ${error.message}` }));
    child.on('close', (code, signal) => {
      if (code === 0) resolve({ installed: true });
      else {
        const how = signal ? `killed by ${signal}` : `exit ${code}`;
        const said = stderr.trim();
        resolve({ installed: false, reason: `install hook ${how}${said ? `: ${said}` : ''}` });
      }
    });
  });
}
