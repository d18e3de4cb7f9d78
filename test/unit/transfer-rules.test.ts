import { existsSync } from 'node:fs';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Timer } from '../../src/clock.js';
import { KEY_DEFINITIONS } from '../../src/config/keys.js';
import { createLogger } from '../../src/log.js';
import {
  DEFAULT_RESERVE_BYTES,
  supportedFileTransferProtocols,
  type TransferError,
} from '../../src/transfer/index.js';
import { MAX_RETRIES, MIN_RETRY_INTERVAL_S } from '../../src/transfer/retry.js';
import { FakeClock } from '../support/fake-clock.js';
import { HttpFileServer, Vsftpd } from '../support/file-servers.js';
import {
  failureOf,
  type QuickDownloadOptions,
  quickDownload,
  quickUpload,
  resetHttpServer,
  tempDirs,
} from '../support/transfer.js';

/**
 * The rules every transfer follows whatever the protocol: free space first, cancellation, the
 * retry interval, credentials kept out of logs and errors, and what SupportedFileTransferProtocols says.
 */

const MB = 1024 * 1024;
let http: HttpFileServer;
const inTemp = tempDirs('cp-transfer-rules-');

beforeAll(async () => {
  http = await HttpFileServer.start();
});

afterAll(() => http.close());

beforeEach(() => resetHttpServer(http));

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

/**
 * A download of `url` to image.bin on a WaitWatchingClock: `waiting` resolves with the delay of
 * its first timer (the wait before a retry), and the test drives the clock from there.
 */
function downloadOnWatchedClock(url: string, options: QuickDownloadOptions) {
  const clock = new WaitWatchingClock();
  const waiting = clock.nextWait();
  const result = quickDownload(url, inTemp('image.bin'), { ...options, clock });
  return { clock, waiting, result };
}

/** statfs of a filesystem with `freeBytes` available. */
function freeSpace(freeBytes: number) {
  return async () => ({ bavail: Math.floor(freeBytes / 4096), bsize: 4096 });
}

/** Downloads `url` to `dest` with three retries, cancelled as soon as the first bytes arrive. */
function cancelledAtFirstProgress(url: string, dest: string): Promise<TransferError> {
  const controller = new AbortController();
  return failureOf(
    quickDownload(url, dest, { retries: 3, signal: controller.signal, onProgress: () => controller.abort() }),
  );
}

