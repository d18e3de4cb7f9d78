import { errorMessage } from '../error-message.js';
import type { Logger } from '../log.js';
import { TransferError, type UploadOptions } from '../transfer/types.js';
import type { Bundle, BundleKind, BundleSources, TimeWindow } from './bundle.js';
import { bundleFileName } from './bundle-name.js';

/** How a log upload failed, in LogStatusNotification's words (UploadFailure as the enum spells it). */
export type UploadFailure = 'UploadFailure' | 'BadMessage' | 'PermissionDenied' | 'NotSupportedOperation';

export type UploadOutcome =
  | { status: 'Uploaded'; bytes: number }
  | { status: 'Failed'; failure: UploadFailure; reason: string }
  /** A newer request took its place (GetLog N01.FR.11): nothing more is reported for it. */
  | { status: 'Cancelled' };

/** Where a bundle goes and how hard to try (GetDiagnostics / GetLog). */
export interface UploadTarget {
  location: string;
  /** Further attempts after the first. */
  retries: number;
  retryIntervalS: number;
}

/**
 * When the central system leaves them out, the charge point decides (OCPP 1.6 GetDiagnostics.req):
 * a couple of retries a minute apart ride out a server restart without keeping an upload for long.
 */
export const DEFAULT_UPLOAD_RETRIES = 2;
export const DEFAULT_UPLOAD_RETRY_INTERVAL_S = 60;

/** The target a GetDiagnostics or GetLog asks for, with the charge point's defaults where it is silent. */
export function requestedTarget(location: string, retries?: number, retryInterval?: number): UploadTarget {
  return {
    location,
    retries: retries ?? DEFAULT_UPLOAD_RETRIES,
    retryIntervalS: retryInterval ?? DEFAULT_UPLOAD_RETRY_INTERVAL_S,
  };
}

/** The window a request's two optional ISO 8601 bounds describe (an end left out stays open). */
export function requestedWindow(start?: string, stop?: string): TimeWindow {
  return {
    ...(start === undefined ? {} : { start: Date.parse(start) }),
    ...(stop === undefined ? {} : { stop: Date.parse(stop) }),
  };
}

export interface DiagnosticsFilesOptions {
  sources: BundleSources;
  /** src/transfer's upload (FTP STOR / HTTP PUT, with its retries), with the trust and clock the runtime gives every transfer. */
  upload: (options: UploadOptions) => Promise<void>;
  log: Logger;
}

/** The files that go out: diagnostics and log bundles, built and uploaded. */
export class DiagnosticsFiles {
  private readonly log: Logger;

  constructor(private readonly opts: DiagnosticsFilesOptions) {
    this.log = opts.log.child({ module: 'diagnostics' });
  }

  /** The name the next bundle of `kind` gets (the answer to the request carries it). */
  fileName(kind: BundleKind): string {
    const { sources } = this.opts;
    return bundleFileName(kind, sources.chargePointId, sources.now());
  }

  /** A bundle written under `<stateDir>/diagnostics` (cpctl diagnostics). */
  async build(kind: BundleKind, window: TimeWindow, fileName?: string): Promise<Bundle> {
    // The bundle builder (tar-stream, gzip, the log readers) loads with the first bundle.
    const { buildBundle } = await import('./bundle.js');
    return buildBundle(kind, window, this.opts.sources, fileName);
  }

  /** Builds the bundle named `fileName` and uploads it to `target`; never throws. */
  async send(
    kind: BundleKind,
    window: TimeWindow,
    fileName: string,
    target: UploadTarget,
    signal: AbortSignal,
  ): Promise<UploadOutcome> {
    let bundle: Bundle;
    try {
      bundle = await this.build(kind, window, fileName);
    } catch (error) {
      if (signal.aborted) return { status: 'Cancelled' };
      this.log.error({ fileName, err: errorMessage(error) }, 'diagnostics bundle could not be built');
      return { status: 'Failed', failure: 'UploadFailure', reason: errorMessage(error) };
    }
    if (signal.aborted) return { status: 'Cancelled' };
    try {
      await this.opts.upload({
        location: target.location,
        fileName,
        file: bundle.path,
        retries: target.retries,
        retryIntervalS: target.retryIntervalS,
        signal,
      });
    } catch (error) {
      if (signal.aborted) return { status: 'Cancelled' };
      const failure = failureOf(error);
      // The location may carry a password: only its kind and the transfer's own message are logged.
      this.log.warn({ fileName, failure, err: errorMessage(error) }, 'upload failed');
      return { status: 'Failed', failure, reason: errorMessage(error) };
    }
    this.log.info({ fileName, bytes: bundle.bytes }, 'uploaded');
    return { status: 'Uploaded', bytes: bundle.bytes };
  }
}

/** A transfer error in LogStatusNotification's terms (white paper N01). */
function failureOf(error: unknown): UploadFailure {
  if (!(error instanceof TransferError)) return 'UploadFailure';
  switch (error.kind) {
    case 'UnsupportedProtocol':
      return 'NotSupportedOperation';
    case 'AccessDenied':
      return 'PermissionDenied';
    case 'Refused':
      return 'BadMessage';
    default:
      return 'UploadFailure';
  }
}

/**
 * One upload at a time of a kind of request: a new one cancels the one running (its signal
 * aborts), so GetLog can answer AcceptedCanceled (N01.FR.11).
 */
export class UploadSlot {
  private current: AbortController | undefined;

  get busy(): boolean {
    return this.current !== undefined;
  }

  /**
   * Cancels what runs and claims the slot; `cancelled` says whether something was running.
   * `release` frees the slot, unless a later claim already took it.
   */
  claim(): { signal: AbortSignal; cancelled: boolean; release(): void } {
    const cancelled = this.current !== undefined;
    this.current?.abort();
    const controller = new AbortController();
    this.current = controller;
    return {
      signal: controller.signal,
      cancelled,
      release: () => {
        if (this.current === controller) this.current = undefined;
      },
    };
  }

  /** At a stop: the upload running is cancelled. */
  cancel(): void {
    this.current?.abort();
    this.current = undefined;
  }
}
