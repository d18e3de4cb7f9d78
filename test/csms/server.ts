import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  STATUS_CODES,
} from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { PeerCertificate, SecureVersion, TLSSocket } from 'node:tls';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { type Logger, silentLogger } from '../../src/log.js';
import type {
  AuthorizeResponse,
  BootNotificationRequest,
  BootNotificationResponse,
} from '../../src/ocpp/generated/messages.js';

export type ParsedMessage =
  | { type: 'call'; id: string; action: string; payload: unknown }
  | { type: 'result'; id: string; payload: unknown }
  | { type: 'error'; id: string; code: string; description: string; details: unknown };

export interface FrameRecord {
  seq: number;
  /** Date.now() when the frame was received or sent. */
  at: number;
  chargePointId: string;
  direction: 'in' | 'out';
  text: string;
  /** undefined when the text is not a well-formed OCPP-J message. */
  message: ParsedMessage | undefined;
}

export interface HandshakeInfo {
  chargePointId: string;
  path: string;
  headers: IncomingHttpHeaders;
  subprotocols: string[];
  basicAuth?: {
    user: string;
    /** The password bytes as UTF-8 text, or latin1 when they are not valid UTF-8. */
    password: string;
    /** The exact password bytes, for keys that are not text. */
    passwordHex: string;
  };
  tls?: {
    protocol: string | null;
    cipher: { name: string; standardName: string; version: string };
    /** The client certificate (security profile 3), when the client sent one. */
    peerCertificate?: PeerCertificate;
    /** Whether the client certificate chains to the configured CA. */
    authorized: boolean;
    authorizationError?: string;
  };
  /** Set when the upgrade was refused: the HTTP status sent. */
  refusedStatus?: number;
}

export type IdTagInfo = AuthorizeResponse['idTagInfo'];
export type BootAnswer = Pick<BootNotificationResponse, 'status' | 'interval'>;

export interface CsmsRules {
  /** Answer to BootNotification; `count` is how many boots this charge point has sent, this one included. */
  boot?: ((req: BootNotificationRequest, count: number) => BootAnswer) | BootAnswer;
  heartbeatCurrentTime?: () => string;
  /** idTagInfo for Authorize, StartTransaction and StopTransaction; default Accepted for every idTag. */
  authorize?: (idTag: string) => IdTagInfo;
  /**
   * Runs before the default answers. Return a payload to answer with it, `{ callError: { code, description } }`
   * to answer with a CALLERROR, `'ignore'` to leave the CALL unanswered, or undefined for the default.
   */
  onCall?: (cpId: string, action: string, payload: unknown) => unknown;
  /** Auth checks of one's own: false (403) or an HTTP status refuses the upgrade. */
  acceptConnection?: (info: HandshakeInfo) => boolean | number;
}

export interface CsmsOptions {
  /** 0 (default) = an ephemeral port. */
  port?: number;
  host?: string;
  /** Clients connect to <path>/<chargePointId>. */
  path?: string;
  tls?: {
    key: string;
    cert: string;
    ca?: string;
    requestCert?: boolean;
    /** With requestCert: refuse, during the TLS handshake, clients without a certificate from `ca`. Default true. */
    rejectUnauthorized?: boolean;
    minVersion?: SecureVersion;
    maxVersion?: SecureVersion;
    ciphers?: string;
  };
  /** chargePointId -> password. When set, a missing or wrong Authorization header is refused with 401. */
  basicAuth?: Record<string, string>;
  rules?: CsmsRules;
  log?: Logger;
  /**
   * Keep only the newest `maxFrames` frames in `frames`, a ring: a central system that runs for
   * days (`npm run csms`, `npm run dev`) would otherwise hold every frame of its life. Default: all
   * of them, since tests and audits read a run's whole history.
   */
  maxFrames?: number;
}

/** The error `call()` rejects with when the charge point answers with a CALLERROR. */
export class CallError extends Error {
  constructor(
    readonly code: string,
    readonly description: string,
    readonly details: unknown,
  ) {
    super(`CALLERROR ${code}: ${description}`);
    this.name = 'CallError';
  }
}

export interface CsmsEvents {
  connection: [HandshakeInfo];
  /** An upgrade was refused; `refusedStatus` says with which HTTP status. */
  refused: [HandshakeInfo];
  frame: [FrameRecord];
  close: [cpId: string, code: number, reason: string];
  ping: [cpId: string];
  tlsError: [Error];
}

