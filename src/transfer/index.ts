import { dirname } from 'node:path';
import { systemClock } from '../clock.js';
import type { AttemptContext } from './context.js';
import { toTransferError } from './errors.js';
import { httpDownloader, httpUploader } from './http.js';
import { PartFile } from './part-file.js';
import { MAX_RETRIES, MIN_RETRY_INTERVAL_S, type RetryPolicy, withRetries } from './retry.js';
import { ensureSpace, systemStatfs } from './space.js';
import { systemCas } from './trust.js';
import {
  DEFAULT_RESERVE_BYTES,
  type DownloadOptions,
  type DownloadResult,
  type FileTransferProtocol,
  TransferError,
  type UploadOptions,
} from './types.js';
import { parseTransferUrl, type TransferTarget } from './url.js';

export * from './types.js';
export { redactUrl } from './url.js';

const DEFAULT_IDLE_TIMEOUT_MS = 30_000;

/** What SupportedFileTransferProtocols lists: every scheme this module transfers over. */
export function supportedFileTransferProtocols(): FileTransferProtocol[] {
  return ['FTP', 'FTPS', 'HTTP', 'HTTPS'];
}

function isHttp(target: TransferTarget): boolean {
  return target.protocol === 'HTTP' || target.protocol === 'HTTPS';
}

/**
 * Downloads `url` to `dest`: streamed into `<dest>.part` (hashed on the way), after a check of
 * the free space against the announced size; transient failures are retried and resumed;
 * finally fsync and rename. On any failure or cancellation the part is removed.
 */
export async function download(options: DownloadOptions): Promise<DownloadResult> {
  const target = parseTransferUrl(options.url);
  const { signal, log } = options;
  const statfs = options.statfs ?? systemStatfs;
  const reserve = options.reserveBytes ?? DEFAULT_RESERVE_BYTES;
  const dir = dirname(options.dest);
  if (signal?.aborted) throw new TransferError('Cancelled', 'cancelled');
  await ensureSpace(dir, 0, reserve, statfs);
  const part = await PartFile.open(options.dest, options.onProgress);
  const ctx = attemptContext(options, (bytes) => ensureSpace(dir, bytes, reserve, statfs));
  log?.info({ url: target.display, dest: options.dest }, 'download started');
  try {
    const attempt = isHttp(target)
      ? httpDownloader(target, part, ctx)
      : (await import('./ftp.js')).ftpDownloader(target, part, ctx);
    await withRetries({ ...policyOf(options), display: target.display }, attempt);
    const result = await part.commit();
    log?.info({ url: target.display, bytes: result.bytes, sha256: result.sha256 }, 'download complete');
    return result;
  } catch (caught) {
    await part.discard();
    const error = toTransferError(caught, signal);
    log?.warn({ url: target.display, kind: error.kind, err: error.message }, 'download failed');
    throw error;
  }
}

/**
 * Uploads `file` as `fileName` into the directory URL `location` (FTP STOR there, HTTP(S) PUT to
 * `location/<fileName>`), retried like a download; an upload starts over on each attempt.
 */
export async function upload(options: UploadOptions): Promise<void> {
  const target = parseTransferUrl(options.location);
  const { signal, log } = options;
  if (signal?.aborted) throw new TransferError('Cancelled', 'cancelled');
  const ctx = attemptContext(options, async () => undefined);
  log?.info({ location: target.display, fileName: options.fileName }, 'upload started');
  try {
    const attempt = isHttp(target)
      ? httpUploader(target, options.fileName, options.file, ctx)
      : (await import('./ftp.js')).ftpUploader(target, options.fileName, options.file, ctx);
    await withRetries({ ...policyOf(options), display: target.display }, attempt);
    log?.info({ location: target.display, fileName: options.fileName }, 'upload complete');
  } catch (caught) {
    const error = toTransferError(caught, signal);
    log?.warn({ location: target.display, kind: error.kind, err: error.message }, 'upload failed');
    throw error;
  }
}

/** What every attempt of a download or an upload gets; only a download checks the free space. */
function attemptContext(
  options: DownloadOptions | UploadOptions,
  ensureSpace: AttemptContext['ensureSpace'],
): AttemptContext {
  let anchors: { ca: string[] | undefined } | undefined;
  return {
    // Read at the first TLS connection only: a plain HTTP or FTP transfer never loads the system's bundle.
    get ca() {
      anchors ??= { ca: (options.systemCas ?? systemCas).anchors(options.ca) };
      return anchors.ca;
    },
    ...(options.signal ? { signal: options.signal } : {}),
    idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    ensureSpace,
  };
}

function policyOf(options: DownloadOptions | UploadOptions): Omit<RetryPolicy, 'display'> {
  return {
    retries: Math.min(MAX_RETRIES, Math.max(0, options.retries)),
    retryIntervalS: Math.max(MIN_RETRY_INTERVAL_S, options.retryIntervalS),
    clock: options.clock ?? systemClock,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.log ? { log: options.log } : {}),
  };
}
