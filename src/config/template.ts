import { SIM_BOARD, whereBoardsLive } from './board-location.js';

/**
 * The installer's configuration template (config/chargepoint.example.json, installed as
 * /etc/chargepoint/chargepoint.json when there is none) must not run as it is: a charger that
 * registers as "CHANGE-ME" or drives a simulated board instead of its contactor fails quietly.
 * The template marks every value to fill in with PLACEHOLDER, which no configuration may hold, the
 * board included (a mark deleted before the board was set would otherwise leave a charger on the
 * simulation), and carries the field `template`, whose text says what to do; a file with that
 * field may not use the simulated board either, and does not start until the field is deleted.
 * The development configuration and the tests have no `template` field and keep the simulated board.
 */
export const PLACEHOLDER = 'CHANGE-ME';

/** What the template's placeholders stand for, as the refusal tells it. */
const WHAT_TO_FILL_IN: Readonly<Record<string, string>> = {
  chargePointId: 'the identity the central system knows this charger by',
  'identity.vendor': "the charger's vendor as BootNotification reports it",
  'identity.model': "the charger's model as BootNotification reports it",
  'identity.chargePointSerialNumber': "this charger's serial number",
  'identity.chargeBoxSerialNumber': "this charger's serial number",
  'csms.url': "the central system's URL",
  board: "the path of this charger's board file",
};

/** What a document still holds of the template, one line per field to fill in. */
export function templateProblems(document: unknown): string[] {
  if (!isObject(document)) return [];
  const problems = placeholderFields(document, '').map(
    (field) =>
      `${field}: still the template's placeholder ${PLACEHOLDER}: fill in ${WHAT_TO_FILL_IN[field] ?? 'its value'}${field === 'board' ? `; ${whereBoardsLive('<your board>')}` : ''}`,
  );
  if (!isTemplate(document)) return problems;
  if (boardOfTemplate(document) === SIM_BOARD) {
    problems.push(
      `board: "sim" is the simulated board, not this charger's hardware: ${whereBoardsLive('<your board>')}`,
    );
  }
  problems.push(
    'template: the file is the installer\'s template: fill in the fields above, then delete "template"',
  );
  return problems;
}

/**
 * The one line that refuses a file still holding the template's placeholders: which fields to
 * fill in (templateProblems says each in full, as `chargepointd --check` lists them).
 */
export function templateSummary(document: unknown): string | undefined {
  if (!isObject(document)) return undefined;
  const fields = placeholderFields(document, '');
  const template = isTemplate(document);
  if (template && boardOfTemplate(document) === SIM_BOARD)
    fields.push('board (the path of its board file, not "sim")');
  if (fields.length === 0 && !template) return undefined;
  const fill = fields.length > 0 ? `fill in ${fields.join(', ')}` : '';
  const then = template ? `${fill ? ', then ' : ''}delete "template"` : '';
  return `the configuration is ${template ? "the installer's template" : 'not filled in'}: ${fill}${then}`;
}

function isTemplate(document: Record<string, unknown>): boolean {
  return 'template' in document;
}

/** `board` of a template, "sim" when left out (the schema's default). */
function boardOfTemplate(document: Record<string, unknown>): unknown {
  return document.board ?? SIM_BOARD;
}

/** A JSON object (not an array, not null). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Whether `value` is, or holds, the placeholder. */
export function holdsPlaceholder(value: string): boolean {
  return value.includes(PLACEHOLDER);
}

/** The dotted names of the string values holding the placeholder (the marker's own text aside). */
function placeholderFields(value: unknown, field: string): string[] {
  if (typeof value === 'string') return holdsPlaceholder(value) ? [field] : [];
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, child]) =>
    field === '' && key === 'template' ? [] : placeholderFields(child, field ? `${field}.${key}` : key),
  );
}
