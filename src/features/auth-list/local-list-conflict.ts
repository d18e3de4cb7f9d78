import type { Authorizer, LocalListConflict } from '../../station/auth/authorizer.js';
import type { LocalAuthList } from '../../station/auth/local-list.js';
import type { StatusSnapshot } from '../../station/types.js';
import type { FeatureContext } from '../context.js';

export interface LocalListConflictDeps {
  authorizer: Pick<Authorizer, 'on'>;
  list: Pick<LocalAuthList, 'version'>;
  /** StatusNotification of one snapshot (the core feature's StatusReporter). */
  sendStatus(snapshot: StatusSnapshot): Promise<void>;
}

/**
 * Spec 3.5.2: when the central system's IdTagInfo contradicts the Local Authorization List, the
 * charge point reports it with StatusNotification(connector 0, errorCode LocalListConflict).
 *
 * One id contradicts the list in Authorize.conf, StartTransaction.conf and StopTransaction.conf
 * alike, so a conflict (the id, the list's version, both statuses) is reported once; a new list
 * version or a different answer is a new conflict. A conflict is an event, not a state of the
 * charge point: connector 0's actual status is sent right after it, so the central system sees the
 * error cleared rather than a charge point left in LocalListConflict.
 */
export function reportLocalListConflicts(ctx: FeatureContext, deps: LocalListConflictDeps): void {
  const log = ctx.log.child({ module: 'auth-list' });
  const reported = new Map<string, string>();
  deps.authorizer.on('localListConflict', (conflict) => {
    const key = conflict.idTag.toLowerCase();
    const fingerprint = fingerprintOf(conflict, deps.list.version());
    if (reported.get(key) === fingerprint) return;
    reported.set(key, fingerprint);
    const current = ctx.station.status(0);
    if (!current) return;
    log.info({ idTag: conflict.idTag }, 'reporting LocalListConflict');
    void deps.sendStatus({
      ...current,
      errorCode: 'LocalListConflict',
      info: conflict.idTag.slice(0, 50),
      since: ctx.clock.now(),
    });
    void deps.sendStatus(current);
  });
}

function fingerprintOf({ listed, central }: LocalListConflict, listVersion: number): string {
  return `${listVersion}:${listed.status}:${central.status}`;
}
