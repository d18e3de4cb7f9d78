import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { download } from '../../src/transfer/index.js';
import { HttpFileServer } from '../support/file-servers.js';

/**
 * Issue 12's memory bound for a download: the spent socket read buffers are released as the image
 * streams, so the ArrayBuffer memory a download holds stays a few MB whatever the image's size
 * (without the scavenges it grew with the image until V8's 64 MB external-memory trigger).
 */

const MB = 1024 * 1024;
let http: HttpFileServer;
let dir: string;

beforeAll(async () => {
  http = await HttpFileServer.start();
  dir = mkdtempSync(join(tmpdir(), 'cp-transfer-read-buffers-'));
});

afterAll(async () => {
  await http.close();
  rmSync(dir, { recursive: true, force: true });
});

it('holds at most a few MB of read buffers while a 24 MB image downloads', async () => {
  const sha256 = http.put('image.bin', 24 * MB);
  // A clean baseline: the image's own bytes, written by put(), are garbage by now.
  setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('gc');
  if (typeof gc === 'function') gc();
  const before = process.memoryUsage().arrayBuffers;
  let peak = before;

  const result = await download({
    url: http.url('image.bin'),
    dest: join(dir, 'image.bin'),
    retries: 0,
    retryIntervalS: 0,
    onProgress: () => {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    },
  });

  expect(result.sha256).toBe(sha256);
  // The server's file reads are in this process too, so the bound covers both ends of the transfer.
  expect((peak - before) / MB).toBeLessThan(6);
});
