/**
 * The hardware self-test of an idle, unplugged connector (`cpctl selftest`): each device answers
 * and does what it is told, with the time it took. The contactor is driven through the charging
 * limit (its one owner), last, and opened whatever happens; the connector is held meanwhile, so no
 * session starts there, and its OCPP status does not change for the test itself.
 */
import type {
  Board,
  ConnectorHardware,
  FaultInput,
  MeterReading,
  PilotState,
  Relay,
} from '../../hal/types.js';
import type { Clock, Timer } from '../clock.js';
import { errorMessage } from '../error-message.js';
import type { Logger } from '../log.js';
import type { ChargingLimit } from './charging-limit.js';
import type { Station } from './station.js';
import type { TransactionEngine } from './transactions.js';

export type SelfTestStepName =
  | 'pilot'
  | 'faultInput'
  | 'reader'
  | 'meter'
  | 'lock'
  | 'unlock'
  | 'contactorClose'
  | 'contactorOpen';

/** `n/a`: the connector has no such device; `skipped`: the step could not run (it does not pass). */
export type SelfTestResult = 'pass' | 'fail' | 'skipped' | 'n/a';

export interface SelfTestStep {
  step: SelfTestStepName;
  /** The device, for steps run once per device (a reader's name, a fault input's kind). */
  device?: string;
  result: SelfTestResult;
  /** How long the step took, ms: for the contactor and the lock, from the command to its confirmation. */
  ms: number;
  /** What was measured, or why the step failed or was skipped. */
  detail: string;
  /** Contactor and lock: a feedback input confirmed the command (false: there is none to ask). */
  feedback?: boolean;
  /** The pilot step: the state read. */
  pilot?: PilotState;
  /** The meter step: what the meter says it is, and the reading it gave. */
  meter?: { type?: string; serialNumber?: string; reading?: MeterReading };
}

export interface SelfTestReport {
  connectorId: number;
  /** Every step passed (or does not apply to this connector). */
  passed: boolean;
  /** Epoch ms the test began. */
  startedAt: number;
  durationMs: number;
  /** Why the test ended before its last step (a cable plugged in), if it did. */
  aborted?: string;
  steps: SelfTestStep[];
}

/** The connector may not be tested now; the message says why. */
export class SelfTestRefused extends Error {}

/**
 * Statuses a self-test may start from: no cable, no session, no reservation. Faulted is one of
 * them: finding the faulty device is what a technician runs it for (the contactor step then
 * does not close: the charging limit keeps a faulted connector's contactor open).
 */
const TESTABLE: ReadonlySet<string> = new Set(['Available', 'Unavailable', 'Faulted']);

/** How long the charging limit may take to command the contactor as the test asks, ms. */
const COMMAND_WAIT_MS = 1_000;

export interface SelfTestDeps {
  board: Pick<Board, 'readers' | 'faultInputs'>;
  station: Pick<Station, 'status'>;
  /** Holds the connector: no session starts there during the test. */
  sessions: Pick<TransactionEngine, 'hold'>;
  /**
   * The owner of the contactor: the test closes it as a relay test, and releases the cable only
   * once the contactor is known open.
   */
  limit: Pick<ChargingLimit, 'testRelay' | 'contactorOpen' | 'whenContactorOpen'>;
  clock: Clock;
  log: Logger;
}

/** One test under way: it ends early once `abort` is called. */
class Run {
  reason: string | undefined;
  private readonly waiters = new Set<() => void>();
  private finish: () => void = () => {};
  /** Resolves once the test has ended: contactor open, lock released, connector no longer held. */
  readonly ended = new Promise<void>((resolve) => {
    this.finish = resolve;
  });

  constructor(readonly hw: ConnectorHardware) {}

  end(): void {
    this.finish();
  }

