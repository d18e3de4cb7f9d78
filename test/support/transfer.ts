import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect } from 'vitest';
import { type Clock, systemClock } from '../../src/clock.js';
import {
  type DownloadOptions,
  type DownloadResult,
  download,
  TransferError,
  type UploadOptions,
  upload,
} from '../../src/transfer/index.js';
import { type HttpFileServer, sha256OfFile, type TestTls } from './file-servers.js';

/**
 * What the transfer tests (HTTP, FTP and the rules they share) have in common: a fresh folder per
 * test, transfers that neither retry nor wait unless a test says so, and the error a failing one ends in.
 */

/** A temporary folder made before each test of the file and removed after it; gives paths inside it. */
export function tempDirs(prefix: string): (...names: string[]) => string {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  return (...names) => join(dir, ...names);
}

/** Forgets the requests `server` saw and drops every knob, so a test starts from a plain server. */
export function resetHttpServer(server: HttpFileServer): void {
  server.requests.length = 0;
  for (const knob of Object.keys(server.knobs)) delete server.knobs[knob as keyof typeof server.knobs];
}

/** The TransferError a transfer ends in; success or any other error fails the test. */
export async function failureOf(promise: Promise<unknown>): Promise<TransferError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof TransferError)) throw new Error(`expected a TransferError, got ${String(error)}`);
  return error;
}

export type QuickDownloadOptions = Partial<Omit<DownloadOptions, 'url' | 'dest'>>;

/**
 * The system clock, except that its timers fire in the next turn: the wait between two attempts,
 * which a transfer keeps at MIN_RETRY_INTERVAL_S at least, takes no time in tests of other rules.
 */
export const noWaitClock: Clock = {
  ...systemClock,
  setTimeout(fn) {
    const timer = setImmediate(fn);
    return { cancel: () => clearImmediate(timer) };
  },
};

/** Downloads `url` to `dest`, with no retries and no wait between attempts unless `options` give them. */
export function quickDownload(
  url: string,
  dest: string,
  options: QuickDownloadOptions = {},
): Promise<DownloadResult> {
  return download({ url, dest, retries: 0, retryIntervalS: 0, clock: noWaitClock, ...options });
}

/** Download options that trust `server`'s own test CA (HTTPS and FTPS servers only). */
export function trusting(server: { tls: TestTls | undefined }): QuickDownloadOptions {
  return { ca: server.tls?.ca.cert };
}

type QuickUploadOptions = Omit<UploadOptions, 'retries' | 'retryIntervalS'> &
  Partial<Pick<UploadOptions, 'retries' | 'retryIntervalS'>>;

/** Uploads as `options` say, with no retries and no wait between attempts unless they give them. */
export function quickUpload(options: QuickUploadOptions): Promise<void> {
  return upload({ retries: 0, retryIntervalS: 0, clock: noWaitClock, ...options });
}

/** The download gave `expected`, the file at `dest` has its SHA-256, and no part file is left. */
export async function expectDownloaded(
  result: DownloadResult,
  dest: string,
  expected: DownloadResult,
): Promise<void> {
  expect(result).toEqual(expected);
  expect(await sha256OfFile(dest)).toBe(expected.sha256);
  expect(existsSync(`${dest}.part`)).toBe(false);
}
