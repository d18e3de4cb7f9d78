import type Database from 'better-sqlite3';
import { Sqlite } from '../commonjs.js';
import { errorMessage } from '../error-message.js';

/** What was carried over from a corrupt database, and what could not be. */
export interface Salvage {
  saved: {
    configKeys: number;
    transactions: number;
    outbox: number;
    chargingProfiles: number;
    connectorLimits: number;
    securityLog: number;
    certificates: number;
    certificateMarks: number;
  };
  /** Each loss in words: a table not read whole, queued messages dropped, a file not readable. */
  lost: string[];
}

type Row = Record<string, unknown>;

/**
 * Carries what can still be read from a corrupt database (moved aside at `corruptFile`) into the
 * fresh one: the configuration keys (the central system's settings, the AuthorizationKey), the
 * transactions and the queued messages, with their keys, so a StopTransaction still finds its
 * transaction, the installed charging profiles (the central system sends them once) and the
 * operator's local limits, the security log (the record the central system reads with GetLog
 * and the white paper wants kept), and the certificate store's rows and marks: a root's file would
 * be adopted without its row, but a mark (a provisioned root hidden by DeleteCertificate, a
 * fallback root) lives only in the database and would otherwise come back. Each table is read from both ends, so a damaged page in the middle
 * costs only the rows on it. A queued transaction message, or a TxProfile, whose transaction
 * could not be read is dropped: the message could not be sent correctly, and the profile exists
 * only with its transaction. A table the old schema did not have yet is no loss. Everything is
 * inserted in one SQL transaction.
 */
export function salvageInto(db: Database.Database, corruptFile: string): Salvage {
  const salvage: Salvage = {
    saved: {
      configKeys: 0,
      transactions: 0,
      outbox: 0,
      chargingProfiles: 0,
      connectorLimits: 0,
      securityLog: 0,
      certificates: 0,
      certificateMarks: 0,
    },
    lost: [],
  };
  let old: Database.Database;
  try {
    old = new Sqlite(corruptFile, { readonly: true, fileMustExist: true });
  } catch (err) {
    salvage.lost.push(`whole database unreadable: ${errorMessage(err)}`);
    return salvage;
  }
  try {
    const config = readTable(old, 'config_keys', 'key', salvage);
    const transactions = readTable(old, 'transactions', 'local_id', salvage);
    const outbox = readTable(old, 'outbox', 'seq', salvage);
    const profiles = readTableIfAny(old, 'charging_profiles', 'charging_profile_id', salvage);
    const limits = readTableIfAny(old, 'connector_limits', 'connector_id', salvage);
    const securityLog = readTableIfAny(old, 'security_log', 'id', salvage);
    const certificates = readTableIfAny(old, 'certificates', 'file', salvage);
    const marks = readTableIfAny(old, 'certificate_marks', ['certificate_type', 'fingerprint'], salvage);
    db.transaction(() => {
      const putKey = db.prepare(
        'INSERT OR IGNORE INTO config_keys (key, value, updated_at) VALUES (@key, @value, @updated_at)',
      );
      for (const row of config) salvage.saved.configKeys += putKey.run(row).changes;
      const putTx = db.prepare(
        `INSERT INTO transactions (local_id, connector_id, id_tag, parent_id_tag, reservation_id, transaction_id,
           meter_start, started_at, last_meter, last_meter_at, stop_reason, stop_id_tag, meter_stop, stopped_at)
         VALUES (@local_id, @connector_id, @id_tag, @parent_id_tag, @reservation_id, @transaction_id,
           @meter_start, @started_at, @last_meter, @last_meter_at, @stop_reason, @stop_id_tag, @meter_stop, @stopped_at)`,
      );
      const savedTx = new Set<unknown>();
      for (const row of transactions) {
        if (tryRun(putTx, row)) savedTx.add(row.local_id);
      }
      salvage.saved.transactions = savedTx.size;
      const putMessage = db.prepare(
        `INSERT INTO outbox (seq, kind, action, local_tx_id, payload, attempts, next_attempt_at, created_at)
         VALUES (@seq, @kind, @action, @local_tx_id, @payload, @attempts, 0, @created_at)`,
      );
      let orphans = 0;
      for (const row of outbox) {
        if (row.local_tx_id !== null && !savedTx.has(row.local_tx_id)) {
          orphans++;
          continue;
        }
        // Before schema 6 every queued message was a transaction message.
        if (tryRun(putMessage, { kind: 'transaction', ...row })) salvage.saved.outbox++;
        else orphans++;
      }
      if (orphans > 0) salvage.lost.push(`${orphans} queued message(s) whose transaction was unreadable`);
      const putProfile = db.prepare(
        `INSERT INTO charging_profiles (charging_profile_id, connector_id, stack_level, purpose, kind, recurrency,
           valid_from, valid_to, transaction_id, local_tx_id, schedule)
         VALUES (@charging_profile_id, @connector_id, @stack_level, @purpose, @kind, @recurrency,
           @valid_from, @valid_to, @transaction_id, @local_tx_id, @schedule)`,
      );
      let unbound = 0;
      let refused = 0;
      for (const row of profiles) {
        if (row.local_tx_id !== null && !savedTx.has(row.local_tx_id)) unbound++;
        else if (tryRun(putProfile, row)) salvage.saved.chargingProfiles++;
        else refused++;
      }
      if (unbound > 0) salvage.lost.push(`${unbound} TxProfile(s) whose transaction was unreadable`);
      if (refused > 0) salvage.lost.push(`${refused} charging profile(s) this schema cannot hold`);
      const putLimit = db.prepare(
        'INSERT INTO connector_limits (connector_id, limit_a, updated_at) VALUES (@connector_id, @limit_a, @updated_at)',
      );
      for (const row of limits) if (tryRun(putLimit, row)) salvage.saved.connectorLimits++;
      // The ids are kept: they order the log, and new events continue after the highest.
      const putLogEntry = db.prepare(
        `INSERT INTO security_log (id, timestamp, type, tech_info, critical)
         VALUES (@id, @timestamp, @type, @tech_info, @critical)`,
      );
      for (const row of securityLog) if (tryRun(putLogEntry, row)) salvage.saved.securityLog++;
      const putCertificate = db.prepare(
        `INSERT INTO certificates
           (certificate_type, fingerprint, file, subject, serial_number, hash_data, not_after, installed_at)
         VALUES (@certificate_type, @fingerprint, @file, @subject, @serial_number, @hash_data, @not_after, @installed_at)`,
      );
      for (const row of certificates) if (tryRun(putCertificate, row)) salvage.saved.certificates++;
      const putMark = db.prepare(
        'INSERT INTO certificate_marks (certificate_type, fingerprint, mark) VALUES (@certificate_type, @fingerprint, @mark)',
      );
      for (const row of marks) if (tryRun(putMark, row)) salvage.saved.certificateMarks++;
    })();
  } finally {
    old.close();
  }
  return salvage;
}

