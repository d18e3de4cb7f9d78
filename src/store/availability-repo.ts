import type Database from 'better-sqlite3';

export type Availability = 'Operative' | 'Inoperative';

/**
 * ChangeAvailability outcomes, which OCPP requires to survive a reboot. Connector 0 stands for
 * the whole charge point. A connector with no row has never been changed (Operative by default,
 * but that default belongs to the station, not here).
 */
export class AvailabilityRepo {
  private readonly selectAll: Database.Statement<[], { connector_id: number; availability: Availability }>;
  private readonly upsert: Database.Statement<[number, Availability, string]>;

  constructor(
    private readonly db: Database.Database,
    private readonly now: () => number,
  ) {
    this.selectAll = db.prepare('SELECT connector_id, availability FROM connector_availability');
    this.upsert = db.prepare(
      `INSERT INTO connector_availability (connector_id, availability, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (connector_id) DO UPDATE
       SET availability = excluded.availability, updated_at = excluded.updated_at`,
    );
  }

  all(): Map<number, Availability> {
    return new Map(this.selectAll.all().map((row) => [row.connector_id, row.availability]));
  }

  set(connectorId: number, availability: Availability): void {
    this.upsert.run(connectorId, availability, new Date(this.now()).toISOString());
  }

  /** All or nothing: ChangeAvailability for connector 0 must never leave half the connectors changed. */
  setMany(entries: ReadonlyArray<[number, Availability]>): void {
    const updatedAt = new Date(this.now()).toISOString();
    this.db.transaction(() => {
      for (const [connectorId, availability] of entries)
        this.upsert.run(connectorId, availability, updatedAt);
    })();
  }
}