interface Waiter {
  check(): boolean;
  fail(error: Error): void;
}

interface PendingCall {
  /** Answers only count on the connection the CALL went out on. */
  ws: WebSocket;
  resolve(payload: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const OCPP_SUBPROTOCOL = 'ocpp1.6';
const STOP_GRACE_MS = 500;

/**
 * A scriptable OCPP 1.6-J central system for tests, benchmarks and `npm run csms`. Deliberately shares no
 * code with the charge point's own RPC layer, so a bug there cannot hide itself on both ends.
 */
export class DevCsms extends EventEmitter<CsmsEvents> {
  readonly frames: FrameRecord[] = [];
  readonly handshakes: HandshakeInfo[] = [];
  readonly rules: CsmsRules;

  private readonly opts: CsmsOptions;
  private readonly log: Logger;
  private readonly prefix: string;
  private readonly http: HttpServer | HttpsServer;
  private readonly wss: WebSocketServer;
  private readonly sockets = new Map<string, WebSocket>();
  private readonly rawSockets = new Set<Socket>();
  /** The TCP (or TLS) socket under each WebSocket, for writes that must leave together. */
  private readonly rawSocketOf = new WeakMap<WebSocket, Socket>();
  private readonly waiters = new Set<Waiter>();
  private readonly pending = new Map<string, PendingCall>();
  private readonly bootCounts = new Map<string, number>();
  private seq = 0;
  private nextTransactionId = 1;
  private refuseStatus: number | undefined;
  private pongEnabled = true;

  constructor(opts: CsmsOptions = {}) {
    super();
    this.opts = opts;
    this.rules = opts.rules ?? {};
    this.log = opts.log ?? silentLogger();
    this.prefix = (opts.path ?? '/ocpp').replace(/\/+$/, '');
    // ws answers pings by itself unless autoPong is off; we answer them in onConnection instead, so that
    // setPongEnabled(false) can play a dead central system.
    this.wss = new WebSocketServer({
      noServer: true,
      autoPong: false,
      handleProtocols: () => OCPP_SUBPROTOCOL,
    });
    this.http = opts.tls
      ? createHttpsServer({
          key: opts.tls.key,
          cert: opts.tls.cert,
          ca: opts.tls.ca,
          requestCert: opts.tls.requestCert ?? false,
          rejectUnauthorized: opts.tls.requestCert ? (opts.tls.rejectUnauthorized ?? true) : false,
          minVersion: opts.tls.minVersion,
          maxVersion: opts.tls.maxVersion,
          ciphers: opts.tls.ciphers,
        })
      : createHttpServer();
    this.http.on('connection', (socket: Socket) => {
      this.rawSockets.add(socket);
      socket.once('close', () => this.rawSockets.delete(socket));
    });
    this.http.on('tlsClientError', (err: Error) => {
      this.log.debug({ err }, 'TLS handshake failed');
      this.emit('tlsError', err);
    });
    this.http.on('request', (_req, res) => {
      res.writeHead(426, { Upgrade: 'websocket' }).end();
    });
    this.http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.onUpgrade(req, socket, head),
    );
  }

  async start(): Promise<{ url: string; port: number }> {
    const host = this.opts.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.opts.port ?? 0, host, () => {
        this.http.off('error', reject);
        resolve();
      });
    });
    const { port } = this.http.address() as AddressInfo;
    const hostPart = host.includes(':') ? `[${host}]` : host;
    return { url: `${this.opts.tls ? 'wss' : 'ws'}://${hostPart}:${port}${this.prefix}`, port };
  }

  /** Closes every socket (a close frame first, then the TCP connection after a short grace) and the server. */
  async stop(): Promise<void> {
    const stopped = new Error('DevCsms stopped');
    for (const waiter of [...this.waiters]) waiter.fail(stopped);
    for (const [id, call] of this.pending) {
      clearTimeout(call.timer);
      this.pending.delete(id);
      call.reject(stopped);
    }
    const closing = [...this.wss.clients].map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          ws.once('close', () => resolve());
          ws.close(1001, 'central system stopping');
        }),
    );
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(closing),
      new Promise<void>((resolve) => {
        grace = setTimeout(resolve, STOP_GRACE_MS);
      }),
    ]);
    clearTimeout(grace);
    for (const ws of this.wss.clients) ws.terminate();
    for (const socket of this.rawSockets) socket.destroy();
    this.sockets.clear();
    this.wss.close();
    if (!this.http.listening) return;
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  /** The charge points connected now, in the order they connected. */
  connectedChargePoints(): string[] {
    return [...this.sockets.keys()].filter((cpId) => this.isConnected(cpId));
  }

  isConnected(cpId: string): boolean {
    return this.sockets.get(cpId)?.readyState === WebSocket.OPEN;
  }

  /** Resolves at once when `cpId` is connected now, otherwise with the handshake of its next connection. */
  waitForConnection(cpId: string, opts: { timeoutMs?: number } = {}): Promise<HandshakeInfo> {
    return this.waitUntil(`connection of ${cpId}`, opts.timeoutMs, () =>
      this.isConnected(cpId) ? this.lastHandshake(cpId) : undefined,
    );
  }

  /** Resolves when `cpId` has no open connection. */
  waitForDisconnect(cpId: string, opts: { timeoutMs?: number } = {}): Promise<void> {
    return this.waitUntil(`disconnection of ${cpId}`, opts.timeoutMs, () =>
      this.isConnected(cpId) ? undefined : true,
    ).then(() => undefined);
  }

  /** The current sequence number: pass it as `since` to wait only for frames recorded after now. */
  mark(): number {
    return this.seq;
  }

  clearFrames(): void {
    this.frames.length = 0;
  }

  /** The first frame from or to `cpId` with seq > since (default 0: any recorded frame) matching `pred`. */
  waitForFrame(
    cpId: string,
    pred: (r: FrameRecord) => boolean,
    opts: { since?: number; timeoutMs?: number; what?: string } = {},
  ): Promise<FrameRecord> {
    const since = opts.since ?? 0;
    let scannedSeq = 0;
    const what = `${opts.what ?? 'a matching frame'} from/to ${cpId} after seq ${since}`;
    return this.waitUntil(what, opts.timeoutMs, () => {
      // Waiters run on every frame, so each check only looks at the frames recorded since the last one.
      const after = Math.max(since, scannedSeq);
      scannedSeq = this.seq;
      let i = this.frames.length;
      while (i > 0 && this.frames[i - 1]!.seq > after) i--;
      for (; i < this.frames.length; i++) {
        const record = this.frames[i]!;
        if (record.chargePointId === cpId && pred(record)) return record;
      }
      return undefined;
    });
  }

  /** The first CALL `action` from `cpId` recorded after `since` whose payload satisfies `where`. */
  async waitForCall(
    cpId: string,
    action: string,
    // biome-ignore lint/suspicious/noExplicitAny: lets test predicates read payload fields without casts
    opts: { since?: number; timeoutMs?: number; where?: (payload: any) => boolean } = {},
  ): Promise<{ id: string; payload: unknown; record: FrameRecord }> {
    const record = await this.waitForFrame(
      cpId,
      (r) =>
        r.direction === 'in' &&
        r.message?.type === 'call' &&
        r.message.action === action &&
        (opts.where?.(r.message.payload) ?? true),
      { since: opts.since, timeoutMs: opts.timeoutMs, what: `CALL ${action}` },
    );
    const message = record.message as Extract<ParsedMessage, { type: 'call' }>;
    return { id: message.id, payload: message.payload, record };
  }

  /** The CALLs `cpId` sent (optionally of one action, after `since`), oldest first. */
  calls(
    cpId: string,
    action?: string,
    since = 0,
  ): Array<{ id: string; action: string; payload: unknown; at: number }> {
    const out: Array<{ id: string; action: string; payload: unknown; at: number }> = [];
    for (const r of this.frames) {
      const m = r.message;
      if (r.seq <= since || r.chargePointId !== cpId || r.direction !== 'in' || m?.type !== 'call') continue;
      if (action !== undefined && m.action !== action) continue;
      out.push({ id: m.id, action: m.action, payload: m.payload, at: r.at });
    }
    return out;
  }

  /** Sends a CALL; resolves with the CALLRESULT payload, rejects with a CallError on CALLERROR. */
  call<T = unknown>(
    cpId: string,
    action: string,
    payload: unknown,
    opts: { timeoutMs?: number } = {},
  ): Promise<T> {
    let ws: WebSocket;
    try {
      ws = this.openSocket(cpId);
    } catch (err) {
      return Promise.reject(err);
    }
    const id = randomUUID();
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`DevCsms: no answer from ${cpId} to CALL ${action} (${id}) within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { ws, resolve: (p) => resolve(p as T), reject, timer });
      this.send(cpId, ws, JSON.stringify([2, id, action, payload]));
    });
  }

  /** Sends any text as it is, for malformed-input tests. */
  sendRaw(cpId: string, text: string): void {
    this.send(cpId, this.openSocket(cpId), text);
  }

  /**
   * Sends texts as back-to-back frames in ONE write on the TCP connection, so the charge point reads
   * them together (e.g. a CALLRESULT and the next CALL, as a pipelining central system sends them).
   */
  sendRawBatch(cpId: string, texts: string[]): void {
    const ws = this.openSocket(cpId);
    const socket = this.rawSocketOf.get(ws);
    socket?.cork();
    for (const text of texts) this.send(cpId, ws, text);
    socket?.uncork();
  }

  /** Closes the connection from the server side with a close frame. */
  dropConnection(cpId: string, code = 1000): void {
    const ws = this.openSocket(cpId);
    this.sockets.delete(cpId);
    ws.close(code);
  }

  /** Destroys the TCP connection without a close frame, as a crashed server or a lost network would. */
  terminateConnection(cpId: string): void {
    const ws = this.openSocket(cpId);
    this.sockets.delete(cpId);
    ws.terminate();
  }

  /**
   * Stops reading the charge point's connection at the TCP level (the socket is paused): its
   * frames pile up in the kernel buffers and then in the charge point's own send buffer, as with a
   * central system that hangs while the network stays up. Writing to it still works.
   */
  stopReading(cpId: string): void {
    const socket = this.rawSocketOf.get(this.openSocket(cpId));
    if (!socket) throw new Error(`DevCsms: no TCP socket for ${cpId}`);
    socket.pause();
  }

  /** While `refuse` is true, every new upgrade is answered with `status` (default 503). */
  refuseConnections(refuse: boolean, status = 503): void {
    this.refuseStatus = refuse ? status : undefined;
  }

  /** false = leave the clients' WebSocket pings unanswered, to exercise dead-peer detection. */
  setPongEnabled(enabled: boolean): void {
    this.pongEnabled = enabled;
  }

  private lastHandshake(cpId: string): HandshakeInfo | undefined {
    for (let i = this.handshakes.length - 1; i >= 0; i--) {
      const h = this.handshakes[i]!;
      if (h.chargePointId === cpId && h.refusedStatus === undefined) return h;
    }
    return undefined;
  }

  private openSocket(cpId: string): WebSocket {
    const ws = this.sockets.get(cpId);
    if (!ws || ws.readyState !== WebSocket.OPEN) throw new Error(`DevCsms: ${cpId} is not connected`);
    return ws;
  }

  private waitUntil<T>(what: string, timeoutMs = DEFAULT_TIMEOUT_MS, probe: () => T | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        check: () => {
          const value = probe();
          if (value === undefined) return false;
          finish();
          resolve(value);
          return true;
        },
        fail: (error) => {
          finish();
          reject(error);
        },
      };
      const timer = setTimeout(
        () => waiter.fail(new Error(`DevCsms: timed out after ${timeoutMs} ms waiting for ${what}`)),
        timeoutMs,
      );
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      this.waiters.add(waiter);
      waiter.check();
    });
  }

  private wakeWaiters(): void {
    for (const waiter of [...this.waiters]) waiter.check();
  }

  private refuse(socket: Socket, info: HandshakeInfo, status: number): void {
    info.refusedStatus = status;
    this.handshakes.push(info);
    this.log.info({ cpId: info.chargePointId, status }, 'upgrade refused');
    this.emit('refused', info);
    const extra = status === 401 ? 'WWW-Authenticate: Basic realm="ocpp"\r\n' : '';
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Refused'}\r\n${extra}Connection: close\r\nContent-Length: 0\r\n\r\n`,
    );
  }

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', (err) => this.log.debug({ err }, 'upgrade socket error'));
    const info = handshakeInfo(req, socket);
    const id = chargePointIdFrom(info.path, this.prefix);
    info.chargePointId = id ?? '';
    const status = id === undefined ? 404 : this.refusalStatus(id, info);
    if (id === undefined || status !== undefined) {
      this.refuse(socket, info, status ?? 404);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.rawSocketOf.set(ws, socket);
      this.onConnection(id, ws, info);
    });
  }

  /** The HTTP status to refuse this upgrade with, or undefined to accept it. */
  private refusalStatus(id: string, info: HandshakeInfo): number | undefined {
    if (this.refuseStatus !== undefined) return this.refuseStatus;
    if (!info.subprotocols.includes(OCPP_SUBPROTOCOL)) return 400;
    const users = this.opts.basicAuth;
    if (users) {
      const auth = info.basicAuth;
      const expected = users[id];
      if (!auth || expected === undefined || auth.user !== id || auth.password !== expected) return 401;
    }
    const verdict = this.rules.acceptConnection?.(info) ?? true;
    if (verdict === true) return undefined;
    return verdict === false ? 403 : verdict;
  }

  private onConnection(cpId: string, ws: WebSocket, info: HandshakeInfo): void {
    const previous = this.sockets.get(cpId);
    this.sockets.set(cpId, ws);
    // One connection per charge point, as a real central system keeps it: the newest one wins.
    if (previous) previous.close(1000, 'replaced by a new connection');
    this.handshakes.push(info);
    this.log.info({ cpId, protocol: info.tls?.protocol }, 'charge point connected');

    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(cpId, ws, data, isBinary));
    ws.on('ping', (data: Buffer) => {
      if (this.pongEnabled && ws.readyState === WebSocket.OPEN) ws.pong(data);
      this.emit('ping', cpId);
    });
    ws.on('error', (err) => this.log.debug({ err, cpId }, 'socket error'));
    ws.on('close', (code: number, reason: Buffer) => {
      if (this.sockets.get(cpId) === ws) this.sockets.delete(cpId);
      for (const [id, call] of this.pending) {
        if (call.ws !== ws) continue;
        clearTimeout(call.timer);
        this.pending.delete(id);
        call.reject(new Error(`DevCsms: connection of ${cpId} closed (${code}) before an answer`));
      }
      this.log.info({ cpId, code }, 'charge point disconnected');
      this.emit('close', cpId, code, reason.toString());
      this.wakeWaiters();
    });
    this.emit('connection', info);
    this.wakeWaiters();
  }

  private record(cpId: string, direction: 'in' | 'out', text: string): FrameRecord {
    const record: FrameRecord = {
      seq: ++this.seq,
      at: Date.now(),
      chargePointId: cpId,
      direction,
      text,
      message: parseMessage(text),
    };
    this.frames.push(record);
    // One frame in, at most one out: the oldest goes, and `seq` still tells what was dropped.
    if (this.frames.length > (this.opts.maxFrames ?? Number.POSITIVE_INFINITY)) this.frames.shift();
    this.log.debug({ cpId, direction, text }, 'frame');
    this.emit('frame', record);
    this.wakeWaiters();
    return record;
  }

  private send(cpId: string, ws: WebSocket, text: string): void {
    ws.send(text);
    this.record(cpId, 'out', text);
  }

  private onMessage(cpId: string, ws: WebSocket, data: RawData, isBinary: boolean): void {
    const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    const text = isBinary ? buffer.toString('latin1') : buffer.toString('utf8');
    const { message } = this.record(cpId, 'in', text);
    if (!message) return;
    if (message.type === 'call') {
      this.answer(cpId, ws, message);
      return;
    }
    const call = this.pending.get(message.id);
    if (!call || call.ws !== ws) return;
    clearTimeout(call.timer);
    this.pending.delete(message.id);
    if (message.type === 'result') call.resolve(message.payload);
    else call.reject(new CallError(message.code, message.description, message.details));
  }

  private answer(cpId: string, ws: WebSocket, call: Extract<ParsedMessage, { type: 'call' }>): void {
    let reply: unknown;
    try {
      reply = this.rules.onCall?.(cpId, call.action, call.payload);
      if (reply === undefined) reply = this.defaultAnswer(cpId, call.action, call.payload);
    } catch (err) {
      reply = { callError: { code: 'InternalError', description: String(err) } };
    }
    if (reply === 'ignore' || ws.readyState !== WebSocket.OPEN) return;
    const error = callErrorOf(reply);
    const frame = error
      ? [4, call.id, error.code, error.description ?? '', {}]
      : [3, call.id, reply === undefined ? {} : reply];
    this.send(cpId, ws, JSON.stringify(frame));
  }

  private defaultAnswer(cpId: string, action: string, payload: unknown): unknown {
    const p = (payload ?? {}) as Record<string, unknown>;
    const now = () => this.rules.heartbeatCurrentTime?.() ?? new Date().toISOString();
    const idTagInfo = (idTag: unknown): IdTagInfo =>
      this.rules.authorize?.(String(idTag)) ?? { status: 'Accepted' };
    switch (action) {
      case 'BootNotification': {
        const count = (this.bootCounts.get(cpId) ?? 0) + 1;
        this.bootCounts.set(cpId, count);
        const rule = this.rules.boot ?? { status: 'Accepted', interval: 300 };
        const answer = typeof rule === 'function' ? rule(payload as BootNotificationRequest, count) : rule;
        return { status: answer.status, currentTime: now(), interval: answer.interval };
      }
      case 'Heartbeat':
        return { currentTime: now() };
      case 'Authorize':
        return { idTagInfo: idTagInfo(p.idTag) };
      case 'StartTransaction':
        return { transactionId: this.nextTransactionId++, idTagInfo: idTagInfo(p.idTag) };
      case 'StopTransaction':
        return p.idTag === undefined ? {} : { idTagInfo: idTagInfo(p.idTag) };
      case 'DataTransfer':
        return { status: 'UnknownVendorId' };
      case 'SignCertificate':
        return { status: 'Accepted' };
      case 'StatusNotification':
      case 'MeterValues':
      case 'DiagnosticsStatusNotification':
      case 'FirmwareStatusNotification':
      case 'SecurityEventNotification':
      case 'LogStatusNotification':
      case 'SignedFirmwareStatusNotification':
        return {};
      default:
        return { callError: { code: 'NotImplemented', description: `${action} is not implemented` } };
    }
  }
}

