import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireStateLock, StateDirectoryLockedError, type StateLock } from '../src/store/state-lock.js';

/** One lock for every bench script on the machine. */
export const BENCH_LOCK_DIR = join(tmpdir(), 'chargepoint-bench');

/** EX_TEMPFAIL: run it again once the other bench is done. */
const EXIT_BENCH_BUSY = 75;

/**
 * Locks taken and not released. A lock nothing refers to is collected, and its connection closed
 * with it: the bench scripts drop what benchLock returns, and a second bench ran beside the first.
 */
const held = new Set<StateLock>();

/**
 * One bench at a time. Two at once share the machine's CPUs, and each reads the other's load as
 * its charge points' cost: three runs that overlapped another bench read a cold GetConfiguration
 * up to 1.93x the floor and a RemoteStop up to 2.52x the durable floor, where the same code read
 * about 1.3x and 1.8x alone. The lock is the daemon's state lock (SQLite's, which the kernel drops
 * when the process ends however it ends), held until released or the process ends. Undefined,
 * after a line on stderr, while another bench holds it.
 */
export function benchLock(script: string, dir = BENCH_LOCK_DIR): StateLock | undefined {
  mkdirSync(dir, { recursive: true });
  try {
    const lock = acquireStateLock(dir);
    const kept: StateLock = {
      release() {
        held.delete(kept);
        lock.release();
      },
    };
    held.add(kept);
    return kept;
  } catch (err) {
    if (!(err instanceof StateDirectoryLockedError)) throw err;
    process.stderr.write(
      `${script}: another bench is running on this machine (${err.lockPath} is held): each would measure the other's load; run it again when that one is done\n`,
    );
    return undefined;
  }
}

/** The bench scripts' first step: false (exit code set, the reason on stderr) while another bench runs. */
export function benchRunsAlone(script: string): boolean {
  if (benchLock(script)) return true;
  process.exitCode = EXIT_BENCH_BUSY;
  return false;
}
