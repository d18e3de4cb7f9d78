import type { Timer } from '../../clock.js';
import type { CallOptions } from '../../ocpp/rpc.js';
import { type FeatureContext, sendQuietly } from '../context.js';

/** Heartbeat every HeartbeatInterval seconds once accepted; the answer keeps our clock in step. */
export class Heartbeat {
  private timer: Timer | undefined;
  private running = false;

  constructor(private readonly ctx: FeatureContext) {
    ctx.config.onChange('HeartbeatInterval', () => {
      if (this.running) this.schedule();
    });
  }

  start(): void {
    this.running = true;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** Sends one now (TriggerMessage) and restarts the interval from it. */
  async beat(opts?: CallOptions): Promise<void> {
    const conf = await sendQuietly(this.ctx.log, 'Heartbeat', () => this.ctx.rpc.call('Heartbeat', {}, opts));
    if (conf) this.ctx.time.syncTo(conf.currentTime);
    if (this.running) this.schedule();
  }

  private schedule(): void {
    this.timer?.cancel();
    const seconds = this.ctx.config.getInt('HeartbeatInterval');
    if (seconds <= 0) return;
    this.timer = this.ctx.clock.setTimeout(() => void this.beat(), seconds * 1000);
  }
}
