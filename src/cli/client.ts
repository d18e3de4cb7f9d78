/**
 * cpctl's end of the control socket: one connection, one request, one answer (after the events of
 * a streamed method).
 */
import { connect } from 'node:net';
import {
  type EventOf,
  encodeFrame,
  LineSplitter,
  type Method,
  type Params,
  ProtocolError,
  parseResponseLine,
  type Result,
  type StreamMethod,
} from './protocol.js';

/** The daemon refused the request; the message is the daemon's. */
export class RemoteError extends Error {}

/** The daemon closed the connection before its answer (it stopped, or restarts). */
export class ConnectionClosedError extends ProtocolError {}

/** Answers are bigger than requests (a full configuration listing), but still bounded. */
const MAX_ANSWER_BYTES = 16 * 1024 * 1024;

/** Generous: a meter read on a slow Modbus line takes seconds, a dead daemon never answers. */
const DEFAULT_TIMEOUT_MS = 30_000;

export interface RequestOptions {
  /** Give up when the socket stays silent this long; 0 waits for ever (following a stream). */
  timeoutMs?: number;
}

/**
 * Sends one request and resolves with its result. Rejects with RemoteError when the daemon
 * answers with an error, with the socket's own error (its `code`: ENOENT, ECONNREFUSED, EACCES...)
 * when it cannot connect, with code ETIMEDOUT when no answer comes, and with a ProtocolError when
 * the answer makes no sense.
 */
export function request<M extends Method>(
  path: string,
  method: M,
  params: Params<M>,
  options: RequestOptions = {},
): Promise<Result<M>> {
  return exchange(path, method, params, options, () => {
    throw new ProtocolError(`the daemon sent events to ${method}, which has none`);
  });
}

/**
 * A streamed request: `onEvent` gets each event as it arrives; resolves with the result. While
 * following, no result comes: the caller ends by closing (`signal`), which resolves with undefined.
 * A daemon that closes the connection first rejects, as for `request`.
 */
export function stream<M extends StreamMethod>(
  path: string,
  method: M,
  params: Params<M>,
  onEvent: (event: EventOf<M>) => void,
  options: RequestOptions & { signal?: AbortSignal } = {},
): Promise<Result<M> | undefined> {
  return exchange(path, method, params, options, (event) => onEvent(event as EventOf<M>));
}

function exchange<M extends Method>(
  path: string,
  method: M,
  params: Params<M>,
  options: RequestOptions & { signal?: AbortSignal },
  onEvent: (event: unknown) => void,
): Promise<Result<M>> {
  const id = 1;
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const lines = new LineSplitter(MAX_ANSWER_BYTES);
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      outcome();
    };

    options.signal?.addEventListener(
      'abort',
      () => settle(() => resolve(undefined as unknown as Result<M>)),
      {
        once: true,
      },
    );
    socket.setTimeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, () => {
      const err: NodeJS.ErrnoException = new Error(`no answer from chargepointd on ${path}`);
      err.code = 'ETIMEDOUT';
      settle(() => reject(err));
    });
    socket.once('connect', () => socket.write(encodeFrame({ id, method, params })));
    socket.on('data', (chunk: Buffer) => {
      const { lines: complete, overflow } = lines.push(chunk);
      for (const line of complete) {
        let frame: ReturnType<typeof parseResponseLine>;
        try {
          frame = parseResponseLine(line);
        } catch (err) {
          settle(() => reject(err));
          return;
        }
        // A null id answers a request too broken to be matched: with one request in flight, ours.
        if (frame.id !== id && frame.id !== null) continue;
        if ('event' in frame) {
          try {
            onEvent(frame.event);
          } catch (err) {
            settle(() => reject(err));
            return;
          }
          continue;
        }
        if ('error' in frame) settle(() => reject(new RemoteError(frame.error.message)));
        else settle(() => resolve(frame.result as Result<M>));
        return;
      }
      if (overflow) settle(() => reject(new ProtocolError('the daemon sent an oversized answer')));
    });
    socket.once('error', (err) => settle(() => reject(err)));
    socket.once('close', () =>
      settle(() => reject(new ConnectionClosedError('chargepointd closed the connection without answering'))),
    );
  });
}
