import type Database from 'better-sqlite3';

export interface Migration {
  readonly version: number;
  readonly name: string;
  up(db: Database.Database): void;
}

/**
 * Append only: a shipped migration is never edited, because chargers in the field have already
 * run it. Versions are contiguous from 1; test/unit/store.test.ts builds a database at every
 * earlier version and checks it reaches the latest with its rows intact.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'config_keys',
    up(db) {
      db.exec(`CREATE TABLE config_keys (
        key TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL
      ) STRICT`);
    },
  },
  {
    version: 2,
    name: 'connector_availability',
    up(db) {
      db.exec(`CREATE TABLE connector_availability (
        connector_id INTEGER PRIMARY KEY NOT NULL CHECK (connector_id >= 0),
        availability TEXT NOT NULL CHECK (availability IN ('Operative', 'Inoperative')),
        updated_at TEXT NOT NULL
      ) STRICT`);
    },
  },
];

export const SCHEMA_VERSION: number = MIGRATIONS.length;

/** The database was written by a newer runtime; see openStore for why it is not migrated down. */
export class NewerSchemaError extends Error {
  constructor(
    readonly found: number,
    readonly supported: number,
  ) {
    super(`database schema version ${found} is newer than the ${supported} this runtime understands`);
    this.name = 'NewerSchemaError';
  }
}

const CREATE_VERSION_TABLE = `CREATE TABLE IF NOT EXISTS schema_version (
  version INTEGER PRIMARY KEY NOT NULL,
  name TEXT NOT NULL,
  applied_at TEXT NOT NULL
) STRICT`;

/** 0 for an empty database (no schema_version table yet). */
export function schemaVersion(db: Database.Database): number {
  const table = db
    .prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_version'")
    .get();
  if (table === undefined) return 0;
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number | null };
  return row.v ?? 0;
}

export interface MigrateOptions {
  /** Stamps applied_at; defaults to Date.now. */
  now?: () => number;
  /** Only tests replace this, to prove a failing migration leaves the previous version intact. */
  migrations?: readonly Migration[];
}

/**
 * Brings the database up to `target`. Each migration and its schema_version row commit in one
 * SQL transaction, so a power cut mid-migration leaves the database at the previous version and
 * the next boot simply runs that migration again.
 */
export function migrateTo(db: Database.Database, target: number, options: MigrateOptions = {}): void {
  const migrations = options.migrations ?? MIGRATIONS;
  const now = options.now ?? Date.now;
  if (!Number.isInteger(target) || target < 0 || target > migrations.length) {
    throw new RangeError(`no schema version ${target}; versions run from 0 to ${migrations.length}`);
  }
  const current = schemaVersion(db);
  if (current > target) throw new NewerSchemaError(current, target);
  for (const migration of migrations.slice(current, target)) {
    db.transaction(() => {
      db.exec(CREATE_VERSION_TABLE);
      migration.up(db);
      db.prepare('INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)').run(
        migration.version,
        migration.name,
        new Date(now()).toISOString(),
      );
    }).immediate();
  }
}
