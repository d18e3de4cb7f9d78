import { isEnabled } from '../../station/auth/authorizer.js';
import type { LocalAuthList } from '../../station/auth/local-list.js';
import type { FeatureContext } from '../context.js';

/** GetLocalListVersion: 0 for an empty list, -1 (no local list) while LocalAuthListEnabled is false. */
export function registerGetLocalListVersion(ctx: FeatureContext, list: LocalAuthList): void {
  ctx.rpc.handle('GetLocalListVersion', () => {
    return { listVersion: isEnabled(ctx.config, 'LocalAuthListEnabled') ? list.version() : -1 };
  });
}
