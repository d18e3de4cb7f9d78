import fs from 'node:fs';
import path from 'node:path';
import { Sqlite } from '../commonjs.js';

/** The lock file's name in the state directory. */
export const LOCK_FILE = 'chargepoint.lock';

/** Another daemon runs on this state directory; starting again would not help (exit 78). */
export class StateDirectoryLockedError extends Error {
  override readonly name = 'StateDirectoryLockedError';
  constructor(readonly lockPath: string) {
    super(`state directory is in use by another chargepointd (lock ${lockPath} is held)`);
  }
}

export interface StateLock {
  release(): void;
}

/**
 * Takes the state directory's lock: a small SQLite file held in EXCLUSIVE locking mode for the
 * life of the process. The lock is SQLite's (POSIX advisory locks, which Node cannot take
 * directly): the kernel drops it when the process dies, SIGKILL included, so a crash never leaves
 * a stale lock behind, and a second opener (another process, or another connection in this one)
 * is refused at once.
 */
export function acquireStateLock(dir: string): StateLock {
  const file = path.join(dir, LOCK_FILE);
  fs.closeSync(fs.openSync(file, 'a', 0o600));
  const db = new Sqlite(file, { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    // The file holds no data, only the lock: its one write (at the first start) need not wait for
    // the disk, which made four syncs of a fresh state directory's cold start.
    db.pragma('synchronous = OFF');
    // The first write takes the exclusive lock; in EXCLUSIVE mode it is kept after the commit.
    db.exec('BEGIN EXCLUSIVE');
    db.exec('CREATE TABLE IF NOT EXISTS holder (singleton INTEGER PRIMARY KEY)');
    db.exec('COMMIT');
  } catch (err) {
    db.close();
    if (err instanceof Sqlite.SqliteError && err.code.startsWith('SQLITE_BUSY')) {
      throw new StateDirectoryLockedError(file);
    }
    throw err;
  }
  return {
    release() {
      if (db.open) db.close();
    },
  };
}
