import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import formats from 'ajv-formats';
import type { SchemaErrorCode } from './errors.js';
import type { Action } from './generated/messages.js';
import { type CatalogueSchema, loadSchemaCatalogue } from './schema-catalogue.js';

export type ValidationFailure = { code: SchemaErrorCode; message: string };

type Direction = 'req' | 'conf';

/** Long enough to name a field, short enough that a hostile property name cannot bloat a CALLERROR. */
const MAX_MESSAGE_LENGTH = 255;

/**
 * What a charging session and the central system's frequent calls need, in the order a first
 * session after boot needs it. Compiling a schema takes a millisecond or more (ten for the first,
 * which builds Ajv's code generator), so these are compiled in idle turns after the first schema
 * (BootNotification's): the first session then costs what every later one does.
 */
export const WARM_UP: ReadonlyArray<readonly [Action, Direction]> = [
  ['StatusNotification', 'conf'],
  ['RemoteStartTransaction', 'req'],
  ['RemoteStartTransaction', 'conf'],
  ['StartTransaction', 'req'],
  ['StartTransaction', 'conf'],
  ['StatusNotification', 'req'],
  ['RemoteStopTransaction', 'req'],
  ['RemoteStopTransaction', 'conf'],
  ['StopTransaction', 'req'],
  ['StopTransaction', 'conf'],
  ['MeterValues', 'req'],
  ['MeterValues', 'conf'],
  ['Authorize', 'req'],
  ['Authorize', 'conf'],
  ['Heartbeat', 'req'],
  ['Heartbeat', 'conf'],
  ['GetConfiguration', 'req'],
  ['GetConfiguration', 'conf'],
  ['ChangeConfiguration', 'req'],
  ['ChangeConfiguration', 'conf'],
  ['TriggerMessage', 'req'],
  ['TriggerMessage', 'conf'],
];

let ajv: Ajv | undefined;
let catalogue: Map<string, CatalogueSchema> | undefined;
const validators = new Map<string, ValidateFunction>();

function getAjv(): Ajv {
  if (!ajv) {
    ajv = new Ajv({
      // The official schemas carry keywords Ajv's strict mode objects to; they are still honoured.
      strict: false,
      // They are also fixed and known good (a test compiles all 78): checking each against the
      // JSON Schema meta-schema would only cost the boot the compilation of that meta-schema.
      validateSchema: false,
      // The schemas say `multipleOf: 0.1`; without a tolerance 0.3 / 0.1 = 2.9999999999999996 fails.
      multipleOfPrecision: 9,
      // Payloads must reach handlers exactly as received: never coerce, default or strip.
      coerceTypes: false,
      useDefaults: false,
      removeAdditional: false,
    });
    // ajv-formats 3 rejects a date-time without a time zone (version 2 accepted it). The OCPP 1.6
    // schemas use these two formats and no other.
    formats.default(ajv, ['date-time', 'uri']);
    scheduleWarmUp();
  }
  return ajv;
}

/**
 * Compiles WARM_UP one schema per event-loop turn, so a frame that arrives meanwhile waits for
 * one compilation at most. (Not unref'd: Node does not run unref'd immediates while it waits.)
 */
function scheduleWarmUp(): void {
  let next = 0;
  const step = () => {
    const entry = WARM_UP[next++];
    if (!entry) return;
    // One call too: V8 compiles the generated function on its first run, not when Ajv creates it.
    validatorFor(entry[0], entry[1])({});
    setImmediate(step);
  };
  setImmediate(step);
}

function validatorFor(action: Action, direction: Direction): ValidateFunction {
  const id = `urn:${action}.${direction}`;
  let validate = validators.get(id);
  if (validate) return validate;
  catalogue ??= new Map(loadSchemaCatalogue().map((schema) => [schema.$id, schema]));
  const schema = catalogue.get(id);
  if (!schema) throw new Error(`no schema ${id} in the catalogue`);
  // The `urn:Action.req` ids are URNs without a namespace string, which Ajv's URI resolver refuses
  // to serialise; the schemas only use local `#/definitions` refs, so the id is not needed.
  const { $id: _id, ...body } = schema;
  validate = getAjv().compile(body);
  validators.set(id, validate);
  return validate;
}

/** Validate a request payload (CALL) against the official schema of its action. */
export function validateRequest(action: Action, payload: unknown): ValidationFailure | undefined {
  return check(validatorFor(action, 'req'), payload);
}

/** Validate a response payload (CALLRESULT) against the official schema of its action. */
export function validateResponse(action: Action, payload: unknown): ValidationFailure | undefined {
  return check(validatorFor(action, 'conf'), payload);
}

function check(validate: ValidateFunction, payload: unknown): ValidationFailure | undefined {
  if (validate(payload)) return undefined;
  const error = validate.errors?.[0];
  if (!error) return { code: 'FormationViolation', message: 'payload does not match its schema' };
  return { code: schemaErrorCode(error), message: clip(describe(error)) };
}

/** OCPP-J 1.6 section 4.2.3: which CallError code a schema violation (Ajv's error) deserves. */
export function schemaErrorCode(error: Pick<ErrorObject, 'keyword' | 'instancePath'>): SchemaErrorCode {
  switch (error.keyword) {
    case 'type':
      // The payload itself not being an object breaks the PDU structure; a field of the wrong
      // JSON type is a data type constraint.
      return error.instancePath === '' ? 'FormationViolation' : 'TypeConstraintViolation';
    case 'additionalProperties':
      return 'FormationViolation';
    case 'required':
    case 'minItems':
    case 'maxItems':
      return 'OccurenceConstraintViolation';
    default:
      return 'PropertyConstraintViolation';
  }
}

function describe(error: ErrorObject): string {
  const path = error.instancePath;
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return `${path}/${String(params.missingProperty)} is required`;
    case 'additionalProperties':
      return `${path}/${String(params.additionalProperty)} is not allowed`;
    case 'enum':
      return `${path} must be one of ${(params.allowedValues as unknown[]).join(', ')}`;
    default:
      return `${path === '' ? 'payload' : path} ${error.message ?? 'is invalid'}`;
  }
}

function clip(message: string): string {
  return message.length <= MAX_MESSAGE_LENGTH ? message : `${message.slice(0, MAX_MESSAGE_LENGTH - 3)}...`;
}
