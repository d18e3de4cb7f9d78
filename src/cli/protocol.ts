/**
 * The control socket's wire format: newline-delimited JSON over a Unix socket.
 *
 *   request  {"id":1,"method":"sim.plug","params":{"connectorId":1}}
 *   answer   {"id":1,"result":...}  or  {"id":1,"error":{"message":"..."}}
 *
 * A streamed method (`trace`) first sends any number of {"id":1,"event":...} lines, then its
 * result; while following it sends events until the client closes the connection. A live view
 * (`status.watch`, `transactions.watch`) sends its report as an event at once and again after
 * every change, until the client closes.
 *
 * Both ends validate with the same code: the daemon because anything may write to the socket,
 * cpctl so that a typo gets a usage message before the daemon is bothered.
 */
import { HARDWARE_FAULTS, type MeterReading } from '../../hal/types.js';
import { errorMessage } from '../error-message.js';
import type { ResetType } from '../features/context.js';
import { LOG_LEVELS, type LogLevel } from '../log.js';
import { MAX_COMPOSITE_DURATION_S } from '../station/charging-profile-types.js';
import type { ErrorCode } from '../station/types.js';
import { SECURITY_LOG_MAX_ROWS } from '../store/security-log-repo.js';
import type { TraceEntry } from '../store/trace-repo.js';
import type {
  AuthReport,
  ConfigEntry,
  ControlApi,
  FirmwareInstallReport,
  FirmwareReport,
  LimitsReport,
  QueueReport,
  SecurityLogReport,
  SelfTestSummary,
  StatusReport,
  TransactionsReport,
} from './api.js';

/** A longer request line is refused and its connection closed: nothing legitimate comes close. */
export const MAX_REQUEST_BYTES = 64 * 1024;

/** Finished transactions `transactions` lists when no limit is given, and the most it lists. */
export const DEFAULT_RECENT_TRANSACTIONS = 10;
export const MAX_RECENT_TRANSACTIONS = 1000;

/** Security log entries `security-log` lists when no limit is given, and the most (the whole log). */
export const DEFAULT_SECURITY_LOG_ENTRIES = 20;
export const MAX_SECURITY_LOG_ENTRIES = SECURITY_LOG_MAX_ROWS;

/**
 * The span `limits` shows when none is given (a day, as a daily profile repeats), and the longest
 * (a week: a weekly profile shows once whole).
 */
export const DEFAULT_LIMITS_DURATION_S = 86_400;
export const MAX_LIMITS_DURATION_S = MAX_COMPOSITE_DURATION_S;

/** Frames `trace` shows when no limit is given (with --follow: before the new ones), and the most. */
export const DEFAULT_TRACE_FRAMES = 50;
export const DEFAULT_FOLLOW_BACKLOG = 10;
export const MAX_TRACE_FRAMES = 1_000_000;

type NoParams = Record<string, never>;

