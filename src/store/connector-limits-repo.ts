import type Database from 'better-sqlite3';

/** The operator's local limit per connector (A), so it survives a restart: the only SQL of it. */
export class ConnectorLimitsRepo {
  private readonly selectAll: Database.Statement<[], { connector_id: number; limit_a: number }>;
  private readonly upsert: Database.Statement<[number, number, string]>;
  private readonly deleteOne: Database.Statement<[number]>;

  constructor(
    db: Database.Database,
    private readonly now: () => number,
  ) {
    this.selectAll = db.prepare('SELECT connector_id, limit_a FROM connector_limits');
    this.upsert = db.prepare(
      `INSERT INTO connector_limits (connector_id, limit_a, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (connector_id) DO UPDATE SET limit_a = excluded.limit_a, updated_at = excluded.updated_at`,
    );
    this.deleteOne = db.prepare('DELETE FROM connector_limits WHERE connector_id = ?');
  }

  all(): Map<number, number> {
    return new Map(this.selectAll.all().map((row) => [row.connector_id, row.limit_a]));
  }

  set(connectorId: number, amps: number): void {
    this.upsert.run(connectorId, amps, new Date(this.now()).toISOString());
  }

  remove(connectorId: number): void {
    this.deleteOne.run(connectorId);
  }
}