  abort(reason: string): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    for (const wake of this.waiters) wake();
  }

  /** `work`'s outcome, or `onAbort` as soon as the run is aborted (at once if it already is). */
  race<T>(work: Promise<T>, onAbort: T): Promise<T> {
    if (this.reason !== undefined) return Promise.resolve(onAbort);
    let wake: () => void = () => {};
    const aborted = new Promise<T>((resolve) => {
      wake = () => resolve(onAbort);
      this.waiters.add(wake);
    });
    return Promise.race([work, aborted]).finally(() => this.waiters.delete(wake));
  }
}

/** Runs self-tests, at most one per connector at a time. */
export class SelfTests {
  private readonly running = new Map<number, Run>();
  /** The runtime is stopping: no test starts any more. */
  private closed = false;

  constructor(private readonly deps: SelfTestDeps) {}

  /** A self-test is under way on this connector. */
  isRunning(connectorId: number): boolean {
    return this.running.has(connectorId);
  }

  /** Why this connector may not be tested now, or undefined when it may. */
  refusal(hw: ConnectorHardware): string | undefined {
    if (this.running.has(hw.id)) return 'already under a self-test';
    if (hw.plugged()) return 'plugged in (unplug the cable first)';
    const status = this.deps.station.status(hw.id)?.status ?? 'unknown';
    if (!TESTABLE.has(status)) return `${status} (a session or reservation holds it)`;
    return undefined;
  }

  /**
   * Tests a connector. Throws SelfTestRefused when it is plugged, has a session or a reservation,
   * or is already under test. Whatever a step does, the contactor is open and the lock released at
   * the end.
   */
  async run(hw: ConnectorHardware): Promise<SelfTestReport> {
    if (this.closed) throw new SelfTestRefused(`connector ${hw.id} not tested: the daemon is stopping`);
    const refusal = this.refusal(hw);
    if (refusal) throw new SelfTestRefused(`connector ${hw.id} is ${refusal}`);
    const release = this.deps.sessions.hold(hw.id);
    if (!release) throw new SelfTestRefused(`connector ${hw.id} has a session (pending or finishing)`);
    const { clock, log } = this.deps;
    const run = new Run(hw);
    this.running.set(hw.id, run);
    const startedAt = clock.now();
    const began = clock.monotonic();
    const steps: SelfTestStep[] = [];
    // A driver arriving, or the emergency stop pressed, ends the test at once.
    const onPlug = (plugged: boolean): void => {
      if (plugged) this.abortRun(run, 'a cable was plugged in');
    };
    const onEmergencyStop = (active: boolean): void => {
      if (active) this.abortRun(run, 'the emergency stop was pressed');
    };
    const emergencyStops = this.emergencyStops();
    hw.on('plug', onPlug);
    for (const input of emergencyStops) input.on('change', onEmergencyStop);
    log.warn({ connectorId: hw.id, origin: 'local' }, 'self-test started');
    try {
      const stages: Array<[SelfTestStepName, () => Promise<SelfTestStep[]>]> = [
        ['pilot', async () => [this.pilot(hw)]],
        ['faultInput', async () => this.faultInputs()],
        ['reader', async () => this.readers(hw)],
        ['meter', async () => [await this.meter(hw, run)]],
        ['lock', async () => this.actuated('lock', () => this.lock(hw, run))],
        ['contactorClose', async () => this.actuated('contactorClose', () => this.contactor(hw, run))],
      ];
      for (const [name, stage] of stages) {
        if (run.reason !== undefined) break;
        steps.push(...(await failedIfThrown(name, stage)));
      }
    } finally {
      hw.off('plug', onPlug);
      for (const input of emergencyStops) input.off('change', onEmergencyStop);
      try {
        const kept = await this.restore(hw);
        if (kept) steps.push(kept);
      } finally {
        // Even should restoring throw: a connector left held would never start a session again.
        release();
        this.running.delete(hw.id);
        run.end();
      }
    }
    const report: SelfTestReport = {
      connectorId: hw.id,
      passed: run.reason === undefined && steps.every((s) => s.result === 'pass' || s.result === 'n/a'),
      startedAt,
      durationMs: Math.round(clock.monotonic() - began),
      ...(run.reason === undefined ? {} : { aborted: run.reason }),
      steps,
    };
    log.warn(
      {
        connectorId: hw.id,
        passed: report.passed,
        failed: steps.filter((s) => s.result === 'fail').map((s) => s.device ?? s.step),
        ...(report.aborted ? { aborted: report.aborted } : {}),
      },
      'self-test ended',
    );
    return report;
  }

