import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, type Logger, silentLogger } from '../../src/log.js';
import type { ChargingProfile } from '../../src/station/charging-profile-types.js';
import { CertificatesRepo, type InstalledCertificateRow } from '../../src/store/certificates-repo.js';
import { ChargingProfilesRepo } from '../../src/store/charging-profiles-repo.js';
import { ConnectorLimitsRepo } from '../../src/store/connector-limits-repo.js';
import { StoreAccessError } from '../../src/store/database.js';
import { FirmwareRepo } from '../../src/store/firmware-repo.js';
import {
  type Availability,
  type Migration,
  migrateTo,
  NewerSchemaError,
  openStore,
  SCHEMA_VERSION,
  type Store,
  schemaVersion,
} from '../../src/store/index.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { OutboxRepo } from '../../src/store/outbox-repo.js';
import { SecurityLogRepo } from '../../src/store/security-log-repo.js';
import { LOCK_FILE, StateDirectoryLockedError } from '../../src/store/state-lock.js';
import { TransactionSamplesRepo } from '../../src/store/transaction-samples-repo.js';
import { TransactionsRepo } from '../../src/store/transactions-repo.js';

const NOW = Date.parse('2024-05-01T12:00:00.000Z');
const STAMP = '2024-05-01T12-00-00-000Z';
const clock = { now: () => NOW };

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cp-store-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function open(dir: string, log: Logger = silentLogger(), fileName?: string): Store {
  const store = openStore({ dir, log, clock, ...(fileName ? { fileName } : {}) });
  cleanups.push(() => store.close());
  return store;
}

function capturingLogger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({ destination: { write: (line: string) => lines.push(JSON.parse(line)) } });
  return { log, lines };
}

