import type { Profile } from '../profile.js';
import { registerGetLocalListVersion } from './get-local-list-version.js';
import { reportLocalListConflicts } from './local-list-conflict.js';
import { registerSendLocalList } from './send-local-list.js';

/**
 * Local Auth List Management (spec 3.3): SendLocalList, GetLocalListVersion, and the
 * LocalListConflict report when the central system contradicts the list (spec 3.5.2).
 */
export const localAuthListProfile: Profile = {
  name: 'LocalAuthListManagement',
  capabilities: ['localAuthList'],
  install(ctx, { localList, authorizer, statusReporter }) {
    registerSendLocalList(ctx, localList);
    registerGetLocalListVersion(ctx, localList);
    reportLocalListConflicts(ctx, {
      authorizer,
      list: localList,
      sendStatus: (snapshot) => statusReporter.send(snapshot),
    });
    return {};
  },
};
