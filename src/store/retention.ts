import type Database from 'better-sqlite3';

export interface RetentionLimits {
  /** Finished transactions and dead letters older than this go. */
  maxAgeMs: number;
  /** At most this many finished transactions are kept, the newest. */
  maxTransactions: number;
  /** At most this many dead letters are kept, the newest. */
  maxDeadLetters: number;
}

/** A year of history, bounded in rows for a charger that runs many short sessions a day. */
export const DEFAULT_RETENTION: RetentionLimits = {
  maxAgeMs: 365 * 24 * 3600 * 1000,
  maxTransactions: 5000,
  maxDeadLetters: 1000,
};

/**
 * Prunes the tables that grow with every session, so the database (and the quick_check at every
 * start, which reads all of it) stays bounded on a charger that runs for years. A transaction is
 * only removed once it is finished and nothing still refers to it: no queued message (its
 * StopTransaction may not have left yet) and no dead letter (a retry needs its transaction);
 * its samples go with it (ON DELETE CASCADE).
 */
export class RetentionRepo {
  private readonly pruneTx: Database.Transaction<
    (cutoff: string, limits: RetentionLimits) => { transactions: number; deadLetters: number }
  >;

  constructor(db: Database.Database) {
    const deadLetters = db.prepare<[string, number]>(
      `DELETE FROM outbox_dead_letter WHERE failed_at < ?
         OR seq NOT IN (SELECT seq FROM outbox_dead_letter ORDER BY seq DESC LIMIT ?)`,
    );
    const transactions = db.prepare<[string, number]>(
      `DELETE FROM transactions
       WHERE stopped_at IS NOT NULL
         AND (stopped_at < ?
              OR local_id NOT IN (SELECT local_id FROM transactions WHERE stopped_at IS NOT NULL
                                  ORDER BY local_id DESC LIMIT ?))
         AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.local_tx_id = transactions.local_id)
         AND NOT EXISTS (SELECT 1 FROM outbox_dead_letter d WHERE d.local_tx_id = transactions.local_id)`,
    );
    this.pruneTx = db.transaction((cutoff: string, limits: RetentionLimits) => {
      const removedDead = deadLetters.run(cutoff, limits.maxDeadLetters).changes;
      const removedTx = transactions.run(cutoff, limits.maxTransactions).changes;
      return { transactions: removedTx, deadLetters: removedDead };
    });
  }

  /** Removes what is past the limits at `nowMs`; returns how many rows of each went. */
  prune(
    nowMs: number,
    limits: RetentionLimits = DEFAULT_RETENTION,
  ): { transactions: number; deadLetters: number } {
    return this.pruneTx.immediate(new Date(nowMs - limits.maxAgeMs).toISOString(), limits);
  }
}
