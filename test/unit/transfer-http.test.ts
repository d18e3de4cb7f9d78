import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { download, TransferError, upload } from '../../src/transfer/index.js';
import { HttpFileServer, sha256OfFile, writeTestFile } from '../support/file-servers.js';

/** Downloads and uploads over HTTP and HTTPS against real loopback servers. */

const MB = 1024 * 1024;
const LONG_AGO = new Date('2020-01-01T00:00:00Z');
const FAR_FUTURE = new Date('2100-01-01T00:00:00Z');
let http: HttpFileServer;
let https: HttpFileServer;
let dir: string;

beforeAll(async () => {
  http = await HttpFileServer.start();
  https = await HttpFileServer.start({ tls: true });
});

afterAll(async () => {
  await http.close();
  await https.close();
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cp-transfer-http-'));
  for (const server of [http, https]) {
    server.requests.length = 0;
    for (const knob of Object.keys(server.knobs)) delete server.knobs[knob as keyof typeof server.knobs];
  }
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

describe('HTTP download', () => {
  it('streams the file to dest with its SHA-256 and leaves no part behind', async () => {
    const sha256 = http.put('fw/image.bin', 2 * MB + 17);
    const dest = join(dir, 'image.bin');
    const progress: number[] = [];

    const result = await download({
      url: http.url('fw/image.bin'),
      dest,
      retries: 0,
      retryIntervalS: 0,
      onProgress: ({ bytes, total }) => {
        progress.push(bytes);
        expect(total).toBe(2 * MB + 17);
      },
    });

    expect(result).toEqual({ bytes: 2 * MB + 17, sha256 });
    expect(await sha256OfFile(dest)).toBe(sha256);
    expect(existsSync(`${dest}.part`)).toBe(false);
    expect(progress.at(-1)).toBe(2 * MB + 17);
  });

  it('resumes a dropped connection with Range and If-Range and gets the right SHA-256', async () => {
    const sha256 = http.put('image.bin', 1 * MB);
    http.knobs.dropAfterBytesOnce = 300_000;

    const result = await download({
      url: http.url('image.bin'),
      dest: join(dir, 'image.bin'),
      retries: 1,
      retryIntervalS: 0,
    });

    expect(result).toEqual({ bytes: 1 * MB, sha256 });
    expect(http.requests.map((r) => r.status)).toEqual([200, 206]);
    const resumed = http.requests[1]?.headers;
    expect(resumed?.range).toBe('bytes=300000-');
    // The ETag of the first answer: the bytes kept must be of the file still served.
    expect(resumed?.['if-range']).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
  });

  it('resumes against Last-Modified when the server sends no ETag', async () => {
    const sha256 = http.put('image.bin', 1 * MB);
    // Older than the answer's Date by more than a second: a strong validator.
    utimesSync(http.file('image.bin'), LONG_AGO, LONG_AGO);
    http.knobs.validators = 'lastModified';
    http.knobs.dropAfterBytesOnce = 500_000;

    const result = await download({
      url: http.url('image.bin'),
      dest: join(dir, 'image.bin'),
      retries: 1,
      retryIntervalS: 0,
    });

    expect(result.sha256).toBe(sha256);
    expect(http.requests[1]?.headers['if-range']).toMatch(/GMT$/);
    expect(http.requests[1]?.status).toBe(206);
  });

  it('starts over when Last-Modified is not a second older than the answer (a weak validator)', async () => {
    const sha256 = http.put('image.bin', 1 * MB);
    // Modified within the second of the answer, the file could change again under the same date.
    utimesSync(http.file('image.bin'), FAR_FUTURE, FAR_FUTURE);
    http.knobs.validators = 'lastModified';
    http.knobs.dropAfterBytesOnce = 500_000;

    const result = await download({
      url: http.url('image.bin'),
      dest: join(dir, 'image.bin'),
      retries: 1,
      retryIntervalS: 0,
    });

    expect(result).toEqual({ bytes: 1 * MB, sha256 });
    expect(http.requests[1]?.headers.range).toBeUndefined();
    expect(http.requests[1]?.headers['if-range']).toBeUndefined();
  });

  it('starts over when the ETag is weak, even with an old Last-Modified beside it', async () => {
    const sha256 = http.put('image.bin', 1 * MB);
    utimesSync(http.file('image.bin'), LONG_AGO, LONG_AGO);
    http.knobs.weakEtag = true;
    http.knobs.dropAfterBytesOnce = 500_000;

    const result = await download({
      url: http.url('image.bin'),
      dest: join(dir, 'image.bin'),
      retries: 1,
      retryIntervalS: 0,
    });

    expect(result).toEqual({ bytes: 1 * MB, sha256 });
    expect(http.requests[1]?.headers.range).toBeUndefined();
    expect(http.requests[1]?.headers['if-range']).toBeUndefined();
  });

  it('starts over when the server gives no validator to resume against', async () => {
    const sha256 = http.put('image.bin', 1 * MB);
    http.knobs.validators = 'none';
    http.knobs.dropAfterBytesOnce = 400_000;

    const result = await download({
      url: http.url('image.bin'),
      dest: join(dir, 'image.bin'),
      retries: 1,
      retryIntervalS: 0,
    });

    expect(result).toEqual({ bytes: 1 * MB, sha256 });
    expect(http.requests[1]?.headers.range).toBeUndefined();
  });

  it('starts over when the server ignores Range', async () => {
    const sha256 = http.put('image.bin', 1 * MB);
    http.knobs.ignoreRange = true;
    http.knobs.dropAfterBytesOnce = 400_000;

    const result = await download({
      url: http.url('image.bin'),
      dest: join(dir, 'image.bin'),
      retries: 1,
      retryIntervalS: 0,
    });

    expect(result).toEqual({ bytes: 1 * MB, sha256 });
    expect(http.requests.map((r) => r.status)).toEqual([200, 200]);
  });

  it('a 404 is NotFound after the retries, and nothing is left at dest', async () => {
    const dest = join(dir, 'image.bin');

    const error = await failure(
      download({ url: http.url('missing.bin'), dest, retries: 2, retryIntervalS: 0 }),
    );

    expect(error.kind).toBe('NotFound');
    expect(http.requests.map((r) => r.status)).toEqual([404, 404, 404]);
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(`${dest}.part`)).toBe(false);
  });

  it('sends the URL credentials as Basic authentication; refused ones are AccessDenied at once', async () => {
    const sha256 = http.put('image.bin', 1000);
    http.knobs.credentials = { user: 'fw', password: 'p@ss:word' };

    const ok = await download({
      url: http.url('image.bin', { user: 'fw', password: 'p@ss:word' }),
      dest: join(dir, 'a.bin'),
      retries: 0,
      retryIntervalS: 0,
    });
    const refused = await failure(
      download({
        url: http.url('image.bin', { user: 'fw', password: 'wrong' }),
        dest: join(dir, 'b.bin'),
        retries: 3,
        retryIntervalS: 0,
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

    const moved = await download({
      url: http.url('image.bin', credentials),
      dest: join(dir, 'a.bin'),
      retries: 0,
      retryIntervalS: 0,
      ca: https.tls?.ca.cert,
    });
    await download({
      url: http.url('here.bin', credentials),
      dest: join(dir, 'b.bin'),
      retries: 0,
      retryIntervalS: 0,
    });

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
      const error = await failure(
        download({
          url: http.url('image.bin'),
          dest: join(dir, 'image.bin'),
          retries: 0,
          retryIntervalS: 0,
          idleTimeoutMs: 100,
        }),
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

    const result = await download({
      url: https.url('image.bin'),
      dest: join(dir, 'image.bin'),
      retries: 0,
      retryIntervalS: 0,
      ca: https.tls?.ca.cert,
    });

    expect(result.sha256).toBe(sha256);
  });

  it('refuses a server the system CAs do not vouch for (Certificate, not retried)', async () => {
    https.put('image.bin', 1000);

    const error = await failure(
      download({ url: https.url('image.bin'), dest: join(dir, 'image.bin'), retries: 2, retryIntervalS: 0 }),
    );

    expect(error.kind).toBe('Certificate');
    expect(https.requests).toEqual([]);
  });

  it('resumes a dropped connection', async () => {
    const sha256 = https.put('image.bin', 1 * MB);
    https.knobs.dropAfterBytesOnce = 200_000;

    const result = await download({
      url: https.url('image.bin'),
      dest: join(dir, 'image.bin'),
      retries: 1,
      retryIntervalS: 0,
      ca: https.tls?.ca.cert,
    });

    expect(result.sha256).toBe(sha256);
    expect(https.requests.map((r) => r.status)).toEqual([200, 206]);
  });
});

describe('HTTP(S) upload', () => {
  it('PUTs the file to <location>/<fileName>', async () => {
    const file = join(dir, 'diagnostics.tar.gz');
    const sha256 = writeTestFile(file, 123_456);

    await upload({
      location: http.url('uploads/cp1/'),
      fileName: 'diagnostics.tar.gz',
      file,
      retries: 0,
      retryIntervalS: 0,
    });
    await upload({
      location: https.url('logs'),
      fileName: 'security log.tar.gz',
      file,
      retries: 0,
      retryIntervalS: 0,
      ca: https.tls?.ca.cert,
    });

    expect(await sha256OfFile(http.file('uploads/cp1/diagnostics.tar.gz'))).toBe(sha256);
    expect(await sha256OfFile(https.file('logs/security log.tar.gz'))).toBe(sha256);
    expect(http.requests.map((r) => [r.method, r.path])).toEqual([
      ['PUT', '/uploads/cp1/diagnostics.tar.gz'],
    ]);
  });

  it('retries a failing server and reports its kind', async () => {
    const file = join(dir, 'log.tar.gz');
    writeFileSync(file, 'x');
    http.knobs.status = 503;

    const error = await failure(
      upload({ location: http.url('up'), fileName: 'log.tar.gz', file, retries: 2, retryIntervalS: 0 }),
    );

    expect(error.kind).toBe('Server');
    expect(http.requests.map((r) => r.status)).toEqual([503, 503, 503]);
  });

  it('sends credentials from the location', async () => {
    const file = join(dir, 'log.tar.gz');
    writeFileSync(file, 'log');
    http.knobs.credentials = { user: 'up', password: 's3cret' };

    await upload({
      location: http.url('in', { user: 'up', password: 's3cret' }),
      fileName: 'log.tar.gz',
      file,
      retries: 0,
      retryIntervalS: 0,
    });

    expect(readFileSync(http.file('in/log.tar.gz'), 'utf8')).toBe('log');
  });
});
