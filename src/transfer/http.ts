import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import {
  request as httpRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type RequestOptions,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { AttemptContext } from './context.js';
import { httpStatusKind, localIoError } from './errors.js';
import { type PartFile, receiveInto } from './part-file.js';
import { releasingReadBuffers } from './read-buffers.js';
import { TransferError } from './types.js';
import { redactUrl, type TransferTarget } from './url.js';

const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * One download attempt per call, over HTTP or HTTPS. A later attempt resumes with Range from the
 * bytes already in the part, guarded by If-Range with the validator of the first answer (a strong
 * ETag, else a Last-Modified a second older than its Date): if the file changed meanwhile the
 * server sends it whole (200) and the part starts over. Without a strong validator there is
 * nothing to guard a resume with, so it restarts.
 */
export function httpDownloader(
  target: TransferTarget,
  part: PartFile,
  ctx: AttemptContext,
): () => Promise<void> {
  let validator: string | undefined;
  return async () => {
    if (part.bytes > 0 && validator === undefined) await part.restart();
    const headers: OutgoingHttpHeaders = { ...authorization(target) };
    if (part.bytes > 0 && validator !== undefined) {
      headers.range = `bytes=${part.bytes}-`;
      headers['if-range'] = validator;
    }
    const response = await get(target, headers, ctx);
    let total: number | undefined;
    try {
      if (response.statusCode === 206) {
        const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(response.headers['content-range'] ?? '');
        if (!range || Number(range[1]) !== part.bytes) {
          await part.restart();
          throw new TransferError('Server', 'the server resumed at another offset than asked');
        }
        total = range[2] === '*' ? undefined : Number(range[2]);
      } else if (response.statusCode === 200) {
        if (part.bytes > 0) await part.restart();
        total = contentLength(response);
        validator = validatorOf(response);
      } else {
        const status = response.statusCode ?? 0;
        throw new TransferError(httpStatusKind(status), `${target.display}: HTTP ${status}`);
      }
      await receiveInto(part, total, ctx, target.display, (sink) =>
        pipeline(response, releasingReadBuffers(), sink),
      );
    } catch (error) {
      response.destroy();
      throw error;
    }
  };
}

/** Sends `file` by PUT to `<location>/<fileName>`; one attempt per call. */
export function httpUploader(
  target: TransferTarget,
  fileName: string,
  file: string,
  ctx: AttemptContext,
): () => Promise<void> {
  const url = new URL(target.url.href);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/${encodeURIComponent(fileName)}`;
  return async () => {
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch (error) {
      throw localIoError(error, `cannot read ${file}`);
    }
    const headers = {
      ...authorization(target),
      'content-length': size,
      'content-type': 'application/octet-stream',
    };
    const response = await send('PUT', url, headers, ctx, createReadStream(file));
    response.resume();
    const status = response.statusCode ?? 0;
    if (status < 200 || status > 299)
      throw new TransferError(httpStatusKind(status), `PUT ${redactUrl(url.href)}: HTTP ${status}`);
  };
}

function authorization(target: TransferTarget): OutgoingHttpHeaders {
  if (target.user === undefined) return {};
  const token = Buffer.from(`${target.user}:${target.password ?? ''}`).toString('base64');
  return { authorization: `Basic ${token}` };
}

function contentLength(response: IncomingMessage): number | undefined {
  const value = response.headers['content-length'];
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}

/** Dates have one-second granularity: a file changed again within its second keeps its date. */
const STRONG_DATE_AGE_MS = 1000;

/**
 * If-Range takes only a strong validator (RFC 7233 section 3.2): an ETag not marked weak; a date
 * only when the answer has no ETag at all, and only a Last-Modified at least a second older than
 * the answer's Date (RFC 7232 section 2.2.2), so the file cannot have changed under the same date.
 */
function validatorOf(response: IncomingMessage): string | undefined {
  const { etag, date } = response.headers;
  if (etag !== undefined) return etag.startsWith('W/') ? undefined : etag;
  const lastModified = response.headers['last-modified'];
  if (lastModified === undefined || date === undefined) return undefined;
  // An unparsable date is NaN, and NaN is never old enough.
  return Date.parse(date) - Date.parse(lastModified) >= STRONG_DATE_AGE_MS ? lastModified : undefined;
}

/** GET following redirects; credentials go only to the origin they were given for. */
async function get(
  target: TransferTarget,
  headers: OutgoingHttpHeaders,
  ctx: AttemptContext,
): Promise<IncomingMessage> {
  let url = target.url;
  const current = { ...headers };
  for (let hop = 0; ; hop++) {
    const response = await send('GET', url, current, ctx);
    const location = response.headers.location;
    if (!REDIRECTS.has(response.statusCode ?? 0) || location === undefined) return response;
    response.resume();
    if (hop >= MAX_REDIRECTS) throw new TransferError('Refused', `${target.display}: too many redirects`);
    const next = new URL(location, url);
    if (next.protocol !== 'http:' && next.protocol !== 'https:')
      throw new TransferError('UnsupportedProtocol', `${target.display}: redirected to ${next.protocol}`);
    if (next.origin !== url.origin) delete current.authorization;
    url = next;
  }
}

function send(
  method: string,
  url: URL,
  headers: OutgoingHttpHeaders,
  ctx: AttemptContext,
  body?: Readable,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const options: RequestOptions = {
      method,
      headers,
      timeout: ctx.idleTimeoutMs,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    };
    const request =
      url.protocol === 'https:'
        ? httpsRequest(url, { ...options, minVersion: 'TLSv1.2', ...(ctx.ca ? { ca: ctx.ca } : {}) }, resolve)
        : httpRequest(url, options, resolve);
    request.on('timeout', () =>
      request.destroy(
        new TransferError('Network', `${redactUrl(url.href)}: no data for ${ctx.idleTimeoutMs} ms`),
      ),
    );
    request.on('error', (error) => {
      // The file being sent is closed with the request, whatever ended it.
      body?.destroy();
      reject(error);
    });
    if (body) {
      body.on('error', (error) => request.destroy(localIoError(error, 'cannot read the file to upload')));
      body.pipe(request);
    } else request.end();
  });
}
