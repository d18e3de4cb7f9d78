import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/** One OCPP 1.6 JSON schema as shipped: `$id` is `urn:<Action>.req` or `urn:<Action>.conf`. */
export interface CatalogueSchema {
  $id: string;
  [key: string]: unknown;
}

const require = createRequire(import.meta.url);

/**
 * The 78 official OCPP 1.6 schemas (28 core + 11 security-extension actions, request and
 * response). ocpp-rpc ships them unmodified in one file; we use only that file, not its RPC.
 */
export function loadSchemaCatalogue(): CatalogueSchema[] {
  const path = require.resolve('ocpp-rpc/lib/schemas/ocpp1_6.json');
  return JSON.parse(readFileSync(path, 'utf8')) as CatalogueSchema[];
}
