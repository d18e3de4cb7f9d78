/**
 * Charger devices on plain GPIO lines: contactor relay, digital pilot signals, connector lock,
 * board fault inputs. Lines come already resolved to sysfs numbers (gpio-lines.ts) and are
 * opened through a GpioLineFactory (gpio-adapter.ts), so active-low, debounce and every fault
 * rule below run against fake lines in tests. Opening a line can throw (a start-time error,
 * naming the line); anything that fails later is reported as health and logged, never thrown
 * out of an event handler.
 */
import { EventEmitter } from 'node:events';
import type { Clock, Timer } from '../../src/clock.js';
import { errorMessage } from '../../src/error-message.js';
import type { Logger } from '../../src/log.js';
import {
  type BoardFaultKind,
  type ConnectorLock,
  checkLimit,
  type DeviceHealth,
  type FaultInput,
  HEALTHY,
  type HealthEvents,
  type Pilot,
  type PilotState,
  type Relay,
  type RelayEvents,
  rewrapBoardError,
} from '../types.js';
import type { GpioDirection, GpioLine, GpioLineFactory } from './gpio-adapter.js';
import { HealthState } from './health-state.js';
import { PilotPwm, type PwmChannelFactory, type PwmRef, pwmName } from './pwm-pilot.js';

/** A line as the devices take it: its sysfs number, and a name for messages (chip:offset). */
export interface ResolvedLine {
  readonly sysfsNumber: number;
  readonly name: string;
}

// Options are generic in how a line is named, so the board-file types (gpio-lines.ts) are these
// same shapes with LineRef in place of ResolvedLine.
export interface GpioOutputOptions<L = ResolvedLine> {
  line: L;
  activeLow?: boolean;
}

export interface GpioInputOptions<L = ResolvedLine> {
  line: L;
  activeLow?: boolean;
  /** Default 20 ms. */
  debounceMs?: number;
}

export interface GpioRelayOptions<L = ResolvedLine> extends GpioOutputOptions<L> {
  /** Auxiliary contact; `settleMs` (default 300) is how long the contact may take to follow. */
  feedback?: { line: L; activeLow?: boolean; settleMs?: number };
}

export interface GpioPilotOptions<L = ResolvedLine> {
  connected: GpioInputOptions<L>;
  ready: GpioInputOptions<L>;
  fault?: GpioInputOptions<L>;
  /**
   * Charge permission (a DC cabinet's enable input): active while the contactor is closed and
   * current is offered (limit above 0).
   */
  enable?: GpioOutputOptions<L>;
  /** The pilot's PWM output (pwm-pilot.ts): the current offer as IEC 61851-1 duty cycles. */
  pwm?: PwmRef;
}

/** What a pilot needs from its outlet: the current it offers by default and its contactor. */
export interface PilotOutlet {
  /** The outlet's maximum current, A: offered until a lower limit is set. */
  maxCurrentA: number;
  /** Permission follows the contactor: a DC cabinet must not deliver before the session closes it. */
  relay: Pick<Relay, 'isClosed' | 'on'>;
}

export interface GpioLockOptions<L = ResolvedLine> extends GpioOutputOptions<L> {
  /** Input that is active while the lock is engaged. */
  feedback?: { line: L; activeLow?: boolean };
  /** How long feedback may take to confirm, default 1000 ms. */
  timeoutMs?: number;
}

export interface GpioFaultInputOptions<L = ResolvedLine> extends GpioInputOptions<L> {
  kind: BoardFaultKind;
}

export interface GpioDeps {
  lines: GpioLineFactory;
  /** How PWM channels are opened; needed only by a pilot with a `pwm` output. */
  pwm?: PwmChannelFactory;
  clock: Clock;
  logger: Logger;
}

const DEFAULT_DEBOUNCE_MS = 20;
const DEFAULT_SETTLE_MS = 300;
const DEFAULT_LOCK_TIMEOUT_MS = 1000;

function describe(line: ResolvedLine): string {
  return `GPIO line ${line.name} (sysfs ${line.sysfsNumber})`;
}

function openLine(
  line: ResolvedLine,
  direction: GpioDirection,
  edge: 'none' | 'both',
  factory: GpioLineFactory,
): GpioLine {
  try {
    return factory(line.sysfsNumber, direction, edge);
  } catch (err) {
    const as = direction === 'in' ? 'input' : 'output';
    throw rewrapBoardError(err, `${describe(line)}: cannot open as ${as}: ${errorMessage(err)}`);
  }
}

