import type { TransactionEngine } from '../../station/transactions.js';
import type { FeatureContext } from '../context.js';

/**
 * UnlockConnector: NotSupported for an unknown connector or a tethered cable; a running
 * transaction is stopped (UnlockCommand) before the lock is released, and UnlockFailed while the
 * contactor is not known open (the cable may be live: the engine keeps it locked).
 */
export function registerUnlockConnector(ctx: FeatureContext, engine: TransactionEngine): void {
  ctx.rpc.handle('UnlockConnector', async (req) => {
    const status = await engine.unlock(req.connectorId);
    ctx.log.info({ connectorId: req.connectorId, status }, 'UnlockConnector');
    return { status };
  });
}
