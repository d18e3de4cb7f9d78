import { execFile } from 'node:child_process';
import type { Logger } from '../log.js';

/**
 * How long the confirmation hook may run. It only clears a mark (or asks RAUC to), so a hook still
 * running after this is stuck; it is killed and tried again at the next accepted registration.
 */
const CONFIRM_HOOK_TIMEOUT_MS = 60_000;

/**
 * The `firmware.confirm` hook: a release that has just been installed is on trial until it proves
 * it can reach and register with the central system; the first accepted registration of this
 * process runs the hook, which tells the installer's side (docs/firmware.md) to keep this release.
 * The running firmware version is appended to the argv, so the hook confirms this release and no
 * other (an install may already have switched to the next one while this run is still up).
 * A hook that fails is tried again at the next acceptance; once it succeeded it is not run again.
 * Returns the handler for the registration's `accepted` event.
 */
export function firmwareConfirmation(
  argv: readonly string[] | undefined,
  firmwareVersion: string,
  log: Logger,
): () => void {
  let state: 'waiting' | 'running' | 'confirmed' = 'waiting';
  return () => {
    const [command, ...args] = argv ?? [];
    if (command === undefined || state !== 'waiting') return;
    state = 'running';
    execFile(
      command,
      [...args, firmwareVersion],
      { timeout: CONFIRM_HOOK_TIMEOUT_MS },
      (error, stdout, stderr) => {
        const output = `${stdout}${stderr}`.trim().slice(0, 1000);
        if (error) {
          state = 'waiting';
          log.error(
            { hook: argv, exitCode: error.code, signal: error.signal, output },
            'firmware confirmation hook failed',
          );
          return;
        }
        state = 'confirmed';
        log.info({ hook: argv, output }, 'firmware confirmed');
      },
    );
  };
}
