import type { StatusNotificationRequest } from '../../ocpp/generated/messages.js';
import type { CallOptions } from '../../ocpp/rpc.js';
import type { StatusSnapshot } from '../../station/types.js';
import { type FeatureContext, sendQuietly } from '../context.js';

/** Reports connector status changes to the central system while we are registered. */
export class StatusReporter {
  private enabled = false;

  constructor(private readonly ctx: FeatureContext) {
    ctx.station.on('status', (snapshot) => {
      if (this.enabled) void this.send(snapshot);
    });
  }

  /** Registered (or reconnected): report every connector, 0 first. */
  enable(): void {
    this.enabled = true;
    for (const snapshot of this.ctx.station.statuses()) void this.send(snapshot);
  }

  disable(): void {
    this.enabled = false;
  }

  async send(snapshot: StatusSnapshot, opts?: CallOptions): Promise<void> {
    const req: StatusNotificationRequest = {
      connectorId: snapshot.connectorId,
      status: snapshot.status,
      errorCode: snapshot.errorCode,
      timestamp: new Date(snapshot.since + this.ctx.time.offset).toISOString(),
      ...(snapshot.info ? { info: snapshot.info.slice(0, 50) } : {}),
    };
    await sendQuietly(this.ctx.log, 'StatusNotification', () =>
      this.ctx.rpc.call('StatusNotification', req, opts),
    );
  }
}