/** Rows written by a runtime at each schema version, and how the latest runtime must show them. */
const fixtures: Record<number, { seed(db: Database.Database): void; verify(store: Store): void }> = {
  1: {
    seed(db) {
      const insert = db.prepare('INSERT INTO config_keys (key, value, updated_at) VALUES (?, ?, ?)');
      insert.run('HeartbeatInterval', '300', '2023-01-01T00:00:00.000Z');
      insert.run('AuthorizationKey', 'secret', '2023-01-01T00:00:00.000Z');
    },
    verify(store) {
      expect(store.config.loadAll()).toEqual(
        new Map([
          ['HeartbeatInterval', '300'],
          ['AuthorizationKey', 'secret'],
        ]),
      );
    },
  },
  2: {
    seed(db) {
      const insert = db.prepare(
        'INSERT INTO connector_availability (connector_id, availability, updated_at) VALUES (?, ?, ?)',
      );
      insert.run(0, 'Operative', '2023-01-01T00:00:00.000Z');
      insert.run(2, 'Inoperative', '2023-01-01T00:00:00.000Z');
    },
    verify(store) {
      expect(store.availability.all()).toEqual(
        new Map<number, Availability>([
          [0, 'Operative'],
          [2, 'Inoperative'],
        ]),
      );
    },
  },
  3: {
    seed(db) {
      db.prepare(
        "INSERT INTO local_auth_list (id_tag, status, parent_id_tag) VALUES ('AbC1', 'Accepted', 'P1')",
      ).run();
      db.prepare('INSERT INTO local_auth_list_version (singleton, version) VALUES (1, 7)').run();
      db.prepare("INSERT INTO auth_cache (id_tag, status, updated_at) VALUES ('CACHED', 'Blocked', 5)").run();
      db.prepare(
        `INSERT INTO transactions (connector_id, id_tag, transaction_id, meter_start, started_at, last_meter, last_meter_at)
         VALUES (1, 'AbC1', 42, 1000, '2023-01-01T00:00:00.000Z', 1500, '2023-01-01T00:10:00.000Z')`,
      ).run();
      const queue = db.prepare(
        "INSERT INTO outbox (action, local_tx_id, payload, created_at) VALUES (?, 1, '{}', '2023-01-01T00:10:00.000Z')",
      );
      queue.run('MeterValues');
      // Delivered and dead-lettered since: seqs 2 and 3 must never be handed out again.
      queue.run('MeterValues');
      queue.run('StopTransaction');
      db.prepare('DELETE FROM outbox WHERE seq = 2').run();
      db.prepare(
        `INSERT INTO outbox_dead_letter (seq, action, local_tx_id, payload, attempts, last_error, created_at, failed_at)
         SELECT seq, action, local_tx_id, payload, 5, 'gave up', created_at, '2023-01-01T01:00:00.000Z' FROM outbox WHERE seq = 3`,
      ).run();
      db.prepare('DELETE FROM outbox WHERE seq = 3').run();
      db.prepare(
        "INSERT INTO reservations (reservation_id, connector_id, id_tag, expiry_date) VALUES (9, 2, 'R1', '2023-01-02T00:00:00.000Z')",
      ).run();
    },
    verify(store) {
      const one = (sql: string) => store.db.prepare(sql).get();
      expect(one("SELECT status, parent_id_tag FROM local_auth_list WHERE id_tag = 'abc1'")).toEqual({
        status: 'Accepted',
        parent_id_tag: 'P1',
      });
      expect(one('SELECT version FROM local_auth_list_version')).toEqual({ version: 7 });
      expect(one("SELECT status FROM auth_cache WHERE id_tag = 'cached'")).toEqual({ status: 'Blocked' });
      expect(one('SELECT transaction_id, last_meter FROM transactions WHERE stopped_at IS NULL')).toEqual({
        transaction_id: 42,
        last_meter: 1500,
      });
      const outbox = new OutboxRepo(store.db);
      expect(outbox.all().find((e) => e.seq === 1)).toEqual({
        seq: 1,
        kind: 'transaction',
        action: 'MeterValues',
        localTxId: 1,
        payload: {},
        attempts: 0,
        nextAttemptAt: 0,
        createdAt: '2023-01-01T00:10:00.000Z',
      });
      expect(outbox.deadLetters().find((e) => e.seq === 3)).toMatchObject({
        kind: 'transaction',
        action: 'StopTransaction',
        localTxId: 1,
        attempts: 5,
        lastError: 'gave up',
      });
      expect(outbox.add('MeterValues', {}, 1, '2024-05-01T12:00:00.000Z').seq).toBeGreaterThan(3);
      expect(one('SELECT connector_id FROM reservations WHERE reservation_id = 9')).toEqual({
        connector_id: 2,
      });
    },
  },
  4: {
    seed(db) {
      db.prepare(
        `INSERT INTO ocpp_trace (at, direction, message_type, action, message_id, text)
         VALUES (1700000000000, 'out', 2, 'Heartbeat', 'm1', '[2,"m1","Heartbeat",{}]')`,
      ).run();
    },
    verify(store) {
      expect(store.db.prepare('SELECT seq, direction, action, message_id FROM ocpp_trace').all()).toEqual([
        { seq: 1, direction: 'out', action: 'Heartbeat', message_id: 'm1' },
      ]);
    },
  },
  5: {
    seed(db) {
      db.prepare(
        `INSERT INTO transaction_samples (local_tx_id, context, taken_at, sampled_value)
         VALUES (1, 'Sample.Clock', 1672531500000, '[{"value":"1400","context":"Sample.Clock"}]')`,
      ).run();
    },
    verify(store) {
      expect(new TransactionSamplesRepo(store.db).forTransaction(1)).toEqual([
        { timestamp: '2023-01-01T00:05:00.000Z', sampledValue: [{ value: '1400', context: 'Sample.Clock' }] },
      ]);
    },
  },
  6: {
    seed(db) {
      db.prepare(
        `INSERT INTO outbox (kind, action, payload, attempts, next_attempt_at, created_at)
         VALUES ('security', 'SecurityEventNotification', '{"type":"StartupOfTheDevice","timestamp":"2023-01-02T00:00:00.000Z"}', 1, 1672617600000, '2023-01-02T00:00:00.000Z')`,
      ).run();
    },
    verify(store) {
      const security = new OutboxRepo(store.db).all().filter((e) => e.kind === 'security');
      expect(security).toEqual([
        {
          seq: expect.any(Number),
          kind: 'security',
          action: 'SecurityEventNotification',
          payload: { type: 'StartupOfTheDevice', timestamp: '2023-01-02T00:00:00.000Z' },
          attempts: 1,
          nextAttemptAt: 1672617600000,
          createdAt: '2023-01-02T00:00:00.000Z',
        },
      ]);
    },
  },
  7: {
    seed(db) {
      db.prepare('INSERT INTO store_probe (singleton, at) VALUES (1, 1672617600000)').run();
    },
    verify(store) {
      expect(store.db.prepare('SELECT at FROM store_probe').pluck().get()).toBe(1672617600000);
      // The lookups made per message go through an index, not a scan of the history.
      const plan = (sql: string) => JSON.stringify(store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all());
      expect(plan('SELECT * FROM transactions WHERE transaction_id = 1')).toMatch(/USING (COVERING )?INDEX/);
      expect(
        plan("SELECT seq FROM outbox_dead_letter WHERE action = 'StartTransaction' AND local_tx_id = 1"),
      ).toMatch(/USING (COVERING )?INDEX/);
    },
  },
  8: {
    seed(db) {
      const schedule = JSON.stringify({ unit: 'A', periods: [{ startPeriod: 0, limit: 16 }] });
      db.prepare(
        `INSERT INTO charging_profiles (charging_profile_id, connector_id, stack_level, purpose, kind, recurrency, valid_to, schedule)
         VALUES (81, 0, 2, 'ChargePointMaxProfile', 'Recurring', 'Daily', 1672617600000, ?)`,
      ).run(schedule);
      // Bound to the transaction of fixture 3 (local id 1, still open).
      db.prepare(
        `INSERT INTO charging_profiles (charging_profile_id, connector_id, stack_level, purpose, kind, transaction_id, local_tx_id, schedule)
         VALUES (82, 1, 0, 'TxProfile', 'Relative', 42, 1, ?)`,
      ).run(schedule);
    },
    verify(store) {
      const schedule = { unit: 'A', periods: [{ startPeriod: 0, limit: 16 }] };
      expect(new ChargingProfilesRepo(store.db).all()).toEqual([
        {
          id: 81,
          connectorId: 0,
          stackLevel: 2,
          purpose: 'ChargePointMaxProfile',
          kind: 'Recurring',
          recurrency: 'Daily',
          validTo: 1672617600000,
          schedule,
        },
        {
          id: 82,
          connectorId: 1,
          stackLevel: 0,
          purpose: 'TxProfile',
          kind: 'Relative',
          transactionId: 42,
          transactionLocalId: 1,
          schedule,
        },
      ]);
    },
  },
  9: {
    seed(db) {
      db.prepare(
        "INSERT INTO connector_limits (connector_id, limit_a, updated_at) VALUES (2, 10.5, 'x')",
      ).run();
    },
    verify(store) {
      expect(new ConnectorLimitsRepo(store.db, () => 0).all()).toEqual(new Map([[2, 10.5]]));
    },
  },
  10: {
    seed(db) {
      db.prepare(
        `INSERT INTO security_log (timestamp, type, tech_info, critical)
         VALUES ('2023-01-02T00:00:00.000Z', 'StartupOfTheDevice', NULL, 1),
                ('2023-01-02T00:00:01.000Z', 'InvalidTLSVersion', 'TLSv1.1', 0)`,
      ).run();
    },
    verify(store) {
      expect(new SecurityLogRepo(store.db).newest(10)).toEqual([
        { id: 1, timestamp: '2023-01-02T00:00:00.000Z', type: 'StartupOfTheDevice', critical: true },
        {
          id: 2,
          timestamp: '2023-01-02T00:00:01.000Z',
          type: 'InvalidTLSVersion',
          techInfo: 'TLSv1.1',
          critical: false,
        },
      ]);
    },
  },
  11: {
    seed(db) {
      db.prepare(
        `INSERT INTO certificates (certificate_type, fingerprint, file, subject, serial_number, hash_data,
           not_after, installed_at) VALUES ('ManufacturerRootCertificate', 'ab', 'f.pem', 'CN=M', '1F', '{}', 5, 'x')`,
      ).run();
      db.prepare(
        "INSERT INTO certificate_marks (certificate_type, fingerprint, mark) VALUES ('CentralSystemRootCertificate', 'cd', 'hidden')",
      ).run();
    },
    verify(store) {
      const repo = new CertificatesRepo(store.db);
      expect(repo.all()).toEqual([
        {
          certificateType: 'ManufacturerRootCertificate',
          fingerprint: 'ab',
          file: 'f.pem',
          subject: 'CN=M',
          serialNumber: '1F',
          hashes: {},
          notAfter: 5,
          installedAt: 'x',
        },
      ]);
      expect(repo.marks()).toEqual(new Map([['CentralSystemRootCertificate:cd', 'hidden']]));
    },
  },
  12: {
    seed(db) {
      db.prepare(
        `INSERT INTO firmware_update (id, source, request_id, location, retrieve_at, retries, retry_interval_s,
           status, reported, updated_at) VALUES (1, 'SignedUpdateFirmware', 7, 'http://x/fw', 5, 1, 30, 'InstallRebooting', 0, 'y')`,
      ).run();
    },
    verify(store) {
      expect(new FirmwareRepo(store.db).get()).toEqual({
        source: 'SignedUpdateFirmware',
        requestId: 7,
        location: 'http://x/fw',
        retrieveAt: 5,
        retries: 1,
        retryIntervalS: 30,
        status: 'InstallRebooting',
        reported: false,
        updatedAt: 'y',
      });
    },
  },
};

