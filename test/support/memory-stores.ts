import type { ConfigStore } from '../../src/config/registry.js';
import type { AvailabilityStore } from '../../src/station/station.js';
import type { Availability } from '../../src/station/types.js';

/** Configuration values kept in memory: a registry without a database, for unit tests. */
export class MemoryConfig implements ConfigStore {
  private readonly data = new Map<string, string>();
  loadAll(): Map<string, string> {
    return new Map(this.data);
  }
  save(key: string, value: string): void {
    this.data.set(key, value);
  }
}

/** Every connector Operative, nothing remembered: a station without a database, for unit tests. */
export class MemoryAvailability implements AvailabilityStore {
  all(): Map<number, Availability> {
    return new Map();
  }
  setMany(): void {}
}
