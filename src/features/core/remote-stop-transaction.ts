import type { TransactionEngine } from '../../station/transactions.js';
import { type FeatureContext, registrationAccepted } from '../context.js';

/**
 * RemoteStopTransaction: Accepted for a running transaction (stopped with reason Remote), else
 * Rejected; always Rejected while registration is Pending.
 */
export function registerRemoteStopTransaction(ctx: FeatureContext, engine: TransactionEngine): void {
  ctx.rpc.handle('RemoteStopTransaction', (req) => {
    if (!registrationAccepted(ctx)) {
      ctx.log.info(
        { transactionId: req.transactionId },
        'RemoteStopTransaction while not accepted by the central system',
      );
      return { status: 'Rejected' };
    }
    const status = engine.remoteStop(req.transactionId);
    ctx.log.info({ transactionId: req.transactionId, status }, 'RemoteStopTransaction');
    return { status };
  });
}
