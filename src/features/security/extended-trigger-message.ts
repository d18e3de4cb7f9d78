import type { ExtendedTriggerMessageRequest } from '../../ocpp/generated/messages.js';
import type { MessageTrigger, TriggerTarget } from '../profile.js';
import { answerTrigger, type TriggerContext } from '../remote-trigger/trigger-message.js';
import type { CertificateRenewal } from './sign-certificate.js';

export type ExtendedMessageTrigger = ExtendedTriggerMessageRequest['requestedMessage'];

/** Messages that concern no connector: a connectorId given with them is ignored (neither checked nor passed on). */
const CHARGE_POINT_WIDE: ReadonlySet<ExtendedMessageTrigger> = new Set([
  'BootNotification',
  'Heartbeat',
  'LogStatusNotification',
  'FirmwareStatusNotification',
  'SignChargePointCertificate',
]);

export interface ExtendedTriggerSources {
  /** The TriggerMessage targets of the installed profiles (the messages both requests share). */
  triggers: ReadonlyMap<MessageTrigger, TriggerTarget>;
  renewal: Pick<CertificateRenewal, 'refusal' | 'request'>;
  /** The log upload's status (GetLog): Uploading with its requestId, or Idle. */
  logStatus: TriggerTarget;
  /** Sends SignedFirmwareStatusNotification with the signed update's status (L01.FR.28/.29). */
  signedFirmwareStatus: TriggerTarget;
}

/**
 * ExtendedTriggerMessage (white paper F06): every requestedMessage of the enum has a target, so it is
 * never NotImplemented. The Core messages go through the TriggerMessage targets; the firmware
 * status is the signed update's (`signedFirmwareStatus`: L01.FR.28/.29), the log status
 * GetLog's (Idle when no upload runs: N01.FR.12); SignChargePointCertificate makes a new key pair and request,
 * and is Rejected (reason logged) while CpoName is unset.
 */
export function registerExtendedTriggerMessage(ctx: TriggerContext, sources: ExtendedTriggerSources): void {
  const { rpc, log } = ctx;
  const own: Partial<Record<ExtendedMessageTrigger, TriggerTarget>> = {
    LogStatusNotification: sources.logStatus,
    FirmwareStatusNotification: sources.signedFirmwareStatus,
    SignChargePointCertificate: () => sources.renewal.request(true),
  };
  const targetOf = (message: ExtendedMessageTrigger): TriggerTarget | undefined =>
    own[message] ?? (isMessageTrigger(message) ? sources.triggers.get(message) : undefined);
  rpc.handle('ExtendedTriggerMessage', (req, call) => {
    if (req.requestedMessage === 'SignChargePointCertificate') {
      const refusal = sources.renewal.refusal();
      if (refusal) {
        log.warn({ reason: refusal }, 'ExtendedTriggerMessage SignChargePointCertificate rejected');
        return { status: 'Rejected' };
      }
    }
    const { requestedMessage, connectorId } = req;
    const request = CHARGE_POINT_WIDE.has(requestedMessage)
      ? { requestedMessage }
      : { requestedMessage, connectorId };
    return answerTrigger(ctx, call, request, targetOf(requestedMessage));
  });
}

function isMessageTrigger(
  message: ExtendedMessageTrigger,
): message is ExtendedMessageTrigger & MessageTrigger {
  return message !== 'LogStatusNotification' && message !== 'SignChargePointCertificate';
}
