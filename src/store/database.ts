import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type Database from 'better-sqlite3';
import type { Clock } from '../clock.js';
import { Sqlite } from '../commonjs.js';
import type { Logger } from '../log.js';
import { AvailabilityRepo } from './availability-repo.js';
import { ConfigRepo } from './config-repo.js';
import { describeStoreError, StoreHealth } from './health.js';
import { migrateTo, NewerSchemaError, SCHEMA_VERSION } from './migrations.js';
import { type Salvage, salvageInto } from './salvage.js';
import { SettingFloors } from './setting-floors.js';
import { acquireStateLock, type StateLock } from './state-lock.js';

export interface Store {
  /** For repositories added later (transactions, outbox, ...): each multi-row change in one SQL transaction. */
  readonly db: Database.Database;
  readonly path: string;
  readonly config: ConfigRepo;
  readonly availability: AvailabilityRepo;
  /** Values of settings that may only be raised, kept beside the database (see SettingFloors). */
  readonly floors: SettingFloors;
  /** Whether writes succeed now: ok, degraded (disk full or failing) or read-only. */
  readonly health: StoreHealth;
  /** Set when the file found at open was corrupt: where it now lies, and what was saved from it. */
  readonly recovered?: { movedTo: string; reason: string; salvage: Salvage };
  close(): void;
}

export interface StoreOptions {
  dir: string;
  log: Logger;
  /** Default 'chargepoint.db'. */
  fileName?: string;
  /** Stamps updated_at columns and the name of a moved-aside file; defaults to the system clock. */
  clock?: Pick<Clock, 'now'>;
  /** Fault injection for tests only: the connection every repository is given. */
  wrapDatabase?: (db: Database.Database) => Database.Database;
  /** The state directory's lock, when the caller took it earlier (`lockStateDirectory`); the store owns it from here. */
  lock?: StateLock;
}

/**
 * Creates the state directory if needed and takes its lock. The runtime takes it before it touches
 * the board: a second daemon must be turned away before it drives (or releases) the outputs the
 * running one controls.
 */
export function lockStateDirectory(dir: string): StateLock {
  prepareDirectory(dir);
  return acquireStateLock(dir);
}

// Long enough to ride out a cpctl read or a checkpoint, short enough not to stall the cold start.
const BUSY_TIMEOUT_MS = 2000;

/**
 * What the WAL file is cut back to after a checkpoint (SQLite keeps it at its peak otherwise), on
 * every connection to the database (the trace's too).
 */
export const WAL_SIZE_LIMIT_BYTES = 4 * 1024 * 1024;

/** The file is there but cannot serve as our database; recovery moves it aside. */
class UnusableDatabaseError extends Error {}

/**
 * The daemon cannot write its state (a read-only file or filesystem, a wrong owner, a path that is
 * not a directory or not a file): nothing a restart can fix, so the daemon exits with EX_CONFIG,
 * naming the path and the user it runs as.
 */
export class StoreAccessError extends Error {
  override readonly name = 'StoreAccessError';
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    const user = os.userInfo();
    super(`state store ${path} is not usable by user ${user.username} (uid ${user.uid}): ${reason}`);
  }
}

/**
 * Opens (creating if needed) the state database and brings its schema up to date.
 *
 * The state directory is locked first (state-lock.ts): two daemons on one store would fight over
 * its relays and its rows. Directory 0700 and database 0600, because the database holds the
 * AuthorizationKey; looser modes found are tightened.
 *
 * Only a CORRUPT file (SQLite says so, quick_check fails) or one written by a NEWER runtime is moved
 * aside to `<name>.corrupt-<timestamp>` (with its -wal/-shm); a fresh database takes its place with
 * what could be read from the old one (salvage.ts: configuration, transactions, queued messages,
 * charging profiles, local limits, security log, certificate rows and marks) and the loss is reported. A newer schema is treated like corruption on purpose: after a firmware
 * rollback this code cannot know what the newer tables mean, and migrating down would destroy
 * data; kept aside, the file is intact for the newer runtime or a technician.
 *
 * A store that cannot be written is a StoreAccessError (exit 78); errors that say nothing about the
 * file (busy, disk full, I/O) are thrown as they are (exit 70, systemd retries). There is no
 * in-memory fallback: a charger that silently forgets its transactions at the next restart is
 * worse than one that does not start and says why.
 */
