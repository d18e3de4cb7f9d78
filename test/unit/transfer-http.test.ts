import { existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DownloadResult } from '../../src/transfer/index.js';
import { HttpFileServer, sha256OfFile, writeTestFile } from '../support/file-servers.js';
import {
  expectDownloaded,
  failureOf,
  type QuickDownloadOptions,
  quickDownload,
  quickUpload,
  resetHttpServer,
  tempDirs,
  trusting,
} from '../support/transfer.js';

/** Downloads and uploads over HTTP and HTTPS against real loopback servers. */

const MB = 1024 * 1024;
const LONG_AGO = new Date('2020-01-01T00:00:00Z');
const FAR_FUTURE = new Date('2100-01-01T00:00:00Z');
let http: HttpFileServer;
let https: HttpFileServer;
const inTemp = tempDirs('cp-transfer-http-');

beforeAll(async () => {
  http = await HttpFileServer.start();
  https = await HttpFileServer.start({ tls: true });
});

afterAll(async () => {
  await http.close();
  await https.close();
});

beforeEach(() => {
  resetHttpServer(http);
  resetHttpServer(https);
});

/** Puts a 1 MiB image.bin on `server`, last modified at `modified` when given; returns its SHA-256. */
function putImage(server: HttpFileServer, modified?: Date): string {
  const sha256 = server.put('image.bin', 1 * MB);
  if (modified) utimesSync(server.file('image.bin'), modified, modified);
  return sha256;
}

/** Downloads image.bin from `server` with one retry, the first answer cut after `bytes`. */
function downloadCutAfter(
  server: HttpFileServer,
  bytes: number,
  options: QuickDownloadOptions = {},
): Promise<DownloadResult> {
  server.knobs.dropAfterBytesOnce = bytes;
  return quickDownload(server.url('image.bin'), inTemp('image.bin'), { retries: 1, ...options });
}

/** The whole image came down, and the attempt after the cut asked for all of it again. */
function expectStartedOver(result: DownloadResult, sha256: string): void {
  expect(result).toEqual({ bytes: 1 * MB, sha256 });
  expect(http.requests[1]?.headers.range).toBeUndefined();
  expect(http.requests[1]?.headers['if-range']).toBeUndefined();
}

describe('HTTP download', () => {
  it('streams the file to dest with its SHA-256 and leaves no part behind', async () => {
    const sha256 = http.put('fw/image.bin', 2 * MB + 17);
    const dest = inTemp('image.bin');
    const progress: number[] = [];

    const result = await quickDownload(http.url('fw/image.bin'), dest, {
      onProgress: ({ bytes, total }) => {
        progress.push(bytes);
        expect(total).toBe(2 * MB + 17);
      },
    });

    await expectDownloaded(result, dest, { bytes: 2 * MB + 17, sha256 });
    expect(progress.at(-1)).toBe(2 * MB + 17);
  });

  it('resumes a dropped connection with Range and If-Range and gets the right SHA-256', async () => {
    const sha256 = putImage(http);

    const result = await downloadCutAfter(http, 300_000);

    expect(result).toEqual({ bytes: 1 * MB, sha256 });
    expect(http.requests.map((r) => r.status)).toEqual([200, 206]);
    const resumed = http.requests[1]?.headers;
    expect(resumed?.range).toBe('bytes=300000-');
    // The ETag of the first answer: the bytes kept must be of the file still served.
    expect(resumed?.['if-range']).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
  });

  it('resumes against Last-Modified when the server sends no ETag', async () => {
    // Older than the answer's Date by more than a second: a strong validator.
    const sha256 = putImage(http, LONG_AGO);
    http.knobs.validators = 'lastModified';

    const result = await downloadCutAfter(http, 500_000);

    expect(result.sha256).toBe(sha256);
    expect(http.requests[1]?.headers['if-range']).toMatch(/GMT$/);
    expect(http.requests[1]?.status).toBe(206);
  });

  it('starts over when Last-Modified is not a second older than the answer (a weak validator)', async () => {
    // Modified within the second of the answer, the file could change again under the same date.
    const sha256 = putImage(http, FAR_FUTURE);
    http.knobs.validators = 'lastModified';

    expectStartedOver(await downloadCutAfter(http, 500_000), sha256);
  });

  it('starts over when the ETag is weak, even with an old Last-Modified beside it', async () => {
    const sha256 = putImage(http, LONG_AGO);
    http.knobs.weakEtag = true;

    expectStartedOver(await downloadCutAfter(http, 500_000), sha256);
  });

  it('starts over when the server gives no validator to resume against', async () => {
    const sha256 = putImage(http);
    http.knobs.validators = 'none';

    const result = await downloadCutAfter(http, 400_000);

    expect(result).toEqual({ bytes: 1 * MB, sha256 });
    expect(http.requests[1]?.headers.range).toBeUndefined();
  });

  it('starts over when the server ignores Range', async () => {
    const sha256 = putImage(http);
    http.knobs.ignoreRange = true;

    const result = await downloadCutAfter(http, 400_000);

    expect(result).toEqual({ bytes: 1 * MB, sha256 });
    expect(http.requests.map((r) => r.status)).toEqual([200, 200]);
  });

  it('a 404 is NotFound after the retries, and nothing is left at dest', async () => {
    const dest = inTemp('image.bin');

    const error = await failureOf(quickDownload(http.url('missing.bin'), dest, { retries: 2 }));

    expect(error.kind).toBe('NotFound');
    expect(http.requests.map((r) => r.status)).toEqual([404, 404, 404]);
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(`${dest}.part`)).toBe(false);
  });

  it('sends the URL credentials as Basic authentication; refused ones are AccessDenied at once', async () => {
    const sha256 = http.put('image.bin', 1000);
    http.knobs.credentials = { user: 'fw', password: 'p@ss:word' };

    const ok = await quickDownload(
      http.url('image.bin', { user: 'fw', password: 'p@ss:word' }),
      inTemp('a.bin'),
    );
    const refused = await failureOf(
      quickDownload(http.url('image.bin', { user: 'fw', password: 'wrong' }), inTemp('b.bin'), {
        retries: 3,
      }),
    );

    expect(ok.sha256).toBe(sha256);
    expect(refused.kind).toBe('AccessDenied');
    expect(http.requests.map((r) => r.status)).toEqual([200, 401]);
  });
});

