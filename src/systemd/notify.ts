import { spawn } from 'node:child_process';
import { type Clock, systemClock, type Timer } from '../clock.js';
import { errorMessage } from '../error-message.js';
import type { Logger } from '../log.js';

/**
 * Delivers one notification (its `KEY=value` fields) to the socket named by NOTIFY_SOCKET;
 * resolves once the service manager has it, rejects when it could not be delivered.
 */
export type NotifyTransport = (socket: string, fields: readonly string[]) => Promise<void>;

/**
 * The default transport runs `systemd-notify` (part of systemd, so present wherever there is a
 * NOTIFY_SOCKET to talk to). Node has no unix datagram sockets; the alternatives are native
 * modules (sd-notify, unix-dgram) that need a compiler or prebuilds for each board, or a helper
 * process we would have to ship. A process per notification costs a few milliseconds every
 * WatchdogSec/2. systemd-notify waits until the manager has processed the message (see --no-block
 * in systemd-notify(1); Debian 12 ships systemd 252), so it is attributed to our unit although its
 * sender exits at once. The unit needs NotifyAccess=all: the sender is our child, not the main PID.
 */
export const systemdNotifyCommand: NotifyTransport = (socket, fields) =>
  new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: socket };
    if (process.env.PATH) env.PATH = process.env.PATH;
    const child = spawn('systemd-notify', [...fields], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`systemd-notify exited with ${code}: ${stderr.trim()}`));
    });
  });

export interface NotifierOptions {
  /** The environment systemd started us with: NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID. */
  env: NodeJS.ProcessEnv;
  log: Logger;
  clock?: Clock;
  transport?: NotifyTransport;
  /** Our process id, compared with WATCHDOG_PID. */
  pid?: number;
}

/**
 * The sd_notify protocol for the daemon: READY=1, STATUS=..., STOPPING=1 and the watchdog
 * keep-alive. Without NOTIFY_SOCKET (not started by systemd, or Type= other than notify) every
 * call is a no-op. Failures are logged, never thrown: systemd being unreachable must not stop a
 * charger.
 */
export class SystemdNotifier {
  /** Keep-alive period (half of WATCHDOG_USEC), or undefined when no watchdog is asked for us. */
  readonly watchdogIntervalMs: number | undefined;
  private readonly socket: string | undefined;
  private readonly clock: Clock;
  private readonly transport: NotifyTransport;
  private readonly log: Logger;
  /** Notifications leave one at a time and in order, so STOPPING=1 never overtakes READY=1. */
  private queue: Promise<void> = Promise.resolve();
  private keepAliveQueued = false;
  private timer: Timer | undefined;
  private closed = false;
  private failureLogged = false;

  constructor(opts: NotifierOptions) {
    this.socket = opts.env.NOTIFY_SOCKET || undefined;
    this.clock = opts.clock ?? systemClock;
    this.transport = opts.transport ?? systemdNotifyCommand;
    this.log = opts.log;
    this.watchdogIntervalMs = this.socket ? watchdogInterval(opts.env, opts.pid ?? process.pid) : undefined;
  }

  get enabled(): boolean {
    return this.socket !== undefined;
  }

  /**
   * Start-up is complete. systemd enforces the watchdog only from here on, so the keep-alives start
   * here too: a daemon that fails before it is ready has no timer keeping it alive.
   */
  ready(status?: string): Promise<void> {
    const sent = this.send(['READY=1', ...statusField(status)]);
    this.scheduleKeepAlive();
    return sent;
  }

  status(text: string): Promise<void> {
    return this.send(statusField(text));
  }

  /** A graceful stop has begun. Keep-alives go on until close(): a stalled stop is still a stall. */
  stopping(status?: string): Promise<void> {
    return this.send(['STOPPING=1', ...statusField(status)]);
  }

  /** Stops the keep-alives (their timer would keep the process alive); resolves once all is sent. */
  close(): Promise<void> {
    this.closed = true;
    this.timer?.cancel();
    this.timer = undefined;
    return this.queue;
  }

  /** Resolves when every notification asked for so far has been delivered or given up. */
  drained(): Promise<void> {
    return this.queue;
  }

  /**
   * The keep-alive timer runs on the event loop on purpose: when the loop is blocked the timer
   * cannot fire, the keep-alives stop, and systemd restarts a daemon that no longer serves anyone.
   */
  private scheduleKeepAlive(): void {
    const interval = this.watchdogIntervalMs;
    if (interval === undefined || this.closed || this.timer) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (this.closed) return;
      // A keep-alive still waiting its turn already says what a second one would.
      if (!this.keepAliveQueued) {
        this.keepAliveQueued = true;
        void this.send(['WATCHDOG=1'], () => {
          this.keepAliveQueued = false;
        });
      }
      this.scheduleKeepAlive();
    }, interval);
  }

  private send(fields: string[], onTurn?: () => void): Promise<void> {
    const socket = this.socket;
    if (!socket || fields.length === 0) return this.queue;
    this.queue = this.queue.then(async () => {
      onTurn?.();
      try {
        await this.transport(socket, fields);
        this.failureLogged = false;
      } catch (error) {
        // Logged once per run of failures: a missing systemd-notify would otherwise log every 15 s.
        if (!this.failureLogged) {
          this.failureLogged = true;
          this.log.warn({ err: errorMessage(error), fields }, 'systemd notification failed');
        }
      }
    });
    return this.queue;
  }
}

/** sd_watchdog_enabled(): WATCHDOG_USEC for us (WATCHDOG_PID unset or ours), halved as systemd advises. */
function watchdogInterval(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isSafeInteger(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

/** One field per line in the protocol: a newline inside the text would start a bogus field. */
function statusField(text: string | undefined): string[] {
  return text === undefined ? [] : [`STATUS=${text.replace(/[\r\n]+/g, ' ')}`];
}
