import {
  type DiagnosticsFiles,
  requestedTarget,
  requestedWindow,
  UploadSlot,
} from '../../diagnostics/uploads.js';
import type { LogStatusNotificationRequest } from '../../ocpp/generated/messages.js';
import type { Outbox } from '../../ocpp/outbox.js';
import { type CallOptions, TRIGGERED } from '../../ocpp/rpc.js';
import { type FeatureContext, queueOrSendNow, sendQuietly } from '../context.js';
import type { TriggerTarget } from '../profile.js';

export interface GetLog {
  /** ExtendedTriggerMessage(LogStatusNotification): Uploading with its requestId, or Idle (N01.FR.12). */
  trigger: TriggerTarget;
  stop(): void;
}

/**
 * GetLog (white paper N01, TC_079): Accepted with the file name, then LogStatusNotification
 * Uploading, the log for [oldestTimestamp, latestTimestamp] (SecurityLog: the security log alone;
 * DiagnosticsLog: the whole diagnostics bundle) uploaded to remoteLocation, and Uploaded or why not
 * (UploadFailure, PermissionDenied, NotSupportedOperation, BadMessage), each with the requestId
 * (N01.FR.07). A GetLog while one uploads cancels it and is answered AcceptedCanceled (N01.FR.11);
 * the cancelled request reports nothing more.
 *
 * The outcome goes through the outbox, as a signed update's statuses do: the central system learns
 * how the upload ended after an outage or a restart. Uploading is sent now or not at all.
 */
export function registerGetLog(
  ctx: FeatureContext,
  files: DiagnosticsFiles,
  outbox: Pick<Outbox, 'enqueue'>,
): GetLog {
  const { rpc, log } = ctx;
  const slot = new UploadSlot();
  let uploading: number | undefined;
  const notify = (status: LogStatusNotificationRequest, options?: CallOptions) =>
    sendQuietly(log, 'LogStatusNotification', () => rpc.call('LogStatusNotification', status, options));
  const report = (status: LogStatusNotificationRequest) =>
    queueOrSendNow(log, outbox, 'LogStatusNotification', { ...status }, () =>
      rpc.call('LogStatusNotification', status),
    );
  rpc.handle('GetLog', (req, call) => {
    const { requestId } = req;
    const kind = req.logType === 'SecurityLog' ? 'securityLog' : 'diagnostics';
    const filename = files.fileName(kind);
    const claim = slot.claim();
    uploading = requestId;
    const window = requestedWindow(req.log.oldestTimestamp, req.log.latestTimestamp);
    const target = requestedTarget(req.log.remoteLocation, req.retries, req.retryInterval);
    log.info({ logType: req.logType, requestId, filename, cancelled: claim.cancelled }, 'GetLog: uploading');
    call.afterAnswer(() => {
      void (async () => {
        await notify({ status: 'Uploading', requestId });
        const outcome = await files.send(kind, window, filename, target, claim.signal);
        claim.release();
        if (outcome.status === 'Cancelled') return;
        if (uploading === requestId) uploading = undefined;
        await report({ status: outcome.status === 'Uploaded' ? 'Uploaded' : outcome.failure, requestId });
      })();
    });
    return { status: claim.cancelled ? 'AcceptedCanceled' : 'Accepted', filename };
  });
  return {
    trigger: async () => {
      const requestId = slot.busy ? uploading : undefined;
      await notify(
        requestId === undefined ? { status: 'Idle' } : { status: 'Uploading', requestId },
        TRIGGERED,
      );
    },
    stop: () => slot.cancel(),
  };
}
