import type Database from 'better-sqlite3';
import type { IdTagInfo } from '../station/auth-types.js';
import { attemptWrite, type StoreHealth } from './health.js';
import { type IdTagInfoColumns, toIdTagInfo } from './local-list-repo.js';

/**
 * The Authorization Cache's rows, each stamped with the time of its last update. The cache only
 * spares a later Authorize: a write the disk refuses (full, read-only) is reported to `writes` and
 * dropped, never thrown into the authorization that caused it, which stands on the central
 * system's answer.
 */
export class AuthCacheRepo {
  private readonly selectEntry: Database.Statement<[string], IdTagInfoColumns>;
  private readonly selectKnown: Database.Statement<[string], { known: number }>;
  private readonly countEntries: Database.Statement<[], { n: number }>;
  private readonly markExpired: Database.Statement<[string]>;
  private readonly upsert: Database.Statement<[string, string, string | null, string | null, number]>;
  private readonly evict: Database.Statement<[string, number]>;
  private readonly deleteAll: Database.Statement<[]>;
  private readonly putInTransaction: Database.Transaction<
    (idTag: string, info: IdTagInfo, updatedAt: number, maxEntries: number) => void
  >;

  constructor(
    db: Database.Database,
    private readonly writes?: Pick<StoreHealth, 'attempt'>,
  ) {
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
    this.putInTransaction = db.transaction(
      (idTag: string, info: IdTagInfo, updatedAt: number, maxEntries: number) => {
        if (this.selectKnown.get(idTag)?.known !== 1) {
          const excess = this.count() + 1 - maxEntries;
          if (excess > 0) this.evict.run(new Date(updatedAt).toISOString(), excess);
        }
        this.upsert.run(
          idTag,
          info.status,
          canonicalDate(info.expiryDate),
          info.parentIdTag ?? null,
          updatedAt,
        );
      },
    );
  }

  get(idTag: string): IdTagInfo | undefined {
    const row = this.selectEntry.get(idTag);
    return row === undefined ? undefined : toIdTagInfo(row);
  }

  /** Keeps the entry but records that it no longer authorizes. */
  expire(idTag: string): void {
    this.bestEffort('auth cache expiry', () => this.markExpired.run(idTag));
  }

  /**
   * Stores `info` for `idTag` at `updatedAt` (epoch ms) in one IMMEDIATE transaction. A new id that
   * would take the table past `maxEntries` first pushes out entries that no longer authorize at
   * `updatedAt` (any status but Accepted, or past their expiry), oldest first, then the oldest.
   */
  put(idTag: string, info: IdTagInfo, updatedAt: number, maxEntries: number): void {
    this.bestEffort('auth cache entry', () =>
      this.putInTransaction.immediate(idTag, info, updatedAt, maxEntries),
    );
  }

  private bestEffort(what: string, write: () => void): void {
    attemptWrite(this.writes, what, write);
  }

  clear(): void {
    this.deleteAll.run();
  }

  count(): number {
    return this.countEntries.get()?.n ?? 0;
  }
}

function canonicalDate(date: string | undefined): string | null {
  if (date === undefined) return null;
  const at = Date.parse(date);
  return Number.isFinite(at) ? new Date(at).toISOString() : date;
}