/** Each fixture's rows are written by the runtime of its version, then the next version runs. */
function writeDatabaseAt(file: string, version: number): void {
  const db = new Database(file);
  for (let v = 1; v <= version; v++) {
    migrateTo(db, v);
    fixtures[v]!.seed(db);
  }
  db.close();
}

function corruptSiblings(dir: string): string[] {
  return fs.readdirSync(dir).filter((name) => name.includes('.corrupt-'));
}

describe('openStore on a fresh directory', () => {
  it('creates the directory, the schema at SCHEMA_VERSION, WAL and synchronous=FULL', () => {
    const dir = path.join(tempDir(), 'state', 'nested');
    const store = open(dir);

    // The database holds the AuthorizationKey: neither the group (cpctl users) nor others may read it.
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(store.path).mode & 0o777).toBe(0o600);
    expect(store.path).toBe(path.join(dir, 'chargepoint.db'));
    expect(fs.existsSync(store.path)).toBe(true);
    expect(store.recovered).toBeUndefined();
    expect(schemaVersion(store.db)).toBe(SCHEMA_VERSION);
    expect(
      store.db.prepare('SELECT version, name, applied_at FROM schema_version ORDER BY version').all(),
    ).toEqual(
      MIGRATIONS.map((m) => ({ version: m.version, name: m.name, applied_at: '2024-05-01T12:00:00.000Z' })),
    );
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.db.pragma('synchronous', { simple: true })).toBe(2);
    expect(store.db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(store.db.pragma('busy_timeout', { simple: true })).toBeGreaterThan(0);
    expect(store.config.loadAll().size).toBe(0);
    expect(store.availability.all().size).toBe(0);
    store.config.save('AuthorizationKey', 'secret');
    for (const companion of ['-wal', '-shm']) {
      expect(fs.statSync(store.path + companion).mode & 0o777).toBe(0o600);
    }
  });

  it('honours fileName', () => {
    const dir = tempDir();
    const store = open(dir, silentLogger(), 'other.sqlite');
    expect(store.path).toBe(path.join(dir, 'other.sqlite'));
    expect(fs.existsSync(store.path)).toBe(true);
  });
});