  /**
   * The runtime is stopping: no test starts any more, and those under way end now, their
   * contactors commanded open at once. Resolves once each has ended (contactor open, lock
   * released).
   */
  close(): Promise<void> {
    this.closed = true;
    const runs = [...this.running.values()];
    for (const run of runs) this.abortRun(run, 'the daemon is stopping');
    return Promise.all(runs.map((run) => run.ended)).then(() => undefined);
  }

  /**
   * Ends the test under way on this connector early, as a cable plugged in does: its contactor is
   * commanded open at once and the report says `reason`. False when no test runs there.
   */
  abort(connectorId: number, reason: string): boolean {
    const run = this.running.get(connectorId);
    if (!run) return false;
    this.abortRun(run, reason);
    return true;
  }

  /** Ends a test early; its contactor is commanded open then, not when its step notices. */
  private abortRun(run: Run, reason: string): void {
    run.abort(reason);
    void this.openContactor(run.hw);
  }

  private pilot(hw: ConnectorHardware): SelfTestStep {
    const { pilot } = hw.devices;
    const health = pilot.health();
    const state = pilot.state();
    const step = { step: 'pilot', ms: 0, pilot: state } as const;
    if (!health.ok) return { ...step, result: 'fail', detail: described(health.fault, health.info) };
    if (state !== 'A') return { ...step, result: 'fail', detail: `state ${state}, expected A (no EV)` };
    return { ...step, result: 'pass', detail: 'state A (no EV)' };
  }

  /**
   * `drive`'s steps, unless an emergency stop is active (or unreadable, which counts as active):
   * nothing moves while it is pressed, a lock motor no more than the contactor.
   */
  private async actuated(
    step: SelfTestStepName,
    drive: () => Promise<SelfTestStep[]>,
  ): Promise<SelfTestStep[]> {
    const pressed = this.emergencyStops().some((input) => !input.readable() || input.isActive());
    if (!pressed) return drive();
    return [
      {
        step,
        result: 'skipped',
        ms: 0,
        detail: 'not driven: the emergency stop is active (release it first)',
      },
    ];
  }

  private emergencyStops(): FaultInput[] {
    return this.deps.board.faultInputs.filter((input) => input.kind === 'emergencyStop');
  }

  private faultInputs(): SelfTestStep[] {
    const inputs = this.deps.board.faultInputs;
    if (inputs.length === 0)
      return [{ step: 'faultInput', result: 'n/a', ms: 0, detail: 'the board has no fault inputs' }];
    return inputs.map((input) => {
      const step = { step: 'faultInput', device: input.kind, ms: 0 } as const;
      if (!input.readable()) return { ...step, result: 'fail', detail: 'unreadable (counts as active)' };
      return {
        ...step,
        result: 'pass',
        detail: input.isActive() ? 'readable, active' : 'readable, inactive',
      };
    });
  }

  private readers(hw: ConnectorHardware): SelfTestStep[] {
    const serving = this.deps.board.readers.filter((r) => r.connectorIds.includes(hw.id));
    if (serving.length === 0)
      return [{ step: 'reader', result: 'n/a', ms: 0, detail: 'no card reader serves this connector' }];
    return serving.map(({ reader }) => {
      const health = reader.health();
      const step = { step: 'reader', device: reader.name, ms: 0 } as const;
      return health.ok
        ? { ...step, result: 'pass', detail: 'open and answering' }
        : { ...step, result: 'fail', detail: described(health.fault, health.info) };
    });
  }

