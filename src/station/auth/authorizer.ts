import { EventEmitter } from 'node:events';
import type { OcppTime } from '../../clock.js';
import type { KeyNameOf } from '../../config/keys.js';
import type { ConfigurationRegistry } from '../../config/registry.js';
import { errorMessage } from '../../error-message.js';
import type { Logger } from '../../log.js';
import type {
  AuthorizationDecision,
  AuthorizationSource,
  IdTagInfo,
  RemoteAuthorize,
} from '../auth-types.js';
import { type AuthCache, hasExpired } from './cache.js';
import type { LocalAuthList } from './local-list.js';

export interface AuthorizerOptions {
  list: LocalAuthList;
  cache: AuthCache;
  config: ConfigurationRegistry;
  remote: RemoteAuthorize;
  /** Whether the central system can be asked now (connected and registered). */
  online: () => boolean;
  /** Expiry dates are the central system's time. */
  time: Pick<OcppTime, 'nowMs'>;
  log: Logger;
}

/** The list said one thing and the central system another (spec 3.5.2: report LocalListConflict). */
export interface LocalListConflict {
  idTag: string;
  listed: IdTagInfo;
  central: IdTagInfo;
}

export interface AuthorizerEvents {
  localListConflict: [LocalListConflict];
}

interface LocalEntry {
  info: IdTagInfo;
  source: Extract<AuthorizationSource, 'localList' | 'cache'>;
}

/**
 * Decides whether an idTag may charge, by the rules of OCPP 1.6 section 3.5.
 *
 * Local knowledge comes from the Local Authorization List (when LocalAuthListEnabled) and, for ids
 * not on it, the Authorization Cache (when AuthorizationCacheEnabled); a key hidden because its
 * function is not provided counts as false.
 *
 * Online, a locally valid id (Accepted, not expired) is accepted without asking only when
 * LocalPreAuthorize is true; every other id is sent in Authorize.req and the answer decides (and
 * updates the cache). If that request fails in any way, the offline rules decide instead: a driver
 * must not be stranded by a central system that does not answer.
 *
 * Offline, a locally known id that is not valid is refused: the specification requires it even when
 * unknown ids are let through. A locally valid id is accepted when LocalAuthorizeOffline is true;
 * when it is false the id gets no better treatment than an unknown one, which AllowOfflineTxForUnknownId
 * decides (source 'offlineUnknown'), so a known good card is never refused where a stranger's is let in.
 */
export class Authorizer extends EventEmitter<AuthorizerEvents> {
  private readonly list: LocalAuthList;
  private readonly cache: AuthCache;
  private readonly config: ConfigurationRegistry;
  private readonly remote: RemoteAuthorize;
  private readonly online: () => boolean;
  private readonly time: Pick<OcppTime, 'nowMs'>;
  private readonly log: Logger;

  constructor(opts: AuthorizerOptions) {
    super();
    this.list = opts.list;
    this.cache = opts.cache;
    this.config = opts.config;
    this.remote = opts.remote;
    this.online = opts.online;
    this.time = opts.time;
    this.log = opts.log.child({ module: 'auth' });
  }

  async authorize(idTag: string): Promise<AuthorizationDecision> {
    const local = this.localEntry(idTag);
    if (this.online()) {
      if (local !== undefined && this.valid(local.info) && this.enabled('LocalPreAuthorize')) {
        return { idTag, info: local.info, source: local.source };
      }
      try {
        const info = await this.remote(idTag);
        this.fromCentral(idTag, info);
        return { idTag, info, source: 'central' };
      } catch (error) {
        this.log.info({ idTag, err: errorMessage(error) }, 'Authorize.req failed; deciding offline');
      }
    }
    return this.decideOffline(idTag, local);
  }

  /**
   * Takes in an IdTagInfo the central system sent for `idTag` (Authorize, StartTransaction or
   * StopTransaction.conf): the cache learns it unless the id is on the list in use.
   */
  fromCentral(idTag: string, info: IdTagInfo): void {
    const listed = this.listEntry(idTag);
    if (listed !== undefined) {
      if (listed.status !== info.status) {
        this.log.warn({ idTag, listed: listed.status, central: info.status }, 'local list conflict');
        this.emit('localListConflict', { idTag, listed, central: info });
      }
      return;
    }
    if (this.enabled('AuthorizationCacheEnabled')) this.cache.put(idTag, info);
  }

  private decideOffline(idTag: string, local: LocalEntry | undefined): AuthorizationDecision {
    if (local !== undefined) {
      if (!this.valid(local.info)) return { idTag, info: refusal(local.info), source: local.source };
      if (this.enabled('LocalAuthorizeOffline')) return { idTag, info: local.info, source: local.source };
    }
    const status = this.enabled('AllowOfflineTxForUnknownId') ? 'Accepted' : 'Invalid';
    return { idTag, info: { status }, source: 'offlineUnknown' };
  }

  /** The list has priority: an id on it is never looked up in the cache. */
  private localEntry(idTag: string): LocalEntry | undefined {
    const listed = this.listEntry(idTag);
    if (listed !== undefined) return { info: listed, source: 'localList' };
    if (!this.enabled('AuthorizationCacheEnabled')) return undefined;
    const cached = this.cache.get(idTag);
    return cached === undefined ? undefined : { info: cached, source: 'cache' };
  }

  private listEntry(idTag: string): IdTagInfo | undefined {
    return this.enabled('LocalAuthListEnabled') ? this.list.get(idTag) : undefined;
  }

  private valid(info: IdTagInfo): boolean {
    return info.status === 'Accepted' && !hasExpired(info, this.time.nowMs());
  }

  private enabled(key: KeyNameOf<'boolean'>): boolean {
    return isEnabled(this.config, key);
  }
}

/** A boolean key that is true; a key hidden because its function is not provided counts as false. */
export function isEnabled(config: ConfigurationRegistry, key: KeyNameOf<'boolean'>): boolean {
  return config.has(key) && config.getBool(key);
}

/** What a refused local entry reports: an Accepted one past its expiry reports Expired. */
function refusal(info: IdTagInfo): IdTagInfo {
  return info.status === 'Accepted' ? { ...info, status: 'Expired' } : info;
}
