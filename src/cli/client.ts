/**
 * cpctl's end of the control socket: one connection, one request, one answer.
 */
import { connect } from 'node:net';
import {
  encodeFrame,
  LineSplitter,
  type Method,
  type Params,
  ProtocolError,
  parseResponseLine,
  type Result,
} from './protocol.js';

/** The daemon refused the request; the message is the daemon's. */
export class RemoteError extends Error {}

/** Answers are bigger than requests (a full configuration listing), but still bounded. */
const MAX_ANSWER_BYTES = 16 * 1024 * 1024;

/** Generous: a meter read on a slow Modbus line takes seconds, a dead daemon never answers. */
const DEFAULT_TIMEOUT_MS = 30_000;

export interface RequestOptions {
  /** Give up when the socket stays silent this long. */
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
        if ('error' in frame) settle(() => reject(new RemoteError(frame.error.message)));
        else settle(() => resolve(frame.result as Result<M>));
        return;
      }
      if (overflow) settle(() => reject(new ProtocolError('the daemon sent an oversized answer')));
    });
    socket.once('error', (err) => settle(() => reject(err)));
    socket.once('close', () =>
      settle(() => reject(new ProtocolError('chargepointd closed the connection without answering'))),
    );
  });
}
