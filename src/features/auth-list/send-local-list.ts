import { errorMessage } from '../../error-message.js';
import { CallError } from '../../ocpp/errors.js';
import type { SendLocalListRequest } from '../../ocpp/generated/messages.js';
import { isEnabled } from '../../station/auth/authorizer.js';
import type { ListedId, LocalAuthList, LocalListUpdate } from '../../station/auth/local-list.js';
import type { FeatureContext } from '../context.js';

type AuthorizationData = NonNullable<SendLocalListRequest['localAuthorizationList']>[number];

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
    const update = toUpdate(req);
    const entries = update.entries ?? [];
    const perRequest = ctx.config.getInt('SendLocalListMaxLength');
    const { listVersion, updateType } = update;
    if (entries.length > perRequest) {
      log.warn({ entries: entries.length, max: perRequest }, 'SendLocalList over SendLocalListMaxLength');
      return { status: 'Failed' };
    }
    try {
      const status = list.apply(update, ctx.config.getInt('LocalAuthListMaxLength'));
      log.info({ listVersion, updateType, entries: entries.length, status }, 'local list update');
      return { status };
    } catch (error) {
      log.error({ listVersion, updateType, err: errorMessage(error) }, 'local list update not stored');
      return { status: 'Failed' };
    }
  });
}

/**
 * A Full update whose entry lacks idTagInfo is answered with CALLERROR OccurenceConstraintViolation
 * and leaves the list as it was. OCPP 1.6 section 7.1 (AuthorizationData) makes idTagInfo
 * "Required when UpdateType is Full" (absent means delete only in a Differential update); the JSON
 * schema cannot say so, which leaves the check to us. OCPP-J 1.6 section 4.2.3 defines
 * OccurenceConstraintViolation as a payload that is syntactically correct but where a field violates
 * its occurrence constraints, which is exactly this, and our validator answers every other missing
 * required field with the same code. UpdateStatus Failed ("failed to update the Local Authorization
 * List", section 7.46) is kept for updates that are well formed but cannot be stored, as OCTT
 * TC_043_3_CS uses it; answering Failed here would tell the central system to retry the same
 * malformed list. No OCTT case sends such a list.
 */
function toUpdate(req: SendLocalListRequest): LocalListUpdate {
  const entries = req.localAuthorizationList ?? [];
  if (req.updateType === 'Differential') {
    return { listVersion: req.listVersion, updateType: 'Differential', entries };
  }
  if (!entries.every(isListed)) {
    const missing = entries.find((entry) => entry.idTagInfo === undefined);
    throw new CallError(
      'OccurenceConstraintViolation',
      `idTagInfo is required for every entry of a Full update (missing for idTag ${missing?.idTag})`,
    );
  }
  return { listVersion: req.listVersion, updateType: 'Full', entries };
}

function isListed(entry: AuthorizationData): entry is ListedId {
  return entry.idTagInfo !== undefined;
}