interface Part {
  open(): void;
  close(): void;
}

/** Opens parts in order; when one fails, closes those already open so a failed start leaks no line. */
function openAll(parts: readonly (Part | undefined)[], logger: Logger): void {
  const opened: Part[] = [];
  try {
    for (const part of parts) {
      part?.open();
      if (part) opened.push(part);
    }
  } catch (err) {
    closeAll(opened, logger);
    throw err;
  }
}

/** Closes every part even when one fails: stop must release all lines it can. */
function closeAll(parts: readonly (Pick<Part, 'close'> | undefined)[], logger: Logger): void {
  for (const part of parts) {
    try {
      part?.close();
    } catch (err) {
      logger.error({ err }, 'GPIO line close failed');
    }
  }
}

/** An output line in logical terms (active / inactive); it opens inactive. */
export class GpioOutput implements Part {
  private line: GpioLine | undefined;

  constructor(
    private readonly options: GpioOutputOptions,
    private readonly lines: GpioLineFactory,
  ) {}

  get name(): string {
    return this.options.line.name;
  }

  open(): void {
    if (this.line) return;
    this.line = openLine(this.options.line, this.raw(false) ? 'high' : 'low', 'none', this.lines);
  }

  /**
   * Inactive now. Opening already sets that level; the write after it does not rely on the
   * direction write alone for a line a killed run left exported and driven active.
   */
  safe(): void {
    this.open();
    this.set(false);
  }

  /** Throws, naming the line, when the line is not open or the write fails. */
  set(active: boolean): void {
    if (!this.line) throw new Error(`${describe(this.options.line)}: not open`);
    try {
      this.line.write(this.raw(active));
    } catch (err) {
      throw new Error(`${describe(this.options.line)}: write failed: ${errorMessage(err)}`, { cause: err });
    }
  }

  close(): void {
    const line = this.line;
    this.line = undefined;
    line?.close();
  }

  private raw(active: boolean): 0 | 1 {
    return active !== (this.options.activeLow ?? false) ? 1 : 0;
  }
}

export interface GpioInputEvents {
  /** The debounced level changed. */
  change: [active: boolean];
  /**
   * The line became unreadable (false), or its debounced level is a current reading again (true):
   * at once when the first level read agrees with the last one, else once the new one has held.
   */
  readable: [readable: boolean];
}

/** A debounced input: a new level counts once it has held for `debounceMs`. */
export class GpioInput extends EventEmitter<GpioInputEvents> implements Part {
  private line: GpioLine | undefined;
  private stable = false;
  private ok = true;
  private pending: Timer | undefined;

  constructor(
    private readonly options: GpioInputOptions,
    private readonly deps: GpioDeps,
  ) {
    super();
  }

  get name(): string {
    return this.options.line.name;
  }

  open(): void {
    if (this.line) return;
    const line = openLine(this.options.line, 'in', 'both', this.deps.lines);
    try {
      this.stable = this.level(line.read());
      line.watch(
        (v) => this.onValue(v),
        (err) => this.setReadable(false, err),
      );
    } catch (err) {
      closeAll([line], this.deps.logger);
      throw new Error(`${describe(this.options.line)}: cannot read: ${errorMessage(err)}`, { cause: err });
    }
    this.line = line;
    this.setReadable(true);
  }

  close(): void {
    this.pending?.cancel();
    this.pending = undefined;
    const line = this.line;
    this.line = undefined;
    if (!line) return;
    try {
      line.unwatchAll();
    } finally {
      line.close();
    }
  }

  isActive(): boolean {
    return this.stable;
  }

  readable(): boolean {
    return this.ok;
  }

  /**
   * Calls `listener` with each current reading of the line: a debounced change while it reads,
   * and its level once it reads again after an error (a level that settled meanwhile is stale
   * until then). Feedback inputs judge commands by this, never by a stale level.
   */
  onReading(listener: (active: boolean) => void): void {
    this.on('change', (active) => {
      if (this.ok) listener(active);
    });
    this.on('readable', (readable) => {
      if (readable) listener(this.stable);
    });
  }

  private level(raw: 0 | 1): boolean {
    return (raw === 1) !== (this.options.activeLow ?? false);
  }

