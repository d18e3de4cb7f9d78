import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type WebSocket from 'ws';
import type { Clock, Timer } from '../clock.js';
import { WebSocketClient } from '../commonjs.js';
import type { Logger } from '../log.js';
import { redactUrl } from '../transfer/url.js';
import { basicAuthorization } from './basic-auth.js';
import { MAX_WEBSOCKET_MESSAGE_BYTES } from './frames.js';
import {
  type ConnectFailure,
  connectErrorCause,
  type FailureCause,
  httpCause,
  nextFailure,
  subprotocolCause,
} from './link-failure.js';
import { classifyTlsFailure, clientTlsOptions, peerChain, type TlsMaterial } from './tls.js';

export type SecurityProfile = 0 | 1 | 2 | 3;

/** What the link needs to open a connection; read again before every attempt, as keys can change. */
export interface LinkCredentials {
  /** Central-system URL for this profile; the charge point id is appended as the last path segment. */
  url: string;
  securityProfile: SecurityProfile;
  /** Basic-auth password (OCPP key AuthorizationKey), profiles 1 and 2. */
  authorizationKey?: string;
  /** Profiles 2 and 3. */
  tls?: TlsMaterial;
}

export interface LinkOptions {
  chargePointId: string;
  credentials: () => LinkCredentials;
  /** WebSocketPingInterval in seconds; 0 disables our pings. Read live. */
  pingIntervalSec: () => number;
  backoff: { initialMs: number; maxMs: number };
  connectTimeoutMs: number;
  log: Logger;
  clock: Clock;
}

export type LinkState = 'idle' | 'connecting' | 'open' | 'stopped';

/** Why the link is where it is: what `cpctl status` tells a technician about the connection. */
export interface LinkCondition {
  state: LinkState;
  /** The URL of the connection, or of the last attempt, without any user:password it holds. */
  url?: string;
  /** Epoch ms since when the link is open, or since when it is not (the start, or the lost connection). */
  since: number;
  /** Why the last attempt failed; only while not open. */
  lastFailure?: ConnectFailure;
  /** Epoch ms of the next attempt, while one waits. */
  nextAttemptAt?: number;
}

export interface LinkEvents {
  open: [];
  close: [info: { code: number; reason: string }];
  message: [text: string];
  /** A white-paper security event detected by the transport (logged; reported by the security module). */
  securityEvent: [event: { type: string; techInfo: string }];
  /** An attempt to connect failed (refused, TLS, auth, or not even tried for lack of credentials). */
  connectFailed: [];
}

const OCPP_SUBPROTOCOL = 'ocpp1.6';

/**
 * Outgoing bytes the socket may hold unsent. A central system that stops reading (hung, or an
 * attacker flooding CALLs without reading the answers) would otherwise make every answer wait in
 * our memory; past this the connection is dropped and made again, which costs nothing the outbox
 * does not already survive.
 */
export const MAX_BUFFERED_BYTES = 1024 * 1024;

export function connectionUrl(base: string, chargePointId: string): string {
  return `${base.replace(/\/+$/, '')}/${encodeURIComponent(chargePointId)}`;
}

/** Checks that a URL's scheme matches the security profile, so a profile never silently downgrades. */
export function checkProfileScheme(url: string, profile: SecurityProfile): string | undefined {
  const scheme = new URL(url).protocol;
  if (scheme !== 'ws:' && scheme !== 'wss:') return `unsupported URL scheme ${scheme}`;
  if (profile >= 2 && scheme !== 'wss:') return `security profile ${profile} needs a wss:// URL`;
  if (profile <= 1 && scheme !== 'ws:')
    return `security profile ${profile} is plain transport and needs a ws:// URL`;
  return undefined;
}

/**
 * The WebSocket connection to the central system: connects per the active security profile,
 * reconnects with capped exponential backoff and jitter (also when the first attempt fails),
 * and drops a peer that stops answering pings.
 */
