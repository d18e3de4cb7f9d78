/**
 * Compiles the fixed JSON schemas (provisioning file, both board-file kinds, the 78 official OCPP
 * 1.6 ones) into standalone validator modules with Ajv's code generator, so the daemon never loads
 * Ajv itself: importing and configuring it cost the boot 40-60 ms. Run with `npm run gen:validators`;
 * the output is committed so builds need no generator, and a test checks it is in step with the schemas.
 */
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { _, Ajv, type AnySchemaObject, type Options } from 'ajv';
import standaloneCode from 'ajv/dist/standalone/index.js';
import { SIM_BOARD_SCHEMA } from '../src/config/board-schema.js';
import { CONFIG_FILE_SCHEMA } from '../src/config/file-schema.js';
import { HARDWARE_BOARD_SCHEMA } from '../src/config/hardware-board-schema.js';
import { OCPP_FORMATS } from '../src/ocpp/formats.js';
import { loadSchemaCatalogue } from '../src/ocpp/schema-catalogue.js';

/** Path (relative to the package root) and text of each generated module. */
export type GeneratedModule = { path: string; source: string };

// validateSchema off throughout: the schemas are our own or the official ones, fixed and compiled
// here with strict mode (where used), which still refuses an unknown keyword or type.
const CONFIG_OPTIONS: Options = {
  allErrors: true,
  // The provisioning file's defaults are filled in by the validator.
  useDefaults: true,
  strict: true,
  allowUnionTypes: true,
  validateSchema: false,
};
const SIM_BOARD_OPTIONS: Options = { allErrors: true, strict: true, validateSchema: false };
const HARDWARE_BOARD_OPTIONS: Options = {
  allErrors: true,
  strict: true,
  allowUnionTypes: true,
  validateSchema: false,
};
const OCPP_OPTIONS: Options = {
  // The official schemas carry keywords Ajv's strict mode objects to; they are still honoured.
  strict: false,
  validateSchema: false,
  // The schemas say `multipleOf: 0.1`; without a tolerance 0.3 / 0.1 = 2.9999999999999996 fails.
  multipleOfPrecision: 9,
  // Payloads must reach handlers exactly as received: never coerce, default or strip.
  coerceTypes: false,
  useDefaults: false,
  removeAdditional: false,
};

const HEADER = [
  '// biome-ignore-all format: generated',
  '// biome-ignore-all lint: generated',
  '// @ts-nocheck',
];

/** Ajv's standalone code is ESM apart from `require` calls for its runtime helpers (ucs2length). */
function prelude(imports: readonly string[] = []): string[] {
  return [
    "import { createRequire } from 'node:module';",
    ...imports,
    '',
    'const require = createRequire(import.meta.url);',
    'type Validator = ((data: unknown) => boolean) & { errors?: import("ajv").ErrorObject[] | null };',
  ];
}

function standalone(options: Options, schema: AnySchemaObject): string {
  const ajv = new Ajv({ ...options, code: { source: true, esm: true } });
  return standaloneCode.default(ajv, ajv.compile(schema));
}

/** One module exporting one validator, under `name`. */
function singleModule(
  path: string,
  name: string,
  options: Options,
  schema: AnySchemaObject,
): GeneratedModule {
  const code = standalone(options, schema).replace(
    /export const validate = (\w+);export default \w+;/,
    `export const ${name}: Validator = $1;`,
  );
  return { path, source: render(code) };
}

/** The OCPP module: `OCPP_VALIDATORS['urn:<Action>.<req|conf>']`. */
function ocppModule(): GeneratedModule {
  const ajv = new Ajv({
    ...OCPP_OPTIONS,
    // src/ocpp/formats.ts, imported by the generated module (OCPP_PRELUDE).
    code: { source: true, esm: true, formats: _`OCPP_FORMATS` },
  });
  // The OCPP 1.6 schemas use these two formats and no other; a date-time needs a time zone.
  for (const [name, format] of Object.entries(OCPP_FORMATS)) ajv.addFormat(name, format);
  const ids: Record<string, string> = {};
  for (const { $id, ...body } of loadSchemaCatalogue()) {
    // The `urn:Action.req` ids are URNs without a namespace string, which Ajv's URI resolver
    // refuses to serialise; the schemas only use local `#/definitions` refs, so the id is not needed.
    const name = $id.slice('urn:'.length).replace('.', '_');
    ajv.addSchema(body, name);
    ids[name] = $id;
  }
  const entries: string[] = [];
  const code = standaloneCode
    .default(ajv, Object.fromEntries(Object.keys(ids).map((name) => [name, name])))
    .replace(/export const (\w+) = (\w+);/g, (_match, name: string, fn: string) => {
      entries.push(`  '${ids[name]}': ${fn},`);
      return '';
    });
  return {
    path: 'src/ocpp/generated/validators.ts',
    source: render(
      `${leanOcppCode(code)}\n\nexport const OCPP_VALIDATORS: Readonly<Record<string, Validator>> = {\n${entries.join('\n')}\n};`,
      // The formats the schemas name (code.formats above).
      ["import { OCPP_FORMATS } from '../formats.js';"],
    ),
  };
}