  private onValue(raw: 0 | 1): void {
    if (!this.line) return;
    const level = this.level(raw);
    this.pending?.cancel();
    this.pending = undefined;
    // Back at the stable level before the debounce time ran out: it was a glitch.
    if (level === this.stable) {
      this.setReadable(true);
      return;
    }
    // After a read error the stable level is stale until the new one has held: still unreadable.
    this.pending = this.deps.clock.setTimeout(() => {
      this.pending = undefined;
      this.stable = level;
      this.emit('change', level);
      this.setReadable(true);
    }, this.options.debounceMs ?? DEFAULT_DEBOUNCE_MS);
  }

  private setReadable(ok: boolean, err?: Error): void {
    if (ok === this.ok) return;
    this.ok = ok;
    const fields = { line: this.options.line.name, sysfs: this.options.line.sysfsNumber };
    if (ok) this.deps.logger.info(fields, 'GPIO input readable again');
    else this.deps.logger.error({ ...fields, err }, 'GPIO input unreadable');
    this.emit('readable', ok);
  }
}

/**
 * Contactor relay. With a feedback contact: at start, once `settleMs` has passed after a command,
 * and at any feedback change while no command is settling, a contact that disagrees with the
 * command is a PowerSwitchFailure; health returns to ok when they agree again (after a command,
 * once settled).
 */
export class GpioRelay extends EventEmitter<RelayEvents> implements Relay {
  readonly feedbackSettleMs?: number;
  private readonly output: GpioOutput;
  private readonly feedbackInput: GpioInput | undefined;
  private readonly state = new HealthState((h) => this.emit('health', h));
  private started = false;
  private commanded = false;
  private settling: Timer | undefined;
  private mismatch: string | undefined;
  private writeFailed = false;

  constructor(
    options: GpioRelayOptions,
    private readonly deps: GpioDeps,
  ) {
    super();
    this.output = new GpioOutput(options, deps.lines);
    const fb = options.feedback;
    if (fb) {
      this.feedbackSettleMs = fb.settleMs ?? DEFAULT_SETTLE_MS;
      this.feedbackInput = new GpioInput({ line: fb.line, activeLow: fb.activeLow }, deps);
      const input = this.feedbackInput;
      input.on('change', () => {
        if (!this.settling) this.compare(false);
      });
      input.on('readable', () => this.updateHealth());
      // Also when the contact reads again: whoever waits for it to read open reads it now.
      input.onReading((closed) => this.emit('feedback', closed));
    }
  }

  async start(): Promise<void> {
    if (this.started) return;
    openAll([this.output, this.feedbackInput], this.deps.logger);
    this.started = true;
    this.commanded = false;
    // A contact found closed while nothing commands it closed is welded, or still opening after a
    // previous run closed it: a fault from the first reading, so the connector is never offered
    // before the state is known. Opening drove the output open: the settled reading decides, as
    // after any command.
    this.compare(false);
    this.settle();
  }

  /** Drives the contactor open; before start() the output line alone is opened (at that level). */
  safe(): void {
    this.output.safe();
    if (!this.commanded) return;
    this.commanded = false;
    this.emit('change', false);
  }

  async stop(): Promise<void> {
    // Only safe() ran: release its line, which stays at the open-contact level.
    if (!this.started) return closeAll([this.output], this.deps.logger);
    this.started = false;
    this.settling?.cancel();
    this.settling = undefined;
    // A contactor must not stay closed with no one watching it.
    try {
      this.output.set(false);
    } catch (err) {
      this.deps.logger.error({ err, line: this.output.name }, 'relay could not be opened at stop');
    }
    closeAll([this.output, this.feedbackInput], this.deps.logger);
  }

  async set(closed: boolean): Promise<void> {
    if (!this.started) throw new Error(`relay on ${this.output.name}: set() before start()`);
    try {
      this.output.set(closed);
    } catch (err) {
      // Not logged here: the error names the line, and its caller logs it (once per episode where
      // it retries, as the charging limit does a failed open).
      this.writeFailed = true;
      this.updateHealth();
      throw err;
    }
    this.writeFailed = false;
    const changed = closed !== this.commanded;
    this.commanded = closed;
    if (changed) this.emit('change', closed);
    this.settle();
    this.updateHealth();
  }

  isClosed(): boolean {
    return this.commanded;
  }

  feedback(): boolean | undefined {
    return this.feedbackInput?.isActive();
  }

  feedbackReadable(): boolean {
    return this.feedbackInput?.readable() ?? true;
  }

  health(): DeviceHealth {
    return this.state.get();
  }