/** `readTable` of a table a schema older than the corrupt file's may not have had yet. */
function readTableIfAny(
  old: Database.Database,
  table: string,
  key: string | readonly string[],
  salvage: Salvage,
): Row[] {
  let exists = true;
  try {
    exists =
      old.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?").get(table) !== undefined;
  } catch {
    // The schema itself is damaged: try the table, which says what was lost.
  }
  return exists ? readTable(old, table, key, salvage) : [];
}

/**
 * The table's readable rows, by its key (one column, or the columns of a composite primary key):
 * forwards until a damaged page, then backwards until one.
 */
function readTable(
  old: Database.Database,
  table: string,
  key: string | readonly string[],
  salvage: Salvage,
): Row[] {
  const columns = typeof key === 'string' ? [key] : key;
  const identity = (row: Row) => JSON.stringify(columns.map((column) => row[column]));
  const rows = new Map<string, Row>();
  let complete = true;
  for (const order of ['ASC', 'DESC']) {
    const orderBy = columns.map((column) => `${column} ${order}`).join(', ');
    try {
      for (const row of old
        .prepare(`SELECT * FROM ${table} ORDER BY ${orderBy}`)
        .iterate() as Iterable<Row>) {
        const id = identity(row);
        if (rows.has(id)) break;
        rows.set(id, row);
      }
      if (complete) break;
    } catch (err) {
      if (complete) salvage.lost.push(`${table} not read whole: ${errorMessage(err)}`);
      complete = false;
    }
  }
  return [...rows.values()];
}

function tryRun(statement: Database.Statement, row: Row): boolean {
  try {
    return statement.run(row).changes === 1;
  } catch {
    return false;
  }
}
