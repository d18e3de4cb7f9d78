import type { FeatureContext } from '../context.js';

/** A store of cached id tags that ClearCache empties. */
export interface ClearableCache {
  clear(): void;
}

/**
 * ClearCache: Accepted once the cache is cleared. A charge point without an authorization cache
 * has nothing to clear and answers Rejected, as the specification prescribes.
 */
export function registerClearCache(ctx: FeatureContext, cache: ClearableCache | undefined): void {
  ctx.rpc.handle('ClearCache', () => {
    if (!cache) return { status: 'Rejected' };
    cache.clear();
    return { status: 'Accepted' };
  });
}