  private settle(): void {
    if (!this.feedbackInput) return;
    this.settling?.cancel();
    this.settling = this.deps.clock.setTimeout(() => {
      this.settling = undefined;
      this.compare(true);
    }, this.feedbackSettleMs ?? DEFAULT_SETTLE_MS);
  }

  private compare(afterCommand: boolean): void {
    const contact = this.feedbackInput?.isActive();
    if (contact === undefined || contact === this.commanded) this.mismatch = undefined;
    else if (contact) this.mismatch = 'contactor welded';
    else this.mismatch = afterCommand ? 'contactor did not close' : 'contactor opened while commanded closed';
    this.updateHealth();
  }

  private updateHealth(): void {
    const info = this.writeFailed
      ? 'relay output write failed'
      : this.feedbackInput && !this.feedbackInput.readable()
        ? 'relay feedback unreadable'
        : this.mismatch;
    this.state.set(info ? { ok: false, fault: 'PowerSwitchFailure', info } : HEALTHY);
  }
}

/**
 * Pilot from digital signals (a pilot decoder, a DC cabinet): fault -> F, else not connected ->
 * A, connected and ready -> C, connected -> B. `ready` without `connected` means nothing. It
 * offers the outlet's maximum current until told otherwise (as an EVSE does without a charging
 * limit), and its `enable` output gives permission while the relay is closed and current is
 * offered: the runtime closes the relay when a session may draw energy, so that is when a DC
 * cabinet may start, and opening it (or a limit of 0) withdraws the permission. With a `pwm`
 * output the limit is also offered as the pilot's duty cycle (pwm-pilot.ts), whatever the relay:
 * an EV moves from B to C only once it sees the PWM, and the contactor closes after that.
 */
export class GpioPilot extends EventEmitter<HealthEvents & { state: [state: PilotState] }> implements Pilot {
  private readonly inputs: { role: string; input: GpioInput }[];
  private readonly connected: GpioInput;
  private readonly ready: GpioInput;
  private readonly faultInput: GpioInput | undefined;
  private readonly enable: GpioOutput | undefined;
  private readonly pwm: PilotPwm | undefined;
  private readonly healthState = new HealthState((h) => this.emit('health', h));
  private started = false;
  private current: PilotState = 'A';
  private limit: number;
  private enableFailed = false;
  private pwmFailed = false;

  constructor(
    options: GpioPilotOptions,
    private readonly deps: GpioDeps,
    private readonly outlet: PilotOutlet,
  ) {
    super();
    this.limit = outlet.maxCurrentA;
    this.connected = new GpioInput(options.connected, deps);
    this.ready = new GpioInput(options.ready, deps);
    this.faultInput = options.fault && new GpioInput(options.fault, deps);
    this.enable = options.enable && new GpioOutput(options.enable, deps.lines);
    if (options.pwm) {
      if (!deps.pwm) throw new Error(`pilot PWM ${pwmName(options.pwm)}: no PWM factory given`);
      this.pwm = new PilotPwm(options.pwm, deps.pwm, outlet.maxCurrentA);
    }
    this.inputs = [
      { role: 'connected', input: this.connected },
      { role: 'ready', input: this.ready },
      ...(this.faultInput ? [{ role: 'fault', input: this.faultInput }] : []),
    ];
    for (const { input } of this.inputs) {
      input.on('change', () => this.update());
      input.on('readable', () => this.update());
    }
    outlet.relay.on('change', () => {
      if (!this.started) return;
      // A failed write shows in health; the relay's own command went through, so no caller hears
      // of it: logged here.
      this.logFailure(this.driveEnable(), 'pilot enable write failed');
      this.update();
    });
  }

  async start(): Promise<void> {
    if (this.started) return;
    openAll([...this.inputs.map((i) => i.input), this.enable, this.pwm], this.deps.logger);
    this.started = true;
    // A limit set before start takes effect now; a failure shows in health (and is logged), not
    // as a failed start.
    this.logFailure(this.driveEnable(), 'pilot enable write failed');
    this.logFailure(this.drivePwm(), 'pilot PWM write failed');
    this.update();
  }

  /**
   * Withdraws the charge permission and offers no current (the PWM's pause level); before
   * start() only these outputs are opened. Drives both even when one fails, then throws.
   */
  safe(): void {
    let first: unknown;
    for (const output of [this.enable, this.pwm]) {
      try {
        output?.safe();
      } catch (err) {
        first ??= err;
      }
    }
    if (first !== undefined) throw first;
  }