export class Link extends EventEmitter<LinkEvents> {
  private ws: WebSocket | undefined;
  private linkState: LinkState = 'idle';
  private attempt = 0;
  private retryTimer: Timer | undefined;
  private pingTimer: Timer | undefined;
  private awaitingPong = false;
  private serverChain: Buffer[] = [];
  private url: string | undefined;
  private since: number;
  private lastFailure: ConnectFailure | undefined;
  /** The current attempt's failure is known: later errors of the same attempt are its echoes. */
  private attemptFailed = false;
  private nextAttemptAt: number | undefined;
  /** The open connection's socket (from the upgrade), which `corked` holds back. */
  private socket: Socket | undefined;

  constructor(private readonly opts: LinkOptions) {
    super();
    this.since = opts.clock.now();
  }

  /** The state with its why: the URL, since when, the last failure and the next attempt. */
  condition(): LinkCondition {
    const open = this.linkState === 'open';
    return {
      state: this.linkState,
      ...(this.url === undefined ? {} : { url: redactUrl(this.url, '[redacted]') }),
      since: this.since,
      ...(this.lastFailure && !open ? { lastFailure: this.lastFailure } : {}),
      ...(this.nextAttemptAt === undefined ? {} : { nextAttemptAt: this.nextAttemptAt }),
    };
  }

  get state(): LinkState {
    return this.linkState;
  }

  get isOpen(): boolean {
    return this.linkState === 'open';
  }

  /** The verified server chain of the open TLS connection (DER, leaf first); empty otherwise. */
  get peerCertificates(): readonly Buffer[] {
    return this.serverChain;
  }

  start(): void {
    if (this.linkState !== 'idle') return;
    this.connect();
  }

  send(text: string): boolean {
    const ws = this.ws;
    if (this.linkState !== 'open' || !ws) return false;
    ws.send(text);
    if (ws.bufferedAmount <= MAX_BUFFERED_BYTES) return true;
    this.opts.log.warn(
      { bufferedAmount: ws.bufferedAmount, limit: MAX_BUFFERED_BYTES },
      'central system is not reading; dropping the connection',
    );
    // Frames already received from it are not answered on a connection that is gone.
    ws.removeAllListeners('message');
    this.dropSocket(1008, 'not reading', false);
    ws.terminate();
    this.scheduleRetry();
    return false;
  }

  /**
   * Runs `write` with the socket corked: the frames it sends leave in one write to the kernel when
   * it returns (the RPC's answer and the CALL it sets off), not one system call each.
   */
  corked(write: () => void): void {
    const socket = this.socket;
    if (!socket) {
      write();
      return;
    }
    socket.cork();
    try {
      write();
    } finally {
      socket.uncork();
    }
  }

  /** Closes the connection and connects again at once (new password, new profile, operator request). */
  reconnect(reason: string): void {
    if (this.linkState === 'stopped') return;
    this.opts.log.info({ reason }, 'reconnecting to central system');
    this.attempt = 0;
    this.retryTimer?.cancel();
    this.retryTimer = undefined;
    this.dropSocket(1012, reason);
    this.connect();
  }

  /** Re-reads WebSocketPingInterval after a configuration change. */
  restartPing(): void {
    if (this.linkState === 'open') this.schedulePing();
  }

  async stop(): Promise<void> {
    if (this.linkState === 'stopped') return;
    const ws = this.ws;
    this.retryTimer?.cancel();
    this.nextAttemptAt = undefined;
    this.dropSocket(1000, 'charge point stopping', false);
    this.linkState = 'stopped';
    if (!ws) return;
    await new Promise<void>((resolve) => {
      if (ws.readyState === WebSocketClient.CLOSED) return resolve();
      const timer = this.opts.clock.setTimeout(() => {
        ws.terminate();
        resolve();
      }, 1000);
      ws.once('close', () => {
        timer.cancel();
        resolve();
      });
      closeQuietly(ws, 1000, 'charge point stopping');
    });
  }

