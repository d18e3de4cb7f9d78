/** Publishes the provisioning-file and board-file schemas for editors and tooling: `npm run gen:schema`. */
import { writeFileSync } from 'node:fs';
import { CONFIG_FILE_SCHEMA } from '../src/config/file-schema.js';
import { BOARD_FILE_SCHEMA } from '../src/config/hardware-board-schema.js';

for (const [file, schema] of [
  ['chargepoint.schema.json', CONFIG_FILE_SCHEMA],
  ['board.schema.json', BOARD_FILE_SCHEMA],
] as const) {
  writeFileSync(new URL(`../config/${file}`, import.meta.url), `${JSON.stringify(schema, null, 2)}\n`);
}
