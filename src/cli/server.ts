/**
 * The daemon's end of the control socket: serves ControlApi to cpctl (contract 3 in DESIGN.md).
 * Whatever arrives on the socket, the daemon keeps running: a bad line gets an error answer and
 * one log line, and only an oversized line costs the client its connection.
 */
import { createReadStream } from 'node:fs';
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from '../log.js';
import { type ControlApi, ControlError, type SimControls } from './api.js';
import {
  DEFAULT_FOLLOW_BACKLOG,
  DEFAULT_LIMITS_DURATION_S,
  DEFAULT_RECENT_TRANSACTIONS,
  DEFAULT_SECURITY_LOG_ENTRIES,
  DEFAULT_TRACE_FRAMES,
  encodeFrame,
  LineSplitter,
  MAX_REQUEST_BYTES,
  type Method,
  type Params,
  parseRequestLine,
  RequestLineError,
  type ResponseFrame,
  type Result,
  type StreamMethod,
} from './protocol.js';

export interface ControlServerOptions {
  path: string;
  api: ControlApi;
  log: Logger;
  /** Reported by the `version` method. */
  version: string;
}

/** Requests read from one connection but not yet answered, before reading from it pauses. */
const MAX_WAITING_REQUESTS = 32;

/** Frames read from the store at a time while streaming the trace. */
const TRACE_PAGE = 100;

/** Bundle bytes per event: a multiple of 3, so each chunk is whole base64 (64 KiB of it). */
const BUNDLE_CHUNK_BYTES = 48 * 1024;

type PlainMethod = Exclude<Method, StreamMethod>;
/** `gone` aborts once the client that sent the request has gone away (see `serve`). */
type Handlers = {
  [M in PlainMethod]: (params: Params<M>, gone: AbortSignal) => Result<M> | Promise<Result<M>>;
};

/** A live daemon already answers on the control socket: a second one must not start. */
export class DaemonAlreadyRunningError extends Error {
  override readonly name = 'DaemonAlreadyRunningError';

  constructor(readonly path: string) {
    super(`another chargepointd is running on ${path}`);
  }
}

export class ControlServer {
  private server: Server | undefined;
  private readonly clients = new Set<Socket>();
  private readonly handlers: Handlers;
  private readonly log: Logger;

  constructor(private readonly opts: ControlServerOptions) {
    this.log = opts.log.child({ module: 'control-socket' });
    this.handlers = createHandlers(opts.api, opts.version);
  }

  async start(): Promise<void> {
    const { path } = this.opts;
    await mkdir(dirname(path), { recursive: true });
    await this.clearStaleSocket(path);
    const server = createServer({ allowHalfOpen: true }, (socket) => this.serve(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.error({ err }, 'control socket error'));
    this.server = server;
    // Contract 3: the daemon's group (technicians) may connect, nobody else.
    try {
      await chmod(path, 0o660);
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.log.info({ path }, 'control socket listening');
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const socket of this.clients) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    // Node removes the socket file on close; this covers a server that had lost it otherwise.
    await unlink(this.opts.path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') this.log.warn({ err }, 'could not remove the control socket');
    });
  }

