import type Database from 'better-sqlite3';
import type { IdTagInfo } from '../station/auth-types.js';

/** An IdTagInfo as the local_auth_list and auth_cache tables hold it. */
export interface IdTagInfoColumns {
  status: IdTagInfo['status'];
  expiryDate: string | null;
  parentIdTag: string | null;
}

export function toIdTagInfo(row: IdTagInfoColumns): IdTagInfo {
  return {
    status: row.status,
    ...(row.expiryDate === null ? {} : { expiryDate: row.expiryDate }),
    ...(row.parentIdTag === null ? {} : { parentIdTag: row.parentIdTag }),
  };
}

/**
 * The Local Authorization List's rows and its version. Id tags are compared case-insensitively
 * (the column collates NOCASE). Writes belong in `transaction`, so an update is all or nothing.
 */
export class LocalListRepo {
  private readonly selectEntry: Database.Statement<[string], IdTagInfoColumns>;
  private readonly selectVersion: Database.Statement<[], { version: number }>;
  private readonly selectAny: Database.Statement<[], { found: number }>;
  private readonly countEntries: Database.Statement<[], { n: number }>;
  private readonly deleteAll: Database.Statement<[]>;
  private readonly insertEntry: Database.Statement<[string, string, string | null, string | null]>;
  private readonly insertNew: Database.Statement<[string, string, string | null, string | null]>;
  private readonly updateEntry: Database.Statement<[string, string | null, string | null, string]>;
  private readonly deleteEntry: Database.Statement<[string]>;
  private readonly upsertVersion: Database.Statement<[number]>;

  constructor(private readonly db: Database.Database) {
    this.selectEntry = db.prepare(
      'SELECT status, expiry_date AS expiryDate, parent_id_tag AS parentIdTag FROM local_auth_list WHERE id_tag = ?',
    );
    this.selectVersion = db.prepare('SELECT version FROM local_auth_list_version WHERE singleton = 1');
    this.selectAny = db.prepare('SELECT EXISTS (SELECT 1 FROM local_auth_list) AS found');
    this.countEntries = db.prepare('SELECT COUNT(*) AS n FROM local_auth_list');
    this.deleteAll = db.prepare('DELETE FROM local_auth_list');
    this.insertEntry = db.prepare(
      'INSERT INTO local_auth_list (id_tag, status, expiry_date, parent_id_tag) VALUES (?, ?, ?, ?)',
    );
    this.insertNew = db.prepare(
      'INSERT OR IGNORE INTO local_auth_list (id_tag, status, expiry_date, parent_id_tag) VALUES (?, ?, ?, ?)',
    );
    this.updateEntry = db.prepare(
      'UPDATE local_auth_list SET status = ?, expiry_date = ?, parent_id_tag = ? WHERE id_tag = ?',
    );
    this.deleteEntry = db.prepare('DELETE FROM local_auth_list WHERE id_tag = ?');
    this.upsertVersion = db.prepare(
      `INSERT INTO local_auth_list_version (singleton, version) VALUES (1, ?)
       ON CONFLICT (singleton) DO UPDATE SET version = excluded.version`,
    );
  }

  /** Runs `fn` in one IMMEDIATE SQL transaction: a throw rolls back everything it wrote. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  get(idTag: string): IdTagInfo | undefined {
    const row = this.selectEntry.get(idTag);
    return row === undefined ? undefined : toIdTagInfo(row);
  }

  /** The version last stored, whatever the entries. */
  storedVersion(): number | undefined {
    return this.selectVersion.get()?.version;
  }

  setVersion(version: number): void {
    this.upsertVersion.run(version);
  }

  isEmpty(): boolean {
    return this.selectAny.get()?.found !== 1;
  }

  count(): number {
    return this.countEntries.get()?.n ?? 0;
  }

  clear(): void {
    this.deleteAll.run();
  }

  /** Adds an entry; throws when the id is on the list already. */
  add(idTag: string, info: IdTagInfo): void {
    this.insertEntry.run(idTag, ...columns(info));
  }

  /** Adds or replaces the entry; true when the id was not on the list. */
  put(idTag: string, info: IdTagInfo): boolean {
    const [status, expiry, parent] = columns(info);
    if (this.insertNew.run(idTag, status, expiry, parent).changes === 1) return true;
    this.updateEntry.run(status, expiry, parent, idTag);
    return false;
  }

  /** True when the id was on the list. */
  remove(idTag: string): boolean {
    return this.deleteEntry.run(idTag).changes > 0;
  }
}

function columns(info: IdTagInfo): [string, string | null, string | null] {
  return [info.status, info.expiryDate ?? null, info.parentIdTag ?? null];
}
