import type { CallErrorCode } from './errors.js';

/** OCPP-J message type numbers (OCPP-J 1.6 section 4.1.3). */
export const MESSAGE_TYPE = { CALL: 2, CALLRESULT: 3, CALLERROR: 4 } as const;

/** OCPP-J 1.6 section 4.1.4: a message id is a string of at most 36 characters. */
export const MAX_MESSAGE_ID_LENGTH = 36;

/** The largest OCPP-J frame we parse; a larger one is answered with FormationViolation. */
export const DEFAULT_MAX_FRAME_BYTES = 256 * 1024;

/**
 * The largest WebSocket message the link accepts; a larger one closes the connection with 1009.
 * Above the frame limit, so that a frame a little too large costs the peer a CALLERROR, not the
 * connection; bounded, so that one message cannot take the memory of a small board.
 */
export const MAX_WEBSOCKET_MESSAGE_BYTES = 4 * DEFAULT_MAX_FRAME_BYTES;

/**
 * The UTF-8 size of the largest SendLocalList entry the schema admits: idTag and parentIdTag of 20
 * characters outside the Basic Multilingual Plane (4 bytes each; the schemas count characters),
 * an expiryDate with nanoseconds and an offset, the longest status, and the separator.
 */
const MAX_LOCAL_LIST_ENTRY_BYTES = Buffer.byteLength(
  `${JSON.stringify({
    idTag: '\u{10FFFF}'.repeat(20),
    idTagInfo: {
      expiryDate: '2099-12-31T23:59:59.999999999+14:00',
      parentIdTag: '\u{10FFFF}'.repeat(20),
      status: 'ConcurrentTx',
    },
  })},`,
  'utf8',
);

/** The frame around the entries of a SendLocalList CALL: message id, action, listVersion, updateType. */
const SEND_LOCAL_LIST_ENVELOPE_BYTES = 256;

/**
 * The most entries one SendLocalList can carry so that a central system honouring
 * SendLocalListMaxLength never exceeds the frame limit: the key may not be set higher.
 */
export const MAX_SEND_LOCAL_LIST_LENGTH = Math.floor(
  (DEFAULT_MAX_FRAME_BYTES - SEND_LOCAL_LIST_ENVELOPE_BYTES) / MAX_LOCAL_LIST_ENTRY_BYTES,
);

export type Payload = Record<string, unknown>;

export interface CallFrame {
  kind: 'call';
  messageId: string;
  action: string;
  payload: Payload;
}

export interface CallResultFrame {
  kind: 'result';
  messageId: string;
  payload: Payload;
}

export interface CallErrorFrame {
  kind: 'error';
  messageId: string;
  /** As the peer spelled it; see normalizeCallErrorCode. */
  code: string;
  description: string;
  details: Payload;
}

export interface MalformedFrame {
  kind: 'malformed';
  reason: string;
  /** The peer's message id, when the frame still shows one. */
  messageId?: string;
  /** The message type number, when the frame still shows one. */
  messageTypeId?: number;
  /** The CALLERROR code to answer with; undefined when no answer must be sent. */
  replyCode?: CallErrorCode;
}

export type Frame = CallFrame | CallResultFrame | CallErrorFrame | MalformedFrame;

/*
 * What a malformed frame is answered with. OCPP-J 1.6 only defines codes for payload problems, so
 * for the frame itself we decide:
 * - Only CALLs (and frames whose type we do not know, which might be CALLs of a newer revision)
 *   are answered. A CALLRESULT or CALLERROR is never answered, whatever its state: answering an
 *   answer could loop between two peers. The RPC layer still rejects our pending call if one
 *   carries its id, rather than let it wait for its timeout.
 * - An answer needs the peer's message id. We take it from the parsed array, or, when the text is
 *   not valid JSON or too large to parse, from a strict match on the start of the frame. A message
 *   id that is not a string cannot be echoed, so such frames go unanswered. A string id longer
 *   than 36 characters is echoed so the peer can match the error to its call.
 * - Text that is not JSON, or larger than the frame limit -> FormationViolation (syntactically
 *   not a PDU).
 * - A messageTypeId other than 2, 3 or 4 -> ProtocolError (the RPC framework itself is not
 *   followed).
 * - A CALL with too few or too many elements -> ProtocolError ("incomplete" in 4.2.3); one whose
 *   elements have the wrong type (id too long, action not a string, payload not an object)
 *   -> FormationViolation ("not conform the PDU structure").
 */

/**
 * `[<type>, "<id>"` at the start of a frame. The id may hold any printable character but `"` and
 * `\`: ids with escapes are rare, and guessing wrong would answer a call that was never made.
 */
const FRAME_HEAD = /^\s*\[\s*(-?\d+(?:\.\d+)?)\s*,\s*"([\x20\x21\x23-\x5B\x5D-\uFFFF]*)"\s*[,\]]/;
const HEAD_WINDOW = 256;