/** Ajv's options argument as every validator declares it, and as one validator passes it to another. */
const OPTIONS_PARAMETER = '{instancePath="", parentData, parentDataProperty, rootData=data}={}';
const OPTIONS_ARGUMENT = /\{instancePath:([^,{}]+),parentData:[^,{}]+,parentDataProperty:[^,{}]+,rootData\}/g;

/**
 * The OCPP validators run on every frame in and out, so their generated code is made cheaper
 * where Ajv has no option for it; what they accept and the errors they report stay the same.
 *
 * - Ajv's options argument becomes the one field these validators read, `instancePath`: no object
 *   is allocated and destructured per call, nor per nested call (the security extension's schemas
 *   refer to definitions that Ajv compiles as functions of their own).
 * - A maxLength check counts code points (Ajv's ucs2length loops over the string) only when the
 *   UTF-16 length is over the limit: the count is never above that length, so a string within the
 *   limit in UTF-16 units is within it in code points. Until V8 optimizes a validator, that loop is
 *   most of its cost. (The 1.6 schemas have no minLength; one would fail the check below.)
 *
 * Throws if Ajv's output no longer has the shapes rewritten here, rather than leave them half done.
 */
export function leanOcppCode(code: string): string {
  const length = /const (\w+) = require\("ajv\/dist\/runtime\/ucs2length"\)\.default;/.exec(code)?.[1];
  if (!length) throw new Error('gen-validators: ucs2length is no longer imported as expected');
  let counted = 0;
  const lean = code
    .replaceAll(OPTIONS_PARAMETER, 'instancePath=""')
    .replace(OPTIONS_ARGUMENT, '$1')
    .replace(
      new RegExp(`\\b${length}\\(([\\w.]+)\\) > (\\d+)`, 'g'),
      (_match, value: string, limit: string) => {
        counted += 1;
        return `(${value}.length > ${limit} && ${length}(${value}) > ${limit})`;
      },
    );
  const unchanged = /parentData|rootData/.exec(lean)?.[0];
  if (unchanged) throw new Error(`gen-validators: Ajv's options argument left in place (${unchanged})`);
  if (lean.split(`${length}(`).length - 1 !== counted) {
    throw new Error('gen-validators: a string length check of a shape leanOcppCode does not rewrite');
  }
  return lean;
}

function render(code: string, imports: readonly string[] = []): string {
  return `${[
    ...HEADER,
    '/* Generated by scripts/gen-validators.ts from the JSON schemas. Do not edit. */',
    ...prelude(imports),
    code.replace(/^"use strict";/, ''),
  ].join('\n')}\n`;
}

export function generateValidators(): GeneratedModule[] {
  return [
    singleModule(
      'src/config/generated/config-file-validator.ts',
      'validateConfigFileSchema',
      CONFIG_OPTIONS,
      CONFIG_FILE_SCHEMA,
    ),
    singleModule(
      'src/config/generated/sim-board-validator.ts',
      'validateSimBoardSchema',
      SIM_BOARD_OPTIONS,
      SIM_BOARD_SCHEMA,
    ),
    singleModule(
      'src/config/generated/hardware-board-validator.ts',
      'validateHardwareBoardSchema',
      HARDWARE_BOARD_OPTIONS,
      HARDWARE_BOARD_SCHEMA,
    ),
    ocppModule(),
  ];
}

const invokedAs = process.argv[1] === undefined ? '' : pathToFileURL(process.argv[1]).href;
if (import.meta.url === invokedAs) {
  for (const { path, source } of generateValidators()) {
    writeFileSync(new URL(`../${path}`, import.meta.url), source);
  }
}
