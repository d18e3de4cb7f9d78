import type { ErrorObject } from 'ajv';

/** One Ajv error as a line naming the field, e.g. `csms.url: must match pattern ...`. */
export function describeSchemaError(error: ErrorObject): string {
  const field = error.instancePath.slice(1).replaceAll('/', '.');
  const prefix = field ? `${field}.` : '';
  if (error.keyword === 'required') return `${prefix}${String(error.params.missingProperty)}: is required`;
  if (error.keyword === 'additionalProperties') {
    return `${prefix}${String(error.params.additionalProperty)}: is not a known setting`;
  }
  return `${field || '(root)'}: ${error.message ?? 'is invalid'}`;
}
