import { afterResponse, type FeatureContext } from '../context.js';

/** Reset: accept, let the answer leave, then stop gracefully and exit so the service manager restarts us. */
export function registerReset(ctx: FeatureContext): void {
  ctx.rpc.handle('Reset', (req) => {
    ctx.log.warn({ type: req.type }, 'reset requested by the central system');
    afterResponse(() => ctx.requestReset(req.type));
    return { status: 'Accepted' };
  });
}
