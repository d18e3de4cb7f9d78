import {
  type DiagnosticsFiles,
  requestedTarget,
  requestedWindow,
  UploadSlot,
} from '../../diagnostics/uploads.js';
import type { DiagnosticsStatusNotificationRequest } from '../../ocpp/generated/messages.js';
import type { Outbox } from '../../ocpp/outbox.js';
import { type CallOptions, TRIGGERED } from '../../ocpp/rpc.js';
import { type FeatureContext, queueOrSendNow, sendQuietly } from '../context.js';
import type { TriggerTarget } from '../profile.js';

type DiagnosticsStatus = DiagnosticsStatusNotificationRequest['status'];

export interface GetDiagnostics {
  /** TriggerMessage(DiagnosticsStatusNotification): Uploading while an upload runs, else Idle. */
  trigger: TriggerTarget;
  /** At a graceful stop: the upload running is cancelled. */
  stop(): void;
}

/**
 * GetDiagnostics (OCPP 1.6 section 6.23, TC_045): answers the bundle's file name at once, then, once
 * the answer has left, DiagnosticsStatusNotification Uploading, the bundle for [startTime, stopTime]
 * built and uploaded to `location` (retries and retryInterval as asked), and Uploaded or
 * UploadFailed. A new request while one uploads replaces it; the replaced one reports nothing more.
 *
 * The outcome goes through the outbox: an upload outlasts the connection it was asked on, and the
 * central system must learn how it ended after an outage or a restart. Uploading is sent now or
 * not at all: delivered late, it would say an upload runs that has long ended.
 */
export function registerGetDiagnostics(
  ctx: FeatureContext,
  files: DiagnosticsFiles,
  outbox: Pick<Outbox, 'enqueue'>,
): GetDiagnostics {
  const { rpc, log } = ctx;
  const slot = new UploadSlot();
  const notify = (status: DiagnosticsStatus, options?: CallOptions) =>
    sendQuietly(log, 'DiagnosticsStatusNotification', () =>
      rpc.call('DiagnosticsStatusNotification', { status }, options),
    );
  const report = (status: 'Uploaded' | 'UploadFailed') => {
    const payload = { status } satisfies DiagnosticsStatusNotificationRequest;
    return queueOrSendNow(log, outbox, 'DiagnosticsStatusNotification', payload, () =>
      rpc.call('DiagnosticsStatusNotification', payload),
    );
  };
  rpc.handle('GetDiagnostics', (req, call) => {
    const fileName = files.fileName('diagnostics');
    const claim = slot.claim();
    const window = requestedWindow(req.startTime, req.stopTime);
    const target = requestedTarget(req.location, req.retries, req.retryInterval);
    log.info({ fileName, retries: target.retries }, 'GetDiagnostics: uploading a diagnostics bundle');
    call.afterAnswer(() => {
      void (async () => {
        await notify('Uploading');
        const outcome = await files.send('diagnostics', window, fileName, target, claim.signal);
        // Freed before the last status: a trigger after it finds nothing running (Idle).
        claim.release();
        if (outcome.status === 'Cancelled') return;
        await report(outcome.status === 'Uploaded' ? 'Uploaded' : 'UploadFailed');
      })();
    });
    return { fileName };
  });
  return {
    trigger: async () => {
      await notify(slot.busy ? 'Uploading' : 'Idle', TRIGGERED);
    },
    stop: () => slot.cancel(),
  };
}