export function parseFrame(text: string, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): Frame {
  if (isTooLarge(text, maxFrameBytes)) {
    return malformedText(text, `frame larger than ${maxFrameBytes} bytes`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return malformedText(text, 'not valid JSON');
  }
  if (!Array.isArray(parsed)) return { kind: 'malformed', reason: 'frame is not a JSON array' };
  if (parsed.length === 0) return { kind: 'malformed', reason: 'frame is an empty array' };

  const [typeId, messageId] = parsed;
  const knownType =
    typeId === MESSAGE_TYPE.CALL || typeId === MESSAGE_TYPE.CALLRESULT || typeId === MESSAGE_TYPE.CALLERROR;
  const messageTypeId = typeof typeId === 'number' ? typeId : undefined;
  if (typeof messageId !== 'string') {
    return { kind: 'malformed', reason: 'message id is not a string', messageTypeId };
  }
  const answer = (reason: string, code: CallErrorCode): MalformedFrame => ({
    kind: 'malformed',
    reason,
    messageId,
    messageTypeId,
    replyCode: typeId === MESSAGE_TYPE.CALLRESULT || typeId === MESSAGE_TYPE.CALLERROR ? undefined : code,
  });
  if (!knownType) return answer(`unknown messageTypeId ${JSON.stringify(typeId)}`, 'ProtocolError');
  if (messageId.length > MAX_MESSAGE_ID_LENGTH) {
    return answer(`message id longer than ${MAX_MESSAGE_ID_LENGTH} characters`, 'FormationViolation');
  }

  switch (typeId) {
    case MESSAGE_TYPE.CALL: {
      if (parsed.length !== 4) return answer(`CALL has ${parsed.length} elements, not 4`, 'ProtocolError');
      const [, , action, payload] = parsed;
      if (typeof action !== 'string') return answer('action is not a string', 'FormationViolation');
      if (!isObject(payload)) return answer('payload is not a JSON object', 'FormationViolation');
      return { kind: 'call', messageId, action, payload };
    }
    case MESSAGE_TYPE.CALLRESULT: {
      if (parsed.length !== 3)
        return answer(`CALLRESULT has ${parsed.length} elements, not 3`, 'ProtocolError');
      const payload: unknown = parsed[2];
      if (!isObject(payload)) return answer('payload is not a JSON object', 'FormationViolation');
      return { kind: 'result', messageId, payload };
    }
    default: {
      if (parsed.length !== 5)
        return answer(`CALLERROR has ${parsed.length} elements, not 5`, 'ProtocolError');
      const [, , code, description, details] = parsed;
      if (typeof code !== 'string') return answer('error code is not a string', 'FormationViolation');
      if (typeof description !== 'string') {
        return answer('error description is not a string', 'FormationViolation');
      }
      if (!isObject(details)) return answer('error details is not a JSON object', 'FormationViolation');
      return { kind: 'error', messageId, code, description, details };
    }
  }
}

export function serializeCall(messageId: string, action: string, payload: unknown): string {
  return JSON.stringify([MESSAGE_TYPE.CALL, messageId, action, payload]);
}

export function serializeResult(messageId: string, payload: unknown): string {
  return JSON.stringify([MESSAGE_TYPE.CALLRESULT, messageId, payload]);
}

/** OCPP-J 1.6 section 4.2.3: details must be `{}` when there are none. */
export function serializeError(
  messageId: string,
  code: CallErrorCode,
  description = '',
  details: Payload = {},
): string {
  return JSON.stringify([MESSAGE_TYPE.CALLERROR, messageId, code, description, details]);
}

function isObject(value: unknown): value is Payload {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** UTF-8 needs 1 to 3 bytes per UTF-16 unit, so the exact count is only needed near the limit. */
function isTooLarge(text: string, maxFrameBytes: number): boolean {
  if (text.length > maxFrameBytes) return true;
  if (text.length * 3 <= maxFrameBytes) return false;
  return Buffer.byteLength(text, 'utf8') > maxFrameBytes;
}

/** A frame we could not parse: answer it only if its start shows a message id and a type we answer. */
function malformedText(text: string, reason: string): MalformedFrame {
  const head = FRAME_HEAD.exec(text.slice(0, HEAD_WINDOW));
  if (!head) return { kind: 'malformed', reason };
  const messageTypeId = Number(head[1]);
  const messageId = head[2] as string;
  const isAnswer = messageTypeId === MESSAGE_TYPE.CALLRESULT || messageTypeId === MESSAGE_TYPE.CALLERROR;
  return {
    kind: 'malformed',
    reason,
    messageId,
    messageTypeId,
    replyCode: isAnswer ? undefined : 'FormationViolation',
  };
}
