import { createReadStream } from 'node:fs';
import { Client } from 'basic-ftp';
import type { AttemptContext } from './context.js';
import { errorCode, localIoError } from './errors.js';
import { type PartFile, receiveInto } from './part-file.js';
import { ftpPath, type TransferTarget } from './url.js';

/** Logs in (FTPS: AUTH TLS first, data connections protected too); the signal closes the session. */
async function session(
  target: TransferTarget,
  ctx: AttemptContext,
  work: (client: Client) => Promise<void>,
): Promise<void> {
  const client = new Client(ctx.idleTimeoutMs);
  const onAbort = () => client.close();
  ctx.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await client.access({
      host: target.host,
      port: target.port,
      // RFC 1738: no user in the URL means anonymous.
      user: target.user ?? 'anonymous',
      password: target.password ?? 'anonymous@',
      secure: target.protocol === 'FTPS',
      secureOptions: { minVersion: 'TLSv1.2', ...(ctx.ca ? { ca: ctx.ca } : {}) },
    });
    await work(client);
  } finally {
    ctx.signal?.removeEventListener('abort', onAbort);
    client.close();
  }
}

/** SIZE and MDTM, when the server has them: FTP's stand-ins for Content-Length and a validator. */
async function describe(client: Client, path: string): Promise<{ size?: number; modified?: number }> {
  let size: number | undefined;
  try {
    size = await client.size(path);
  } catch (error) {
    // 550 is a missing file; other codes mean the server lacks SIZE (or for this transfer type).
    if (errorCode(error) === 550) throw error;
  }
  const modified = await client.lastMod(path).then(
    (date) => date.getTime(),
    () => undefined,
  );
  return { ...(size !== undefined ? { size } : {}), ...(modified !== undefined ? { modified } : {}) };
}

/**
 * One download attempt per call (RETR). A later attempt resumes with REST from the bytes in the
 * part, unless SIZE or MDTM say the file changed since the first attempt. A data connection the
 * server closed early can end with a 226 all the same, so a short file against SIZE is a transient
 * failure and resumed.
 */
export function ftpDownloader(
  target: TransferTarget,
  part: PartFile,
  ctx: AttemptContext,
): () => Promise<void> {
  const path = ftpPath(target);
  let first: { size?: number; modified?: number } | undefined;
  return () =>
    session(target, ctx, async (client) => {
      const now = await describe(client, path);
      if (first === undefined) first = now;
      else if (part.bytes > 0 && (now.size !== first.size || now.modified !== first.modified)) {
        first = now;
        await part.restart();
      }
      await receiveInto(part, now.size, ctx, target.display, async (sink) => {
        await client.downloadTo(sink, path, part.bytes);
      });
    });
}

/** STOR of `file` as `fileName` into the location's directory (which must exist); one attempt per call. */
export function ftpUploader(
  target: TransferTarget,
  fileName: string,
  file: string,
  ctx: AttemptContext,
): () => Promise<void> {
  const dir = ftpPath(target);
  return () =>
    session(target, ctx, async (client) => {
      if (dir !== '') await client.cd(dir);
      const source = createReadStream(file);
      const opened = new Promise<void>((resolve, reject) => {
        source.once('open', () => resolve());
        source.once('error', (error) => reject(localIoError(error, `cannot read ${file}`)));
      });
      try {
        await opened;
        await client.uploadFrom(source, fileName);
      } finally {
        source.destroy();
      }
    });
}
