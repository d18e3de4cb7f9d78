import type Database from 'better-sqlite3';

export interface ReservationRow {
  reservationId: number;
  connectorId: number;
  idTag: string;
  parentIdTag?: string;
  /** ISO 8601, central-system time. */
  expiryDate: string;
}

interface Raw {
  reservation_id: number;
  connector_id: number;
  id_tag: string;
  parent_id_tag: string | null;
  expiry_date: string;
}

/** Reservations in force, one row each, so they survive a restart. */
export class ReservationsRepo {
  private readonly selectAll: Database.Statement<[], Raw>;
  private readonly upsert: Database.Statement<[number, number, string, string | null, string]>;
  private readonly deleteOne: Database.Statement<[number]>;
  private readonly deleteMany: Database.Transaction<(reservationIds: readonly number[]) => void>;

  constructor(db: Database.Database) {
    this.selectAll = db.prepare('SELECT * FROM reservations ORDER BY reservation_id');
    this.upsert = db.prepare(
      `INSERT INTO reservations (reservation_id, connector_id, id_tag, parent_id_tag, expiry_date)
       VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (reservation_id) DO UPDATE SET connector_id = excluded.connector_id,
         id_tag = excluded.id_tag, parent_id_tag = excluded.parent_id_tag, expiry_date = excluded.expiry_date`,
    );
    this.deleteOne = db.prepare('DELETE FROM reservations WHERE reservation_id = ?');
    this.deleteMany = db.transaction((reservationIds: readonly number[]) => {
      for (const id of reservationIds) this.deleteOne.run(id);
    });
  }

  all(): ReservationRow[] {
    return this.selectAll.all().map((row) => ({
      reservationId: row.reservation_id,
      connectorId: row.connector_id,
      idTag: row.id_tag,
      ...(row.parent_id_tag === null ? {} : { parentIdTag: row.parent_id_tag }),
      expiryDate: row.expiry_date,
    }));
  }

  /** Stores a reservation, replacing the one with the same reservationId. */
  save(row: ReservationRow): void {
    this.upsert.run(row.reservationId, row.connectorId, row.idTag, row.parentIdTag ?? null, row.expiryDate);
  }

  /**
   * Deletes the reservations, all or none. Called inside a SQL transaction of the same database
   * (the engine's start record), it becomes part of it (a savepoint), so both commit together.
   */
  remove(reservationIds: readonly number[]): void {
    this.deleteMany(reservationIds);
  }
}
