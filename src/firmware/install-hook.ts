import { spawn } from 'node:child_process';
import type { Logger } from '../log.js';
import { REDACTED } from '../ocpp/trace.js';
import { redactUrlsIn } from '../transfer/url.js';

/** What the install hook did: exit 0 = installed (DESIGN.md item 9). */
export type HookOutcome = { installed: true } | { installed: false; reason: string };

/** The end of the hook's stderr kept for the log: what it did (a slot, a release) or why it failed. */
export const STDERR_LOG_TAIL = 4096;

/** The end of the hook's output kept for the reason of a failure (the technician reads it). */
const REASON_TAIL = 200;

/**
 * Runs the install hook: its argv with the image path appended, no shell. A hook that cannot be
 * started, is killed or exits non-zero did not install anything, so the running firmware stays.
 * What it wrote to stderr goes to the log in one line, info when it installed, warn when not,
 * since what a hook did (the slot RAUC wrote, the release unpacked) is only ever said there.
 */
export function runInstallHook(argv: readonly string[], image: string, log: Logger): Promise<HookOutcome> {
  const [command, ...args] = argv;
  if (command === undefined) return Promise.resolve({ installed: false, reason: 'no install hook' });
  return new Promise((resolve) => {
    const child = spawn(command, [...args, image], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_LOG_TAIL);
    });
    child.on('error', (error) => resolve({ installed: false, reason: `install hook: ${error.message}` }));
    child.on('close', (code, signal) => {
      // A hook may echo a URL it fetched from: its password stays out, as everywhere else.
      const said = redactUrlsIn(stderr.trim(), REDACTED);
      const fields = { hook: command, ...(signal ? { signal } : { exitCode: code }), stderr: said };
      if (code === 0) {
        log.info(fields, 'firmware install hook succeeded');
        resolve({ installed: true });
        return;
      }
      log.warn(fields, 'firmware install hook failed');
      const how = signal ? `killed by ${signal}` : `exit ${code}`;
      const tail = said.slice(-REASON_TAIL).trim();
      resolve({ installed: false, reason: `install hook ${how}${tail ? `: ${tail}` : ''}` });
    });
  });
}
