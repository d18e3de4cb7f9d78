import { EventEmitter } from 'node:events';
import type { Timer } from '../../clock.js';
import { errorMessage } from '../../error-message.js';
import { NotConnectedError } from '../../ocpp/errors.js';
import type { BootNotificationRequest } from '../../ocpp/generated/messages.js';
import type { FeatureContext } from '../context.js';

export type RegistrationStatus = 'Unregistered' | 'Pending' | 'Rejected' | 'Accepted';

export interface RegistrationEvents {
  accepted: [];
  /** Every answer to a BootNotification, once recorded. */
  status: [status: RegistrationStatus];
}

export interface RegistrationOptions {
  identity: BootNotificationRequest;
  /** Seconds to wait before retrying when a BootNotification got no usable answer. */
  retrySeconds: number;
}

/**
 * The BootNotification handshake. Until the central system accepts us, only BootNotification may
 * leave (Pending: we still answer its calls, and send what it triggers); after Rejected nothing at
 * all leaves until the interval has passed, even across reconnects, and its calls go unanswered
 * until a BootNotification is answered otherwise (spec 4.2).
 */
export class Registration extends EventEmitter<RegistrationEvents> {
  private current: RegistrationStatus = 'Unregistered';
  private retryTimer: Timer | undefined;
  /** Monotonic ms before which no BootNotification may leave (the interval of a Rejected answer). */
  private notBefore = 0;
  private sending = false;
  /** Epoch ms (the clock's) the next BootNotification is due, while one waits. */
  private retryAt: number | undefined;

  constructor(
    private readonly ctx: FeatureContext,
    private readonly opts: RegistrationOptions,
  ) {
    super();
  }

  get status(): RegistrationStatus {
    return this.current;
  }

  /** When the next BootNotification leaves (Pending, Rejected, or a boot that got no answer), epoch ms. */
  get nextAttemptAt(): number | undefined {
    return this.retryAt;
  }

  /** The link is up: register if we have not been accepted in this run. */
  onLinkOpen(): void {
    if (this.current === 'Accepted') {
      this.ctx.rpc.setGate('open');
      this.emit('accepted');
      return;
    }
    this.schedule(Math.max(0, this.notBefore - this.ctx.clock.monotonic()));
  }

  onLinkClose(): void {
    this.retryTimer?.cancel();
    this.retryTimer = undefined;
    this.retryAt = undefined;
  }

  /** TriggerMessage(BootNotification): send one now, whatever our state. */
  trigger(): void {
    void this.send();
  }

  stop(): void {
    this.onLinkClose();
  }

  private schedule(delayMs: number): void {
    this.retryTimer?.cancel();
    this.ctx.rpc.setGate(delayMs > 0 && this.current === 'Rejected' ? 'closed' : 'boot-only');
    this.retryAt = this.ctx.clock.now() + delayMs;
    this.retryTimer = this.ctx.clock.setTimeout(() => {
      this.retryTimer = undefined;
      this.retryAt = undefined;
      this.ctx.rpc.setGate('boot-only');
      void this.send();
    }, delayMs);
  }

  private async send(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    const { rpc, log, time, config, clock } = this.ctx;
    try {
      const conf = await rpc.call('BootNotification', this.opts.identity);
      time.syncTo(conf.currentTime);
      log.info({ status: conf.status, interval: conf.interval }, 'BootNotification answered');
      if (conf.status === 'Accepted') {
        if (conf.interval > 0) config.change('HeartbeatInterval', String(conf.interval), 'runtime');
        const wasAccepted = this.current === 'Accepted';
        this.current = 'Accepted';
        rpc.setSilent(false);
        rpc.setGate('open');
        this.emit('status', 'Accepted');
        if (!wasAccepted) this.emit('accepted');
        return;
      }
      this.current = conf.status;
      rpc.setSilent(conf.status === 'Rejected');
      this.emit('status', conf.status);
      const waitMs = (conf.interval > 0 ? conf.interval : this.opts.retrySeconds) * 1000;
      // Monotonic: a wall clock set back must not keep us off the central system for as long.
      this.notBefore = clock.monotonic() + waitMs;
      this.schedule(waitMs);
    } catch (error) {
      // A lost connection is handled by onLinkOpen; retrying now would only fail again.
      if (this.current === 'Accepted' || error instanceof NotConnectedError) return;
      log.warn({ err: errorMessage(error) }, 'BootNotification failed; will retry');
      this.schedule(this.opts.retrySeconds * 1000);
    } finally {
      this.sending = false;
    }
  }
}
