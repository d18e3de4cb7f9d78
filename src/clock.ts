/**
 * The one source of time for the runtime. Everything that waits or stamps goes through a
 * Clock so tests can replace it, and so OCPP timestamps can follow the central system's clock.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from './log.js';
import { dateTimeMs } from './ocpp/date-time.js';

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch, as the runtime believes it (may be offset, see OcppTime). */
  now(): number;
  /** Monotonic milliseconds for measuring intervals; unaffected by wall-clock changes. */
  monotonic(): number;
  setTimeout(fn: () => void, ms: number): Timer;
}

/**
 * The longest delay a Node timer keeps (2^31 - 1 ms, some 24.8 days): a longer one fires after
 * 1 ms. A central system may ask for longer (an UpdateFirmware retryInterval of decades), so a
 * longer wait is made of timers of at most this.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => Date.now(),
  // process.hrtime, not performance.now(): the global `performance` loads perf_hooks at first touch (issue 8).
  monotonic: () => Number(process.hrtime.bigint()) / 1e6,
  setTimeout(fn, ms) {
    let handle: NodeJS.Timeout;
    const arm = (left: number): void => {
      handle =
        left > MAX_TIMER_MS
          ? setTimeout(() => arm(left - MAX_TIMER_MS), MAX_TIMER_MS)
          : setTimeout(fn, Math.max(0, left));
    };
    arm(ms);
    return { cancel: () => clearTimeout(handle) };
  },
};

/** Where the OCPP time comes from at the moment. */
export type TimeSource = 'systemClock' | 'centralSystem';

/** How the OCPP time stands (`cpctl status`). */
export interface TimeSync {
  source: TimeSource;
  /** False when the system clock is trusted (`clock.ntpSynchronized`): it is then the time. */
  followsCentralSystem: boolean;
  /** The OCPP time minus the system clock, ms. */
  offsetMs: number;
  /** Epoch ms (OCPP time) of the central system's last currentTime. */
  lastCentralTimeAt?: number;
}

export interface OcppTimeEvents {
  /**
   * The OCPP time moved other than by its own passage (taken from the central system, or a step of
   * the system clock it follows): what waits for a time of day plans afresh.
   */
  adjusted: [event: { byMs: number; source: TimeSource }];
  /**
   * The system clock stepped, whether the OCPP time followed it or not. The security extension
   * reports it as SecurityEventNotification SettingSystemTime (OCPP 1.6 security whitepaper).
   */
  securityEvent: [event: { type: 'SettingSystemTime'; techInfo: string }];
}

export interface OcppTimeOptions {
  /** A wall clock that moves this much more or less than the monotonic one has stepped (default 1 s). */
  stepThresholdMs?: number;
  log?: Logger;
}

/** NTP slews at most 0.5 ms/s: far below this between two checks. */
const DEFAULT_STEP_THRESHOLD_MS = 1000;
/** How often the system clock is checked for a step when nothing asks for the time. */
const STEP_CHECK_INTERVAL_MS = 15_000;

/**
 * The one wall-clock time of the runtime: every OCPP timestamp and every expiry decision
 * (authorization cache and local list, reservations, clock-aligned boundaries) reads it here.
 *
 * When the system clock is trusted (`clock.ntpSynchronized`) it is the system clock. Otherwise the
 * system clock serves only until the central system gives its time (BootNotification.conf,
 * Heartbeat.conf currentTime); from then on the time is that answer plus the monotonic time
 * elapsed since, so a step of the system clock (NTP, a manual date change, a board without an RTC
 * setting itself) neither moves timestamps nor decides an expiry. An answer within the step
 * threshold of our time is not taken: network delay would only make timestamps jitter backwards.
 *
 * A step of the system clock (wall minus monotonic changing by more than the threshold) is logged
 * and emitted as a `securityEvent`, whether or not the time follows it. The monotonic clock stops
 * while a board is suspended; chargers do not suspend.
 */
export class OcppTime extends EventEmitter<OcppTimeEvents> {
  /** The central system's time at a monotonic instant; undefined while the system clock is the source. */
  private anchor: { timeMs: number; monotonicMs: number } | undefined;
  private lastDriftMs: number;
  private lastCentralTimeAt: number | undefined;
  private readonly thresholdMs: number;
  private readonly watch: Schedule;

