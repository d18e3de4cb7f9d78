import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { SystemCas } from './trust.js';

/**
 * The file transfers of Firmware Management and of the security extension's logs (OCPP 1.6
 * section 8 "Firmware and Diagnostics File Transfer"): downloads by GET / RETR, uploads by PUT /
 * STOR, over FTP, FTPS (explicit TLS), HTTP and HTTPS. Credentials come from the URL's
 * user:password and are never logged.
 */

/** The protocol names of the key SupportedFileTransferProtocols. */
export type FileTransferProtocol = 'FTP' | 'FTPS' | 'HTTP' | 'HTTPS';

/**
 * Why a transfer failed. `Network`, `Server`, `NotFound` and `Empty` spend the `retries` (OCPP:
 * how many times to try before giving up; a file not yet published where the central system said
 * is a common cause of a 404, or of an empty file, that goes away). The others would fail the same way again (refused
 * credentials, an untrusted certificate, a full disk, a request the server will not serve), so
 * they end the transfer at once.
 */
export type TransferErrorKind =
  /** Not a URL, or a scheme other than ftp:, ftps:, http:, https:. */
  | 'UnsupportedProtocol'
  /** HTTP 404 / 410, FTP 550 (no such file or directory). */
  | 'NotFound'
  /** A download that gave 0 bytes: nothing was downloaded (a file not yet written out). */
  | 'Empty'
  /** HTTP 401 / 403, FTP 530 (login refused) or 553 (no permission to store). */
  | 'AccessDenied'
  /** The server's TLS certificate did not verify against `ca` (or the system CAs). */
  | 'Certificate'
  /** Not enough free space for the download (plus a reserve) at `dest`. */
  | 'NoSpace'
  /** The AbortSignal fired. */
  | 'Cancelled'
  /** No connection, a connection lost or a timeout: retried. */
  | 'Network'
  /** HTTP 5xx / 408 / 429, FTP 4xx, a body shorter than announced: retried. */
  | 'Server'
  /** Any other refusal by the server (HTTP 4xx, FTP 5xx): a request it will not serve. */
  | 'Refused'
  /** Reading the file to upload or writing the download failed locally. */
  | 'LocalIo';

/** The kinds worth another attempt after `retryIntervalS`. */
export const RETRIED_KINDS: ReadonlySet<TransferErrorKind> = new Set<TransferErrorKind>([
  'Network',
  'Server',
  'NotFound',
  'Empty',
]);

export class TransferError extends Error {
  override readonly name = 'TransferError';

  constructor(
    readonly kind: TransferErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Another attempt may succeed. */
  get retried(): boolean {
    return RETRIED_KINDS.has(this.kind);
  }
}

/** Free space of the filesystem holding a path, as fs.statfs reports it (the fields used). */
export interface FsSpace {
  bavail: number;
  bsize: number;
}

export type StatfsFunction = (path: string) => Promise<FsSpace>;

/** Seams and tuning shared by downloads and uploads; production code passes none of them but `log`. */
export interface TransferEnvironment {
  /** Waits between attempts run on this clock (default the system clock). */
  clock?: Clock;
  log?: Logger;
  /** Idle time after which a connection counts as lost (default 30 s). */
  idleTimeoutMs?: number;
  /** Test seam: where the system's CAs come from (default the operating system's bundle, `trust.ts`). */
  systemCas?: SystemCas;
}

export interface Progress {
  /** Bytes in `<dest>.part` so far (including those kept from an earlier attempt). */
  bytes: number;
  /** The file's size, when the server said it. */
  total?: number;
}

export interface DownloadOptions extends TransferEnvironment {
  url: string;
  /** Where the file ends up; it is written to `<dest>.part` first, then renamed. */
  dest: string;
  /** Further attempts after the first (OCPP `retries`; absent there means 0 here). */
  retries: number;
  retryIntervalS: number;
  /** PEM root certificates HTTPS / FTPS servers may chain to besides the system's CAs (the central-system roots). */
  ca?: string | string[];
  /** Cancels the transfer; `<dest>.part` is removed. */
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
  /** Bytes that must stay free beside the download (default `DEFAULT_RESERVE_BYTES`). */
  reserveBytes?: number;
  /** Test seam: free space of the filesystem (default fs.promises.statfs). */
  statfs?: StatfsFunction;
}

export interface DownloadResult {
  bytes: number;
  /** SHA-256 of the file, lowercase hex. */
  sha256: string;
}

export interface UploadOptions extends TransferEnvironment {
  /** A directory URL: FTP stores into it, HTTP(S) PUTs to `location/<fileName>`. */
  location: string;
  fileName: string;
  /** The local file to send. */
  file: string;
  retries: number;
  retryIntervalS: number;
  ca?: string | string[];
  signal?: AbortSignal;
}

/** 16 MiB kept free beside a download: the store, logs and the trace need room to go on. */
export const DEFAULT_RESERVE_BYTES = 16 * 1024 * 1024;
