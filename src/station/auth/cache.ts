import type Database from 'better-sqlite3';
import type { Clock } from '../../clock.js';
import type { AuthorizationStatus, IdTagInfo } from '../auth-types.js';

export const DEFAULT_CACHE_ENTRIES = 10_000;

export interface AuthCacheOptions {
  db: Database.Database;
  /** Decides expiry and stamps each entry's age. */
  clock: Pick<Clock, 'now'>;
  /** Default DEFAULT_CACHE_ENTRIES. */
  maxEntries?: number;
}

interface Row {
  status: AuthorizationStatus;
  expiryDate: string | null;
  parentIdTag: string | null;
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
  private readonly clock: Pick<Clock, 'now'>;
  private readonly maxEntries: number;
  private readonly selectEntry: Database.Statement<[string], Row>;
  private readonly selectKnown: Database.Statement<[string], { known: number }>;
  private readonly countEntries: Database.Statement<[], { n: number }>;
  private readonly markExpired: Database.Statement<[string]>;
  private readonly upsert: Database.Statement<[string, string, string | null, string | null, number]>;
  private readonly evict: Database.Statement<[string, number]>;
  private readonly deleteAll: Database.Statement<[]>;
  private readonly putInTransaction: Database.Transaction<(idTag: string, info: IdTagInfo) => void>;

  constructor(opts: AuthCacheOptions) {
    const { db } = opts;
    this.clock = opts.clock;
    this.maxEntries = opts.maxEntries ?? DEFAULT_CACHE_ENTRIES;
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1) {
      throw new RangeError(`authorization cache size must be a positive integer, not ${this.maxEntries}`);
    }
    this.selectEntry = db.prepare(
      'SELECT status, expiry_date AS expiryDate, parent_id_tag AS parentIdTag FROM auth_cache WHERE id_tag = ?',
    );
    this.selectKnown = db.prepare('SELECT EXISTS (SELECT 1 FROM auth_cache WHERE id_tag = ?) AS known');
    this.countEntries = db.prepare('SELECT COUNT(*) AS n FROM auth_cache');
    this.markExpired = db.prepare("UPDATE auth_cache SET status = 'Expired' WHERE id_tag = ?");
    this.upsert = db.prepare(
      `INSERT INTO auth_cache (id_tag, status, expiry_date, parent_id_tag, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (id_tag) DO UPDATE SET status = excluded.status, expiry_date = excluded.expiry_date,
         parent_id_tag = excluded.parent_id_tag, updated_at = excluded.updated_at`,
    );
    // Expiry dates are stored as canonical ISO strings (see put), so text order is time order.
    this.evict = db.prepare(
      `DELETE FROM auth_cache WHERE id_tag IN (
         SELECT id_tag FROM auth_cache
         ORDER BY (status = 'Accepted' AND (expiry_date IS NULL OR expiry_date > ?)), updated_at
         LIMIT ?)`,
    );
    this.deleteAll = db.prepare('DELETE FROM auth_cache');
    this.putInTransaction = db.transaction((idTag: string, info: IdTagInfo) => {
      if (this.selectKnown.get(idTag)?.known !== 1) {
        const excess = this.size() + 1 - this.maxEntries;
        if (excess > 0) this.evict.run(new Date(this.clock.now()).toISOString(), excess);
      }
      this.upsert.run(
        idTag,
        info.status,
        canonicalDate(info.expiryDate),
        info.parentIdTag ?? null,
        this.clock.now(),
      );
    });
  }

  /** The cached IdTagInfo; a valid entry past its expiry reads, and from then on stays, Expired. */
  get(idTag: string): IdTagInfo | undefined {
    const row = this.selectEntry.get(idTag);
    if (row === undefined) return undefined;
    const info: IdTagInfo = {
      status: row.status,
      ...(row.expiryDate === null ? {} : { expiryDate: row.expiryDate }),
      ...(row.parentIdTag === null ? {} : { parentIdTag: row.parentIdTag }),
    };
    if (info.status !== 'Accepted' || !hasExpired(info, this.clock.now())) return info;
    // Written back so that eviction and a later reboot see the entry as no longer valid.
    this.markExpired.run(idTag);
    return { ...info, status: 'Expired' };
  }

  /** Records what the central system said about `idTag`, making room first if the id is new. */
  put(idTag: string, info: IdTagInfo): void {
    this.putInTransaction.immediate(idTag, info);
  }

  clear(): void {
    this.deleteAll.run();
  }

  size(): number {
    return this.countEntries.get()?.n ?? 0;
  }
}

function canonicalDate(date: string | undefined): string | null {
  if (date === undefined) return null;
  const at = Date.parse(date);
  return Number.isFinite(at) ? new Date(at).toISOString() : date;
}
