import type { Timer } from '../../clock.js';
import type { CallOptions } from '../../ocpp/rpc.js';
import { type FeatureContext, sendQuietly } from '../context.js';

/**
 * Heartbeat every HeartbeatInterval seconds once accepted; the answer keeps our clock in step.
 *
 * Every beat moves the next one to an interval after it, and a central system may trigger beats
 * back to back. Re-arming the timer at each would create and drop one (and Node its timer list)
 * per beat, so only the due time moves: the armed timer, when it fires before it, arms itself
 * again for what is left.
 */
export class Heartbeat {
  private started = false;
  /** Monotonic ms the next beat is due; undefined while none is planned. */
  private dueAt: number | undefined;
  private timer: Timer | undefined;
  /** Monotonic ms `timer` fires at. */
  private timerAt = 0;

  constructor(private readonly ctx: Pick<FeatureContext, 'rpc' | 'config' | 'time' | 'clock' | 'log'>) {
    ctx.config.onChange('HeartbeatInterval', () => this.plan());
  }

  start(): void {
    this.started = true;
    this.plan();
  }

  stop(): void {
    this.started = false;
    this.plan();
  }

  /** Sends one now (TriggerMessage) and restarts the interval from it. */
  async beat(opts?: CallOptions): Promise<void> {
    const conf = await sendQuietly(this.ctx.log, 'Heartbeat', () => this.ctx.rpc.call('Heartbeat', {}, opts));
    if (conf) this.ctx.time.syncTo(conf.currentTime);
    this.plan();
  }

  /** The next beat an interval from now; none while stopped or with HeartbeatInterval 0. */
  private plan(): void {
    const seconds = this.ctx.config.getInt('HeartbeatInterval');
    if (!this.started || seconds <= 0) {
      this.dueAt = undefined;
      this.timer?.cancel();
      this.timer = undefined;
      return;
    }
    this.dueAt = this.ctx.clock.monotonic() + seconds * 1000;
    // A timer firing later than the new due time (a shorter interval) would miss it.
    if (this.timer && this.timerAt <= this.dueAt) return;
    this.timer?.cancel();
    this.arm(this.dueAt);
  }

  private arm(at: number): void {
    const { clock } = this.ctx;
    this.timerAt = at;
    this.timer = clock.setTimeout(() => this.onTimer(), at - clock.monotonic());
  }

  private onTimer(): void {
    this.timer = undefined;
    if (this.dueAt === undefined) return;
    if (this.dueAt > this.ctx.clock.monotonic()) this.arm(this.dueAt);
    else void this.beat();
  }
}
