import type Database from 'better-sqlite3';
import type {
  ChargingProfile,
  ChargingProfileKind,
  ChargingProfilePurpose,
  ChargingSchedule,
  RecurrencyKind,
} from '../station/charging-profile-types.js';
import { type Atomically, atomicallyOn } from './sql-transaction.js';

interface Raw {
  charging_profile_id: number;
  connector_id: number;
  stack_level: number;
  purpose: ChargingProfilePurpose;
  kind: ChargingProfileKind;
  recurrency: RecurrencyKind | null;
  valid_from: number | null;
  valid_to: number | null;
  transaction_id: number | null;
  local_tx_id: number | null;
  schedule: string;
}

type Params = [
  number,
  number,
  number,
  ChargingProfilePurpose,
  ChargingProfileKind,
  RecurrencyKind | null,
  number | null,
  number | null,
  number | null,
  number | null,
  string,
];

function fromRaw(r: Raw): ChargingProfile {
  const schedule: ChargingSchedule = JSON.parse(r.schedule);
  return {
    id: r.charging_profile_id,
    connectorId: r.connector_id,
    stackLevel: r.stack_level,
    purpose: r.purpose,
    kind: r.kind,
    ...(r.recurrency === null ? {} : { recurrency: r.recurrency }),
    ...(r.valid_from === null ? {} : { validFrom: r.valid_from }),
    ...(r.valid_to === null ? {} : { validTo: r.valid_to }),
    ...(r.transaction_id === null ? {} : { transactionId: r.transaction_id }),
    ...(r.local_tx_id === null ? {} : { transactionLocalId: r.local_tx_id }),
    schedule,
  };
}

function toParams(p: ChargingProfile): Params {
  return [
    p.id,
    p.connectorId,
    p.stackLevel,
    p.purpose,
    p.kind,
    p.recurrency ?? null,
    p.validFrom ?? null,
    p.validTo ?? null,
    p.transactionId ?? null,
    p.transactionLocalId ?? null,
    JSON.stringify(p.schedule),
  ];
}

/**
 * The installed charging profiles, one row each, so they survive a restart. A TxProfile's row
 * references its transaction row and is deleted with it (ON DELETE CASCADE).
 */
export class ChargingProfilesRepo {
  private readonly selectAll: Database.Statement<[], Raw>;
  private readonly upsert: Database.Statement<Params>;
  private readonly deleteOne: Database.Statement<[number]>;
  private readonly deleteOfTransaction: Database.Statement<[number]>;
  private readonly deleteOfEnded: Database.Statement<[]>;
  private readonly inTransaction: Atomically;

  constructor(db: Database.Database) {
    this.inTransaction = atomicallyOn(db);
    this.selectAll = db.prepare('SELECT * FROM charging_profiles ORDER BY charging_profile_id');
    this.upsert = db.prepare(
      `INSERT INTO charging_profiles (charging_profile_id, connector_id, stack_level, purpose, kind,
         recurrency, valid_from, valid_to, transaction_id, local_tx_id, schedule)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (charging_profile_id) DO UPDATE SET connector_id = excluded.connector_id,
         stack_level = excluded.stack_level, purpose = excluded.purpose, kind = excluded.kind,
         recurrency = excluded.recurrency, valid_from = excluded.valid_from, valid_to = excluded.valid_to,
         transaction_id = excluded.transaction_id, local_tx_id = excluded.local_tx_id,
         schedule = excluded.schedule`,
    );
    this.deleteOne = db.prepare('DELETE FROM charging_profiles WHERE charging_profile_id = ?');
    this.deleteOfTransaction = db.prepare('DELETE FROM charging_profiles WHERE local_tx_id = ?');
    this.deleteOfEnded = db.prepare(
      `DELETE FROM charging_profiles WHERE local_tx_id IN
         (SELECT local_id FROM transactions WHERE stopped_at IS NOT NULL)`,
    );
  }

  all(): ChargingProfile[] {
    return this.selectAll.all().map(fromRaw);
  }

  /** Stores a profile, replacing the one with the same chargingProfileId. */
  save(profile: ChargingProfile): void {
    this.upsert.run(...toParams(profile));
  }

  remove(chargingProfileIds: readonly number[]): void {
    for (const id of chargingProfileIds) this.deleteOne.run(id);
  }

  /** The TxProfile of a transaction that ended. */
  removeOfTransaction(localTxId: number): void {
    this.deleteOfTransaction.run(localTxId);
  }

  /**
   * TxProfiles whose transaction row records a stop: a power cut between the stop and the
   * profile's deletion left them behind.
   */
  removeOfEndedTransactions(): number {
    return this.deleteOfEnded.run().changes;
  }

  /**
   * Runs `fn` in one SQL transaction. Inside another of the same database (the engine's start
   * record) it becomes part of it (a savepoint), so both commit together.
   */
  atomically<T>(fn: () => T): T {
    return this.inTransaction(fn);
  }
}