export function openStore(opts: StoreOptions): Store {
  const { log } = opts;
  const clock = opts.clock ?? { now: Date.now };
  const file = path.join(opts.dir, opts.fileName ?? 'chargepoint.db');
  prepareDirectory(opts.dir);
  const lock = opts.lock ?? acquireStateLock(opts.dir);
  try {
    prepareFile(file, log);
    const floors = new SettingFloors(`${file}.floors`, log);
    let db: Database.Database;
    let recovered: Store['recovered'];
    try {
      db = openDatabase(file, log, clock);
    } catch (err) {
      if (!isCorrupt(err)) throw classify(err, file);
      const reason = describeStoreError(err);
      let movedTo: string;
      try {
        movedTo = moveAside(file, clock.now());
      } catch (moveErr) {
        throw new StoreAccessError(
          file,
          `corrupt (${reason}) and cannot be moved aside: ${describeStoreError(moveErr)}`,
        );
      }
      db = openDatabase(file, log, clock);
      const salvage = salvageInto(db, movedTo);
      recovered = { movedTo, reason, salvage };
      log.error(
        { path: file, movedTo, reason, salvaged: salvage.saved, lost: salvage.lost },
        'state database corrupt: moved aside, starting on a fresh database with what could be salvaged',
      );
    }
    return buildStore(opts.wrapDatabase?.(db) ?? db, file, clock, floors, lock, log, recovered);
  } catch (err) {
    lock.release();
    throw err;
  }
}

/** The state directory, created 0700 or tightened to it, and writable by us. */
function prepareDirectory(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new StoreAccessError(dir, `cannot create the state directory: ${describeStoreError(err)}`);
  }
  const stat = fs.statSync(dir);
  if (!stat.isDirectory()) throw new StoreAccessError(dir, 'not a directory');
  try {
    if ((stat.mode & 0o077) !== 0) fs.chmodSync(dir, 0o700);
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (err) {
    throw new StoreAccessError(dir, `state directory not writable: ${describeStoreError(err)}`);
  }
}

/** The database file (and companions), 0600 and writable; a zero-length one is said out loud. */
function prepareFile(file: string, log: Logger): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    // Created here, not by SQLite, so that it is 0600 from its first byte; SQLite gives its -wal
    // and -shm the mode of the database.
    fs.closeSync(fs.openSync(file, 'wx', 0o600));
    return;
  }
  if (!stat.isFile()) throw new StoreAccessError(file, 'not a regular file');
  if (stat.size === 0) {
    log.warn(
      { path: file },
      'state database is zero-length: starting empty (was it lost before it was written?)',
    );
  }
  for (const target of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      const mode = fs.statSync(target).mode;
      if ((mode & 0o077) !== 0) fs.chmodSync(target, 0o600);
      fs.accessSync(target, fs.constants.R_OK | fs.constants.W_OK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new StoreAccessError(target, describeStoreError(err));
    }
  }
}

function openDatabase(file: string, log: Logger, clock: Pick<Clock, 'now'>): Database.Database {
  const db = new Sqlite(file, { timeout: BUSY_TIMEOUT_MS });
  try {
    if (db.readonly) throw new StoreAccessError(file, 'opened read-only');
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
    if (mode !== 'wal') {
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
  floors: SettingFloors,
  lock: StateLock,
  log: Logger,
  recovered: Store['recovered'],
): Store {
  const now = () => clock.now();
  const health = new StoreHealth({ db, log });
  return {
    db,
    path: file,
    config: new ConfigRepo(db, now),
    availability: new AvailabilityRepo(db, now),
    floors,
    health,
    ...(recovered ? { recovered } : {}),
    close() {
      health.close();
      // Closing checkpoints the WAL into the main file: the flush on SIGTERM.
      if (db.open) db.close();
      lock.release();
    },
  };
}

const CORRUPT_CODES = ['SQLITE_CORRUPT', 'SQLITE_NOTADB'];
const ACCESS_CODES = ['SQLITE_READONLY', 'SQLITE_CANTOPEN', 'SQLITE_PERM', 'SQLITE_AUTH'];

function isCorrupt(err: unknown): boolean {
  if (err instanceof UnusableDatabaseError || err instanceof NewerSchemaError) return true;
  // Prefix match: extended codes such as SQLITE_CORRUPT_INDEX mean the same here.
  return err instanceof Sqlite.SqliteError && CORRUPT_CODES.some((code) => err.code.startsWith(code));
}

/** A store we may not write is the installer's to fix (exit 78); anything else is thrown as it is. */
function classify(err: unknown, file: string): unknown {
  if (err instanceof Sqlite.SqliteError && ACCESS_CODES.some((code) => err.code.startsWith(code))) {
    return new StoreAccessError(file, describeStoreError(err));
  }
  return err;
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
  fs.closeSync(fs.openSync(file, 'wx', 0o600));
  return target;
}