describe('HTTP redirects', () => {
  it('follows them, and sends credentials only to the origin they were given for', async () => {
    const sha256 = https.put('mirror/image.bin', 10_000);
    http.put('local.bin', 10);
    http.knobs.redirects = { 'image.bin': https.url('mirror/image.bin'), 'here.bin': '/local.bin' };
    const credentials = { user: 'fw', password: 'secret' };

    const moved = await quickDownload(http.url('image.bin', credentials), inTemp('a.bin'), trusting(https));
    await quickDownload(http.url('here.bin', credentials), inTemp('b.bin'));

    expect(moved.sha256).toBe(sha256);
    expect(http.requests.map((r) => [r.path, r.status, r.headers.authorization !== undefined])).toEqual([
      ['/image.bin', 302, true],
      ['/here.bin', 302, true],
      ['/local.bin', 200, true],
    ]);
    expect(https.requests.map((r) => [r.path, r.headers.authorization])).toEqual([
      ['/mirror/image.bin', undefined],
    ]);
  });
  it('names a silent redirect target in its error without the password it carries', async () => {
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    http.knobs.redirects = { 'image.bin': `http://mirror:m1rr0r-pw@127.0.0.1:${port}/image.bin` };
    try {
      const error = await failureOf(
        quickDownload(http.url('image.bin'), inTemp('image.bin'), { idleTimeoutMs: 100 }),
      );

      expect(error.kind).toBe('Network');
      expect(error.message).toBe(`http://127.0.0.1:${port}/image.bin: no data for 100 ms`);
    } finally {
      silent.close();
    }
  });
});

describe('HTTPS download', () => {
  it('verifies the server against the given roots', async () => {
    const sha256 = https.put('image.bin', 300_000);

    const result = await quickDownload(https.url('image.bin'), inTemp('image.bin'), trusting(https));

    expect(result.sha256).toBe(sha256);
  });

  it('refuses a server the system CAs do not vouch for (Certificate, not retried)', async () => {
    https.put('image.bin', 1000);

    const error = await failureOf(quickDownload(https.url('image.bin'), inTemp('image.bin'), { retries: 2 }));

    expect(error.kind).toBe('Certificate');
    expect(https.requests).toEqual([]);
  });

  it('resumes a dropped connection', async () => {
    const sha256 = putImage(https);

    const result = await downloadCutAfter(https, 200_000, trusting(https));

    expect(result.sha256).toBe(sha256);
    expect(https.requests.map((r) => r.status)).toEqual([200, 206]);
  });
});

describe('HTTP(S) upload', () => {
  it('PUTs the file to <location>/<fileName>', async () => {
    const file = inTemp('diagnostics.tar.gz');
    const sha256 = writeTestFile(file, 123_456);

    await quickUpload({ location: http.url('uploads/cp1/'), fileName: 'diagnostics.tar.gz', file });
    await quickUpload({
      location: https.url('logs'),
      fileName: 'security log.tar.gz',
      file,
      ca: https.tls?.ca.cert,
    });

    expect(await sha256OfFile(http.file('uploads/cp1/diagnostics.tar.gz'))).toBe(sha256);
    expect(await sha256OfFile(https.file('logs/security log.tar.gz'))).toBe(sha256);
    expect(http.requests.map((r) => [r.method, r.path])).toEqual([
      ['PUT', '/uploads/cp1/diagnostics.tar.gz'],
    ]);
  });

  it('retries a failing server and reports its kind', async () => {
    const file = inTemp('log.tar.gz');
    writeFileSync(file, 'x');
    http.knobs.status = 503;

    const error = await failureOf(
      quickUpload({ location: http.url('up'), fileName: 'log.tar.gz', file, retries: 2 }),
    );

    expect(error.kind).toBe('Server');
    expect(http.requests.map((r) => r.status)).toEqual([503, 503, 503]);
  });

  it('sends credentials from the location', async () => {
    const file = inTemp('log.tar.gz');
    writeFileSync(file, 'log');
    http.knobs.credentials = { user: 'up', password: 's3cret' };

    await quickUpload({
      location: http.url('in', { user: 'up', password: 's3cret' }),
      fileName: 'log.tar.gz',
      file,
    });

    expect(readFileSync(http.file('in/log.tar.gz'), 'utf8')).toBe('log');
  });
});