  async stop(): Promise<void> {
    // Only safe() ran: release its line, which stays inactive.
    if (!this.started) return closeAll([this.enable, this.pwm], this.deps.logger);
    this.started = false;
    // Withdraw the charge permission rather than leave it latched on an unwatched line.
    try {
      this.enable?.set(false);
    } catch (err) {
      this.deps.logger.error({ err, line: this.enable?.name }, 'pilot enable could not be cleared at stop');
    }
    // The PWM is paused by its close.
    closeAll([...this.inputs.map((i) => i.input), this.enable, this.pwm], this.deps.logger);
  }

  state(): PilotState {
    return this.current;
  }

  async setCurrentLimit(amps: number): Promise<void> {
    checkLimit(amps, 'pilot current limit', 'A');
    this.limit = amps;
    if (!this.started) return;
    const failures = [this.driveEnable(), this.drivePwm()].filter((e) => e !== undefined);
    this.update();
    // Not logged here: the caller (the charging limit) logs it, with the connector. Both outputs
    // failing are one error naming both.
    const [first] = failures;
    if (!first) return;
    if (failures.length === 1) throw first;
    throw new Error(failures.map((e) => e.message).join('; '), { cause: first });
  }

  currentLimit(): number {
    return this.limit;
  }

  health(): DeviceHealth {
    return this.healthState.get();
  }

