import type { FeatureContext } from '../context.js';

/** ChangeConfiguration: the registry validates, persists and notifies the modules the key drives. */
export function registerChangeConfiguration(ctx: FeatureContext): void {
  ctx.rpc.handle('ChangeConfiguration', (req) => ({
    status: ctx.config.changeByName(req.key, req.value, 'csms'),
  }));
}