  /** A socket file left by a daemon that died is removed; a live one means we must not start. */
  private async clearStaleSocket(path: string): Promise<void> {
    const stat = await lstat(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (!stat) return;
    if (!stat.isSocket()) throw new Error(`${path} exists and is not a socket`);
    const answered = await new Promise<boolean>((resolve, reject) => {
      const probe = connect(path);
      probe.once('connect', () => {
        probe.destroy();
        resolve(true);
      });
      probe.once('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') resolve(false);
        else reject(err);
      });
    });
    if (answered) throw new DaemonAlreadyRunningError(path);
    this.log.warn({ path }, 'removing a stale control socket');
    await unlink(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  /**
   * A client gone is one whose end of the connection has ended: EOF is all the kernel shows of a
   * cpctl ended by Ctrl-C, as of one that only half-closed. A client that half-closes after its
   * requests still gets every answer, but what it asked for that drives hardware while it waits (a
   * self-test) is aborted then: a contactor closed for a test must not outlive whoever watches it.
   */
  private serve(socket: Socket): void {
    this.clients.add(socket);
    const gone = new AbortController();
    const lines = new LineSplitter(MAX_REQUEST_BYTES);
    // One chain per connection keeps answers in request order, even when a slow one comes first.
    let chain = Promise.resolve();
    const enqueue = (job: () => Promise<void> | void) => {
      chain = chain.then(job).catch((err) => this.log.error({ err }, 'control socket: answering failed'));
    };
    // A client that writes faster than it is answered stops being read, so its backlog stays small.
    let waiting = 0;
    let overflowed = false;
    const request = (line: string) => {
      if (++waiting === MAX_WAITING_REQUESTS) socket.pause();
      enqueue(async () => {
        await this.answer(socket, line, gone.signal);
        if (--waiting === MAX_WAITING_REQUESTS - 1 && !overflowed) socket.resume();
      });
    };

    socket.on('data', (chunk: Buffer) => {
      const { lines: complete, overflow } = lines.push(chunk);
      for (const line of complete) {
        if (line.trim() !== '') request(line);
      }
      if (overflow) {
        overflowed = true;
        socket.pause();
        socket.removeAllListeners('data');
        this.log.warn({ limit: MAX_REQUEST_BYTES }, 'control socket: request line too long, closing');
        enqueue(() => {
          write(socket, { id: null, error: { message: `request line exceeds ${MAX_REQUEST_BYTES} bytes` } });
          socket.end(() => socket.destroy());
        });
      }
    });
    socket.on('end', () => {
      gone.abort();
      enqueue(() => void socket.end());
    });
    socket.on('close', () => {
      gone.abort();
      this.clients.delete(socket);
    });
    socket.on('error', (err) => this.log.debug({ err }, 'control socket client error'));
  }

  private async answer(socket: Socket, line: string, gone: AbortSignal): Promise<void> {
    let id: ResponseFrame['id'] = null;
    try {
      const parsed = parseRequestLine(line);
      id = parsed.id;
      const { request } = parsed;
      if (request.method === 'trace') await this.streamTrace(socket, id, request.params);
      else if (request.method === 'diagnostics') await this.streamDiagnostics(socket, id);
      else if (request.method === 'status.watch') this.streamView(socket, id, () => this.opts.api.status());
      else if (request.method === 'transactions.watch') {
        const limit = request.params.limit ?? DEFAULT_RECENT_TRANSACTIONS;
        this.streamView(socket, id, () => this.opts.api.transactions(limit));
      } else write(socket, { id, result: (await this.dispatch(request, gone)) ?? null });
    } catch (err) {
      if (err instanceof RequestLineError) id = err.id;
      write(socket, { id, error: { message: this.describe(err, line) } });
    }
  }

  private dispatch<M extends PlainMethod>(
    request: { method: M; params: Params<M> },
    gone: AbortSignal,
  ): Promise<Result<M>> {
    return Promise.resolve(this.handlers[request.method](request.params, gone));
  }

  /**
   * Sends trace frames as events, read page by page and only as fast as the client takes them, so
   * neither a long trace nor a slow reader (`cpctl trace --follow | less`) makes the daemon buffer.
   * Without `follow` it ends with the result; with it, it resolves once following has begun and new
   * frames keep coming until the client closes. A follower that falls behind by more than the ring
   * skips what was dropped from it.
   */
  private async streamTrace(socket: Socket, id: ResponseFrame['id'], params: Params<'trace'>): Promise<void> {
    const { api } = this.opts;
    const { action } = params;
    const follow = params.follow === true;
    const limit = params.limit ?? (follow ? DEFAULT_FOLLOW_BACKLOG : DEFAULT_TRACE_FRAMES);
    const window = api.traceWindow(limit, action);
    let afterSeq = window.afterSeq;
    let sent = 0;
    /** Sends what is there after afterSeq, up to `lastSeq` and `most` frames; false if the client left. */
    const pump = async (lastSeq: number, most: number): Promise<boolean> => {
      while (sent < most) {
        const page = api.traceAfter(afterSeq, Math.min(TRACE_PAGE, most - sent), action);
        const inRange = page.filter((entry) => entry.seq <= lastSeq);
        if (inRange.length === 0) return true;
        for (const entry of inRange) {
          afterSeq = entry.seq;
          sent += 1;
          if (!write(socket, { id, event: entry }) && !(await drained(socket))) return false;
        }
      }
      return true;
    };

    if (!follow) {
      if (await pump(window.lastSeq, limit)) write(socket, { id, result: { frames: sent } });
      return;
    }
    const catchUp = coalesced(
      socket,
      () => pump(Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY),
      (err) => {
        this.log.error({ err }, 'control socket: trace stream failed');
        socket.destroy();
      },
    );
    const stop = api.onTraceEntry(catchUp);
    socket.once('close', stop);
    catchUp();
  }

  /**
   * A live view: the report now, then again after every change the API announces, as events until
   * the client closes. Changes that come while one is being built or sent make one more report,
   * so a burst (a plug: status, session, limit) costs a report or two and a slow reader is sent
   * only the latest. A report equal to the last one sent is not sent again.
   */
  private streamView(socket: Socket, id: ResponseFrame['id'], build: () => unknown): void {
    let last: string | undefined;
    const send = async (): Promise<void> => {
      const report = await build();
      const text = JSON.stringify(report);
      if (text === last) return;
      last = text;
      if (!write(socket, { id, event: report })) await drained(socket);
    };
    const refresh = coalesced(socket, send, (err) => {
      write(socket, { id, error: { message: this.describe(err, 'watch') } });
      socket.end();
    });
    const stop = this.opts.api.onChange(refresh);
    socket.once('close', stop);
    refresh();
  }

  /**
   * Builds a diagnostics bundle and sends it as base64 events, read from its file only as fast as the
   * client takes them, then its name and size. The file stays under `<stateDir>/diagnostics`.
   */
  private async streamDiagnostics(socket: Socket, id: ResponseFrame['id']): Promise<void> {
    const bundle = await this.opts.api.diagnosticsBundle();
    this.log.info({ fileName: bundle.fileName, bytes: bundle.bytes }, 'diagnostics bundle sent to cpctl');
    const chunks: AsyncIterable<Buffer> = createReadStream(bundle.path, {
      highWaterMark: BUNDLE_CHUNK_BYTES,
    });
    for await (const chunk of chunks) {
      const data = chunk.toString('base64');
      if (!write(socket, { id, event: { data } }) && !(await drained(socket))) return;
    }
    write(socket, { id, result: { fileName: bundle.fileName, bytes: bundle.bytes } });
  }

  /** The message the client gets; refusals are expected, anything else is our bug and is logged. */
  private describe(err: unknown, line: string): string {
    if (err instanceof RequestLineError) {
      this.log.warn({ request: requestSummary(line), error: err.message }, 'control socket: bad request');
      return err.message;
    }
    if (err instanceof ControlError) return err.message;
    this.log.error({ err, request: requestSummary(line) }, 'control request failed');
    return 'internal error';
  }
}

/**
 * `run` on the next turn, once however often it is asked meanwhile, and once more when asked while
 * it runs: the notifier (a frame being recorded, a status being derived) is never held up by it.
 */
function coalesced(socket: Socket, run: () => Promise<unknown>, fail: (err: unknown) => void): () => void {
  let running: Promise<unknown> | undefined;
  let again = false;
  const trigger = (): void => {
    if (running) {
      again = true;
      return;
    }
    running = new Promise(setImmediate)
      .then(() => (socket.destroyed ? undefined : run()))
      .catch(fail)
      .finally(() => {
        running = undefined;
        if (again && !socket.destroyed) {
          again = false;
          trigger();
        }
      });
  };
  return trigger;
}

/** False when the socket's buffer is full (wait for drain) or the client is gone. */
/**
 * What the log may say of a request line: its method and parameter names, never their values (a
 * `config.set` of the AuthorizationKey sent to the socket by hand carries the secret).
 */
function requestSummary(line: string): string {
  try {
    const frame: unknown = JSON.parse(line);
    if (typeof frame === 'object' && frame !== null && !Array.isArray(frame)) {
      const { method, params } = frame as { method?: unknown; params?: unknown };
      const names = typeof params === 'object' && params !== null ? Object.keys(params).join(',') : '';
      return `${typeof method === 'string' ? method.slice(0, 40) : '?'}(${names.slice(0, 100)})`;
    }
  } catch {
    // Not JSON: its length is all the log needs.
  }
  return `${line.length} bytes, not a JSON object`;
}

function write(socket: Socket, frame: ResponseFrame): boolean {
  // The client may have gone while its request was being served.
  return socket.writable && socket.write(encodeFrame(frame));
}

/** Resolves true when the socket can take more, false when it closed first. */
function drained(socket: Socket): Promise<boolean> {
  if (!socket.writable) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean) => () => {
      socket.off('drain', onDrain);
      socket.off('close', onClose);
      resolve(ok);
    };
    const onDrain = done(true);
    const onClose = done(false);
    socket.once('drain', onDrain);
    socket.once('close', onClose);
  });
}