  private driveEnable(): Error | undefined {
    if (!this.enable) return undefined;
    try {
      this.enable.set(this.limit > 0 && this.outlet.relay.isClosed());
      this.enableFailed = false;
      return undefined;
    } catch (err) {
      this.enableFailed = true;
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  private drivePwm(): Error | undefined {
    if (!this.pwm) return undefined;
    try {
      this.pwm.offer(this.limit);
      this.pwmFailed = false;
      return undefined;
    } catch (err) {
      this.pwmFailed = true;
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  /** A write failure no caller hears of (the error names the output). */
  private logFailure(err: Error | undefined, msg: string): void {
    if (err) this.deps.logger.error({ err, amps: this.limit }, msg);
  }

  private update(): void {
    const next: PilotState = this.faultInput?.isActive()
      ? 'F'
      : !this.connected.isActive()
        ? 'A'
        : this.ready.isActive()
          ? 'C'
          : 'B';
    if (next !== this.current) {
      this.current = next;
      this.emit('state', next);
    }
    const unreadable = this.inputs.find((i) => !i.input.readable());
    if (unreadable) {
      this.healthState.set({
        ok: false,
        fault: 'EVCommunicationError',
        info: `pilot ${unreadable.role} input unreadable`,
      });
    } else if (next === 'F') {
      this.healthState.set({ ok: false, fault: 'EVCommunicationError', info: 'pilot fault input active' });
    } else if (this.enableFailed) {
      this.healthState.set({ ok: false, fault: 'InternalError', info: 'pilot enable output write failed' });
    } else if (this.pwmFailed) {
      this.healthState.set({ ok: false, fault: 'InternalError', info: 'pilot PWM output write failed' });
    } else {
      this.healthState.set(HEALTHY);
    }
  }
}

/**
 * Connector lock driven by one output. With feedback, lock()/unlock() wait up to `timeoutMs` for
 * the feedback to confirm; without, the command is taken as done. A newer command supersedes a
 * pending one, which then resolves false without counting as a failure. Feedback that leaves the
 * commanded state on its own is a ConnectorLockFailure too. A failure lasts until the next lock
 * or unlock succeeds. A feedback line that cannot be read is a ConnectorLockFailure while it lasts,
 * as the relay's is: its last reading is stale, so the lock is not known locked and confirms no
 * command until the line reads again.
 */
export class GpioLock extends EventEmitter<HealthEvents> implements ConnectorLock {
  private readonly output: GpioOutput;
  private readonly feedbackInput: GpioInput | undefined;
  private readonly healthState = new HealthState((h) => this.emit('health', h));
  private started = false;
  private commanded = false;
  /** Why the last command failed, or the lock moved by itself; cleared by the next success. */
  private failure: string | undefined;
  private waiting: { target: boolean; timer: Timer; resolve: (ok: boolean) => void } | undefined;

  constructor(
    private readonly options: GpioLockOptions,
    private readonly deps: GpioDeps,
  ) {
    super();
    this.output = new GpioOutput(options, deps.lines);
    const fb = options.feedback;
    this.feedbackInput = fb && new GpioInput({ line: fb.line, activeLow: fb.activeLow }, deps);
    this.feedbackInput?.on('readable', () => this.updateHealth());
    this.feedbackInput?.onReading((locked) => this.onFeedback(locked));
  }

  async start(): Promise<void> {
    if (this.started) return;
    openAll([this.output, this.feedbackInput], this.deps.logger);
    this.started = true;
    this.commanded = false;
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.finish(false);
    closeAll([this.output, this.feedbackInput], this.deps.logger);
  }

  async lock(): Promise<boolean> {
    return this.command(true);
  }

  async unlock(): Promise<boolean> {
    return this.command(false);
  }

  /** Confirmed state where feedback exists (false while it cannot be read), else the commanded one. */
  isLocked(): boolean {
    if (!this.feedbackInput) return this.commanded;
    return this.feedbackInput.readable() && this.feedbackInput.isActive();
  }

  feedback(): boolean | undefined {
    return this.feedbackInput?.isActive();
  }

  feedbackReadable(): boolean {
    return this.feedbackInput?.readable() ?? true;
  }

  health(): DeviceHealth {
    return this.healthState.get();
  }

  /** A current reading of the feedback: the pending command's confirmation, or a lock that moved by itself. */
  private onFeedback(locked: boolean): void {
    if (this.waiting) {
      if (this.waiting.target === locked) this.finish(true);
      return;
    }
    // Not asked for: a cable forced out of its lock must stop the energy (the fault does).
    if (this.started && locked !== this.commanded)
      this.fail(locked ? 'lock engaged while commanded unlocked' : 'lock released while commanded locked');
  }

  /** A failed command or a lock that moved by itself: a fault until the next command succeeds. */
  private fail(failure: string | undefined): void {
    this.failure = failure;
    this.updateHealth();
  }

  /** An unreadable feedback is a fault while it lasts, as the relay's is: the lock is not known locked. */
  private updateHealth(): void {
    const info =
      this.feedbackInput && !this.feedbackInput.readable() ? 'lock feedback unreadable' : this.failure;
    this.healthState.set(info ? { ok: false, fault: 'ConnectorLockFailure', info } : HEALTHY);
  }

  private command(locked: boolean): Promise<boolean> {
    const verb = locked ? 'lock' : 'unlock';
    if (!this.started) throw new Error(`lock on ${this.output.name}: ${verb}() before start()`);
    this.finish(false);
    try {
      this.output.set(locked);
    } catch (err) {
      this.deps.logger.error({ err, line: this.output.name }, `connector ${verb} failed`);
      this.fail(`${verb} output write failed`);
      return Promise.resolve(false);
    }
    this.commanded = locked;
    // A stale reading confirms nothing: an unreadable feedback waits for the line to read again.
    if (!this.feedbackInput || (this.feedbackInput.readable() && this.feedbackInput.isActive() === locked)) {
      this.fail(undefined);
      return Promise.resolve(true);
    }
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
    return new Promise((resolve) => {
      const timer = this.deps.clock.setTimeout(
        () => this.finish(false, `${verb} not confirmed by feedback within ${timeoutMs} ms`),
        timeoutMs,
      );
      this.waiting = { target: locked, timer, resolve };
    });
  }

  /** Settles the pending command; `failure` marks it a lock fault (a superseded one is not). */
  private finish(ok: boolean, failure?: string): void {
    const waiting = this.waiting;
    if (!waiting) return;
    this.waiting = undefined;
    waiting.timer.cancel();
    if (ok || failure) this.fail(failure);
    waiting.resolve(ok);
  }
}

/**
 * Emergency stop or tamper switch. An input that cannot be read counts as active: a safety
 * input nobody can see must stop charging rather than be assumed released.
 */
export class GpioFaultInput extends EventEmitter<{ change: [active: boolean] }> implements FaultInput {
  readonly kind: BoardFaultKind;
  private readonly input: GpioInput;
  private active = false;

  constructor(options: GpioFaultInputOptions, deps: GpioDeps) {
    super();
    this.kind = options.kind;
    this.input = new GpioInput(options, deps);
    this.input.on('change', () => this.update());
    this.input.on('readable', () => this.update());
  }

  async start(): Promise<void> {
    this.input.open();
    this.update();
  }

  async stop(): Promise<void> {
    this.input.close();
  }

  isActive(): boolean {
    return this.active;
  }

  readable(): boolean {
    return this.input.readable();
  }

  private update(): void {
    const active = this.input.isActive() || !this.input.readable();
    if (active === this.active) return;
    this.active = active;
    this.emit('change', active);
  }
}