  /** Forgets the current socket, telling listeners the connection is gone. */
  private dropSocket(code: number, reason: string, close = true): void {
    const ws = this.ws;
    const wasOpen = this.linkState === 'open';
    this.detachSocket();
    if (ws && close) closeQuietly(ws, code, reason);
    if (wasOpen) this.lost({ code, reason });
  }

  private connect(): void {
    if (this.linkState === 'stopped') return;
    this.retryTimer = undefined;
    this.nextAttemptAt = undefined;
    this.attemptFailed = false;
    this.linkState = 'connecting';
    const { log } = this.opts;
    const creds = this.opts.credentials();
    const url = connectionUrl(creds.url, this.opts.chargePointId);
    this.url = url;
    // A user:password in the URL is the central system's secret: the journal never sees it.
    const shownUrl = redactUrl(url, '[redacted]');
    const schemeProblem = checkProfileScheme(url, creds.securityProfile);
    if (schemeProblem) {
      log.error(
        { url: shownUrl, securityProfile: creds.securityProfile },
        `refusing to connect: ${schemeProblem}`,
      );
      this.failBeforeTrying(schemeProblem);
      return;
    }
    const headers: Record<string, string> = {};
    if (creds.securityProfile === 1 || creds.securityProfile === 2) {
      if (!creds.authorizationKey) {
        log.error(
          { securityProfile: creds.securityProfile },
          'refusing to connect: AuthorizationKey is not set',
        );
        this.failBeforeTrying('AuthorizationKey is not set');
        return;
      }
      headers.Authorization = basicAuthorization(this.opts.chargePointId, creds.authorizationKey);
    }
    let tls = {};
    if (creds.securityProfile >= 2) {
      if (!creds.tls?.ca || (creds.securityProfile === 3 && !(creds.tls.cert && creds.tls.key))) {
        log.error({ securityProfile: creds.securityProfile }, 'refusing to connect: certificates missing');
        this.failBeforeTrying('certificates missing');
        return;
      }
      const material: TlsMaterial = creds.securityProfile === 3 ? creds.tls : { ca: creds.tls.ca };
      tls = clientTlsOptions(new URL(url).hostname, material);
    }

    log.info(
      { url: shownUrl, securityProfile: creds.securityProfile, attempt: this.attempt },
      'connecting to central system',
    );
    const ws = new WebSocketClient(url, [OCPP_SUBPROTOCOL], {
      headers,
      handshakeTimeout: this.opts.connectTimeoutMs,
      perMessageDeflate: false,
      maxPayload: MAX_WEBSOCKET_MESSAGE_BYTES,
      ...tls,
    });
    this.ws = ws;

    ws.on('upgrade', (res) => {
      this.serverChain = res.socket instanceof TLSSocket ? peerChain(res.socket) : [];
      this.socket = res.socket;
      const refused = subprotocolCause(res.headers['sec-websocket-protocol'], OCPP_SUBPROTOCOL);
      if (refused) this.noteFailure(refused);
    });
    ws.on('open', () => {
      if (ws.protocol !== OCPP_SUBPROTOCOL) {
        // Noted as the attempt's failure at the upgrade already.
        log.error({ protocol: ws.protocol }, 'central system did not agree to subprotocol ocpp1.6; closing');
        ws.close(1002, 'ocpp1.6 required');
        return;
      }
      this.attempt = 0;
      this.linkState = 'open';
      this.since = this.opts.clock.now();
      this.lastFailure = undefined;
      log.info({ url: shownUrl }, 'connected to central system');
      this.schedulePing();
      this.emit('open');
    });
    ws.on('message', (data, isBinary) => {
      this.awaitingPong = false;
      if (isBinary) {
        log.warn('binary WebSocket frame ignored; OCPP-J uses text frames');
        return;
      }
      this.emit('message', data.toString());
    });
    ws.on('pong', () => {
      this.awaitingPong = false;
    });
    ws.on('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      if (status === 401 || status === 403) {
        this.reportSecurityEvent('FailedToAuthenticateAtCentralSystem', `HTTP ${status} on upgrade`);
      }
      this.noteFailure(httpCause(status));
      log.warn({ status }, 'central system refused the WebSocket upgrade');
      res.resume();
      ws.terminate();
    });
    ws.on('error', (error) => {
      const event = classifyTlsFailure(error);
      if (event && creds.securityProfile >= 2) this.reportSecurityEvent(event, error.message);
      if (this.linkState !== 'open') this.noteFailure(connectErrorCause(error));
      log.warn({ err: error.message, code: (error as { code?: string }).code }, 'connection error');
    });
    ws.on('close', (code, reasonBuf) => {
      if (this.ws !== ws) return;
      const wasOpen = this.linkState === 'open';
      this.detachSocket();
      const reason = reasonBuf.toString();
      if (wasOpen) {
        log.warn({ code, reason }, 'connection to central system closed');
        this.lost({ code, reason });
      }
      if (this.linkState === 'stopped') return;
      if (!wasOpen) {
        this.noteFailure({ kind: 'network', message: `closed before opening (${code})` });
        this.emit('connectFailed');
      }
      this.scheduleRetry();
    });
  }

  private reportSecurityEvent(type: string, techInfo: string): void {
    this.opts.log.warn({ securityEvent: type, techInfo }, 'security event');
    this.emit('securityEvent', { type, techInfo: techInfo.slice(0, 255) });
  }

  private detachSocket(): void {
    this.pingTimer?.cancel();
    this.pingTimer = undefined;
    this.awaitingPong = false;
    const ws = this.ws;
    this.ws = undefined;
    this.serverChain = [];
    this.socket = undefined;
    if (ws) ws.removeAllListeners('close');
    if (ws) ws.on('error', () => {});
    if (this.linkState === 'open' || this.linkState === 'connecting') this.linkState = 'idle';
  }

  /** An open connection is gone: offline from now. */
  private lost(info: { code: number; reason: string }): void {
    this.since = this.opts.clock.now();
    this.emit('close', info);
  }

  /** The first cause an attempt fails with is its failure; the errors that follow it are its echoes. */
  private noteFailure(cause: FailureCause): void {
    if (this.attemptFailed) return;
    this.attemptFailed = true;
    this.lastFailure = nextFailure(this.lastFailure, cause, this.opts.clock.now());
  }

  private failBeforeTrying(problem: string): void {
    this.noteFailure({ kind: 'configuration', message: problem });
    this.scheduleRetry();
    this.emit('connectFailed');
  }

  private scheduleRetry(): void {
    if (this.linkState === 'stopped' || this.retryTimer) return;
    this.linkState = 'idle';
    const { initialMs, maxMs } = this.opts.backoff;
    const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(this.attempt, 20));
    // Full-range jitter in [ceiling/2, ceiling] spreads a fleet that lost its central system at once.
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    this.attempt++;
    this.opts.log.info({ delayMs: delay, attempt: this.attempt }, 'will retry connecting');
    this.nextAttemptAt = this.opts.clock.now() + delay;
    this.retryTimer = this.opts.clock.setTimeout(() => this.connect(), delay);
  }

  private schedulePing(): void {
    this.pingTimer?.cancel();
    this.pingTimer = undefined;
    const seconds = this.opts.pingIntervalSec();
    if (seconds <= 0) return;
    this.pingTimer = this.opts.clock.setTimeout(() => {
      const ws = this.ws;
      if (!ws || this.linkState !== 'open') return;
      if (this.awaitingPong) {
        this.opts.log.warn(
          { intervalSec: seconds },
          'central system did not answer our ping; dropping the connection',
        );
        ws.terminate();
        return;
      }
      this.awaitingPong = true;
      ws.ping();
      this.schedulePing();
    }, seconds * 1000);
  }
}

function closeQuietly(ws: WebSocket, code: number, reason: string): void {
  try {
    if (ws.readyState === WebSocketClient.CONNECTING) ws.terminate();
    else ws.close(code, reason.slice(0, 120));
  } catch {
    ws.terminate();
  }
}
