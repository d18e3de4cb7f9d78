import type Database from 'better-sqlite3';

/** OCPP configuration key values as the CSMS or provisioning set them, kept as strings. */
export class ConfigRepo {
  private readonly selectAll: Database.Statement<[], { key: string; value: string }>;
  private readonly upsert: Database.Statement<[string, string, string]>;
  private readonly remove: Database.Statement<[string]>;

  constructor(
    db: Database.Database,
    private readonly now: () => number,
  ) {
    this.selectAll = db.prepare('SELECT key, value FROM config_keys');
    this.upsert = db.prepare(
      `INSERT INTO config_keys (key, value, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
    );
    this.remove = db.prepare('DELETE FROM config_keys WHERE key = ?');
  }

  loadAll(): Map<string, string> {
    return new Map(this.selectAll.all().map((row) => [row.key, row.value]));
  }

  save(key: string, value: string): void {
    this.upsert.run(key, value, new Date(this.now()).toISOString());
  }

  delete(key: string): void {
    this.remove.run(key);
  }
}
