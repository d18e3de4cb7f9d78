import type Database from 'better-sqlite3';
import { type Atomically, atomicallyOn } from './sql-transaction.js';

/** One row of the security log. */
export interface SecurityLogEntry {
  id: number;
  /** OCPP time of the event, ISO 8601 UTC. */
  timestamp: string;
  type: string;
  techInfo?: string;
  critical: boolean;
}

/**
 * Rows the security log keeps; past it the oldest go. Enough for years of ordinary events (a few a
 * day), and the rate limits of the noisy ones keep a hostile central system from rolling it over fast.
 */
export const SECURITY_LOG_MAX_ROWS = 10_000;

interface Row {
  id: number;
  timestamp: string;
  type: string;
  tech_info: string | null;
  critical: number;
}

/** The security log table: the only SQL of it. */
export class SecurityLogRepo {
  private readonly insert: Database.Statement<[string, string, string | null, number]>;
  private readonly trim: Database.Statement<[number]>;
  private readonly newestRows: Database.Statement<[number], Row>;
  private readonly countRows: Database.Statement<[], { n: number }>;
  private readonly deleteAll: Database.Statement<[]>;
  private readonly inTransaction: Atomically;

  constructor(
    db: Database.Database,
    private readonly maxRows: number = SECURITY_LOG_MAX_ROWS,
  ) {
    this.insert = db.prepare(
      'INSERT INTO security_log (timestamp, type, tech_info, critical) VALUES (?, ?, ?, ?)',
    );
    // Ids only grow (AUTOINCREMENT), so the newest maxRows are the ids above max - maxRows.
    this.trim = db.prepare('DELETE FROM security_log WHERE id <= (SELECT MAX(id) FROM security_log) - ?');
    this.newestRows = db.prepare(
      'SELECT id, timestamp, type, tech_info, critical FROM security_log ORDER BY id DESC LIMIT ?',
    );
    this.countRows = db.prepare('SELECT COUNT(*) AS n FROM security_log');
    this.deleteAll = db.prepare('DELETE FROM security_log');
    this.inTransaction = atomicallyOn(db);
  }

  /**
   * Appends an event, dropping the oldest past the bound; `alongside` (the event's queued
   * notification) commits in the same SQL transaction, so the log and the queue never disagree.
   */
  add(entry: Omit<SecurityLogEntry, 'id'>, alongside?: () => void): number {
    let id = 0;
    this.inTransaction(() => {
      const result = this.insert.run(
        entry.timestamp,
        entry.type,
        entry.techInfo ?? null,
        entry.critical ? 1 : 0,
      );
      id = Number(result.lastInsertRowid);
      this.trim.run(this.maxRows);
      alongside?.();
    });
    return id;
  }

  /** The newest `limit` entries, oldest first. */
  newest(limit: number): SecurityLogEntry[] {
    return this.newestRows.all(limit).reverse().map(toEntry);
  }

  count(): number {
    return this.countRows.get()?.n ?? 0;
  }

  /** Empties the log; `then` (the record that it was cleared) commits with it. Returns the rows removed. */
  clear(then?: () => void): number {
    let removed = 0;
    this.inTransaction(() => {
      removed = this.deleteAll.run().changes;
      then?.();
    });
    return removed;
  }
}

function toEntry(row: Row): SecurityLogEntry {
  return {
    id: row.id,
    timestamp: row.timestamp,
    type: row.type,
    ...(row.tech_info === null ? {} : { techInfo: row.tech_info }),
    critical: row.critical === 1,
  };
}
