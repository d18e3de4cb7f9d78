import type { FirmwareUpdates } from '../../firmware/firmware-updates.js';
import type { FeatureContext } from '../context.js';
import { DEFAULT_RETRY_INTERVAL_S } from '../firmware/update-firmware.js';

/**
 * SignedUpdateFirmware (white paper L01): the signing certificate is checked before the answer
 * (InvalidCertificate, with the InvalidFirmwareSigningCertificate event), a running update is
 * cancelled (AcceptedCanceled) unless its install already runs (Rejected); the image is verified
 * after the download and installed at installDateTime at the earliest.
 */
export function registerSignedUpdateFirmware(
  ctx: FeatureContext,
  firmware: Pick<FirmwareUpdates, 'request'>,
): void {
  ctx.rpc.handle('SignedUpdateFirmware', (req) => {
    const { firmware: image } = req;
    const answer = firmware.request({
      source: 'SignedUpdateFirmware',
      requestId: req.requestId,
      location: image.location,
      retrieveAt: Date.parse(image.retrieveDateTime),
      ...(image.installDateTime === undefined ? {} : { installAt: Date.parse(image.installDateTime) }),
      retries: req.retries ?? 0,
      retryIntervalS: req.retryInterval ?? DEFAULT_RETRY_INTERVAL_S,
      signingCertificate: image.signingCertificate,
      signature: image.signature,
    });
    if ('reason' in answer)
      ctx.log.warn(
        { requestId: req.requestId, status: answer.status, reason: answer.reason },
        'SignedUpdateFirmware refused',
      );
    return { status: answer.status };
  });
}
