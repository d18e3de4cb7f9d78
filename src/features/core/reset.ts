import type { FeatureContext } from '../context.js';

/** Reset: accept, let the answer leave, then stop gracefully and exit so the service manager restarts us. */
export function registerReset(ctx: FeatureContext): void {
  ctx.rpc.handle('Reset', (req, call) => {
    ctx.log.warn({ type: req.type }, 'reset requested by the central system');
    call.afterAnswer(() => ctx.requestReset(req.type));
    return { status: 'Accepted' };
  });
}
