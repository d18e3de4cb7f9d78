/**
 * The CommonJS packages the daemon loads at boot, required rather than imported. Imported from an
 * ES module, Node first runs its CommonJS lexer over each package's files (and every file they
 * re-export) to find named exports we never use: ws and better-sqlite3 cost the boot 15-30 ms that
 * way, against a third of it through `require`. Their types still come from `import type`.
 */

import { createRequire } from 'node:module';
import type * as AjvFormats from 'ajv-formats/dist/formats.js';
import type BetterSqlite3 from 'better-sqlite3';
import type WebSocketModule from 'ws';

const require = createRequire(import.meta.url);

/** better-sqlite3's Database class (and `SqliteError` on it). */
export const Sqlite = require('better-sqlite3') as typeof BetterSqlite3;
/** ws's WebSocket class. */
export const WebSocketClient = require('ws') as typeof WebSocketModule;
/** ajv-formats' format definitions (the generated validators' `uri`, src/ocpp/formats.ts). */
export const ajvFormats = require('ajv-formats/dist/formats.js') as typeof AjvFormats;
