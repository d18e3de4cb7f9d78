import type { TransactionEngine } from '../../station/transactions.js';
import { type FeatureContext, registrationAccepted } from '../context.js';

/**
 * RemoteStartTransaction: Rejected while registration is Pending (no transaction may start before
 * the central system accepts us), and for connector 0, an unknown or busy connector, or a charging
 * profile that is not a TxProfile; otherwise the engine takes it from there.
 */
export function registerRemoteStartTransaction(ctx: FeatureContext, engine: TransactionEngine): void {
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
    if (chargingProfile && chargingProfile.chargingProfilePurpose !== 'TxProfile') {
      ctx.log.info(
        { purpose: chargingProfile.chargingProfilePurpose },
        'RemoteStartTransaction profile is not a TxProfile',
      );
      return { status: 'Rejected' };
    }
    const status = engine.remoteStart(idTag, connectorId, chargingProfile);
    ctx.log.info({ connectorId, idTag, status }, 'RemoteStartTransaction');
    return { status };
  });
}
