/**
 * The daemon's end of the control socket: serves ControlApi to cpctl (contract 3 in DESIGN.md).
 * Whatever arrives on the socket, the daemon keeps running: a bad line gets an error answer and
 * one log line, and only an oversized line costs the client its connection.
 */
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from '../log.js';
import { type ControlApi, ControlError, type SimControls } from './api.js';
import {
  DEFAULT_RECENT_TRANSACTIONS,
  encodeFrame,
  LineSplitter,
  MAX_REQUEST_BYTES,
  type Method,
  type Params,
  parseRequestLine,
  RequestLineError,
  type ResponseFrame,
  type Result,
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

type Handlers = { [M in Method]: (params: Params<M>) => Result<M> | Promise<Result<M>> };

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
    if (answered) throw new Error(`another chargepointd is running on ${path}`);
    this.log.warn({ path }, 'removing a stale control socket');
    await unlink(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  private serve(socket: Socket): void {
    this.clients.add(socket);
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
        await this.answer(socket, line);
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
    socket.on('end', () => enqueue(() => void socket.end()));
    socket.on('close', () => this.clients.delete(socket));
    socket.on('error', (err) => this.log.debug({ err }, 'control socket client error'));
  }

  private async answer(socket: Socket, line: string): Promise<void> {
    let id: ResponseFrame['id'] = null;
    try {
      const parsed = parseRequestLine(line);
      id = parsed.id;
      write(socket, { id, result: (await this.dispatch(parsed.request)) ?? null });
    } catch (err) {
      if (err instanceof RequestLineError) id = err.id;
      write(socket, { id, error: { message: this.describe(err, line) } });
    }
  }

  private dispatch<M extends Method>(request: { method: M; params: Params<M> }): Promise<Result<M>> {
    return Promise.resolve(this.handlers[request.method](request.params));
  }

  /** The message the client gets; refusals are expected, anything else is our bug and is logged. */
  private describe(err: unknown, line: string): string {
    if (err instanceof RequestLineError) {
      this.log.warn({ request: line.slice(0, 200), error: err.message }, 'control socket: bad request');
      return err.message;
    }
    if (err instanceof ControlError) return err.message;
    this.log.error({ err, request: line.slice(0, 200) }, 'control request failed');
    return 'internal error';
  }
}

function write(socket: Socket, frame: ResponseFrame): void {
  // The client may have gone while its request was being served.
  if (socket.writable) socket.write(encodeFrame(frame));
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
    transactions: (p) => api.transactions(p.limit ?? DEFAULT_RECENT_TRANSACTIONS),
    queue: () => api.queue(),
    auth: (p) => api.auth(p.idTag),
    'sim.plug': (p) => done(() => sim().plug(p.connectorId)),
    'sim.unplug': (p) => done(() => sim().unplug(p.connectorId)),
    'sim.ev': (p) => done(() => sim().ev(p.connectorId, p.mode)),
    'sim.swipe': (p) => done(() => sim().swipe(p.idTag, p.reader)),
    'sim.fault': (p) => done(() => sim().fault(p.connectorId, p.errorCode)),
    'sim.clear': (p) => done(() => sim().clear(p.connectorId)),
    'sim.lockFail': (p) => done(() => sim().lockFail(p.connectorId, p.failing)),
    'sim.meter': (p) => done(() => sim().meter(p.connectorId, p.powerW)),
  };
}