function callErrorOf(reply: unknown): { code: string; description?: string } | undefined {
  if (typeof reply !== 'object' || reply === null || !('callError' in reply)) return undefined;
  return (reply as { callError: { code: string; description?: string } }).callError;
}

/** Parses an OCPP-J frame; undefined for anything that is not a well-formed CALL, CALLRESULT or CALLERROR. */
export function parseMessage(text: string): ParsedMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value) || typeof value[1] !== 'string') return undefined;
  const [type, id] = value as [unknown, string];
  if (type === 2 && value.length === 4 && typeof value[2] === 'string') {
    return { type: 'call', id, action: value[2], payload: value[3] };
  }
  if (type === 3 && value.length === 3) return { type: 'result', id, payload: value[2] };
  if (type === 4 && value.length === 5 && typeof value[2] === 'string' && typeof value[3] === 'string') {
    return { type: 'error', id, code: value[2], description: value[3], details: value[4] };
  }
  return undefined;
}

function chargePointIdFrom(path: string, prefix: string): string | undefined {
  const pathname = path.split('?')[0] ?? '';
  if (!pathname.startsWith(prefix + '/')) return undefined;
  const rest = pathname.slice(prefix.length + 1);
  if (rest === '' || rest.includes('/')) return undefined;
  try {
    return decodeURIComponent(rest);
  } catch {
    return undefined;
  }
}