/** Every method, its params and its result: the socket's whole vocabulary. */
export interface MethodMap {
  version: { params: NoParams; result: { version: string } };
  status: { params: NoParams; result: StatusReport };
  'config.get': {
    params: { keys: string[] };
    result: { configurationKey: ConfigEntry[]; unknownKey: string[] };
  };
  'config.set': { params: { key: string; value: string }; result: ReturnType<ControlApi['configSet']> };
  'hal.meter': { params: { connectorId: number }; result: MeterReading };
  'hal.rfid': { params: NoParams; result: ReturnType<ControlApi['halLastRfid']> };
  'hal.relay': { params: { connectorId: number; closed: boolean }; result: null };
  selfTest: { params: { connectorId?: number }; result: SelfTestSummary };
  limit: {
    params: { connectorId: number; amps?: number };
    result: Awaited<ReturnType<ControlApi['setLocalLimit']>>;
  };
  limits: { params: { connectorId: number; durationS?: number }; result: LimitsReport };
  transactions: { params: { limit?: number }; result: TransactionsReport };
  queue: { params: NoParams; result: QueueReport };
  securityLog: { params: { limit?: number; clear?: boolean }; result: SecurityLogReport };
  'queue.retry': { params: NoParams; result: { requeued: number } };
  firmware: { params: NoParams; result: FirmwareReport };
  'firmware.install': {
    params: { file: string; signature?: string; certificate?: string };
    result: FirmwareInstallReport;
  };
  auth: { params: { idTag?: string }; result: AuthReport };
  'sim.plug': { params: { connectorId: number }; result: null };
  'sim.unplug': { params: { connectorId: number }; result: null };
  'sim.ev': { params: { connectorId: number; mode: 'charge' | 'pause' }; result: null };
  'sim.swipe': { params: { idTag: string; reader?: number }; result: null };
  'sim.fault': { params: { connectorId: number; errorCode: string }; result: null };
  'sim.clear': { params: { connectorId: number }; result: null };
  'sim.lockFail': { params: { connectorId: number; failing: boolean }; result: null };
  'sim.tamper': { params: { active: boolean }; result: null };
  'sim.meter': { params: { connectorId: number; powerW: number }; result: null };
  reconnect: { params: NoParams; result: null };
  reset: { params: { type: ResetType }; result: ReturnType<ControlApi['reset']> };
  availability: {
    params: { connectorId: number; type: 'Operative' | 'Inoperative' };
    result: ReturnType<ControlApi['availability']>;
  };
  unlock: { params: { connectorId: number }; result: Awaited<ReturnType<ControlApi['unlock']>> };
  'log.level': { params: { level: LogLevel }; result: { level: LogLevel; previous: string } };
  /**
   * Streamed: a diagnostics bundle built now (the whole log, trace and security log), sent as
   * base64 chunks in order; then its name and size. cpctl writes it to the technician's file.
   */
  diagnostics: {
    params: NoParams;
    result: { fileName: string; bytes: number };
    event: { data: string };
  };
  /** Streamed, never ending: the status now, then again whenever it may read differently. */
  'status.watch': { params: NoParams; result: null; event: StatusReport };
  /** Streamed, never ending: `transactions` now, then again whenever it changes. */
  'transactions.watch': { params: { limit?: number }; result: null; event: TransactionsReport };
  /** Streamed: one event per frame (TraceEntry), oldest first; then the result, unless following. */
  trace: {
    params: { action?: string; limit?: number; follow?: boolean };
    result: { frames: number };
    event: TraceEntry;
  };
}

/** Methods that send events before (or instead of) their result. */
export type StreamMethod = { [M in Method]: MethodMap[M] extends { event: unknown } ? M : never }[Method];
export type EventOf<M extends StreamMethod> = MethodMap[M]['event'];

export type Method = keyof MethodMap;
export type Params<M extends Method> = MethodMap[M]['params'];
export type Result<M extends Method> = MethodMap[M]['result'];
export type ControlRequest = { [M in Method]: { method: M; params: Params<M> } }[Method];

/** Request ids are echoed as given; null when the request was too broken to carry one. */
export type RequestId = number | string | null;

export type ResponseFrame =
  | { id: RequestId; result: unknown }
  | { id: RequestId; error: { message: string } }
  | { id: RequestId; event: unknown };

/** A request the protocol refuses; its message goes back to the caller as is. */
export class ProtocolError extends Error {}

/** Error codes a simulated fault may raise: the board's own list, each an OCPP ChargePointErrorCode. */
export const FAULT_CODES: readonly string[] = HARDWARE_FAULTS satisfies readonly ErrorCode[];

/** A check returns what is wrong with a value, or undefined when it is fine. */
type Check = (value: unknown) => string | undefined;
interface Field {
  check: Check;
  optional?: true;
}

