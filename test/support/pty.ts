import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PtyPair {
  /** Link to one end (give it to the driver under test). */
  a: string;
  /** Link to the other end (the emulated device writes and reads here). */
  b: string;
  /** Stops socat (both ends vanish, as when a USB adapter is unplugged) and waits for it to exit. */
  close(): Promise<void>;
}

const READY_TIMEOUT_MS = 5_000;

/**
 * A connected pseudo-terminal pair from socat, with stable link paths `<dir>/a` and `<dir>/b`.
 * Passing the same `dir` again after `close()` recreates the links at the same paths (a replug).
 * Without `dir`, a temporary directory is made and removed on close.
 */
export async function openPtyPair(dir?: string): Promise<PtyPair> {
  const ownDir = dir === undefined;
  const base = dir ?? mkdtempSync(join(tmpdir(), 'pty-'));
  const a = join(base, 'a');
  const b = join(base, 'b');
  const child = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  // 'error' without 'exit' happens when socat cannot be spawned at all.
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  try {
    await waitUntilReady(child, exited);
    if (!existsSync(a) || !existsSync(b)) {
      throw new Error(`socat reported both PTYs but the links ${a}, ${b} are missing`);
    }
    // Keep draining socat's log so a chatty socat can never block on a full pipe.
    child.stderr?.resume();
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    if (ownDir) rmSync(base, { recursive: true, force: true });
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    a,
    b,
    close() {
      closing ??= (async () => {
        // SIGTERM lets socat remove its links, so the path is gone like an unplugged device's.
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        await exited;
        // socat only tries to remove its links as it exits; one left behind would point at a pty
        // number the system soon hands to another test's terminal, and the "unplugged" device
        // would open that instead of failing.
        rmSync(a, { force: true });
        rmSync(b, { force: true });
        if (ownDir) rmSync(base, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}

/**
 * socat logs "PTY is /dev/pts/N" for each end and then "starting data transfer loop" once both
 * ends (and their links) are set up; waiting for that line avoids guessing with a sleep.
 */
function waitUntilReady(child: ChildProcess, exited: Promise<void>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let stderr = '';
    let ptys = 0;
    const timer = setTimeout(
      () => fail(new Error(`socat not ready after ${READY_TIMEOUT_MS} ms: ${stderr}`)),
      READY_TIMEOUT_MS,
    );
    const onData = (chunk: Buffer): void => {
      stderr += chunk.toString();
      ptys = (stderr.match(/PTY is \/dev\/pts\/\d+/g) ?? []).length;
      if (ptys >= 2 && stderr.includes('starting data transfer loop')) done();
    };
    const onError = (err: Error): void => fail(err);
    const done = (): void => {
      cleanup();
      resolve();
    };
    const fail = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.off('error', onError);
    };
    child.stderr?.on('data', onData);
    child.once('error', onError);
    void exited.then(() =>
      fail(new Error(`socat exited before both PTYs were ready (${ptys}/2): ${stderr}`)),
    );
  });
}
