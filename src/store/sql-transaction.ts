import type Database from 'better-sqlite3';

/** Runs `fn` in one SQL transaction (a savepoint inside an enclosing one) and returns its result. */
export type Atomically = <T>(fn: () => T) => T;

/**
 * A repository's SQL transaction, wrapped once: better-sqlite3's `db.transaction(fn)` builds its
 * wrapper functions anew on every call (some 5 us warm, more cold), on the path of a transaction's
 * start and stop.
 */
export function atomicallyOn(db: Database.Database): Atomically {
  const run = db.transaction((body: () => void) => body());
  return <T>(fn: () => T): T => {
    let result!: T;
    run(() => {
      result = fn();
    });
    return result;
  };
}
