/**
 * The one source of time for the runtime. Everything that waits or stamps goes through a
 * Clock so tests can replace it, and so OCPP timestamps can follow the central system's clock.
 */
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

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout(fn, ms) {
    const handle = setTimeout(fn, Math.max(0, ms));
    return { cancel: () => clearTimeout(handle) };
  },
};

/**
 * Wall-clock time for OCPP timestamps. Unless the system clock is known to be NTP-synchronised,
 * we adopt the central system's clock (BootNotification.conf / Heartbeat.conf currentTime) as an
 * offset, so a board without an RTC still stamps transactions correctly.
 */
export class OcppTime {
  private offsetMs = 0;

  constructor(
    private readonly clock: Clock,
    private readonly followCentralSystem: boolean,
  ) {}

  /** Adopt the central system's time; ignored when the system clock is trusted. */
  syncTo(currentTime: string): void {
    if (!this.followCentralSystem) return;
    const remote = Date.parse(currentTime);
    if (Number.isFinite(remote)) this.offsetMs = remote - this.clock.now();
  }

  nowMs(): number {
    return this.clock.now() + this.offsetMs;
  }

  /** ISO 8601 UTC timestamp as OCPP expects it. */
  iso(): string {
    return new Date(this.nowMs()).toISOString();
  }

  get offset(): number {
    return this.offsetMs;
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
