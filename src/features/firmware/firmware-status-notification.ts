import { type FirmwareUpdateRecord, updateRunning } from '../../firmware/firmware-updates.js';
import type {
  FirmwareStatusEnumType,
  FirmwareStatusNotificationRequest,
  SignedFirmwareStatusNotificationRequest,
} from '../../ocpp/generated/messages.js';
import type { Outbox } from '../../ocpp/outbox.js';
import { TRIGGERED } from '../../ocpp/rpc.js';
import { type FeatureContext, queueOrSendNow, sendQuietly } from '../context.js';

type PlainStatus = FirmwareStatusNotificationRequest['status'];

/** The central system asked for it: it may leave while registration is Pending (spec 4.2.1). */

/**
 * Each pipeline status as 1.6's FirmwareStatusNotification says it; undefined = not told (the
 * 1.6 enum has no such step). A signature is only checked on a signed image, and a bad one is a
 * failed installation to a central system that knows no signatures.
 */
const PLAIN: Readonly<Record<FirmwareStatusEnumType, PlainStatus | undefined>> = {
  Downloaded: 'Downloaded',
  DownloadFailed: 'DownloadFailed',
  Downloading: 'Downloading',
  DownloadScheduled: undefined,
  DownloadPaused: undefined,
  Idle: 'Idle',
  InstallationFailed: 'InstallationFailed',
  Installing: 'Installing',
  Installed: 'Installed',
  InstallRebooting: undefined,
  InstallScheduled: undefined,
  InstallVerificationFailed: 'InstallationFailed',
  InvalidSignature: 'InstallationFailed',
  SignatureVerified: undefined,
};

/** What a running update is doing, in 1.6's words, for a TriggerMessage. */
const PLAIN_WHILE_BUSY: Readonly<Partial<Record<FirmwareStatusEnumType, PlainStatus>>> = {
  DownloadScheduled: 'Idle',
  DownloadPaused: 'Downloading',
  SignatureVerified: 'Downloaded',
  InstallScheduled: 'Downloaded',
  InstallRebooting: 'Installing',
};

/**
 * Tells the central system a status of an update: a signed update's through the outbox (kind
 * `security`: durable, with its requestId, L01.FR.10), the others as FirmwareStatusNotification.
 * Resolves true once delivered (or queued durably).
 */
export function firmwareStatusSender(
  ctx: FeatureContext,
  outbox: Pick<Outbox, 'enqueue'>,
): (record: FirmwareUpdateRecord) => Promise<boolean> {
  const { rpc, log } = ctx;
  return async (record) => {
    if (record.source === 'SignedUpdateFirmware') {
      const payload = {
        status: record.status,
        ...(record.requestId === undefined ? {} : { requestId: record.requestId }),
      };
      return queueOrSendNow(log, outbox, 'SignedFirmwareStatusNotification', payload, () =>
        rpc.call('SignedFirmwareStatusNotification', payload),
      );
    }
    const status = PLAIN[record.status];
    if (status === undefined) return true;
    const answer = await sendQuietly(log, 'FirmwareStatusNotification', () =>
      rpc.call('FirmwareStatusNotification', { status }),
    );
    return answer !== undefined;
  };
}

/**
 * TriggerMessage(FirmwareStatusNotification): the running update's status, Idle when none runs
 * (1.6 section 6.x: Idle only when not busy with a firmware update).
 */
export function sendFirmwareStatusNow(
  ctx: FeatureContext,
  record: FirmwareUpdateRecord | undefined,
  busy: boolean,
): Promise<void> {
  const status: PlainStatus =
    busy && record ? (PLAIN_WHILE_BUSY[record.status] ?? PLAIN[record.status] ?? 'Idle') : 'Idle';
  return sendQuietly(ctx.log, 'FirmwareStatusNotification', () =>
    ctx.rpc.call('FirmwareStatusNotification', { status }, TRIGGERED),
  ).then(() => undefined);
}

/**
 * ExtendedTriggerMessage(FirmwareStatusNotification): the last signed update's status with its
 * requestId, Idle once it was Installed (white paper L01.FR.28/.29); an UpdateFirmware or a
 * technician's file while it runs, in the signed enum, which names every step, without a
 * requestId (it has none); Idle when nothing runs.
 */
export function sendSignedFirmwareStatusNow(
  ctx: FeatureContext,
  record: FirmwareUpdateRecord | undefined,
): Promise<void> {
  const payload = signedStatusNow(record);
  return sendQuietly(ctx.log, 'SignedFirmwareStatusNotification', () =>
    ctx.rpc.call('SignedFirmwareStatusNotification', payload, TRIGGERED),
  ).then(() => undefined);
}

function signedStatusNow(record: FirmwareUpdateRecord | undefined): SignedFirmwareStatusNotificationRequest {
  if (record?.source === 'SignedUpdateFirmware' && record.status !== 'Installed')
    return {
      status: record.status,
      ...(record.requestId === undefined ? {} : { requestId: record.requestId }),
    };
  if (record && updateRunning(record)) return { status: record.status };
  return { status: 'Idle' };
}
