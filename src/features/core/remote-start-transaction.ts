import type { ChargingProfiles } from '../../station/charging-profiles.js';
import type { TransactionEngine } from '../../station/transactions.js';
import { type FeatureContext, registrationAccepted } from '../context.js';
import { profileFromFrame } from '../smart-charging/profile-frames.js';

/**
 * RemoteStartTransaction: Rejected while registration is Pending (no transaction may start before
 * the central system accepts us), and for connector 0, an unknown or busy connector, or a charging
 * profile that is not a TxProfile or that SetChargingProfile would refuse (TC_060); otherwise the
 * engine takes it from there, and the TxProfile is installed with the transaction it starts.
 */
export function registerRemoteStartTransaction(
  ctx: FeatureContext,
  engine: TransactionEngine,
  profiles: Pick<ChargingProfiles, 'forRemoteStart'>,
): void {
  ctx.rpc.handle('RemoteStartTransaction', (req) => {
    const { connectorId, idTag, chargingProfile } = req;
    if (!registrationAccepted(ctx)) {
      ctx.log.info({ connectorId, idTag }, 'RemoteStartTransaction while not accepted by the central system');
      return { status: 'Rejected' };
    }
    if (connectorId !== undefined && (connectorId === 0 || !ctx.station.hasConnector(connectorId))) {
      ctx.log.info({ connectorId, idTag }, 'RemoteStartTransaction for an invalid connector');
      return { status: 'Rejected' };
    }
    const txProfile = chargingProfile
      ? profiles.forRemoteStart(profileFromFrame(chargingProfile, connectorId ?? 0), connectorId)
      : undefined;
    if (chargingProfile && !txProfile) return { status: 'Rejected' };
    const status = engine.remoteStart(idTag, connectorId, txProfile);
    ctx.log.info({ connectorId, idTag, status }, 'RemoteStartTransaction');
    return { status };
  });
}
