/**
 * One bench at a time (scripts/bench-lock.ts): a second bench while one runs is refused with a
 * line saying why, and the lock is free again once the first lets go of it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { benchLock } from '../../scripts/bench-lock.js';

describe('bench lock', () => {
  const dirs: string[] = [];
  afterEach(() => {
    vi.restoreAllMocks();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** A lock directory of the test's own, not the machine's. */
  function lockDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'bench-lock-'));
    dirs.push(dir);
    return join(dir, 'lock');
  }

  it('refuses a second bench while one holds the lock, saying why, and takes it once free', () => {
    const dir = lockDir();
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);

    const first = benchLock('bench', dir);
    expect(first).toBeDefined();
    expect(stderr).not.toHaveBeenCalled();

    expect(benchLock('bench-instructions', dir)).toBeUndefined();
    expect(stderr).toHaveBeenCalledTimes(1);
    expect(String(stderr.mock.calls[0]?.[0])).toMatch(
      /^bench-instructions: another bench is running on this machine \(.*chargepoint\.lock is held\)/,
    );

    first?.release();
    const again = benchLock('bench', dir);
    expect(again).toBeDefined();
    again?.release();
  });

  it('holds the lock while the bench runs even when the bench keeps no reference to it', async () => {
    const dir = lockDir();
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;

    // As bench.ts takes it: the lock object is dropped at once.
    expect(benchLock('bench', dir)).toBeDefined();
    gc();
    await new Promise<void>((resolve) => setImmediate(resolve));
    gc();

    expect(benchLock('bench', dir)).toBeUndefined();
  });
});
