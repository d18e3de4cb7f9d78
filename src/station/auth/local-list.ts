import type Database from 'better-sqlite3';
import type { AuthorizationStatus, IdTagInfo } from '../auth-types.js';

/** An entry of a Differential update. */
export interface LocalListEntry {
  idTag: string;
  /** Absent: the id is removed from the list. */
  idTagInfo?: IdTagInfo;
}

/** An id the list holds; every entry of a Full update is one (OCPP 1.6 section 7.1). */
export interface ListedId {
  idTag: string;
  idTagInfo: IdTagInfo;
}

export type LocalListUpdate =
  | { listVersion: number; updateType: 'Full'; entries?: readonly ListedId[] }
  | { listVersion: number; updateType: 'Differential'; entries?: readonly LocalListEntry[] };

export type LocalListUpdateStatus = 'Accepted' | 'Failed' | 'VersionMismatch';

interface Row {
  status: AuthorizationStatus;
  expiryDate: string | null;
  parentIdTag: string | null;
}

/** Thrown inside the update transaction so that SQLite rolls the whole update back. */
class ListTooLong extends Error {}

/**
 * The Local Authorization List, kept in SQLite and read one id at a time through the primary key,
 * so a list of a million ids costs disk, not memory.
 *
 * Every update is one IMMEDIATE transaction: a power cut or a refused update leaves the previous
 * list and version exactly as they were. Only the central system changes the list (SendLocalList);
 * this class is its only writer, which is what lets it keep the entry count without re-counting.
 *
 * Version rules:
 * - A Differential update must carry a version strictly greater than the one GetLocalListVersion
 *   reports; an equal one is a VersionMismatch too (the 1.6 UpdateStatus says "less or equal").
 * - A Full update may carry any version from 1 upwards; 0 and -1 are reserved by
 *   GetLocalListVersion (empty list, no list support), so such an update is Failed.
 * - An empty list reports 0 whatever version it was stored under.
 */
export class LocalAuthList {
  private readonly selectEntry: Database.Statement<[string], Row>;
  private readonly selectVersion: Database.Statement<[], { version: number }>;
  private readonly selectAny: Database.Statement<[], { found: number }>;
  private readonly countEntries: Database.Statement<[], { n: number }>;
  private readonly deleteAll: Database.Statement<[]>;
  private readonly insert: Database.Statement<[string, string, string | null, string | null]>;
  private readonly insertNew: Database.Statement<[string, string, string | null, string | null]>;
  private readonly update: Database.Statement<[string, string | null, string | null, string]>;
  private readonly remove: Database.Statement<[string]>;
  private readonly storeVersion: Database.Statement<[number]>;
  private readonly applyInTransaction: Database.Transaction<
    (update: LocalListUpdate, maxLength: number) => number
  >;
  /** Entry count, read from the table once on first need and then kept in step with each commit. */
  private count: number | undefined;

  constructor(db: Database.Database) {
    this.selectEntry = db.prepare(
      'SELECT status, expiry_date AS expiryDate, parent_id_tag AS parentIdTag FROM local_auth_list WHERE id_tag = ?',
    );
    this.selectVersion = db.prepare('SELECT version FROM local_auth_list_version WHERE singleton = 1');
    this.selectAny = db.prepare('SELECT EXISTS (SELECT 1 FROM local_auth_list) AS found');
    this.countEntries = db.prepare('SELECT COUNT(*) AS n FROM local_auth_list');
    this.deleteAll = db.prepare('DELETE FROM local_auth_list');
    this.insert = db.prepare(
      'INSERT INTO local_auth_list (id_tag, status, expiry_date, parent_id_tag) VALUES (?, ?, ?, ?)',
    );
    this.insertNew = db.prepare(
      'INSERT OR IGNORE INTO local_auth_list (id_tag, status, expiry_date, parent_id_tag) VALUES (?, ?, ?, ?)',
    );
    this.update = db.prepare(
      'UPDATE local_auth_list SET status = ?, expiry_date = ?, parent_id_tag = ? WHERE id_tag = ?',
    );
    this.remove = db.prepare('DELETE FROM local_auth_list WHERE id_tag = ?');
    this.storeVersion = db.prepare(
      `INSERT INTO local_auth_list_version (singleton, version) VALUES (1, ?)
       ON CONFLICT (singleton) DO UPDATE SET version = excluded.version`,
    );
    this.applyInTransaction = db.transaction((update: LocalListUpdate, maxLength: number) =>
      update.updateType === 'Full' ? this.replace(update) : this.change(update, maxLength),
    );
  }

