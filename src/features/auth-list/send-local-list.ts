import { isEnabled } from '../../station/auth/authorizer.js';
import type { LocalAuthList } from '../../station/auth/local-list.js';
import type { FeatureContext } from '../context.js';

/**
 * SendLocalList: the central system replaces (Full) or edits (Differential) the Local
 * Authorization List. NotSupported while LocalAuthListEnabled is false.
 *
 * More entries in one request than SendLocalListMaxLength is answered Failed rather than with a
 * CALLERROR: the request is well formed by the schema, it is the update that cannot be taken, and
 * UpdateStatus has Failed for exactly that; a central system then retries as it would after any
 * Failed. A storage error is Failed too (the update was rolled back).
 */
export function registerSendLocalList(ctx: FeatureContext, list: LocalAuthList): void {
  const log = ctx.log.child({ module: 'auth-list' });
  ctx.rpc.handle('SendLocalList', (req) => {
    if (!isEnabled(ctx.config, 'LocalAuthListEnabled')) {
      return { status: 'NotSupported' };
    }
    const entries = req.localAuthorizationList ?? [];
    const perRequest = ctx.config.getInt('SendLocalListMaxLength');
    const { listVersion, updateType } = req;
    if (entries.length > perRequest) {
      log.warn({ entries: entries.length, max: perRequest }, 'SendLocalList over SendLocalListMaxLength');
      return { status: 'Failed' };
    }
    try {
      const status = list.apply(
        { listVersion, updateType, entries },
        ctx.config.getInt('LocalAuthListMaxLength'),
      );
      log.info({ listVersion, updateType, entries: entries.length, status }, 'local list update');
      return { status };
    } catch (error) {
      log.error({ listVersion, updateType, err: (error as Error).message }, 'local list update not stored');
      return { status: 'Failed' };
    }
  });
}