  private async meter(hw: ConnectorHardware, run: Run): Promise<SelfTestStep> {
    const { meter } = hw.devices;
    if (!meter) return { step: 'meter', result: 'n/a', ms: 0, detail: 'the connector has no meter' };
    const identity = {
      ...(meter.type === undefined ? {} : { type: meter.type }),
      ...(meter.serialNumber === undefined ? {} : { serialNumber: meter.serialNumber }),
    };
    const timer = this.timer();
    try {
      const reading = await run.race(meter.readNow(), undefined);
      if (!reading) return { step: 'meter', result: 'skipped', ms: timer(), detail: run.reason ?? 'aborted' };
      return {
        step: 'meter',
        result: 'pass',
        ms: timer(),
        detail: `${meterName(identity)}: ${reading.energyImportWh} Wh at ${new Date(reading.at).toISOString()}`,
        meter: { ...identity, reading },
      };
    } catch (error) {
      return {
        step: 'meter',
        result: 'fail',
        ms: timer(),
        detail: `${meterName(identity)}: no reading (${errorMessage(error)})`,
        meter: identity,
      };
    }
  }

  private async lock(hw: ConnectorHardware, run: Run): Promise<SelfTestStep[]> {
    const { lock } = hw.devices;
    if (!lock)
      return [
        { step: 'lock', result: 'n/a', ms: 0, detail: 'no connector lock (fixed cable or none fitted)' },
      ];
    const steps: SelfTestStep[] = [];
    for (const [step, command] of [
      ['lock', () => lock.lock()],
      ['unlock', () => lock.unlock()],
    ] as const) {
      if (run.reason !== undefined) break;
      // IEC 61851-1: a cable (one plugged in mid-test) is never released over conductors that may
      // be live; the test's end keeps it locked too, and says until when.
      if (step === 'unlock' && !this.deps.limit.contactorOpen(hw.id)) {
        steps.push({
          step,
          result: 'fail',
          ms: 0,
          detail: `not unlocked: the contactor is not known open (${this.notKnownOpen(hw)})`,
        });
        break;
      }
      const timer = this.timer();
      const done = await run.race(command(), undefined);
      const ms = timer();
      const feedback = lock.feedback() !== undefined;
      if (done === undefined) steps.push({ step, result: 'skipped', ms, detail: run.reason ?? 'aborted' });
      else if (done)
        steps.push({
          step,
          result: 'pass',
          ms,
          feedback,
          detail: feedback ? `${step}ed, confirmed by feedback` : `${step}ed (no feedback input)`,
        });
      else {
        const health = lock.health();
        steps.push({
          step,
          result: 'fail',
          ms,
          feedback,
          detail: health.ok ? `${step} failed` : described(health.fault, health.info),
        });
      }
    }
    return steps;
  }

  /**
   * Close, then open. A contact already closed while commanded open is welded: the contactor is
   * then not closed at all. A faulted connector's contactor stays open (the charging limit's rule),
   * so that step is skipped and says why.
   */
  private async contactor(hw: ConnectorHardware, run: Run): Promise<SelfTestStep[]> {
    const { relay } = hw.devices;
    // A contact that cannot be read is no weld: its connector is faulted, and the step says so below.
    if (relay.feedbackReadable() && relay.feedback() === true && !relay.isClosed())
      return [
        {
          step: 'contactorClose',
          result: 'fail',
          ms: 0,
          feedback: true,
          detail: 'welded: the contact is closed while commanded open (not closed for the test)',
        },
      ];
    const fault = hw.fault();
    if (fault)
      return [
        {
          step: 'contactorClose',
          result: 'skipped',
          ms: 0,
          detail: `connector faulted (${described(fault.fault, fault.info)}): the contactor stays open`,
        },
      ];
    // A fault meanwhile (the relay finding its contact stuck) opens the contactor; the test must
    // then end too, or the charging limit would close it again once the fault clears.
    const onFault = (): void => {
      if (hw.fault()) void this.deps.limit.testRelay(hw.id, false);
    };
    hw.on('fault', onFault);
    try {
      const steps = [await this.switchContactor(hw, true, run)];
      // Opened whatever the close did: the test must end with the contact confirmed open.
      steps.push(await this.switchContactor(hw, false, run));
      return steps;
    } finally {
      hw.off('fault', onFault);
    }
  }