const connectorId: Field = {
  check: (v) => (Number.isSafeInteger(v) && (v as number) >= 0 ? undefined : 'must be an integer >= 0'),
};
const text: Field = { check: (v) => (typeof v === 'string' ? undefined : 'must be a string') };
const flag: Field = { check: (v) => (typeof v === 'boolean' ? undefined : 'must be true or false') };
/** An optional whole number from `min` to `max` (a listing's length, a duration). */
const optionalInteger = (min: number, max: number): Field => ({
  check: (v) =>
    typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max
      ? undefined
      : `must be an integer from ${min} to ${max}`,
  optional: true,
});
const oneOf = (allowed: readonly string[]): Field => ({
  check: (v) =>
    typeof v === 'string' && allowed.includes(v)
      ? undefined
      : `must be one of ${allowed.join(', ')}${typeof v === 'string' ? ` (got "${v}")` : ''}`,
});
// OCPP idTag is CiString20Type.
const idTag: Field = {
  check: (v) =>
    typeof v === 'string' && v.length >= 1 && v.length <= 20 ? undefined : 'must be 1 to 20 characters',
};

type Spec<M extends Method> = { [K in keyof Params<M>]-?: Field };

const SPECS: { [M in Method]: Spec<M> } = {
  version: {},
  status: {},
  'config.get': {
    keys: {
      check: (v) =>
        Array.isArray(v) && v.every((k) => typeof k === 'string') ? undefined : 'must be an array of strings',
    },
  },
  'config.set': {
    key: { check: (v) => (typeof v === 'string' && v !== '' ? undefined : 'must be a non-empty string') },
    value: text,
  },
  'hal.meter': { connectorId },
  'hal.rfid': {},
  'hal.relay': { connectorId, closed: flag },
  selfTest: { connectorId: { ...connectorId, optional: true } },
  limit: {
    connectorId,
    amps: {
      check: (v) => (Number.isFinite(v) && (v as number) >= 0 ? undefined : 'must be a number >= 0'),
      optional: true,
    },
  },
  limits: {
    connectorId,
    durationS: optionalInteger(1, MAX_LIMITS_DURATION_S),
  },
  transactions: {
    limit: optionalInteger(0, MAX_RECENT_TRANSACTIONS),
  },
  'status.watch': {},
  'transactions.watch': {
    limit: optionalInteger(0, MAX_RECENT_TRANSACTIONS),
  },
  queue: {},
  securityLog: {
    limit: optionalInteger(0, MAX_SECURITY_LOG_ENTRIES),
    clear: { ...flag, optional: true },
  },
  'queue.retry': {},
  firmware: {},
  'firmware.install': {
    // The daemon runs elsewhere: only an absolute path names the technician's file.
    file: {
      check: (v) =>
        typeof v === 'string' && v.startsWith('/') && v.length <= 4096
          ? undefined
          : 'must be an absolute path',
    },
    signature: {
      check: (v) =>
        typeof v === 'string' && v.length > 0 && v.length <= 800 && /^[A-Za-z0-9+/]+={0,2}$/.test(v)
          ? undefined
          : 'must be Base64, at most 800 characters',
      optional: true,
    },
    certificate: {
      check: (v) =>
        typeof v === 'string' && v.length <= 5500 && v.includes('-----BEGIN CERTIFICATE-----')
          ? undefined
          : 'must be a PEM certificate, at most 5500 characters',
      optional: true,
    },
  },
  auth: { idTag: { ...idTag, optional: true } },
  'sim.plug': { connectorId },
  'sim.unplug': { connectorId },
  'sim.ev': { connectorId, mode: oneOf(['charge', 'pause']) },
  'sim.swipe': { idTag, reader: { check: connectorId.check, optional: true } },
  'sim.fault': { connectorId, errorCode: oneOf(FAULT_CODES) },
  'sim.clear': { connectorId },
  'sim.lockFail': { connectorId, failing: flag },
  'sim.tamper': { active: flag },
  'sim.meter': {
    connectorId,
    powerW: {
      check: (v) => (Number.isFinite(v) && (v as number) >= 0 ? undefined : 'must be a number >= 0'),
    },
  },
  reconnect: {},
  reset: { type: oneOf(['Soft', 'Hard']) },
  availability: { connectorId, type: oneOf(['Operative', 'Inoperative']) },
  unlock: { connectorId },
  'log.level': { level: oneOf(LOG_LEVELS) },
  diagnostics: {},
  trace: {
    // An OCPP action name: letters only, so nothing odd reaches a log line or a query.
    action: {
      check: (v) =>
        typeof v === 'string' && /^[A-Za-z]{1,64}$/.test(v) ? undefined : 'must be an action name',
      optional: true,
    },
    limit: optionalInteger(0, MAX_TRACE_FRAMES),
    follow: { ...flag, optional: true },
  },
};

