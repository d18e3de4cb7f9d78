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
  {
    version: 3,
    name: 'charging_core',
    up(db) {
      // Id tags are CiString20: case-insensitive, so lookups and keys ignore case.
      db.exec(`CREATE TABLE local_auth_list (
        id_tag TEXT PRIMARY KEY NOT NULL COLLATE NOCASE,
        status TEXT NOT NULL CHECK (status IN ('Accepted', 'Blocked', 'Expired', 'Invalid', 'ConcurrentTx')),
        expiry_date TEXT,
        parent_id_tag TEXT
      ) STRICT, WITHOUT ROWID`);
      db.exec(`CREATE TABLE local_auth_list_version (
        singleton INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
        version INTEGER NOT NULL
      ) STRICT`);
      db.exec(`CREATE TABLE auth_cache (
        id_tag TEXT PRIMARY KEY NOT NULL COLLATE NOCASE,
        status TEXT NOT NULL CHECK (status IN ('Accepted', 'Blocked', 'Expired', 'Invalid', 'ConcurrentTx')),
        expiry_date TEXT,
        parent_id_tag TEXT,
        updated_at INTEGER NOT NULL
      ) STRICT`);
      db.exec('CREATE INDEX auth_cache_by_age ON auth_cache (updated_at)');
      db.exec(`CREATE TABLE transactions (
        local_id INTEGER PRIMARY KEY AUTOINCREMENT,
        connector_id INTEGER NOT NULL CHECK (connector_id >= 1),
        id_tag TEXT NOT NULL,
        parent_id_tag TEXT,
        reservation_id INTEGER,
        transaction_id INTEGER,
        meter_start INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        last_meter INTEGER NOT NULL,
        last_meter_at TEXT NOT NULL,
        stop_reason TEXT,
        stop_id_tag TEXT,
        meter_stop INTEGER,
        stopped_at TEXT
      ) STRICT`);
      db.exec('CREATE INDEX transactions_running ON transactions (connector_id) WHERE stopped_at IS NULL');
      db.exec(`CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        action TEXT NOT NULL CHECK (action IN ('StartTransaction', 'StopTransaction', 'MeterValues')),
        local_tx_id INTEGER REFERENCES transactions (local_id),
        payload TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
      ) STRICT`);
      db.exec(`CREATE TABLE outbox_dead_letter (
        seq INTEGER PRIMARY KEY NOT NULL,
        action TEXT NOT NULL,
        local_tx_id INTEGER,
        payload TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        last_error TEXT NOT NULL,
        created_at TEXT NOT NULL,
        failed_at TEXT NOT NULL
      ) STRICT`);
      db.exec(`CREATE TABLE reservations (
        reservation_id INTEGER PRIMARY KEY NOT NULL,
        connector_id INTEGER NOT NULL CHECK (connector_id >= 0),
        id_tag TEXT NOT NULL,
        parent_id_tag TEXT,
        expiry_date TEXT NOT NULL
      ) STRICT`);
    },
  },
  {
    version: 4,
    name: 'ocpp_trace',
    up(db) {
      // A ring of the newest frames: seq only grows (the newest row is never deleted), so the
      // oldest are found by rowid. Redacted text only; no index beyond the rowid, to keep the
      // insert on every frame cheap.
      db.exec(`CREATE TABLE ocpp_trace (
        seq INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
        message_type INTEGER,
        action TEXT,
        message_id TEXT,
        text TEXT NOT NULL
      ) STRICT`);
    },
  },
  {
    version: 5,
    name: 'transaction_samples',
    up(db) {
      // The meter values a StopTransaction's transactionData will carry (StopTxnSampledData,
      // StopTxnAlignedData), kept with their transaction so a power cut does not lose them. Each
      // row is one meterValue: its timestamp (epoch ms) and its sampledValue array as JSON.
      db.exec(`CREATE TABLE transaction_samples (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        local_tx_id INTEGER NOT NULL REFERENCES transactions (local_id) ON DELETE CASCADE,
        context TEXT NOT NULL CHECK (context IN ('Transaction.Begin', 'Sample.Periodic', 'Sample.Clock')),
        taken_at INTEGER NOT NULL,
        sampled_value TEXT NOT NULL
      ) STRICT`);
      db.exec('CREATE INDEX transaction_samples_by_tx ON transaction_samples (local_tx_id, taken_at)');
    },
  },
  {
    version: 6,
    name: 'outbox_message_kinds',
    up(db) {
      // The outbox carries more than transaction messages: each row says its kind, and only a
      // transaction message may belong to a transaction. The action is no longer listed in a CHECK,
      // so a new kind needs no table rebuild. SQLite cannot drop a CHECK: the table is rebuilt.
      // Its AUTOINCREMENT counter is carried over, or a new row could take the seq of one already
      // delivered or dead-lettered (the dead letters are keyed by seq).
      const counter = db
        .prepare(
          `SELECT MAX(n) FROM (SELECT seq AS n FROM sqlite_sequence WHERE name = 'outbox'
                               UNION ALL SELECT MAX(seq) FROM outbox_dead_letter)`,
        )
        .pluck()
        .get();
      db.exec(`CREATE TABLE outbox_v6 (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        action TEXT NOT NULL,
        local_tx_id INTEGER REFERENCES transactions (local_id),
        payload TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        CHECK (kind = 'transaction' OR local_tx_id IS NULL)
      ) STRICT`);
      db.exec(`INSERT INTO outbox_v6 (seq, kind, action, local_tx_id, payload, attempts, next_attempt_at, created_at)
        SELECT seq, 'transaction', action, local_tx_id, payload, attempts, next_attempt_at, created_at FROM outbox`);
      db.exec('DROP TABLE outbox');
      db.exec('ALTER TABLE outbox_v6 RENAME TO outbox');
      db.prepare("DELETE FROM sqlite_sequence WHERE name = 'outbox'").run();
      if (typeof counter === 'number') {
        db.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)").run(counter);
      }
      db.exec("ALTER TABLE outbox_dead_letter ADD COLUMN kind TEXT NOT NULL DEFAULT 'transaction'");
    },
  },
  {
    version: 7,
    name: 'history_retention_and_probe',
    up(db) {
      // Per-session tables are pruned by age and count (retention.ts); these indexes serve that
      // and the lookups made per message, which otherwise scan tables that grow with every session.
      db.exec('CREATE INDEX transactions_by_transaction_id ON transactions (transaction_id)');
      db.exec('CREATE INDEX transactions_stopped ON transactions (stopped_at) WHERE stopped_at IS NOT NULL');
      // The outbox's reference to its transaction: checked on every delete of a transaction row.
      db.exec('CREATE INDEX outbox_by_tx ON outbox (local_tx_id) WHERE local_tx_id IS NOT NULL');
      db.exec('CREATE INDEX outbox_dead_letter_by_tx ON outbox_dead_letter (local_tx_id, action)');
      db.exec('CREATE INDEX outbox_dead_letter_by_age ON outbox_dead_letter (failed_at)');
      // One row rewritten by StoreHealth to learn whether writes go through again.
      db.exec(`CREATE TABLE store_probe (
        singleton INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
        at INTEGER NOT NULL
      ) STRICT`);
    },
  },
  {
    version: 8,
    name: 'charging_profiles',
    up(db) {
      // The installed charging profiles (SetChargingProfile, a remote start's TxProfile). Times are
      // epoch ms; the schedule (startSchedule, duration, unit, minChargingRate, periods) is JSON, read
      // and written whole. A TxProfile is bound to its transaction row and goes with it; no other
      // purpose is bound to one.
      db.exec(`CREATE TABLE charging_profiles (
        charging_profile_id INTEGER PRIMARY KEY NOT NULL,
        connector_id INTEGER NOT NULL CHECK (connector_id >= 0),
        stack_level INTEGER NOT NULL CHECK (stack_level >= 0),
        purpose TEXT NOT NULL CHECK (purpose IN ('ChargePointMaxProfile', 'TxDefaultProfile', 'TxProfile')),
        kind TEXT NOT NULL CHECK (kind IN ('Absolute', 'Recurring', 'Relative')),
        recurrency TEXT CHECK (recurrency IN ('Daily', 'Weekly')),
        valid_from INTEGER,
        valid_to INTEGER,
        transaction_id INTEGER,
        local_tx_id INTEGER REFERENCES transactions (local_id) ON DELETE CASCADE,
        schedule TEXT NOT NULL,
        CHECK ((purpose = 'TxProfile') = (local_tx_id IS NOT NULL))
      ) STRICT`);
      db.exec(
        'CREATE INDEX charging_profiles_by_tx ON charging_profiles (local_tx_id) WHERE local_tx_id IS NOT NULL',
      );
    },
  },
  {
    version: 9,
    name: 'connector_limits',
    up(db) {
      // The operator's local limit per connector (MQTT `limit`, cpctl), A: it outlives a restart
      // like availability does. No row: no local limit.
      db.exec(`CREATE TABLE connector_limits (
        connector_id INTEGER PRIMARY KEY NOT NULL CHECK (connector_id >= 1),
        limit_a REAL NOT NULL CHECK (limit_a >= 0),
        updated_at TEXT NOT NULL
      ) STRICT`);
    },
  },
  {
    version: 10,
    name: 'security_log',
    up(db) {
      // Every security event the charge point detected (white paper A04 / N01: a rolling log kept
      // across restarts), bounded in rows by the repository. `timestamp` is the OCPP time of the
      // event; `critical` marks the white paper's critical types.
      db.exec(`CREATE TABLE security_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        timestamp TEXT NOT NULL,
        type TEXT NOT NULL,
        tech_info TEXT,
        critical INTEGER NOT NULL CHECK (critical IN (0, 1))
        ) STRICT`);
    },
  },
  {
    version: 11,
    name: 'certificates',
    up(db) {
      // Root certificates installed over OCPP: the PEM lives in stateDir/certs/<file>, the row holds
      // what GetInstalledCertificateIds and DeleteCertificate need (hash data of all three
      // algorithms, JSON, computed at install while the issuer is known). A row is written only
      // after its file is durable; the store repairs a file without row or row without file at start.
      db.exec(`CREATE TABLE certificates (
        certificate_type TEXT NOT NULL
          CHECK (certificate_type IN ('CentralSystemRootCertificate', 'ManufacturerRootCertificate')),
        fingerprint TEXT NOT NULL,
        file TEXT NOT NULL UNIQUE,
        subject TEXT NOT NULL,
        serial_number TEXT NOT NULL,
        hash_data TEXT NOT NULL,
        not_after INTEGER NOT NULL,
        installed_at TEXT NOT NULL,
        PRIMARY KEY (certificate_type, fingerprint)
      ) STRICT`);
      // Marks on a root, installed or provisioned (csms.caFile, which the runtime never edits):
      // 'hidden' = a provisioned root deleted over OCPP; 'fallback' = a root replaced under
      // AdditionalRootCertificateCheck, trusted until a connection succeeds without it.
      db.exec(`CREATE TABLE certificate_marks (
        certificate_type TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        mark TEXT NOT NULL CHECK (mark IN ('hidden', 'fallback')),
        PRIMARY KEY (certificate_type, fingerprint)
      ) STRICT`);
    },
  },
  {
    version: 12,
    name: 'firmware update',
    up(db) {
      // The one firmware update the charger knows of: the one running, else the last one, so a
      // restart resumes it (a download, a scheduled install) or reports its outcome (Installed
      // after the install hook's restart). `reported` = its final status reached the central system.
      db.exec(`CREATE TABLE firmware_update (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        source TEXT NOT NULL CHECK (source IN ('UpdateFirmware', 'SignedUpdateFirmware', 'local')),
        request_id INTEGER,
        location TEXT NOT NULL,
        retrieve_at INTEGER NOT NULL,
        install_at INTEGER,
        retries INTEGER NOT NULL,
        retry_interval_s INTEGER NOT NULL,
        signing_certificate TEXT,
        signature TEXT,
        image TEXT,
        status TEXT NOT NULL,
        info TEXT,
        reported INTEGER NOT NULL DEFAULT 0,
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
 * SQL transaction, so a power cut mid-migration leaves the database at a previous version and
 * the next boot simply runs the rest again. The commits do not wait for the disk
 * (synchronous=NORMAL: in WAL mode a power cut may undo the latest, never corrupt), and the
 * connection's own setting is back for the first write after them, whose sync covers them too: a
 * fresh database's first boot would otherwise sync once per migration, a dozen fsyncs that were
 * most of the cold start's time to BootNotification.
 */
export function migrateTo(db: Database.Database, target: number, options: MigrateOptions = {}): void {
  const migrations = options.migrations ?? MIGRATIONS;
  const now = options.now ?? Date.now;
  if (!Number.isInteger(target) || target < 0 || target > migrations.length) {
    throw new RangeError(`no schema version ${target}; versions run from 0 to ${migrations.length}`);
  }
  const current = schemaVersion(db);
  if (current > target) throw new NewerSchemaError(current, target);
  const pending = migrations.slice(current, target);
  if (pending.length === 0) return;
  const synchronous = db.pragma('synchronous', { simple: true });
  db.pragma('synchronous = NORMAL');
  try {
    for (const migration of pending) {
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
  } finally {
    db.pragma(`synchronous = ${Number(synchronous)}`);
  }
}