describe('free space', () => {
  it('refuses a download larger than the free space minus the reserve before writing any of it', async () => {
    http.put('image.bin', 2 * MB);
    const dest = inTemp('image.bin');
    let written = 0;

    const error = await failureOf(
      quickDownload(http.url('image.bin'), dest, {
        retries: 3,
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

    const result = await quickDownload(http.url('image.bin'), inTemp('image.bin'), {
      statfs: freeSpace(DEFAULT_RESERVE_BYTES + 2 * MB),
    });

    expect(result.sha256).toBe(sha256);
  });

  it('asks nothing of the server when not even the reserve is free', async () => {
    http.put('image.bin', 10);

    const error = await failureOf(
      quickDownload(http.url('image.bin'), inTemp('image.bin'), {
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

    const error = await failureOf(
      quickDownload(http.url('image.bin'), inTemp('no', 'such', 'image.bin'), { retries: 2 }),
    );

    expect(error.kind).toBe('LocalIo');
    expect(http.requests).toEqual([]);
  });
});

describe('cancellation', () => {
  it('cancels a download in progress and removes the part', async () => {
    http.put('image.bin', 2 * MB);
    http.knobs.bytesPerSecond = 256 * 1024;
    const dest = inTemp('image.bin');

    const error = await cancelledAtFirstProgress(http.url('image.bin'), dest);

    expect(error.kind).toBe('Cancelled');
    expect(existsSync(`${dest}.part`)).toBe(false);
    expect(existsSync(dest)).toBe(false);
    expect(http.requests).toHaveLength(1);
  });

  it('cancels the wait between attempts', async () => {
    http.knobs.status = 503;
    const controller = new AbortController();

    const download = downloadOnWatchedClock(http.url('image.bin'), {
      retries: 5,
      retryIntervalS: 60,
      signal: controller.signal,
    });
    const result = failureOf(download.result);
    await download.waiting;
    controller.abort();

    expect((await result).kind).toBe('Cancelled');
    expect(http.requests).toHaveLength(1);
  });

  it('cancels an FTP download in progress', async () => {
    const ftp = await Vsftpd.start({ bytesPerSecond: 256 * 1024 });
    try {
      ftp.put('files/image.bin', 2 * MB);
      const dest = inTemp('image.bin');

      const error = await cancelledAtFirstProgress(ftp.url('files/image.bin'), dest);

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

    const { clock, waiting, result } = downloadOnWatchedClock(http.url('image.bin'), {
      retries: 1,
      retryIntervalS: 30,
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

  it('an empty file is a failed attempt (Empty): retried after retryInterval on the injected clock, over HTTP and FTP', async () => {
    const ftp = await Vsftpd.start();
    try {
      for (const server of [http, ftp]) {
        server.put('image.bin', 0);
        const { clock, waiting, result } = downloadOnWatchedClock(server.url('image.bin'), {
          retries: 1,
          retryIntervalS: 30,
        });
        expect(await waiting).toBe(30_000);
        // Published while the retry waits.
        const sha256 = server.put('image.bin', 1000);
        clock.advance(30_000);
        expect(await result).toEqual({ bytes: 1000, sha256 });
      }
      // Empty at every attempt: Empty after the retries, nothing left behind.
      http.put('image.bin', 0);
      const dest = inTemp('empty.bin');
      const error = await failureOf(quickDownload(http.url('image.bin'), dest, { retries: 2 }));
      expect([error.kind, error.message]).toEqual(['Empty', `${http.url('image.bin')} is empty (0 bytes)`]);
      expect(http.requests.filter((r) => r.method === 'GET')).toHaveLength(2 + 3);
      expect([existsSync(dest), existsSync(`${dest}.part`)]).toEqual([false, false]);
    } finally {
      await ftp.dispose();
    }
  });

  it('waits MIN_RETRY_INTERVAL_S at least, and retries MAX_RETRIES times at most, whatever the central system asks', async () => {
    http.put('image.bin', 1000);
    http.knobs.status = 503;
    // A retryInterval of 0 against a server that fails at once, two billion times over.
    const download = downloadOnWatchedClock(http.url('image.bin'), {
      retries: 2_000_000_000,
      retryIntervalS: 0,
    });
    const { clock } = download;
    const result = failureOf(download.result);
    let waiting = download.waiting;
    for (let retry = 1; retry <= MAX_RETRIES; retry++) {
      expect(await waiting).toBe(MIN_RETRY_INTERVAL_S * 1000);
      expect(http.requests).toHaveLength(retry);
      waiting = clock.nextWait();
      clock.advance(MIN_RETRY_INTERVAL_S * 1000);
    }
    expect((await result).kind).toBe('Server');
    expect(http.requests).toHaveLength(MAX_RETRIES + 1);
  });

  it('an unsupported scheme fails at once', async () => {
    const error = await failureOf(quickDownload('sftp://host/image.bin', inTemp('x'), { retries: 3 }));

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
      await quickDownload(http.url('image.bin', { user: 'operator', password }), inTemp('a.bin'), {
        retries: 1,
        log,
      });
      for (const attempt of [
        () =>
          quickDownload(http.url('missing.bin', { user: 'operator', password }), inTemp('b.bin'), {
            retries: 1,
            log,
          }),
        () => quickDownload(ftp.url('files/missing.bin', password), inTemp('c.bin'), { retries: 1, log }),
        () =>
          quickUpload({ location: ftp.url('nowhere', password), fileName: 'x', file: inTemp('a.bin'), log }),
        () => quickDownload(`ftp://u:${password}@127.0.0.1:1/x`, inTemp('d.bin'), { log }),
      ]) {
        const error = await failureOf(attempt());
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
