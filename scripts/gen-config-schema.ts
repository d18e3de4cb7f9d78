/** Publishes the provisioning-file schema for editors and tooling: `npm run gen:schema`. */
import { writeFileSync } from 'node:fs';
import { CONFIG_FILE_SCHEMA } from '../src/config/file-schema.js';

writeFileSync(
  new URL('../config/chargepoint.schema.json', import.meta.url),
  `${JSON.stringify(CONFIG_FILE_SCHEMA, null, 2)}\n`,
);
