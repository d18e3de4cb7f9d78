import type { ErrorObject } from 'ajv';

/** One Ajv error as a line naming the field, e.g. `csms.url: must match pattern ...`. */
export function describeSchemaError(error: ErrorObject): string {
  const field = fieldOf(error.instancePath);
  const prefix = field ? `${field}.` : '';
  if (error.keyword === 'required') return `${prefix}${String(error.params.missingProperty)}: is required`;
  if (error.keyword === 'additionalProperties') {
    return `${prefix}${String(error.params.additionalProperty)}: is not a known setting`;
  }
  if (error.keyword === 'enum') {
    const allowed: unknown[] = error.params.allowedValues;
    return `${field || '(root)'}: must be one of ${allowed.map((value) => JSON.stringify(value)).join(', ')}`;
  }
  if (error.keyword === 'const') {
    return `${field || '(root)'}: must be ${JSON.stringify(error.params.allowedValue)}`;
  }
  return `${field || '(root)'}: ${error.message ?? 'is invalid'}`;
}

/**
 * Every error of a validator compiled with allErrors, one line each. A `oneOf` between kinds of
 * device (told apart by a constant such as `driver`) makes Ajv report the mistakes of every
 * branch; only the branch the document chose is worth reading, and when it chose none, the one
 * line that lists the kinds.
 */
export function describeSchemaErrors(errors: readonly ErrorObject[]): string[] {
  const dropped = new Set<ErrorObject>();
  const added = new Map<ErrorObject, string>();
  for (const choice of errors) {
    if (choice.keyword !== 'oneOf' && choice.keyword !== 'anyOf') continue;
    const branches = branchesOf(choice, errors);
    const chosen = [...branches.values()].filter((branch) => discriminatorMiss(choice, branch) === undefined);
    if (chosen.length === branches.size) continue;
    for (const branch of branches.values()) {
      if (!chosen.includes(branch)) for (const error of branch) dropped.add(error);
    }
    dropped.add(choice);
    if (chosen.length === 0) {
      const misses = [...branches.values()].flatMap((branch) => discriminatorMiss(choice, branch) ?? []);
      const first = misses[0];
      if (first) {
        const allowed = misses.map((miss) => JSON.stringify(miss.params.allowedValue)).join(', ');
        added.set(choice, `${fieldOf(first.instancePath)}: must be one of ${allowed}`);
      }
    }
  }
  const lines: string[] = [];
  for (const error of errors) {
    const replacement = added.get(error);
    if (replacement !== undefined) lines.push(replacement);
    else if (!dropped.has(error)) lines.push(describeSchemaError(error));
  }
  return [...new Set(lines)];
}

function fieldOf(instancePath: string): string {
  return instancePath.slice(1).replaceAll('/', '.');
}

/** The errors inside each branch of a oneOf / anyOf, by branch index. */
function branchesOf(choice: ErrorObject, errors: readonly ErrorObject[]): Map<string, ErrorObject[]> {
  const branches = new Map<string, ErrorObject[]>();
  const prefix = `${choice.schemaPath}/`;
  for (const error of errors) {
    if (!error.schemaPath.startsWith(prefix)) continue;
    const index = error.schemaPath.slice(prefix.length).split('/')[0] ?? '';
    branches.set(index, [...(branches.get(index) ?? []), error]);
  }
  return branches;
}

/** The branch's `const` error on a property of the chosen object (its `driver`, `type`): another kind. */
function discriminatorMiss(choice: ErrorObject, branch: readonly ErrorObject[]): ErrorObject | undefined {
  return branch.find(
    (error) =>
      error.keyword === 'const' &&
      error.instancePath.startsWith(`${choice.instancePath}/`) &&
      !error.instancePath.slice(choice.instancePath.length + 1).includes('/'),
  );
}
