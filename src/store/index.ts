export { type Availability, AvailabilityRepo } from './availability-repo.js';
export { ConfigRepo } from './config-repo.js';
export { lockStateDirectory, openStore, type Store, type StoreOptions } from './database.js';
export { type Migration, migrateTo, NewerSchemaError, SCHEMA_VERSION, schemaVersion } from './migrations.js';
