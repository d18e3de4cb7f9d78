import { existsSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FtpDropProxy,
  freePortRange,
  REFUSED_FTP_PASSWORD,
  sha256OfFile,
  Vsftpd,
  writeTestFile,
} from '../support/file-servers.js';
import {
  expectDownloaded,
  failureOf,
  quickDownload,
  quickUpload,
  tempDirs,
  trusting,
} from '../support/transfer.js';

/** Downloads and uploads over FTP and explicit FTPS against a real vsftpd on loopback. */

const MB = 1024 * 1024;
let ftp: Vsftpd;
let ftps: Vsftpd;
const inTemp = tempDirs('cp-transfer-ftp-');

beforeAll(async () => {
  [ftp, ftps] = await Promise.all([Vsftpd.start(), Vsftpd.start({ tls: true })]);
});

afterAll(async () => {
  await Promise.all([ftp.dispose(), ftps.dispose()]);
});

/** The FTP commands vsftpd logged with this verb (its log_ftp_protocol lines). */
function commands(server: Vsftpd, verb: string): string[] {
  return [...server.log().matchAll(new RegExp(`FTP command: Client "[^"]+", "(${verb}[^"]*)"`, 'g'))].map(
    (match) => match[1] ?? '',
  );
}

describe('FTP download', () => {
  it('RETRs the file to dest with its SHA-256', async () => {
    const sha256 = ftp.put('files/fw/image.bin', 2 * MB + 3);
    const dest = inTemp('image.bin');

    const result = await quickDownload(ftp.url('files/fw/image.bin'), dest);

    await expectDownloaded(result, dest, { bytes: 2 * MB + 3, sha256 });
  });

  it('resumes a dropped data connection with REST and gets the right SHA-256', async () => {
    const sha256 = ftp.put('files/resume.bin', 1 * MB);
    const proxy = await FtpDropProxy.start(ftp, { dropAfterBytesOnce: 300_000 });
    try {
      const result = await quickDownload(proxy.url(ftp, 'files/resume.bin'), inTemp('resume.bin'), {
        retries: 1,
      });

      expect(result).toEqual({ bytes: 1 * MB, sha256 });
      expect(proxy.dropAfterBytesOnce).toBeUndefined();
      // Resumed from what reached the disk before the cut (the client may not have read all of it).
      const rest = commands(ftp, 'REST').map((command) => Number(command.slice(5)));
      expect(rest).toHaveLength(1);
      expect(rest[0]).toBeGreaterThan(0);
      expect(rest[0]).toBeLessThanOrEqual(300_000);
    } finally {
      await proxy.close();
    }
  });

  it('a missing file (550) is NotFound after the retries', async () => {
    const dest = inTemp('x.bin');
    const before = commands(ftp, 'SIZE files/download_fail.fwi').length;

    const error = await failureOf(quickDownload(ftp.url('files/download_fail.fwi'), dest, { retries: 1 }));

    expect(error.kind).toBe('NotFound');
    expect(commands(ftp, 'SIZE files/download_fail.fwi').length - before).toBe(2);
    expect(existsSync(`${dest}.part`)).toBe(false);
  });

  it('a refused login is AccessDenied, not retried', async () => {
    ftp.put('files/a.bin', 10);

    const error = await failureOf(
      quickDownload(ftp.url('files/a.bin', REFUSED_FTP_PASSWORD), inTemp('a.bin'), { retries: 3 }),
    );

    expect(error.kind).toBe('AccessDenied');
  });
});

describe('FTPS (explicit TLS) download', () => {
  it('logs in and transfers over TLS, verified against the given roots', async () => {
    const sha256 = ftps.put('files/image.bin', 500_000);

    const result = await quickDownload(ftps.url('files/image.bin'), inTemp('image.bin'), trusting(ftps));

    expect(result.sha256).toBe(sha256);
    // The server forces TLS for login and data: a plain session could not have done it.
    expect(ftps.log()).toMatch(/AUTH TLS/);
  });

  it('refuses a server the system CAs do not vouch for (Certificate)', async () => {
    ftps.put('files/image.bin', 1000);

    const error = await failureOf(
      quickDownload(ftps.url('files/image.bin'), inTemp('image.bin'), { retries: 2 }),
    );

    expect(error.kind).toBe('Certificate');
  });
});

describe('FTP(S) upload', () => {
  it('STORs the file into the location directory', async () => {
    const file = inTemp('diagnostics.tar.gz');
    const sha256 = writeTestFile(file, 200_000);

    await quickUpload({ location: ftp.url('files'), fileName: 'diagnostics.tar.gz', file });
    await quickUpload({ location: ftps.url('files/'), fileName: 'log.tar.gz', file, ca: ftps.tls?.ca.cert });

    expect(await sha256OfFile(ftp.file('files/diagnostics.tar.gz'))).toBe(sha256);
    expect(await sha256OfFile(ftps.file('files/log.tar.gz'))).toBe(sha256);
  });

  it('a location that does not exist fails (TC_045_2) after the retries', async () => {
    const file = inTemp('diagnostics.tar.gz');
    writeTestFile(file, 100);
    const before = commands(ftp, 'CWD files/failedLocation').length;

    const error = await failureOf(
      quickUpload({
        location: ftp.url('files/failedLocation'),
        fileName: 'diagnostics.tar.gz',
        file,
        retries: 1,
      }),
    );

    expect(error.kind).toBe('NotFound');
    expect(commands(ftp, 'CWD files/failedLocation').length - before).toBe(2);
  });

  it('a missing local file is LocalIo, not retried', async () => {
    const error = await failureOf(
      quickUpload({
        location: ftp.url('files'),
        fileName: 'x.tar.gz',
        file: inTemp('nothing-here'),
        retries: 3,
      }),
    );

    expect(error.kind).toBe('LocalIo');
  });
});

describe('vsftpd passive range', () => {
  it('skips a base whose ports are taken instead of failing the start', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const { port } = busy.address() as AddressInfo;
    const free = await freePortRange(1);
    try {
      expect(await freePortRange(1, [port, free])).toBe(free);
    } finally {
      busy.close();
    }
  });
});