function handshakeInfo(req: IncomingMessage, socket: Socket): HandshakeInfo {
  const info: HandshakeInfo = {
    chargePointId: '',
    path: req.url ?? '',
    headers: req.headers,
    subprotocols: (req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
  };
  const basicAuth = parseBasicAuth(req.headers.authorization);
  if (basicAuth) info.basicAuth = basicAuth;
  if ('encrypted' in socket && socket.encrypted) {
    const tls = socket as TLSSocket;
    const cipher = tls.getCipher();
    const peer = tls.getPeerCertificate();
    info.tls = {
      protocol: tls.getProtocol(),
      cipher: { name: cipher.name, standardName: cipher.standardName, version: cipher.version },
      authorized: tls.authorized,
    };
    // Without a client certificate Node returns an empty object rather than undefined.
    if (peer && Object.keys(peer).length > 0) info.tls.peerCertificate = peer;
    if (tls.authorizationError) info.tls.authorizationError = String(tls.authorizationError);
  }
  return info;
}

function parseBasicAuth(header: string | undefined): HandshakeInfo['basicAuth'] {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!match) return undefined;
  const bytes = Buffer.from(match[1]!, 'base64');
  const colon = bytes.indexOf(0x3a);
  if (colon < 0) return undefined;
  const passwordBytes = bytes.subarray(colon + 1);
  return {
    user: bytes.subarray(0, colon).toString('utf8'),
    password: decodeText(passwordBytes),
    passwordHex: passwordBytes.toString('hex'),
  };
}

function decodeText(bytes: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}
