import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { AvailabilityRepo } from './availability-repo.js';
import { ConfigRepo } from './config-repo.js';
import { migrateTo, NewerSchemaError, SCHEMA_VERSION } from './migrations.js';
import { WAL_SIZE_LIMIT_BYTES } from './trace-repo.js';

export interface Store {
  /** For repositories added later (transactions, outbox, ...): each multi-row change in one SQL transaction. */
  readonly db: Database.Database;
  /** ':memory:' when no file could be used; then nothing survives a restart. */
  readonly path: string;
  readonly config: ConfigRepo;
  readonly availability: AvailabilityRepo;
  /**
   * Set when the file found at open was unusable. `movedTo` is where it now lies, or '' when even
   * moving it aside failed (then `path` is ':memory:').
   */
  readonly recovered?: { movedTo: string; reason: string };
  close(): void;
}

export interface StoreOptions {
  dir: string;
  log: Logger;
  /** Default 'chargepoint.db'. */
  fileName?: string;
  /** Stamps updated_at columns and the name of a moved-aside file; defaults to the system clock. */
  clock?: Pick<Clock, 'now'>;
}

const MEMORY = ':memory:';
// Long enough to ride out a cpctl read or a checkpoint, short enough not to stall the cold start.
const BUSY_TIMEOUT_MS = 2000;

/** The file is there but cannot serve as our database; recovery moves it aside. */
class UnusableDatabaseError extends Error {}

/**
 * Opens (creating if needed) the state database and brings its schema up to date.
 *
 * A file that is corrupt, unreadable, or written by a NEWER runtime is moved aside to
 * `<name>.corrupt-<timestamp>` (with its -wal/-shm) and a fresh database takes its place, so the
 * daemon boots on provisioning defaults instead of crash-looping. A newer schema is treated like
 * corruption on purpose: after a firmware rollback this code cannot know what the newer tables
 * mean, and migrating down would destroy data; kept aside, the file is intact for the newer
 * runtime or a technician. If the file cannot even be moved, the store runs in memory.
 *
 * Errors that say nothing about the file (busy: another instance holds it; disk full; a bug in a
 * migration) are thrown, because moving aside a healthy file would strand its data.
 */
export function openStore(opts: StoreOptions): Store {
  const { log } = opts;
  const clock = opts.clock ?? { now: Date.now };
  const file = path.join(opts.dir, opts.fileName ?? 'chargepoint.db');

  try {
    fs.mkdirSync(opts.dir, { recursive: true, mode: 0o750 });
  } catch (err) {
    return inMemory(opts, clock, `cannot create state directory ${opts.dir}: ${describe(err)}`);
  }

  try {
    return buildStore(openDatabase(file, log, clock), file, clock);
  } catch (err) {
    if (!isUnusable(err)) throw err;
    const reason = describe(err);
    let movedTo: string;
    try {
      movedTo = moveAside(file, clock.now());
    } catch (moveErr) {
      return inMemory(opts, clock, `${reason}; moving ${file} aside failed: ${describe(moveErr)}`);
    }
    log.error(
      { path: file, movedTo, reason },
      'state database unusable: moved aside, starting on a fresh database with provisioning defaults',
    );
    try {
      return buildStore(openDatabase(file, log, clock), file, clock, { movedTo, reason });
    } catch (freshErr) {
      return inMemory(opts, clock, `fresh database ${file} failed to open: ${describe(freshErr)}`, movedTo);
    }
  }
}

function inMemory(opts: StoreOptions, clock: Pick<Clock, 'now'>, reason: string, movedTo = ''): Store {
  opts.log.fatal(
    { dir: opts.dir, movedTo, reason },
    'state database unavailable: running IN MEMORY, nothing will survive a restart',
  );
  return buildStore(openDatabase(MEMORY, opts.log, clock), MEMORY, clock, { movedTo, reason });
}

function openDatabase(file: string, log: Logger, clock: Pick<Clock, 'now'>): Database.Database {
  const db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
  try {
    db.pragma('foreign_keys = ON');
    // Per connection, not stored in the file. With WAL, FULL syncs the log at every commit:
    // a committed transaction survives a power cut at any instant.
    db.pragma('synchronous = FULL');
    // quick_check reads every page once (O(file size), skips index cross-checks): a few ms at
    // our size. Revisit if the store ever grows to many MB: an SD card reads ~20 MB/s, and the
    // cold-start budget is 500 ms. Never a full integrity_check or VACUUM here.
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new UnusableDatabaseError(`quick_check: ${String(check)}`);
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (file !== MEMORY && mode !== 'wal') {
      log.warn({ path: file, journalMode: mode }, 'WAL journal unavailable on this filesystem');
    }
    // A checkpoint leaves the WAL at its peak size unless told to cut it back.
    db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
    migrateTo(db, SCHEMA_VERSION, { now: () => clock.now() });
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

function buildStore(
  db: Database.Database,
  file: string,
  clock: Pick<Clock, 'now'>,
  recovered?: { movedTo: string; reason: string },
): Store {
  const now = () => clock.now();
  return {
    db,
    path: file,
    config: new ConfigRepo(db, now),
    availability: new AvailabilityRepo(db, now),
    ...(recovered ? { recovered } : {}),
    close() {
      // Closing checkpoints the WAL into the main file: the flush on SIGTERM.
      if (db.open) db.close();
    },
  };
}

const UNUSABLE_CODES = [
  'SQLITE_CORRUPT',
  'SQLITE_NOTADB',
  'SQLITE_CANTOPEN',
  'SQLITE_IOERR',
  'SQLITE_READONLY',
];

function isUnusable(err: unknown): boolean {
  if (err instanceof UnusableDatabaseError || err instanceof NewerSchemaError) return true;
  // Prefix match: extended codes such as SQLITE_IOERR_SHORT_READ mean the same here.
  return err instanceof Database.SqliteError && UNUSABLE_CODES.some((code) => err.code.startsWith(code));
}

function describe(err: unknown): string {
  if (err instanceof Database.SqliteError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Renames the file and its companions to `<file>.corrupt-<timestamp>[-n]`. Companions go first:
 * a fresh database must never meet a stale -wal, which SQLite would replay into it.
 */
function moveAside(file: string, nowMs: number): string {
  const stamp = new Date(nowMs).toISOString().replace(/[:.]/g, '-');
  let target = `${file}.corrupt-${stamp}`;
  for (let n = 1; [target, `${target}-wal`, `${target}-shm`].some((p) => fs.existsSync(p)); n++) {
    target = `${file}.corrupt-${stamp}-${n}`;
  }
  for (const suffix of ['-wal', '-shm']) {
    if (fs.existsSync(file + suffix)) fs.renameSync(file + suffix, target + suffix);
  }
  fs.renameSync(file, target);
  return target;
}
