import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Timer } from '../../src/clock.js';
import { KEY_DEFINITIONS } from '../../src/config/keys.js';
import { createLogger } from '../../src/log.js';
import {
  DEFAULT_RESERVE_BYTES,
  download,
  supportedFileTransferProtocols,
  TransferError,
  upload,
} from '../../src/transfer/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { HttpFileServer, Vsftpd } from '../support/file-servers.js';

/**
 * The rules every transfer follows whatever the protocol: free space first, cancellation, the
 * retry interval, credentials kept out of logs and errors, and what SupportedFileTransferProtocols says.
 */

const MB = 1024 * 1024;
let http: HttpFileServer;
let dir: string;

beforeAll(async () => {
  http = await HttpFileServer.start();
});

afterAll(() => http.close());

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cp-transfer-rules-'));
  http.requests.length = 0;
  for (const knob of Object.keys(http.knobs)) delete http.knobs[knob as keyof typeof http.knobs];
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function failure(promise: Promise<unknown>): Promise<TransferError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof TransferError)) throw new Error(`expected a TransferError, got ${String(error)}`);
  return error;
}

/** A fake clock that tells when something starts waiting on it. */
class WaitWatchingClock extends FakeClock {
  private waiters: ((ms: number) => void)[] = [];

  /** Resolves with the delay of the next timer set. */
  nextWait(): Promise<number> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  override setTimeout(fn: () => void, ms: number): Timer {
    const timer = super.setTimeout(fn, ms);
    for (const waiter of this.waiters.splice(0)) waiter(ms);
    return timer;
  }
}

/** statfs of a filesystem with `freeBytes` available. */
function freeSpace(freeBytes: number) {
  return async () => ({ bavail: Math.floor(freeBytes / 4096), bsize: 4096 });
}

describe('free space', () => {
  it('refuses a download larger than the free space minus the reserve before writing any of it', async () => {
    http.put('image.bin', 2 * MB);
    const dest = join(dir, 'image.bin');
    let written = 0;

    const error = await failure(
      download({
        url: http.url('image.bin'),
        dest,
        retries: 3,
        retryIntervalS: 0,
        // Room for the reserve and 1 MiB: not for a 2 MiB image.
        statfs: freeSpace(DEFAULT_RESERVE_BYTES + MB),
        onProgress: ({ bytes }) => (written = bytes),
      }),
    );

    expect(error.kind).toBe('NoSpace');
    expect(written).toBe(0);
    expect(http.requests).toHaveLength(1);
    expect(existsSync(`${dest}.part`)).toBe(false);
  });

  it('fits a download that leaves the reserve free', async () => {
    const sha256 = http.put('image.bin', 2 * MB);

    const result = await download({
      url: http.url('image.bin'),
      dest: join(dir, 'image.bin'),
      retries: 0,
      retryIntervalS: 0,
      statfs: freeSpace(DEFAULT_RESERVE_BYTES + 2 * MB),
    });

    expect(result.sha256).toBe(sha256);
  });

  it('asks nothing of the server when not even the reserve is free', async () => {
    http.put('image.bin', 10);

    const error = await failure(
      download({
        url: http.url('image.bin'),
        dest: join(dir, 'image.bin'),
        retries: 0,
        retryIntervalS: 0,
        reserveBytes: 100 * MB,
        statfs: freeSpace(10 * MB),
      }),
    );

    expect(error.kind).toBe('NoSpace');
    expect(http.requests).toEqual([]);
  });
});

describe('local files', () => {
  it('a destination directory that does not exist is LocalIo, asking nothing of the server', async () => {
    http.put('image.bin', 10);

    const error = await failure(
      download({
        url: http.url('image.bin'),
        dest: join(dir, 'no', 'such', 'image.bin'),
        retries: 2,
        retryIntervalS: 0,
      }),
    );

    expect(error.kind).toBe('LocalIo');
    expect(http.requests).toEqual([]);
  });
});