describe('migrations', () => {
  it('are numbered 1..SCHEMA_VERSION in order, each with a data fixture in this test', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
    expect(Object.keys(fixtures).map(Number)).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it.each(Array.from({ length: SCHEMA_VERSION + 1 }, (_, v) => v))(
    'open a database at version %i, at the latest version, keeping its rows',
    (version) => {
      const dir = tempDir();
      writeDatabaseAt(path.join(dir, 'chargepoint.db'), version);

      const store = open(dir);

      expect(store.recovered).toBeUndefined();
      expect(schemaVersion(store.db)).toBe(SCHEMA_VERSION);
      for (let v = 1; v <= version; v++) fixtures[v]!.verify(store);
      expect(corruptSiblings(dir)).toEqual([]);
    },
  );

  it('commit without a sync each (a fresh database runs them all at first boot), FULL again after', () => {
    const db = new Database(path.join(tempDir(), 'x.db'));
    cleanups.push(() => db.close());
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    const seen: unknown[] = [];
    const probe: Migration = {
      version: SCHEMA_VERSION + 1,
      name: 'probe',
      up: (target) => void seen.push(target.pragma('synchronous', { simple: true })),
    };

    migrateTo(db, SCHEMA_VERSION + 1, { migrations: [...MIGRATIONS, probe] });

    // 1 = NORMAL: in WAL mode a power cut may undo the latest commits, never corrupt the file.
    expect(seen).toEqual([1]);
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
  });

  it('leave the previous version intact when a migration fails midway', () => {
    const db = new Database(path.join(tempDir(), 'x.db'));
    cleanups.push(() => db.close());
    const broken: Migration = {
      version: SCHEMA_VERSION + 1,
      name: 'broken',
      up(target) {
        target.exec('CREATE TABLE half_done (x INTEGER) STRICT');
        throw new Error('power cut');
      },
    };

    expect(() => migrateTo(db, SCHEMA_VERSION + 1, { migrations: [...MIGRATIONS, broken] })).toThrow(
      'power cut',
    );

    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    expect(db.prepare("SELECT name FROM sqlite_schema WHERE name = 'half_done'").get()).toBeUndefined();
  });

  it('refuse a target outside 0..SCHEMA_VERSION and a database newer than the target', () => {
    const db = new Database(':memory:');
    cleanups.push(() => db.close());
    expect(() => migrateTo(db, SCHEMA_VERSION + 1)).toThrow(RangeError);
    expect(() => migrateTo(db, -1)).toThrow(RangeError);
    migrateTo(db, SCHEMA_VERSION);
    expect(() => migrateTo(db, SCHEMA_VERSION - 1)).toThrow(NewerSchemaError);
  });
});

describe('repositories', () => {
  it('keep config values and availability across a reopen', () => {
    const dir = tempDir();
    const first = open(dir);
    first.config.save('HeartbeatInterval', '300');
    first.config.save('HeartbeatInterval', '60');
    first.config.save('MeterValueSampleInterval', '15');
    first.config.save('Obsolete', 'x');
    first.config.delete('Obsolete');
    first.availability.set(1, 'Inoperative');
    first.availability.setMany([
      [0, 'Inoperative'],
      [1, 'Operative'],
      [2, 'Inoperative'],
    ]);
    first.close();

    const second = open(dir);
    expect(second.config.loadAll()).toEqual(
      new Map([
        ['HeartbeatInterval', '60'],
        ['MeterValueSampleInterval', '15'],
      ]),
    );
    expect(second.availability.all()).toEqual(
      new Map<number, Availability>([
        [0, 'Inoperative'],
        [1, 'Operative'],
        [2, 'Inoperative'],
      ]),
    );
    expect(second.db.prepare('SELECT DISTINCT updated_at FROM config_keys').pluck().all()).toEqual([
      '2024-05-01T12:00:00.000Z',
    ]);
  });

  it('setMany writes all rows or none', () => {
    const store = open(tempDir());
    store.availability.setMany([
      [1, 'Operative'],
      [2, 'Operative'],
    ]);

    expect(() =>
      store.availability.setMany([
        [1, 'Inoperative'],
        [2, 'Inoperative'],
        [-1, 'Inoperative'],
      ]),
    ).toThrow(/CHECK constraint/);

    expect(store.availability.all()).toEqual(
      new Map<number, Availability>([
        [1, 'Operative'],
        [2, 'Operative'],
      ]),
    );
  });
});

describe('transaction samples', () => {
  it('go with their transaction when its row is deleted', () => {
    const store = open(tempDir());
    const transactions = new TransactionsRepo(store.db);
    const samples = new TransactionSamplesRepo(store.db);
    const row = (idTag: string) =>
      transactions.insert({ connectorId: 1, idTag, meterStart: 0, startedAt: '2024-05-01T12:00:00.000Z' });
    const pruned = row('A');
    const kept = row('B');
    const value = [{ value: '5' }];
    samples.add(pruned.localId, 'Transaction.Begin', NOW, value);
    samples.add(kept.localId, 'Transaction.Begin', NOW, value);

    store.db.prepare('DELETE FROM transactions WHERE local_id = ?').run(pruned.localId);

    expect(samples.forTransaction(pruned.localId)).toEqual([]);
    expect(samples.forTransaction(kept.localId)).toEqual([
      { timestamp: new Date(NOW).toISOString(), sampledValue: value },
    ]);
  });
});

describe('charging profiles', () => {
  const profile = (id: number, localTxId?: number): ChargingProfile => ({
    id,
    connectorId: 1,
    stackLevel: id,
    purpose: localTxId === undefined ? 'TxDefaultProfile' : 'TxProfile',
    kind: 'Absolute',
    ...(localTxId === undefined ? {} : { transactionLocalId: localTxId }),
    schedule: { startSchedule: NOW, unit: 'W', periods: [{ startPeriod: 0, limit: 11000, numberPhases: 3 }] },
  });

  it('a TxProfile goes with its transaction row; one of an ended transaction is removed at start', () => {
    const store = open(tempDir());
    const transactions = new TransactionsRepo(store.db);
    const profiles = new ChargingProfilesRepo(store.db);
    const row = (idTag: string) =>
      transactions.insert({ connectorId: 1, idTag, meterStart: 0, startedAt: '2024-05-01T12:00:00.000Z' });
    const pruned = row('A');
    const ended = row('B');
    const running = row('C');
    profiles.save(profile(1, pruned.localId));
    profiles.save(profile(2, ended.localId));
    profiles.save(profile(3, running.localId));
    profiles.save(profile(4));
    transactions.stop(ended.localId, {
      stopReason: 'Local',
      meterStop: 0,
      stoppedAt: '2024-05-01T12:01:00.000Z',
    });

    store.db.prepare('DELETE FROM transactions WHERE local_id = ?').run(pruned.localId);
    expect(profiles.removeOfEndedTransactions()).toBe(1);

    expect(profiles.all()).toEqual([profile(3, running.localId), profile(4)]);
  });

  it('refuses a TxProfile without a transaction and another purpose bound to one', () => {
    const store = open(tempDir());
    const profiles = new ChargingProfilesRepo(store.db);
    expect(() => profiles.save({ ...profile(1), purpose: 'TxProfile' })).toThrow(/CHECK constraint/);
    expect(() =>
      profiles.save({ ...profile(2), purpose: 'TxDefaultProfile', transactionLocalId: 1 }),
    ).toThrow(/CHECK constraint|FOREIGN KEY/);
  });
});

describe('the WAL restart of the transaction warm-up', () => {
  const start = (repo: TransactionsRepo, idTag: string) =>
    repo.atomically(() =>
      repo.insert({ connectorId: 1, idTag, meterStart: 0, startedAt: '2024-05-01T12:00:00.000Z' }),
    );

  it('lets the next commits overwrite the log instead of growing it, and loses nothing', () => {
    const dir = tempDir();
    const store = open(dir);
    const repo = new TransactionsRepo(store.db);
    const walSize = () => fs.statSync(`${store.path}-wal`).size;
    start(repo, 'BEFORE');
    const grown = walSize();
    start(repo, 'GROWS');
    // Without the restart every commit appends to the log.
    expect(walSize()).toBeGreaterThan(grown);

    repo.restartWal();
    const restarted = walSize();
    start(repo, 'A');
    start(repo, 'B');
    expect(walSize()).toBe(restarted);

    store.close();
    const reopened = new TransactionsRepo(open(dir).db);
    expect(reopened.recent(10).map((r) => r.idTag)).toEqual(['B', 'A', 'GROWS', 'BEFORE']);
  });
});

describe('an unusable database file', () => {
  function realDatabase(file: string): void {
    const db = new Database(file);
    db.exec('CREATE TABLE filler (k TEXT PRIMARY KEY, v TEXT)');
    const insert = db.prepare('INSERT INTO filler VALUES (?, ?)');
    db.transaction(() => {
      for (let i = 0; i < 2000; i++) insert.run(`k${i}`, 'x'.repeat(100));
    })();
    db.close();
  }

  // Each case: how to damage the file, and which of <name>, <name>-wal, <name>-shm end up aside.
  // SQLite itself deletes the companions of a non-database when it closes it; a file it could
  // not open at all keeps them, and they must move with it so the fresh file never meets them.
  const cases: Array<[string, (file: string) => void, string[]]> = [
    [
      'a file that is not a database',
      (file) => {
        fs.writeFileSync(file, 'this is not an SQLite database, just some text '.repeat(200));
        fs.writeFileSync(`${file}-wal`, 'garbage wal');
      },
      [''],
    ],
    [
      'a truncated database',
      (file) => {
        realDatabase(file);
        fs.truncateSync(file, Math.floor(fs.statSync(file).size / 2));
      },
      [''],
    ],
    [
      'a database with garbled pages (fails quick_check)',
      (file) => {
        realDatabase(file);
        const fd = fs.openSync(file, 'r+');
        fs.writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, 8 * 4096);
        fs.closeSync(fd);
      },
      [''],
    ],
  ];

  it.each(cases)(
    '%s is moved aside with a loud log line and a fresh store works',
    (_label, damage, moved) => {
      const dir = tempDir();
      const file = path.join(dir, 'chargepoint.db');
      damage(file);
      const { log, lines } = capturingLogger();

      const store = open(dir, log);

      const movedTo = `${file}.corrupt-${STAMP}`;
      expect(store.path).toBe(file);
      expect(store.recovered?.movedTo).toBe(movedTo);
      expect(store.recovered?.reason).toMatch(/SQLITE_|quick_check/);
      expect(corruptSiblings(dir).sort()).toEqual(moved.map((suffix) => path.basename(movedTo) + suffix));
      const errors = lines.filter((line) => line.level === 'error');
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ path: file, movedTo });
      for (const suffix of ['-wal', '-shm']) {
        if (fs.existsSync(file + suffix))
          expect(fs.readFileSync(file + suffix, 'utf8')).not.toMatch(/stale|garbage/);
      }

      store.config.save('HeartbeatInterval', '120');
      store.close();
      const reopened = open(dir);
      expect(reopened.recovered).toBeUndefined();
      expect(reopened.config.loadAll()).toEqual(new Map([['HeartbeatInterval', '120']]));
    },
  );

  it('keeps the moved file byte for byte', () => {
    const dir = tempDir();
    const file = path.join(dir, 'chargepoint.db');
    const garbage = Buffer.from('not a database '.repeat(500));
    fs.writeFileSync(file, garbage);

    const store = open(dir);

    expect(fs.readFileSync(store.recovered!.movedTo)).toEqual(garbage);
  });

  it('gets a distinct name when an earlier recovery happened at the same instant', () => {
    const dir = tempDir();
    const file = path.join(dir, 'chargepoint.db');
    fs.writeFileSync(file, 'garbage one '.repeat(500));
    open(dir).close();
    fs.writeFileSync(file, 'garbage two '.repeat(500));

    const store = open(dir);

    expect(store.recovered?.movedTo).toBe(`${file}.corrupt-${STAMP}-1`);
    expect(fs.readFileSync(`${file}.corrupt-${STAMP}`, 'utf8')).toContain('garbage one');
    expect(fs.readFileSync(`${file}.corrupt-${STAMP}-1`, 'utf8')).toContain('garbage two');
  });

  it('written by a newer runtime is moved aside untouched', () => {
    const dir = tempDir();
    const file = path.join(dir, 'chargepoint.db');
    writeDatabaseAt(file, SCHEMA_VERSION);
    const newer = new Database(file);
    newer
      .prepare("INSERT INTO schema_version (version, name, applied_at) VALUES (?, 'future', 'x')")
      .run(SCHEMA_VERSION + 1);
    newer.exec('CREATE TABLE future_table (x INTEGER)');
    newer.close();
    const { log, lines } = capturingLogger();

    const store = open(dir, log);

    expect(store.recovered?.reason).toMatch(/newer/);
    expect(lines.filter((line) => line.level === 'error')).toHaveLength(1);
    expect(schemaVersion(store.db)).toBe(SCHEMA_VERSION);
    // What the older schema can still read of it is salvaged; the file itself stays untouched.
    expect(store.recovered?.salvage.saved.configKeys).toBe(2);
    const kept = new Database(store.recovered!.movedTo, { readonly: true });
    cleanups.push(() => kept.close());
    expect(schemaVersion(kept)).toBe(SCHEMA_VERSION + 1);
    expect(kept.prepare('SELECT COUNT(*) FROM config_keys').pluck().get()).toBe(2);
  });

  it('never falls back to memory: a corrupt file that cannot be moved aside stops the start (exit 78)', () => {
    const dir = tempDir();
    // The name fits, but "<name>.corrupt-<timestamp>" exceeds the 255-byte file name limit.
    const fileName = `${'x'.repeat(230)}.db`;
    fs.writeFileSync(path.join(dir, fileName), 'garbage '.repeat(500));

    expect(() => open(dir, silentLogger(), fileName)).toThrow(StoreAccessError);
    expect(fs.readFileSync(path.join(dir, fileName), 'utf8')).toMatch(/^garbage/);
  });
});

