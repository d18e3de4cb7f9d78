import type { FirmwareUpdates } from '../../firmware/firmware-updates.js';
import { CallError } from '../../ocpp/errors.js';
import type { FeatureContext } from '../context.js';

/** retryInterval when the central system leaves it to us, s. */
export const DEFAULT_RETRY_INTERVAL_S = 60;

/**
 * UpdateFirmware (1.6): the update runs at retrieveDate (now when past). With
 * `firmware.requireSigned` the charger takes signed images only, and white paper L01.FR.20 says
 * how to refuse the plain request: CALLERROR NotSupported, nothing started.
 */
export function registerUpdateFirmware(
  ctx: FeatureContext,
  firmware: Pick<FirmwareUpdates, 'request' | 'requireSigned'>,
): void {
  ctx.rpc.handle('UpdateFirmware', (req) => {
    if (firmware.requireSigned)
      throw new CallError('NotSupported', 'only signed firmware is accepted (SignedUpdateFirmware)');
    const answer = firmware.request({
      source: 'UpdateFirmware',
      location: req.location,
      retrieveAt: Date.parse(req.retrieveDate),
      retries: req.retries ?? 0,
      retryIntervalS: req.retryInterval ?? DEFAULT_RETRY_INTERVAL_S,
    });
    // UpdateFirmware.conf has no status: a refusal can only be logged.
    if ('reason' in answer) ctx.log.warn({ reason: answer.reason }, 'UpdateFirmware not carried out');
    return {};
  });
}