  private async switchContactor(hw: ConnectorHardware, closed: boolean, run: Run): Promise<SelfTestStep> {
    const { relay } = hw.devices;
    const step = closed ? 'contactorClose' : 'contactorOpen';
    if (closed && run.reason !== undefined) return { step, result: 'skipped', ms: 0, detail: run.reason };
    const timer = this.timer();
    // Watched from before the command: a relay that finds its own contact wrong is a fault, and
    // the charging limit may undo the command before the call below returns.
    const commanded = this.relayReaches(relay, 'change', closed, COMMAND_WAIT_MS);
    await this.deps.limit.testRelay(hw.id, closed);
    // An abort ends a close at once; an open is waited for whatever happens, it is what ends the test.
    const untilAborted = (work: Promise<boolean>): Promise<boolean> =>
      closed ? run.race(work, false) : work;
    const reached = await untilAborted(commanded);
    // A cable plugged in meanwhile opened it again: the close was not tested, nothing failed.
    if (closed && run.reason !== undefined)
      return { step, result: 'skipped', ms: timer(), detail: run.reason };
    const contact = relay.feedback();
    if (reached && contact === undefined) {
      const what = relay.switchesOnPilot
        ? `charge permission ${closed ? 'given' : 'withdrawn'} (the controller switches the contactor for an EV only; no feedback input)`
        : `${closed ? 'closed' : 'opened'} (no feedback input)`;
      return { step, result: 'pass', ms: timer(), feedback: false, detail: what };
    }
    const settleMs = relay.feedbackSettleMs ?? 0;
    const followed = reached && (await untilAborted(this.relayReaches(relay, 'feedback', closed, settleMs)));
    const ms = timer();
    if (followed)
      return {
        step,
        result: 'pass',
        ms,
        feedback: true,
        detail: `${closed ? 'closed' : 'opened'}, confirmed by feedback`,
      };
    if (closed && run.reason !== undefined) return { step, result: 'skipped', ms, detail: run.reason };
    if (!reached)
      return {
        step,
        result: 'fail',
        ms,
        detail: closed
          ? `not closed: ${hw.fault()?.fault ?? 'the charging limit kept it open'}`
          : 'still commanded closed',
      };
    // Its last reading is stale: neither confirmed nor known welded or stuck.
    if (!relay.feedbackReadable())
      return {
        step,
        result: 'fail',
        ms,
        feedback: true,
        detail: `${closed ? 'closed' : 'opened'}, not confirmed: the feedback contact cannot be read`,
      };
    return {
      step,
      result: 'fail',
      ms,
      feedback: true,
      detail: closed
        ? `stuck open: the contact did not close within ${settleMs} ms`
        : `welded: the contact did not open within ${settleMs} ms`,
    };
  }