function isMethod(name: unknown): name is Method {
  return typeof name === 'string' && Object.hasOwn(SPECS, name);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Checks a method and its params; throws a ProtocolError naming the first bad parameter. */
export function validateRequest(method: unknown, params: unknown): ControlRequest {
  if (!isMethod(method)) throw new ProtocolError(`unknown method ${JSON.stringify(method)}`);
  if (params === undefined) params = {};
  if (!isObject(params)) throw new ProtocolError(`${method}: params must be an object`);
  const spec: Record<string, Field> = SPECS[method];
  for (const name of Object.keys(params)) {
    if (!Object.hasOwn(spec, name)) throw new ProtocolError(`${method}: unknown parameter "${name}"`);
  }
  for (const [name, field] of Object.entries(spec)) {
    const value = params[name];
    if (value === undefined) {
      if (field.optional) continue;
      throw new ProtocolError(`${method}: missing parameter "${name}"`);
    }
    const problem = field.check(value);
    if (problem) throw new ProtocolError(`${method}: parameter "${name}" ${problem}`);
  }
  return { method, params } as ControlRequest;
}

/** A refused request line, with the id to answer to. */
export class RequestLineError extends ProtocolError {
  constructor(
    readonly id: RequestId,
    message: string,
  ) {
    super(message);
  }
}

/** Parses one request line; the id is recovered whenever possible so the error can be matched. */
export function parseRequestLine(line: string): { id: RequestId; request: ControlRequest } {
  let frame: unknown;
  try {
    frame = JSON.parse(line);
  } catch {
    throw new RequestLineError(null, 'invalid JSON');
  }
  if (!isObject(frame)) throw new RequestLineError(null, 'a request must be a JSON object');
  const id = frame.id;
  if (!(typeof id === 'string' || Number.isFinite(id))) {
    throw new RequestLineError(null, 'a request needs an "id" (number or string)');
  }
  try {
    return { id: id as number | string, request: validateRequest(frame.method, frame.params) };
  } catch (err) {
    throw new RequestLineError(id as number | string, errorMessage(err));
  }
}

export function parseResponseLine(line: string): ResponseFrame {
  let frame: unknown;
  try {
    frame = JSON.parse(line);
  } catch {
    throw new ProtocolError('the daemon sent an answer that is not JSON');
  }
  if (isObject(frame) && 'id' in frame) {
    if ('result' in frame) return { id: frame.id as RequestId, result: frame.result };
    if ('event' in frame) return { id: frame.id as RequestId, event: frame.event };
    if (isObject(frame.error) && typeof frame.error.message === 'string') {
      return { id: frame.id as RequestId, error: { message: frame.error.message } };
    }
  }
  throw new ProtocolError('the daemon sent an answer of unknown shape');
}

export function encodeFrame(
  frame: ResponseFrame | { id: RequestId; method: Method; params: unknown },
): string {
  return `${JSON.stringify(frame)}\n`;
}

/**
 * Splits a byte stream into lines. Works on bytes so a multi-byte character cut between chunks
 * survives, and refuses a line longer than the limit before buffering more of it.
 */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** The complete lines in this chunk, then `overflow` once a line exceeds the limit. */
  push(chunk: Buffer): { lines: string[]; overflow: boolean } {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      const part = chunk.subarray(start, nl);
      if (this.pendingBytes + part.length > this.maxBytes) return { lines, overflow: true };
      const line = Buffer.concat([...this.pending, part]).toString('utf8');
      this.pending = [];
      this.pendingBytes = 0;
      start = nl + 1;
      lines.push(line.endsWith('\r') ? line.slice(0, -1) : line);
    }
    const rest = chunk.subarray(start);
    if (this.pendingBytes + rest.length > this.maxBytes) return { lines, overflow: true };
    if (rest.length > 0) {
      this.pending.push(rest);
      this.pendingBytes += rest.length;
    }
    return { lines, overflow: false };
  }
}