describe('cancellation', () => {
  it('cancels a download in progress and removes the part', async () => {
    http.put('image.bin', 2 * MB);
    http.knobs.bytesPerSecond = 256 * 1024;
    const dest = join(dir, 'image.bin');
    const controller = new AbortController();

    const error = await failure(
      download({
        url: http.url('image.bin'),
        dest,
        retries: 3,
        retryIntervalS: 0,
        signal: controller.signal,
        onProgress: () => controller.abort(),
      }),
    );

    expect(error.kind).toBe('Cancelled');
    expect(existsSync(`${dest}.part`)).toBe(false);
    expect(existsSync(dest)).toBe(false);
    expect(http.requests).toHaveLength(1);
  });

  it('cancels the wait between attempts', async () => {
    http.knobs.status = 503;
    const clock = new WaitWatchingClock();
    const controller = new AbortController();
    const waiting = clock.nextWait();

    const result = failure(
      download({
        url: http.url('image.bin'),
        dest: join(dir, 'image.bin'),
        retries: 5,
        retryIntervalS: 60,
        clock,
        signal: controller.signal,
      }),
    );
    await waiting;
    controller.abort();

    expect((await result).kind).toBe('Cancelled');
    expect(http.requests).toHaveLength(1);
  });

  it('cancels an FTP download in progress', async () => {
    const ftp = await Vsftpd.start({ bytesPerSecond: 256 * 1024 });
    try {
      ftp.put('files/image.bin', 2 * MB);
      const dest = join(dir, 'image.bin');
      const controller = new AbortController();

      const error = await failure(
        download({
          url: ftp.url('files/image.bin'),
          dest,
          retries: 3,
          retryIntervalS: 0,
          signal: controller.signal,
          onProgress: () => controller.abort(),
        }),
      );

      expect(error.kind).toBe('Cancelled');
      expect(existsSync(`${dest}.part`)).toBe(false);
    } finally {
      await ftp.dispose();
    }
  });
});

describe('retries', () => {
  it('waits retryInterval between attempts, on the injected clock', async () => {
    const sha256 = http.put('image.bin', 1000);
    http.knobs.status = 503;
    const clock = new WaitWatchingClock();
    const waiting = clock.nextWait();

    const result = download({
      url: http.url('image.bin'),
      dest: join(dir, 'image.bin'),
      retries: 1,
      retryIntervalS: 30,
      clock,
    });
    expect(await waiting).toBe(30_000);
    expect(http.requests.map((r) => r.status)).toEqual([503]);
    delete http.knobs.status;
    clock.advance(29_999);
    expect(http.requests).toHaveLength(1);
    clock.advance(1);

    expect((await result).sha256).toBe(sha256);
    expect(http.requests.map((r) => r.status)).toEqual([503, 200]);
  });

  it('an unsupported scheme fails at once', async () => {
    const error = await failure(
      download({ url: 'sftp://host/image.bin', dest: join(dir, 'x'), retries: 3, retryIntervalS: 0 }),
    );

    expect(error.kind).toBe('UnsupportedProtocol');
  });
});

describe('credentials', () => {
  it('never reach the log or an error message', async () => {
    const lines: string[] = [];
    const log = createLogger({
      level: 'trace',
      destination: new Writable({
        write: (chunk: Buffer, _encoding, done) => {
          lines.push(chunk.toString());
          done();
        },
      }),
    });
    const password = 'Pw-9f3a7c1e';
    http.put('image.bin', 100_000);
    http.knobs.credentials = { user: 'operator', password };
    http.knobs.dropAfterBytesOnce = 50_000;
    const ftp = await Vsftpd.start();
    const errors: string[] = [];
    try {
      await download({
        url: http.url('image.bin', { user: 'operator', password }),
        dest: join(dir, 'a.bin'),
        retries: 1,
        retryIntervalS: 0,
        log,
      });
      for (const attempt of [
        () =>
          download({
            url: http.url('missing.bin', { user: 'operator', password }),
            dest: join(dir, 'b.bin'),
            retries: 1,
            retryIntervalS: 0,
            log,
          }),
        () =>
          download({
            url: ftp.url('files/missing.bin', password),
            dest: join(dir, 'c.bin'),
            retries: 1,
            retryIntervalS: 0,
            log,
          }),
        () =>
          upload({
            location: ftp.url('nowhere', password),
            fileName: 'x',
            file: join(dir, 'a.bin'),
            retries: 0,
            retryIntervalS: 0,
            log,
          }),
        () =>
          download({
            url: `ftp://u:${password}@127.0.0.1:1/x`,
            dest: join(dir, 'd.bin'),
            retries: 0,
            retryIntervalS: 0,
            log,
          }),
      ]) {
        const error = await failure(attempt());
        errors.push(`${error.message} ${String(error.cause)}`);
      }
    } finally {
      await ftp.dispose();
    }

    expect(lines.join('')).toMatch(/download complete/);
    expect(lines.join('')).toMatch(/retrying/);
    expect(errors).toHaveLength(4);
    expect(lines.join('')).not.toContain(password);
    expect(errors.join('\n')).not.toContain(password);
  });
});

describe('SupportedFileTransferProtocols', () => {
  it('lists exactly what the transfer module speaks', () => {
    const key = KEY_DEFINITIONS.find((definition) => definition.name === 'SupportedFileTransferProtocols');

    expect(supportedFileTransferProtocols()).toEqual(['FTP', 'FTPS', 'HTTP', 'HTTPS']);
    expect(key?.defaultValue).toBe(supportedFileTransferProtocols().join(','));
  });
});
