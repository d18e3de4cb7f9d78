import type { ErrorObject } from 'ajv';
import type { SchemaErrorCode } from './errors.js';
import type { Action } from './generated/messages.js';
import { OCPP_VALIDATORS } from './generated/validators.js';
import { WARM_UP } from './warm-up-samples.js';

export { WARM_UP };

export type ValidationFailure = { code: SchemaErrorCode; message: string };

type Direction = 'req' | 'conf';

/** Long enough to name a field, short enough that a hostile property name cannot bloat a CALLERROR. */
const MAX_MESSAGE_LENGTH = 255;

type Validate = (typeof OCPP_VALIDATORS)[string];

let warmUpScheduled = false;

/**
 * Runs WARM_UP (warm-up-samples.ts) one validator per event-loop turn, after the first validation
 * (the boot's BootNotification), so a frame that arrives meanwhile waits for one run at most.
 * (Not unref'd: Node does not run unref'd immediates while it waits.)
 */
function scheduleWarmUp(): void {
  warmUpScheduled = true;
  let next = 0;
  const step = () => {
    const entry = WARM_UP[next++];
    if (!entry) return;
    validatorFor(entry[0], entry[1])(entry[2]);
    setImmediate(step);
  };
  setImmediate(step);
}

/**
 * The validators by direction and action, filled on first use: a lookup by the action name alone
 * costs less than composing the catalogue's `urn:<action>.<direction>` key for every frame.
 */
const byDirection: Record<Direction, Map<Action, Validate>> = { req: new Map(), conf: new Map() };

function validatorFor(action: Action, direction: Direction): Validate {
  const known = byDirection[direction].get(action);
  if (known) return known;
  const validate = OCPP_VALIDATORS[`urn:${action}.${direction}`];
  if (!validate) throw new Error(`no schema urn:${action}.${direction} in the catalogue`);
  byDirection[direction].set(action, validate);
  if (!warmUpScheduled) scheduleWarmUp();
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

function check(validate: Validate, payload: unknown): ValidationFailure | undefined {
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
