import type { OcppTime } from '../../clock.js';
import type { AuthCacheRepo } from '../../store/auth-cache-repo.js';
import type { IdTagInfo } from '../auth-types.js';

const DEFAULT_CACHE_ENTRIES = 10_000;

export interface AuthCacheOptions {
  repo: AuthCacheRepo;
  /** Decides expiry and stamps each entry's age: the central system's time, which expiry dates are in. */
  time: Pick<OcppTime, 'nowMs'>;
  /** Default DEFAULT_CACHE_ENTRIES. */
  maxEntries?: number;
}

/** True once an expiryDate has passed; an entry without one (or with an unreadable one) never expires. */
export function hasExpired(info: IdTagInfo, nowMs: number): boolean {
  if (info.expiryDate === undefined) return false;
  const at = Date.parse(info.expiryDate);
  return Number.isFinite(at) && at <= nowMs;
}

/**
 * The Authorization Cache: the latest IdTagInfo the central system gave for each id it was asked
 * about, valid or not, persisted so it survives a reboot.
 *
 * Bounded: a new id arriving when the cache is full first pushes out entries that no longer
 * authorize (any status but Accepted, or past their expiry), oldest first, and only then the
 * oldest valid ones. Age is the time of the last update from the central system.
 *
 * Keeping ids of the Local Authorization List out of the cache is the caller's job (the
 * Authorizer), because only it knows whether the list is in use. `clear()` makes it the
 * ClearableCache that ClearCache empties (structurally: the station does not import features).
 */
export class AuthCache {
  private readonly repo: AuthCacheRepo;
  private readonly time: Pick<OcppTime, 'nowMs'>;
  private readonly maxEntries: number;

  constructor(opts: AuthCacheOptions) {
    this.repo = opts.repo;
    this.time = opts.time;
    this.maxEntries = opts.maxEntries ?? DEFAULT_CACHE_ENTRIES;
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1) {
      throw new RangeError(`authorization cache size must be a positive integer, not ${this.maxEntries}`);
    }
  }

  /** The cached IdTagInfo; a valid entry past its expiry reads, and from then on stays, Expired. */
  get(idTag: string): IdTagInfo | undefined {
    const info = this.repo.get(idTag);
    if (info === undefined || info.status !== 'Accepted' || !hasExpired(info, this.time.nowMs())) return info;
    // Written back so that eviction and a later reboot see the entry as no longer valid.
    this.repo.expire(idTag);
    return { ...info, status: 'Expired' };
  }

  /** Records what the central system said about `idTag`, making room first if the id is new. */
  put(idTag: string, info: IdTagInfo): void {
    this.repo.put(idTag, info, this.time.nowMs(), this.maxEntries);
  }

  clear(): void {
    this.repo.clear();
  }

  size(): number {
    return this.repo.count();
  }
}
