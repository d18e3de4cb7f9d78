import type { LocalListRepo } from '../../store/local-list-repo.js';
import type { IdTagInfo } from '../auth-types.js';

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
  /** Entry count, read from the table once on first need and then kept in step with each commit. */
  private count: number | undefined;

  constructor(private readonly repo: LocalListRepo) {}

  /** The version GetLocalListVersion reports: 0 while the list holds no entry. */
  version(): number {
    if (this.repo.isEmpty()) return 0;
    return this.repo.storedVersion() ?? 0;
  }

  /** The entry for `idTag`, compared case-insensitively (idTags are CiString20). */
  get(idTag: string): IdTagInfo | undefined {
    return this.repo.get(idTag);
  }

  size(): number {
    this.count ??= this.repo.count();
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
      this.count = this.repo.transaction(() =>
        update.updateType === 'Full' ? this.replace(update) : this.change(update, maxLength),
      );
    } catch (error) {
      if (error instanceof ListTooLong) return 'Failed';
      throw error;
    }
    return 'Accepted';
  }

  /** Returns the entry count after the update. */
  private replace(update: Extract<LocalListUpdate, { updateType: 'Full' }>): number {
    this.repo.clear();
    const entries = update.entries ?? [];
    for (const { idTag, idTagInfo } of entries) this.repo.add(idTag, idTagInfo);
    this.repo.setVersion(update.listVersion);
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
        if (this.repo.remove(idTag)) count--;
      } else if (this.repo.put(idTag, idTagInfo)) {
        count++;
      }
    }
    if (count > maxLength) throw new ListTooLong();
    this.repo.setVersion(update.listVersion);
    return count;
  }
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
