/**
 * Why a connection to the central system could not be made, in the kinds a technician acts on:
 * the port refuses (nothing listens), the name does not resolve, TLS fails, the central system
 * refuses the upgrade (HTTP 401: the password), no answer in time, or the network drops it.
 */
import { STATUS_CODES } from 'node:http';
import { classifyTlsFailure } from './tls.js';

export type ConnectFailureKind =
  | 'refused'
  | 'dns'
  | 'tls'
  | 'http'
  | 'timeout'
  | 'network'
  | 'subprotocol'
  | 'configuration';

export interface ConnectFailure {
  kind: ConnectFailureKind;
  /** The error's own words (for `http`: the status and its reason phrase). */
  message: string;
  /** The HTTP status of a refused upgrade. */
  httpStatus?: number;
  /** Epoch ms of the latest attempt that failed so. */
  at: number;
  /** Epoch ms of the first attempt of the run that has failed the same way. */
  since: number;
  /** Attempts of that run. */
  attempts: number;
}

/** The failure's kind and words, without its times. */
export type FailureCause = Pick<ConnectFailure, 'kind' | 'message' | 'httpStatus'>;

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_NODATA', 'EAI_FAIL']);

/** What an error of the WebSocket client before the connection opened means. */
export function connectErrorCause(error: Error): FailureCause {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return { kind: 'refused', message: error.message };
  if (code !== undefined && DNS_CODES.has(code)) return { kind: 'dns', message: error.message };
  if (classifyTlsFailure(error) || /^ERR_(SSL|TLS)_/.test(code ?? ''))
    return { kind: 'tls', message: error.message };
  // ws words its handshakeTimeout so, without a code.
  if (code === 'ETIMEDOUT' || /timed out/i.test(error.message))
    return { kind: 'timeout', message: error.message };
  return { kind: 'network', message: error.message };
}

/** A central system that answered the upgrade with another HTTP status than 101. */
export function httpCause(status: number): FailureCause {
  const phrase = STATUS_CODES[status];
  return { kind: 'http', httpStatus: status, message: `HTTP ${status}${phrase ? ` ${phrase}` : ''}` };
}

/**
 * The subprotocol the central system agreed to at the upgrade, when it is not the one asked for
 * (ws then fails the handshake with an error in its own words, which would read as the network's).
 */
export function subprotocolCause(agreed: string | undefined, asked: string): FailureCause | undefined {
  if (agreed === asked) return undefined;
  const message =
    agreed === undefined
      ? `no subprotocol agreed (${asked} asked)`
      : `subprotocol ${agreed} instead of ${asked}`;
  return { kind: 'subprotocol', message };
}

/** The failure after `previous`: the same cause continues its run, another starts a new one. */
export function nextFailure(
  previous: ConnectFailure | undefined,
  cause: FailureCause,
  at: number,
): ConnectFailure {
  const same =
    previous !== undefined &&
    previous.kind === cause.kind &&
    previous.message === cause.message &&
    previous.httpStatus === cause.httpStatus;
  return {
    ...cause,
    at,
    since: same ? previous.since : at,
    attempts: same ? previous.attempts + 1 : 1,
  };
}
