/** The CallError codes of OCPP-J 1.6 (section 4.2.3), spelled as the 1.6 specification prints them. */
export const CALL_ERROR_CODES = [
  'NotImplemented',
  'NotSupported',
  'InternalError',
  'ProtocolError',
  'SecurityError',
  'FormationViolation',
  'PropertyConstraintViolation',
  'OccurenceConstraintViolation',
  'TypeConstraintViolation',
  'GenericError',
] as const;

export type CallErrorCode = (typeof CALL_ERROR_CODES)[number];

/** The codes a schema validation failure can map to. */
export type SchemaErrorCode = Extract<
  CallErrorCode,
  | 'FormationViolation'
  | 'PropertyConstraintViolation'
  | 'OccurenceConstraintViolation'
  | 'TypeConstraintViolation'
>;

/**
 * A CALLERROR, received or to be sent. Handlers throw it to answer with a specific code; a
 * rejected call carries it with the code normalised and the central system's own spelling in
 * `rawCode`.
 */
export class CallError extends Error {
  override readonly name = 'CallError';
  readonly code: CallErrorCode;
  readonly description: string;
  readonly details: Record<string, unknown>;
  /** The code exactly as the peer sent it, when it differs from `code`. */
  rawCode?: string;

  constructor(code: CallErrorCode, description = '', details: Record<string, unknown> = {}) {
    super(description ? `${code}: ${description}` : code);
    this.code = code;
    this.description = description;
    this.details = details;
  }
}

/** Our CALL got neither a CALLRESULT nor a CALLERROR in time. */
export class CallTimeoutError extends Error {
  override readonly name = 'CallTimeoutError';
  readonly action: string;

  constructor(action: string, timeoutMs: number) {
    super(`${action} got no response within ${timeoutMs} ms`);
    this.action = action;
  }
}

/** The call could not be sent, or its answer can no longer arrive, because the link is down. */
export class NotConnectedError extends Error {
  override readonly name = 'NotConnectedError';

  constructor(message = 'not connected to the central system') {
    super(message);
  }
}

const BY_LOWER_CASE = new Map<string, CallErrorCode>([
  ...CALL_ERROR_CODES.map((code) => [code.toLowerCase(), code] as const),
  // Spellings seen from central systems in the field: the 2.0.1 names and the corrected typo.
  ['formatviolation', 'FormationViolation'],
  ['occurrenceconstraintviolation', 'OccurenceConstraintViolation'],
  ['rpcframeworkerror', 'ProtocolError'],
  ['messagetypenotsupported', 'NotImplemented'],
]);

/** Map any spelling a central system may send to the 1.6 code; unknown codes become GenericError. */
export function normalizeCallErrorCode(raw: unknown): CallErrorCode {
  if (typeof raw !== 'string') return 'GenericError';
  return BY_LOWER_CASE.get(raw.trim().toLowerCase()) ?? 'GenericError';
}
