import { Schedule } from '../../clock.js';
import type { CallOptions } from '../../ocpp/rpc.js';
import { type FeatureContext, sendQuietly } from '../context.js';

/** Heartbeat every HeartbeatInterval seconds once accepted; the answer keeps our clock in step. */
export class Heartbeat {
  private readonly schedule: Schedule;

  constructor(private readonly ctx: FeatureContext) {
    this.schedule = new Schedule(ctx.clock, () => {
      const seconds = ctx.config.getInt('HeartbeatInterval');
      return seconds > 0 ? { inMs: seconds * 1000, run: () => void this.beat() } : undefined;
    });
    ctx.config.onChange('HeartbeatInterval', () => this.schedule.replan());
  }

  start(): void {
    this.schedule.start();
  }

  stop(): void {
    this.schedule.stop();
  }

  /** Sends one now (TriggerMessage) and restarts the interval from it. */
  async beat(opts?: CallOptions): Promise<void> {
    const conf = await sendQuietly(this.ctx.log, 'Heartbeat', () => this.ctx.rpc.call('Heartbeat', {}, opts));
    if (conf) this.ctx.time.syncTo(conf.currentTime);
    this.schedule.replan();
  }
}
