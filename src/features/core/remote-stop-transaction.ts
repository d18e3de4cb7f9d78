import type { TransactionEngine } from '../../station/transactions.js';
import type { FeatureContext } from '../context.js';

/** RemoteStopTransaction: Accepted for a running transaction (stopped with reason Remote), else Rejected. */
export function registerRemoteStopTransaction(ctx: FeatureContext, engine: TransactionEngine): void {
  ctx.rpc.handle('RemoteStopTransaction', (req) => {
    const status = engine.remoteStop(req.transactionId);
    ctx.log.info({ transactionId: req.transactionId, status }, 'RemoteStopTransaction');
    return { status };
  });
}