  /** The version GetLocalListVersion reports: 0 while the list holds no entry. */
  version(): number {
    if (this.selectAny.get()?.found !== 1) return 0;
    return this.selectVersion.get()?.version ?? 0;
  }

  /** The entry for `idTag`, compared case-insensitively (idTags are CiString20). */
  get(idTag: string): IdTagInfo | undefined {
    const row = this.selectEntry.get(idTag);
    if (row === undefined) return undefined;
    return {
      status: row.status,
      ...(row.expiryDate === null ? {} : { expiryDate: row.expiryDate }),
      ...(row.parentIdTag === null ? {} : { parentIdTag: row.parentIdTag }),
    };
  }

  size(): number {
    this.count ??= this.countEntries.get()?.n ?? 0;
    return this.count;
  }

  /**
   * Applies a SendLocalList update, all or nothing. Failed when an idTag appears twice in the
   * update, when the list would end up longer than `maxLength` (LocalAuthListMaxLength), or for a
   * Full update under a reserved version. Storage errors are thrown: the caller decides how to
   * report them (SendLocalList answers Failed).
   */
  apply(update: LocalListUpdate, maxLength: number): LocalListUpdateStatus {
    const entries = update.entries ?? [];
    if (hasDuplicates(entries)) return 'Failed';
    if (update.updateType === 'Full') {
      if (update.listVersion < 1 || entries.length > maxLength) return 'Failed';
    } else if (update.listVersion <= this.version()) {
      return 'VersionMismatch';
    }
    try {
      this.count = this.applyInTransaction.immediate(update, maxLength);
    } catch (error) {
      if (error instanceof ListTooLong) return 'Failed';
      throw error;
    }
    return 'Accepted';
  }

  /** Returns the entry count after the update. */
  private replace(update: Extract<LocalListUpdate, { updateType: 'Full' }>): number {
    this.deleteAll.run();
    const entries = update.entries ?? [];
    for (const { idTag, idTagInfo } of entries) this.insert.run(idTag, ...columns(idTagInfo));
    this.storeVersion.run(update.listVersion);
    return entries.length;
  }

  /** Returns the entry count after the update; throws ListTooLong to roll it back. */
  private change(
    update: Extract<LocalListUpdate, { updateType: 'Differential' }>,
    maxLength: number,
  ): number {
    let count = this.size();
    for (const { idTag, idTagInfo } of update.entries ?? []) {
      if (idTagInfo === undefined) {
        count -= this.remove.run(idTag).changes;
        continue;
      }
      const [status, expiry, parent] = columns(idTagInfo);
      if (this.insertNew.run(idTag, status, expiry, parent).changes === 1) count++;
      else this.update.run(status, expiry, parent, idTag);
    }
    if (count > maxLength) throw new ListTooLong();
    this.storeVersion.run(update.listVersion);
    return count;
  }
}

function columns(info: IdTagInfo): [string, string | null, string | null] {
  return [info.status, info.expiryDate ?? null, info.parentIdTag ?? null];
}

/** The specification forbids an idTag twice in one update; case is not a difference. */
function hasDuplicates(entries: readonly LocalListEntry[]): boolean {
  const seen = new Set<string>();
  for (const { idTag } of entries) {
    const key = idTag.toLowerCase();
    if (seen.has(key)) return true;
    seen.add(key);
  }
  return false;
}