function createHandlers(api: ControlApi, version: string): Handlers {
  const sim = (): SimControls => {
    const controls = api.sim;
    if (!controls) throw new ControlError('not a simulated board');
    return controls;
  };
  // Sim controls and the relay return nothing; null is what JSON can carry of that.
  const done = <T>(action: () => T | Promise<T>) => Promise.resolve(action()).then(() => null);
  return {
    version: () => ({ version }),
    status: () => api.status(),
    'config.get': (p) => api.configGet(p.keys),
    'config.set': (p) => api.configSet(p.key, p.value),
    'hal.meter': (p) => api.halMeterRead(p.connectorId),
    'hal.rfid': () => api.halLastRfid(),
    'hal.relay': (p) => done(() => api.halRelay(p.connectorId, p.closed)),
    selfTest: (p, gone) => api.selfTest(p.connectorId, gone),
    limit: (p) => api.setLocalLimit(p.connectorId, p.amps),
    limits: (p) => api.limits(p.connectorId, p.durationS ?? DEFAULT_LIMITS_DURATION_S),
    transactions: (p) => api.transactions(p.limit ?? DEFAULT_RECENT_TRANSACTIONS),
    queue: () => api.queue(),
    securityLog: (p) => api.securityLog(p.limit ?? DEFAULT_SECURITY_LOG_ENTRIES, p.clear ?? false),
    'queue.retry': () => api.queueRetry(),
    firmware: () => api.firmware(),
    'firmware.install': (p) => api.firmwareInstall(p.file, p.signature, p.certificate),
    auth: (p) => api.auth(p.idTag),
    'sim.plug': (p) => done(() => sim().plug(p.connectorId)),
    'sim.unplug': (p) => done(() => sim().unplug(p.connectorId)),
    'sim.ev': (p) => done(() => sim().ev(p.connectorId, p.mode)),
    'sim.swipe': (p) => done(() => sim().swipe(p.idTag, p.reader)),
    'sim.fault': (p) => done(() => sim().fault(p.connectorId, p.errorCode)),
    'sim.clear': (p) => done(() => sim().clear(p.connectorId)),
    'sim.lockFail': (p) => done(() => sim().lockFail(p.connectorId, p.failing)),
    'sim.tamper': (p) => done(() => sim().tamper(p.active)),
    'sim.meter': (p) => done(() => sim().meter(p.connectorId, p.powerW)),
    reconnect: () => done(() => api.reconnect()),
    reset: (p) => api.reset(p.type),
    availability: (p) => api.availability(p.connectorId, p.type),
    unlock: (p) => api.unlock(p.connectorId),
    'log.level': (p) => ({ level: p.level, previous: api.setLogLevel(p.level) }),
  };
}