  /**
   * Resolves true once the relay's command (`change`) or contact (`feedback`) reads `closed`, now
   * or at one of its events within `withinMs`; else false.
   */
  private relayReaches(
    relay: Relay,
    event: 'change' | 'feedback',
    closed: boolean,
    withinMs: number,
  ): Promise<boolean> {
    const now = (): boolean =>
      event === 'change'
        ? relay.isClosed() === closed
        : relay.feedbackReadable() && relay.feedback() === closed;
    if (now()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const onEvent = (value: boolean): void => {
        if (value === closed) done(true);
      };
      const done = (reached: boolean): void => {
        timer.cancel();
        relay.off(event, onEvent);
        resolve(reached);
      };
      relay.on(event, onEvent);
      const timer: Timer = this.deps.clock.setTimeout(() => done(now()), withinMs);
    });
  }

  /**
   * The contactor open and the cable released, as an idle connector has them. A cable locked over
   * a contactor not known open (a failed open, a weld) stays locked (IEC 61851-1: never pulled
   * under load) until the contactor opens, as after a session: the failed unlock step says so.
   */
  private async restore(hw: ConnectorHardware): Promise<SelfTestStep | undefined> {
    await this.openContactor(hw);
    const { lock } = hw.devices;
    if (!lock?.isLocked()) return undefined;
    // Released later, the connector is held while it is: a session or another test that has it by
    // then has the lock too.
    let held: (() => void) | undefined;
    const released = await this.deps.limit.whenContactorOpen(
      hw.id,
      async () => {
        try {
          await this.releaseLock(hw);
        } finally {
          held?.();
        }
      },
      () => {
        held = this.closed ? undefined : this.deps.sessions.hold(hw.id);
        return held !== undefined;
      },
    );
    if (released) return undefined;
    return {
      step: 'unlock',
      result: 'fail',
      ms: 0,
      detail: `cable kept locked: the contactor is not known open (${this.notKnownOpen(hw)}); released once it opens`,
    };
  }

  /** Why the charging limit does not know the contactor open: the relay's fault, else its command. */
  private notKnownOpen(hw: ConnectorHardware): string {
    const health = hw.devices.relay.health();
    return health.ok ? 'commanded closed' : described(health.fault, health.info);
  }

  private async releaseLock(hw: ConnectorHardware): Promise<void> {
    try {
      await hw.devices.lock?.unlock();
    } catch (error) {
      this.deps.log.error({ connectorId: hw.id, err: errorMessage(error) }, 'self-test: lock not released');
    }
  }

  /**
   * Ends the relay test at the contactor's owner; should that not open it (the owner failed), the
   * relay is opened directly: no session holds it, and a test must never leave it closed.
   */
  private async openContactor(hw: ConnectorHardware): Promise<void> {
    const { relay } = hw.devices;
    const { log } = this.deps;
    try {
      await this.deps.limit.testRelay(hw.id, false);
    } catch (error) {
      log.error({ connectorId: hw.id, err: errorMessage(error) }, 'self-test: relay test not ended');
    }
    if (!relay.isClosed()) return;
    log.error({ connectorId: hw.id }, 'self-test: contactor still closed, opening it directly');
    try {
      await relay.set(false);
    } catch (error) {
      log.error({ connectorId: hw.id, err: errorMessage(error) }, 'self-test: contactor could not be opened');
    }
  }

  /** Starts timing; the function returns the ms elapsed, rounded. */
  private timer(): () => number {
    const { clock } = this.deps;
    const began = clock.monotonic();
    return () => Math.round(clock.monotonic() - began);
  }
}

function described(fault: string, info: string | undefined): string {
  return info ? `${fault}: ${info}` : fault;
}

function meterName(identity: { type?: string; serialNumber?: string }): string {
  return `${identity.type ?? 'meter'}${identity.serialNumber === undefined ? '' : ` serial ${identity.serialNumber}`}`;
}

/**
 * A stage's steps, or one failed step with the error when the stage throws (a driver's bug, a
 * device gone mid-command): the report still comes, and the stages after it still run.
 */
async function failedIfThrown(
  step: SelfTestStepName,
  stage: () => Promise<SelfTestStep[]>,
): Promise<SelfTestStep[]> {
  try {
    return await stage();
  } catch (err) {
    return [{ step, result: 'fail', ms: 0, detail: `error: ${errorMessage(err)}` }];
  }
}
