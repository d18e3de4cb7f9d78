import type { Timer } from '../../clock.js';
import type { StatusNotificationRequest } from '../../ocpp/generated/messages.js';
import type { CallOptions } from '../../ocpp/rpc.js';
import type { StatusSnapshot } from '../../station/types.js';
import { type FeatureContext, sendQuietly } from '../context.js';

/** A status waiting to have held for MinimumStatusDuration before it is reported. */
interface Held {
  snapshot: StatusSnapshot;
  timer: Timer;
}

/**
 * Reports connector status changes to the central system while we are registered.
 *
 * MinimumStatusDuration (OCPP 1.6 sections 4.9 and 9.1): a status is reported once it has held
 * that many seconds; one that changes again before then is not reported, only the latest stable
 * one (and nothing when that is what the central system already has). 0 reports at once. Errors
 * are reported at once: the key exists "to limit the number of transitions" of a connector's
 * normal life, while section 4.9 has the charge point inform the central system of an error, and
 * a Faulted connector (or a non-NoError code) is what it must act on - stop offering it to
 * drivers, send a technician.
 *
 * How long a status has held is measured on the monotonic clock from the moment the station
 * reported it, and its timestamp is the OCPP time of that moment (`OcppTime.atMonotonic`): a status
 * that began before the central system gave us its time, or before the system clock stepped, is
 * still stamped right.
 */
export class StatusReporter {
  private enabled = false;
  private readonly held = new Map<number, Held>();
  /** What the central system was last told, per connector. */
  private readonly reported = new Map<number, StatusSnapshot>();
  /** The monotonic ms each status began at. */
  private readonly began = new WeakMap<StatusSnapshot, number>();

  constructor(private readonly ctx: FeatureContext) {
    // The statuses the station started with were stamped (its `since`) on the clock as it reads now.
    const [now, monotonic] = [ctx.clock.now(), ctx.clock.monotonic()];
    for (const snapshot of ctx.station.statuses())
      this.began.set(snapshot, monotonic - (now - snapshot.since));
    ctx.station.on('status', (snapshot) => {
      this.began.set(snapshot, ctx.clock.monotonic());
      if (this.enabled) this.onStatus(snapshot);
    });
    ctx.config.onChange('MinimumStatusDuration', () => this.rearm());
  }

  /** Registered (or reconnected): report every connector as it is now, 0 first. */
  enable(): void {
    this.enabled = true;
    this.dropHeld();
    for (const snapshot of this.ctx.station.statuses()) void this.send(snapshot);
  }

  disable(): void {
    this.enabled = false;
    this.dropHeld();
  }

  async send(snapshot: StatusSnapshot, opts?: CallOptions): Promise<void> {
    this.reported.set(snapshot.connectorId, snapshot);
    const req: StatusNotificationRequest = {
      connectorId: snapshot.connectorId,
      status: snapshot.status,
      errorCode: snapshot.errorCode,
      timestamp: new Date(this.ctx.time.atMonotonic(this.beganAt(snapshot))).toISOString(),
      ...(snapshot.info ? { info: snapshot.info.slice(0, 50) } : {}),
    };
    await sendQuietly(this.ctx.log, 'StatusNotification', () =>
      this.ctx.rpc.call('StatusNotification', req, opts),
    );
  }

  private onStatus(snapshot: StatusSnapshot): void {
    this.held.get(snapshot.connectorId)?.timer.cancel();
    this.held.delete(snapshot.connectorId);
    const minimumMs = this.minimumMs();
    if (minimumMs === 0) void this.send(snapshot);
    else if (!this.alreadyReported(snapshot)) {
      if (isError(snapshot)) void this.send(snapshot);
      else this.hold(snapshot, minimumMs);
    }
  }

  /** Reports `snapshot` once it has held `minimumMs` since it began (at once if it already has). */
  private hold(snapshot: StatusSnapshot, minimumMs: number): void {
    const wait = this.beganAt(snapshot) + minimumMs - this.ctx.clock.monotonic();
    // A TriggerMessage may have reported it while it waited (a re-hold after a new duration too).
    const report = () => {
      if (!this.alreadyReported(snapshot)) void this.send(snapshot);
    };
    if (wait <= 0) {
      report();
      return;
    }
    const timer = this.ctx.clock.setTimeout(() => {
      this.held.delete(snapshot.connectorId);
      report();
    }, wait);
    this.held.set(snapshot.connectorId, { snapshot, timer });
  }

  /** A new MinimumStatusDuration applies to the statuses already waiting, too. */
  private rearm(): void {
    const waiting = [...this.held.values()];
    this.dropHeld();
    const minimumMs = this.minimumMs();
    for (const { snapshot } of waiting) this.hold(snapshot, minimumMs);
  }

  private dropHeld(): void {
    for (const { timer } of this.held.values()) timer.cancel();
    this.held.clear();
  }

  /** A status the station did not report (one built to report a LocalListConflict) begins now. */
  private beganAt(snapshot: StatusSnapshot): number {
    return this.began.get(snapshot) ?? this.ctx.clock.monotonic();
  }

  private alreadyReported(snapshot: StatusSnapshot): boolean {
    const last = this.reported.get(snapshot.connectorId);
    return (
      last !== undefined &&
      last.status === snapshot.status &&
      last.errorCode === snapshot.errorCode &&
      last.info === snapshot.info
    );
  }

  private minimumMs(): number {
    return this.ctx.config.getInt('MinimumStatusDuration') * 1000;
  }
}

function isError(snapshot: StatusSnapshot): boolean {
  return snapshot.status === 'Faulted' || snapshot.errorCode !== 'NoError';
}