  constructor(
    private readonly clock: Clock,
    private readonly followCentralSystem: boolean,
    private readonly opts: OcppTimeOptions = {},
  ) {
    super();
    this.thresholdMs = opts.stepThresholdMs ?? DEFAULT_STEP_THRESHOLD_MS;
    this.lastDriftMs = clock.now() - clock.monotonic();
    this.watch = new Schedule(clock, () => ({
      inMs: STEP_CHECK_INTERVAL_MS,
      run: () => {
        this.checkSystemClock();
        this.watch.replan();
      },
    }));
  }

  get source(): TimeSource {
    return this.anchor ? 'centralSystem' : 'systemClock';
  }

  /** Checks the system clock for steps every few seconds, not only when the time is read. */
  start(): void {
    this.watch.start();
  }

  stop(): void {
    this.watch.stop();
  }

  /** Adopt the central system's time; ignored when the system clock is trusted. */
  syncTo(currentTime: string): void {
    if (!this.followCentralSystem) return;
    const remote = dateTimeMs(currentTime);
    if (!Number.isFinite(remote)) return;
    this.lastCentralTimeAt = remote;
    const byMs = remote - this.nowMs();
    const first = this.anchor === undefined;
    if (!first && Math.abs(byMs) < this.thresholdMs) return;
    this.anchor = { timeMs: remote, monotonicMs: this.clock.monotonic() };
    if (Math.abs(byMs) < this.thresholdMs) return;
    this.opts.log?.info({ byMs, currentTime }, 'time set from the central system');
    this.emit('adjusted', { byMs, source: 'centralSystem' });
  }

  /** Whole epoch milliseconds (the monotonic clock has fractions; stores and OCPP want integers). */
  nowMs(): number {
    this.checkSystemClock();
    const anchor = this.anchor;
    return anchor
      ? Math.floor(anchor.timeMs + (this.clock.monotonic() - anchor.monotonicMs))
      : this.clock.now();
  }

  sync(): TimeSync {
    const now = this.nowMs();
    return {
      source: this.source,
      followsCentralSystem: this.followCentralSystem,
      offsetMs: now - this.clock.now(),
      ...(this.lastCentralTimeAt === undefined ? {} : { lastCentralTimeAt: this.lastCentralTimeAt }),
    };
  }

  /** ISO 8601 UTC timestamp as OCPP expects it. */
  iso(): string {
    return new Date(this.nowMs()).toISOString();
  }

  /** The time at an earlier monotonic instant: what happened then, stamped on today's timeline. */
  atMonotonic(monotonicMs: number): number {
    return Math.floor(this.nowMs() - (this.clock.monotonic() - monotonicMs));
  }

  /** Detects a step of the system clock since the last check; each is reported once. */
  private checkSystemClock(): void {
    const driftMs = this.clock.now() - this.clock.monotonic();
    const stepMs = Math.round(driftMs - this.lastDriftMs);
    // Slewing accumulates no step: every check starts from the drift it saw.
    this.lastDriftMs = driftMs;
    if (Math.abs(stepMs) < this.thresholdMs) return;
    const followed = this.anchor === undefined;
    const systemTime = new Date(this.clock.now()).toISOString();
    this.opts.log?.warn(
      { stepMs, systemTime, followed },
      followed
        ? 'system clock stepped; the time follows it'
        : "system clock stepped; ignored, the time stays the central system's",
    );
    this.emit('securityEvent', {
      type: 'SettingSystemTime',
      techInfo: `system clock stepped by ${stepMs} ms to ${systemTime}`.slice(0, 255),
    });
    if (followed) this.emit('adjusted', { byMs: stepMs, source: 'systemClock' });
  }
}

/** What a `Schedule` does next: run `run` in `inMs` milliseconds. */
export interface Plan {
  inMs: number;
  run(): void;
}

/**
 * One pending timeout that a new plan replaces: the lifecycle that heartbeat, clock-aligned
 * metering, the outbox retry and charging-profile schedules share. `plan` is asked afresh at every
 * `replan()` (after each run, and whenever its configuration changes); undefined means "not now".
 */
export class Schedule {
  private timer: Timer | undefined;
  private started = false;

  constructor(
    private readonly clock: Clock,
    private readonly plan: () => Plan | undefined,
  ) {}

  get running(): boolean {
    return this.started;
  }

  start(): void {
    this.started = true;
    this.replan();
  }

  stop(): void {
    this.started = false;
    this.cancel();
  }

  /** Drops the pending timeout and, while started, arms the one the plan asks for now. */
  replan(): void {
    this.cancel();
    if (!this.started) return;
    const next = this.plan();
    if (!next) return;
    const timer = this.clock.setTimeout(() => {
      if (this.timer === timer) this.timer = undefined;
      next.run();
    }, next.inMs);
    this.timer = timer;
  }

  private cancel(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }
}
