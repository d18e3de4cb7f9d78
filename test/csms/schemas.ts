import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import formats from 'ajv-formats';
import { loadSchemaCatalogue } from '../../src/ocpp/schema-catalogue.js';

const REQUEST_ID = /^urn:(\w+)\.req$/;

/**
 * The official OCPP 1.6 request schemas, to check a CALL the development central system is told
 * to send before it goes out. Compiled here with Ajv at run time, not with the charge point's
 * generated validators: a mistake there must not be repeated on this side of the wire.
 */
export class RequestSchemas {
  private readonly ajv = new Ajv({
    // The official schemas carry keywords strict mode objects to; they are still honoured.
    strict: false,
    validateSchema: false,
    allErrors: true,
    // `multipleOf: 0.1` without a tolerance refuses 0.3.
    multipleOfPrecision: 9,
  });
  private readonly schemas = new Map<string, object>();
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor() {
    formats.default(this.ajv, ['date-time', 'uri']);
    // The `urn:<Action>.req` ids are URNs without a namespace, which Ajv's URI resolver refuses;
    // the schemas refer only to their own `#/definitions`, so they are compiled without them.
    for (const { $id, ...body } of loadSchemaCatalogue()) {
      const action = REQUEST_ID.exec($id)?.[1];
      if (action) this.schemas.set(action, body);
    }
  }

  /** Every action with a request schema, sorted. */
  actions(): string[] {
    return [...this.schemas.keys()].sort();
  }

  /** Why `payload` is not a valid `action` request, one problem a line; empty when it is valid. */
  problems(action: string, payload: unknown): string[] {
    const validate = this.validator(action);
    if (!validate) return [`${action} is not an OCPP 1.6 action (no ${action}.req schema)`];
    if (validate(payload)) return [];
    return (validate.errors ?? []).map(describeError);
  }

  private validator(action: string): ValidateFunction | undefined {
    let validate = this.compiled.get(action);
    if (validate) return validate;
    const schema = this.schemas.get(action);
    if (!schema) return undefined;
    validate = this.ajv.compile(schema);
    this.compiled.set(action, validate);
    return validate;
  }
}

/** One Ajv error as a line: where, what, and the property or values it is about. */
function describeError(error: ErrorObject): string {
  const where = error.instancePath || 'the payload';
  const { additionalProperty, allowedValues } = error.params;
  const about =
    error.keyword === 'additionalProperties'
      ? `: ${String(additionalProperty)}`
      : error.keyword === 'enum' && Array.isArray(allowedValues)
        ? `: ${allowedValues.join(', ')}`
        : '';
  return `${where} ${error.message ?? 'is invalid'}${about}`;
}