describe('a store the daemon cannot write stops the start with StoreAccessError, naming the path and the user', () => {
  // Tests run as root, whom file modes do not stop: these are the cases that stop root too.
  const user = os.userInfo().username;

  it('a state directory path that is a file', () => {
    const parent = tempDir();
    fs.writeFileSync(path.join(parent, 'file'), '');
    const dir = path.join(parent, 'file', 'state');
    expect(() => open(dir)).toThrow(StoreAccessError);
    expect(() => open(dir)).toThrow(new RegExp(`${path.join(parent, 'file')}.*user ${user}`));
  });

  it('a state directory that is a file itself', () => {
    const parent = tempDir();
    const dir = path.join(parent, 'state');
    fs.writeFileSync(dir, '');
    expect(() => open(dir)).toThrow(/state directory/);
  });

  it('a database path that is a directory: refused, not moved aside as corruption', () => {
    const dir = tempDir();
    const file = path.join(dir, 'chargepoint.db');
    fs.mkdirSync(file);
    fs.writeFileSync(path.join(file, 'inside'), 'kept');

    expect(() => open(dir)).toThrow(
      expect.objectContaining({
        name: 'StoreAccessError',
        path: file,
        message: expect.stringContaining(user),
      }),
    );
    expect(corruptSiblings(dir)).toEqual([]);
    expect(fs.readFileSync(path.join(file, 'inside'), 'utf8')).toBe('kept');
  });

  it('a WAL that cannot be opened (a directory in its place): refused, the database kept', () => {
    const dir = tempDir();
    const file = path.join(dir, 'chargepoint.db');
    writeDatabaseAt(file, SCHEMA_VERSION);
    fs.mkdirSync(`${file}-wal`);

    expect(() => open(dir)).toThrow(StoreAccessError);
    expect(corruptSiblings(dir)).toEqual([]);
  });

  it('the lock is released when the start fails, so a fixed store starts', () => {
    const dir = tempDir();
    const file = path.join(dir, 'chargepoint.db');
    fs.mkdirSync(file);
    expect(() => open(dir)).toThrow(StoreAccessError);
    fs.rmdirSync(file);
    expect(open(dir).path).toBe(file);
  });
});

