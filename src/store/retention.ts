import type Database from 'better-sqlite3';

export interface RetentionLimits {
  /** Finished transactions older than this go. */
  maxAgeMs: number;
  /** At most this many finished transactions are kept, the newest. */
  maxTransactions: number;
}

/** A year of history, bounded in rows for a charger that runs many short sessions a day. */
export const DEFAULT_RETENTION: RetentionLimits = {
  maxAgeMs: 365 * 24 * 3600 * 1000,
  maxTransactions: 5000,
};

/**
 * Prunes the transactions, the table that grows with every session, so the database (and the quick_check at every
 * start, which reads all of it) stays bounded on a charger that runs for years. A transaction is
 * only removed once it is finished and nothing still refers to it: no queued message (its
 * StopTransaction may not have left yet) and no dead letter (a retry needs its transaction);
 * its samples go with it (ON DELETE CASCADE). Dead letters are the outbox's to prune
 * (`Outbox`, at every dead-lettering and resume), so their limits live in one place.
 */
export class RetentionRepo {
  private readonly transactions: Database.Statement<[string, number]>;

  constructor(db: Database.Database) {
    this.transactions = db.prepare<[string, number]>(
      `DELETE FROM transactions
       WHERE stopped_at IS NOT NULL
         AND (stopped_at < ?
              OR local_id NOT IN (SELECT local_id FROM transactions WHERE stopped_at IS NOT NULL
                                  ORDER BY local_id DESC LIMIT ?))
         AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.local_tx_id = transactions.local_id)
         AND NOT EXISTS (SELECT 1 FROM outbox_dead_letter d WHERE d.local_tx_id = transactions.local_id)`,
    );
  }

  /** Removes what is past the limits at `nowMs`; returns how many transactions went. */
  prune(nowMs: number, limits: RetentionLimits = DEFAULT_RETENTION): { transactions: number } {
    const cutoff = new Date(nowMs - limits.maxAgeMs).toISOString();
    return { transactions: this.transactions.run(cutoff, limits.maxTransactions).changes };
  }
}