describe('the state directory lock', () => {
  it('refuses a second store on the same directory while the first is open, and is free after close', () => {
    const dir = tempDir();
    const first = open(dir);
    expect(() => openStore({ dir, log: silentLogger(), clock })).toThrow(StateDirectoryLockedError);
    first.close();
    expect(open(dir).path).toBe(first.path);
  });

  it('is 0600 and is not the database: cpctl and the trace still open the database', () => {
    const dir = tempDir();
    const store = open(dir);
    expect(fs.statSync(path.join(dir, LOCK_FILE)).mode & 0o777).toBe(0o600);
    const reader = new Database(store.path, { readonly: true });
    cleanups.push(() => reader.close());
    expect(schemaVersion(reader)).toBe(SCHEMA_VERSION);
  });
});

describe('modes and odd files found at start', () => {
  it('tightens a group-readable directory and database to 0700 / 0600', () => {
    const dir = tempDir();
    const file = path.join(dir, 'chargepoint.db');
    writeDatabaseAt(file, SCHEMA_VERSION);
    fs.chmodSync(dir, 0o755);
    fs.chmodSync(file, 0o644);

    open(dir);

    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  it('a zero-length database is logged and starts empty, not moved aside', () => {
    const dir = tempDir();
    const file = path.join(dir, 'chargepoint.db');
    fs.writeFileSync(file, '');
    const { log, lines } = capturingLogger();

    const store = open(dir, log);

    expect(lines.filter((l) => l.level === 'warn' && /zero-length/.test(String(l.msg)))).toHaveLength(1);
    expect(store.recovered).toBeUndefined();
    expect(schemaVersion(store.db)).toBe(SCHEMA_VERSION);
  });
});

describe('a corrupt database: what can be read is salvaged, and the loss is reported', () => {
  const SCHEDULE: ChargingProfile['schedule'] = { unit: 'A', periods: [{ startPeriod: 0, limit: 16 }] };
  const CP_MAX: ChargingProfile = {
    id: 7,
    connectorId: 0,
    stackLevel: 0,
    purpose: 'ChargePointMaxProfile',
    kind: 'Absolute',
    schedule: SCHEDULE,
  };
  /** The TxProfile of the first transaction (local id 1). */
  const TX_PROFILE: ChargingProfile = {
    id: 8,
    connectorId: 1,
    stackLevel: 0,
    purpose: 'TxProfile',
    kind: 'Relative',
    transactionLocalId: 1,
    schedule: SCHEDULE,
  };

  const SECURITY_LOG = [
    {
      timestamp: '2024-05-01T12:00:00.000Z',
      type: 'StartupOfTheDevice',
      techInfo: 'firmware 1.0',
      critical: true,
    },
    { timestamp: '2024-05-01T12:00:05.000Z', type: 'InvalidMessages', critical: false },
  ];
  const INSTALLED_ROOT: InstalledCertificateRow = {
    certificateType: 'CentralSystemRootCertificate',
    fingerprint: 'installed',
    file: 'CentralSystemRootCertificate-installed.pem',
    subject: 'CN=New Root',
    serialNumber: '1F',
    hashes: {
      SHA256: { issuerNameHash: 'A1', issuerKeyHash: 'B1' },
      SHA384: { issuerNameHash: 'A2', issuerKeyHash: 'B2' },
      SHA512: { issuerNameHash: 'A3', issuerKeyHash: 'B3' },
    },
    notAfter: 1_900_000_000_000,
    installedAt: '2024-05-01T12:00:00.000Z',
  };

  /**
   * A database with settings, two transactions and their queued messages, charging profiles (one
   * bound to the first transaction), a local limit, security log entries, and an installed root
   * that replaced a fallback and a hidden provisioned root, then a damaged page.
   */
  function corruptWithQueue(
    file: string,
    damage: 'other' | 'outbox' | 'transactions' | 'security_log',
  ): void {
    const db = new Database(file);
    migrateTo(db, SCHEMA_VERSION);
    db.prepare("INSERT INTO config_keys VALUES ('AuthorizationKey', 'secret', 'x')").run();
    db.prepare("INSERT INTO config_keys VALUES ('SecurityProfile', '1', 'x')").run();
    db.pragma('synchronous = OFF');
    const transactions = new TransactionsRepo(db);
    const outbox = new OutboxRepo(db);
    for (const connectorId of [1, 2]) {
      const row = transactions.insert({
        connectorId,
        idTag: `T${connectorId}`,
        meterStart: 100,
        startedAt: 'x',
      });
      outbox.add('StartTransaction', { connectorId, idTag: row.idTag }, row.localId, 'x');
      outbox.add('StopTransaction', { meterStop: 200 }, row.localId, 'x');
    }
    outbox.add('SecurityEventNotification', { type: 'StartupOfTheDevice', timestamp: 'x' }, undefined, 'x');
    const profiles = new ChargingProfilesRepo(db);
    profiles.save(CP_MAX);
    profiles.save(TX_PROFILE);
    new ConnectorLimitsRepo(db, () => 0).set(2, 10.5);
    const log = new SecurityLogRepo(db);
    for (const entry of SECURITY_LOG) log.add(entry);
    const certificates = new CertificatesRepo(db);
    certificates.add(INSTALLED_ROOT, ['replaced']);
    certificates.setMark('CentralSystemRootCertificate', 'provisioned', 'hidden');
    damagePage(db, file, damage === 'other' ? 'auth_cache' : damage);
  }

  /** Overwrites the root page of `table` with garbage and closes the database. */
  function damagePage(db: Database.Database, file: string, table: string): void {
    // The auth cache fills pages of its own, so damaging it spares the other tables.
    const cache = db.prepare('INSERT INTO auth_cache (id_tag, status, updated_at) VALUES (?, ?, 0)');
    for (let i = 0; i < 300; i++) cache.run(`TAG${i}`.padEnd(20, 'x'), 'Accepted');
    const root = db.prepare('SELECT rootpage FROM sqlite_schema WHERE name = ?').pluck().get(table) as number;
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    db.close();
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.alloc(pageSize, 0xa5), 0, pageSize, (root - 1) * pageSize);
    fs.closeSync(fd);
  }

  it('queued messages, their transactions and the settings are carried into the fresh database', () => {
    const dir = tempDir();
    const file = path.join(dir, 'chargepoint.db');
    corruptWithQueue(file, 'other');
    const { log, lines } = capturingLogger();

    const store = open(dir, log);

    expect(store.recovered?.salvage.saved).toEqual({
      configKeys: 2,
      transactions: 2,
      outbox: 5,
      chargingProfiles: 2,
      connectorLimits: 1,
      securityLog: 2,
      certificates: 1,
      certificateMarks: 2,
    });
    expect(store.recovered?.salvage.lost).toEqual([]);
    const securityLog = new SecurityLogRepo(store.db);
    expect(securityLog.newest(10)).toEqual(SECURITY_LOG.map((entry, i) => ({ id: i + 1, ...entry })));
    // A new event continues the log after the carried ones.
    expect(securityLog.add({ timestamp: 'y', type: 'ResetOrReboot', critical: true })).toBe(3);
    const certificates = new CertificatesRepo(store.db);
    expect(certificates.all()).toEqual([INSTALLED_ROOT]);
    expect(certificates.marks()).toEqual(
      new Map([
        ['CentralSystemRootCertificate:provisioned', 'hidden'],
        ['CentralSystemRootCertificate:replaced', 'fallback'],
      ]),
    );
    expect(new ChargingProfilesRepo(store.db).all()).toEqual([CP_MAX, TX_PROFILE]);
    expect(new ConnectorLimitsRepo(store.db, () => 0).all()).toEqual(new Map([[2, 10.5]]));
    const queued = new OutboxRepo(store.db).all();
    expect(queued.map((e) => [e.seq, e.action, e.localTxId])).toEqual([
      [1, 'StartTransaction', 1],
      [2, 'StopTransaction', 1],
      [3, 'StartTransaction', 2],
      [4, 'StopTransaction', 2],
      [5, 'SecurityEventNotification', undefined],
    ]);
    expect(new TransactionsRepo(store.db).running().map((t) => t.idTag)).toEqual(['T1', 'T2']);
    expect(store.config.loadAll().get('AuthorizationKey')).toBe('secret');
    // A new message never takes the seq of a salvaged one.
    expect(new OutboxRepo(store.db).add('MeterValues', {}, 1, 'y').seq).toBe(6);
    const error = lines.find((l) => l.level === 'error');
    expect(error).toMatchObject({ salvaged: { outbox: 5 }, lost: [] });
  });

  it('a damaged queue: the loss is reported in the log and in the store', () => {
    const dir = tempDir();
    const file = path.join(dir, 'chargepoint.db');
    corruptWithQueue(file, 'outbox');
    const { log, lines } = capturingLogger();

    const store = open(dir, log);

    expect(store.recovered?.salvage.lost).toEqual([expect.stringMatching(/^outbox not read whole/)]);
    expect(store.recovered?.salvage.saved.transactions).toBe(2);
    expect(lines.find((l) => l.level === 'error')?.lost).toEqual(store.recovered?.salvage.lost);
  });

  it('damaged transactions: a TxProfile goes with its transaction, the other profiles and the limits are carried', () => {
    const dir = tempDir();
    const file = path.join(dir, 'chargepoint.db');
    corruptWithQueue(file, 'transactions');

    const store = open(dir);

    expect(store.recovered?.salvage.lost).toEqual([
      expect.stringMatching(/^transactions not read whole/),
      '4 queued message(s) whose transaction was unreadable',
      '1 TxProfile(s) whose transaction was unreadable',
    ]);
    expect(store.recovered?.salvage.saved).toMatchObject({ chargingProfiles: 1, connectorLimits: 1 });
    expect(new ChargingProfilesRepo(store.db).all()).toEqual([CP_MAX]);
    expect(new ConnectorLimitsRepo(store.db, () => 0).all()).toEqual(new Map([[2, 10.5]]));
  });

  it('a damaged security log: the loss is reported, the certificate rows and marks are still carried', () => {
    const dir = tempDir();
    const file = path.join(dir, 'chargepoint.db');
    corruptWithQueue(file, 'security_log');

    const store = open(dir);

    expect(store.recovered?.salvage.lost).toEqual([expect.stringMatching(/^security_log not read whole/)]);
    expect(store.recovered?.salvage.saved).toMatchObject({
      securityLog: 0,
      certificates: 1,
      certificateMarks: 2,
    });
    expect(new CertificatesRepo(store.db).marks().get('CentralSystemRootCertificate:provisioned')).toBe(
      'hidden',
    );
  });

  it('a corrupt file of a schema before charging profiles and local limits: no loss is reported for them', () => {
    const dir = tempDir();
    const file = path.join(dir, 'chargepoint.db');
    writeDatabaseAt(file, 7);
    damagePage(new Database(file), file, 'auth_cache');

    const store = open(dir);

    expect(store.recovered?.reason).toBeDefined();
    expect(store.recovered?.salvage.lost).toEqual([]);
    expect(store.recovered?.salvage.saved).toMatchObject({
      chargingProfiles: 0,
      connectorLimits: 0,
      securityLog: 0,
      certificates: 0,
      certificateMarks: 0,
    });
  });
});

describe('setting floors', () => {
  it('SecurityProfile never starts below its last persisted value, even on a fresh database', () => {
    const dir = tempDir();
    const first = open(dir);
    first.floors.set('SecurityProfile', '2');
    first.close();
    fs.rmSync(path.join(dir, 'chargepoint.db'));

    const store = open(dir);
    expect(store.floors.get('SecurityProfile')).toBe('2');
    expect(fs.statSync(store.floors.path).mode & 0o777).toBe(0o600);
  });

  it('a temporary file a power cut left, readable by all, does not lend its mode to the floors', () => {
    const dir = tempDir();
    const store = open(dir);
    fs.writeFileSync(`${store.floors.path}.tmp`, 'half written', { mode: 0o644 });

    expect(store.floors.set('SecurityProfile', '1')).toBe(true);

    expect(fs.statSync(store.floors.path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(fs.readFileSync(store.floors.path, 'utf8'))).toMatchObject({ SecurityProfile: '1' });
  });
});

describe('a database held by another process', () => {
  it('is not mistaken for corruption: open fails and the file stays where it is', () => {
    const dir = tempDir();
    const file = path.join(dir, 'chargepoint.db');
    const holder = new Database(file);
    cleanups.push(() => holder.close());
    holder.exec('BEGIN EXCLUSIVE; CREATE TABLE held (x INTEGER)');

    expect(() => openStore({ dir, log: silentLogger(), clock })).toThrow(
      expect.objectContaining({ code: 'SQLITE_BUSY' }),
    );

    expect(corruptSiblings(dir)).toEqual([]);
    holder.exec('ROLLBACK');
  });
});
