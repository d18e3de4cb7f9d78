import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Clock, Timer } from '../clock.js';
import type { Logger } from '../log.js';
import { ACTION_INFO, type InboundAction, isAction, type OutboundAction } from './actions.js';
import {
  CallError,
  type CallErrorCode,
  CallTimeoutError,
  NotConnectedError,
  normalizeCallErrorCode,
} from './errors.js';
import {
  type CallErrorFrame,
  type CallFrame,
  type CallResultFrame,
  DEFAULT_MAX_FRAME_BYTES,
  type MalformedFrame,
  MESSAGE_TYPE,
  type Payload,
  parseFrame,
  serializeCall,
  serializeError,
  serializeResult,
} from './frames.js';
import type { Action, RequestOf, ResponseOf } from './generated/messages.js';
import { validateRequest, validateResponse } from './validator.js';

export interface Transport {
  /** False when the socket is not open. */
  send(text: string): boolean;
  /**
   * Runs `write` (synchronous) and lets the frames it sends leave together, in one write to the
   * socket: an answer and the CALL it sets off (a triggered message) then cost one system call, and
   * reach the central system together, instead of two. Optional: without it each frame leaves alone.
   */
  corked?(write: () => void): void;
}

/** closed: send no CALL; boot-only: only BootNotification; open: all. */
export type Gate = 'closed' | 'boot-only' | 'open';

export interface HandlerContext {
  messageId: string;
  /**
   * Runs `fn` once the CALLRESULT to this CALL has been written to the transport, for synchronous
   * and asynchronous handlers alike: whatever the handler sets off (a reset, a reconnect, a
   * triggered message) then never overtakes the answer. Not run when the answer is a CALLERROR or
   * cannot be sent (the connection changed).
   */
  afterAnswer(fn: () => void): void;
}

export type Handler<A extends InboundAction> = (
  req: RequestOf<A>,
  ctx: HandlerContext,
) => ResponseOf<A> | Promise<ResponseOf<A>>;

export interface RpcOptions {
  log: Logger;
  clock: Clock;
  callTimeoutMs: number;
  maxFrameBytes?: number;
}

export interface CallOptions {
  timeoutMs?: number;
  /**
   * The central system asked for this message (TriggerMessage): it may leave while the gate is
   * boot-only, i.e. while our registration is Pending (spec 4.2.1).
   */
  triggered?: boolean;
  /**
   * A message of the durable queue (the outbox): never cut short for an urgent call, whatever its
   * action, since the outbox would only send it again, and the central system would get it twice.
   */
  queued?: boolean;
}

/** The options of a message the central system asked for (TriggerMessage, ExtendedTriggerMessage). */
export const TRIGGERED: CallOptions = { triggered: true };

export interface FrameEvent {
  direction: 'in' | 'out';
  text: string;
  /**
   * The OCPP-J header as the RPC read or wrote the frame, so that a listener (the trace) need not
   * parse the text again; absent for a frame that is not well-formed OCPP-J.
   */
  header?: FrameHeader;
}

/** A well-formed frame's type, message id and, for a CALL, action. */
export interface FrameHeader {
  messageType: (typeof MESSAGE_TYPE)[keyof typeof MESSAGE_TYPE];
  messageId: string;
  action?: string;
}

/**
 * A white-paper security event the RPC detects: a frame that fails framing or schema validation
 * (InvalidMessages), or one that repeats what was already seen (AttemptedReplayAttacks): an
 * answer to a call already answered or never sent, a central-system CALL reusing a message id on
 * the same connection (OCPP-J 4.1.1: unique per sender and connection). Late answers are not.
 */
export interface RpcSecurityEvent {
  type: 'InvalidMessages' | 'AttemptedReplayAttacks';
  techInfo: string;
}

export interface MalformedEvent {
  reason: string;
  text: string;
}

export interface RpcCounters {
  framesIn: number;
  framesOut: number;
  malformed: number;
  invalidPayloads: number;
  callErrorsSent: number;
  callErrorsReceived: number;
  timeouts: number;
  unknownResults: number;
}

type AnyHandler = (req: unknown, ctx: HandlerContext) => unknown;

interface PendingCall {
  messageId: string;
  action: OutboundAction;
  text: string;
  timeoutMs: number;
  triggered: boolean;
  /** Set for a triggered call while queued: a second trigger of the same message joins this one. */
  triggerKey: string | undefined;
  /** Someone waits in front of the charger (URGENT_ACTIONS): goes first, and its timeout runs from the call. */
  urgent: boolean;
  /** Monotonic ms when it was written. */
  sentAt?: number;
  /** Its timeout was shortened because an urgent call waits behind it. */
  preempted?: boolean;
  /** From the outbox (CallOptions.queued): never preempted. */
  queued: boolean;
  resolve(response: unknown): void;
  reject(error: Error): void;
  /** Its own timeout: an urgent call's (from the call), or a preempted one's. */
  timer?: Timer;
  /** Monotonic ms it times out at in flight, when the endpoint's watchdog times it (not `timer`). */
  deadline?: number;
}

/**
 * Calls a driver waits for at the charger. They go ahead of every other queued call, their timeout
 * counts from the moment they were asked for (not from when they could leave), so the authorizer
 * falls back to its offline rules after that time whatever stood in the way.
 */
const URGENT_ACTIONS: ReadonlySet<OutboundAction> = new Set<OutboundAction>(['Authorize']);

/**
 * Calls whose answer carries nothing that must be applied: while an urgent call waits behind one,
 * it is given PREEMPT_AFTER_MS to be answered and then counts as timed out (OCPP-J 4.1.1 allows the
 * next CALL once the previous one "has timed out"). Transaction messages and BootNotification are
 * never cut short: their answers matter and the outbox or registration would only send them again;
 * nor is anything the outbox delivers (a final DiagnosticsStatusNotification: CallOptions.queued).
 */
const PREEMPTIBLE_ACTIONS: ReadonlySet<OutboundAction> = new Set<OutboundAction>([
  'Heartbeat',
  'StatusNotification',
  'DiagnosticsStatusNotification',
  'FirmwareStatusNotification',
]);
export const PREEMPT_AFTER_MS = 1000;

/**
 * Triggered calls waiting at most: a central system that floods TriggerMessage while not answering
 * must not grow the queue without bound (a repeat of one already waiting joins it anyway).
 */
export const MAX_TRIGGERED_QUEUED = 16;

/**
 * A central-system CALL from the moment its handler is called until its answer is written; also
 * the context its handler gets. One object per CALL: what is on the way of every frame allocates
 * as little as it can.
 */
class Dispatch implements HandlerContext {
  /** What waits for the answer (`afterAnswer`): most handlers set nothing, so made on first use. */
  waiting: Array<() => void> | undefined;
  /** Releases the hold on our CALLs if an asynchronous handler takes too long (see `dispatches`). */
  timer: Timer | undefined;

  constructor(
    readonly messageId: string,
    readonly generation: number,
  ) {}

  afterAnswer(fn: () => void): void {
    if (this.waiting) this.waiting.push(fn);
    else this.waiting = [fn];
  }
}

/** A central-system action we answer, with its handler. */
interface Route {
  action: InboundAction;
  handler: AnyHandler;
}

/** One random prefix per process and a counter: unique, cheap, and readable in traces. */
const ID_PREFIX = randomBytes(6).toString('hex');
let idCounter = 0;
function nextMessageId(): string {
  idCounter += 1;
  return `${ID_PREFIX}-${idCounter.toString(36)}`;
}

/** How many timed-out ids we remember, to tell a late answer from a stray one in the log. */
const LATE_IDS_KEPT = 16;
/** Message ids remembered to recognise a replay: ours sent and answered, the central system's CALLs. */
const REPLAY_IDS_KEPT = 256;

/** The CALL the central system sends first in a session after boot, as warmUp rehearses it. */
const REHEARSED_CALL = JSON.stringify([
  MESSAGE_TYPE.CALL,
  'warm-up',
  'RemoteStartTransaction',
  { connectorId: 1, idTag: 'WARM-UP' },
]);

/** The answer to the rehearsal's Heartbeat (its time is never used). */
const REHEARSED_HEARTBEAT_ANSWER = { currentTime: '2026-01-01T00:00:00.000Z' };

/**
 * The OCPP-J RPC endpoint of the charge point: frames, message ids, schema validation, one
 * charge-point CALL in flight at a time, response timeouts, and dispatch of central-system CALLs
 * to handlers. It knows nothing of sockets: the link attaches a Transport and feeds it text.
 *
 * Events: 'frame' (FrameEvent) for every frame in and out, 'malformed' (MalformedEvent),
 * 'securityEvent' (RpcSecurityEvent).
 */
export class RpcEndpoint extends EventEmitter {
  readonly counters: RpcCounters = {
    framesIn: 0,
    framesOut: 0,
    malformed: 0,
    invalidPayloads: 0,
    callErrorsSent: 0,
    callErrorsReceived: 0,
    timeouts: 0,
    unknownResults: 0,
  };

  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly callTimeoutMs: number;
  private readonly maxFrameBytes: number;
  /** By action name: one lookup per CALL finds the handler and the action's schema. */
  private readonly routes = new Map<string, Route>();
  private readonly queue: PendingCall[] = [];
  private readonly lateIds = new IdRing(LATE_IDS_KEPT);
  private readonly sentIds = new IdRing(REPLAY_IDS_KEPT);
  private readonly answeredIds = new IdRing(REPLAY_IDS_KEPT);
  /** The central system's CALL ids on this connection. */
  private readonly inboundCallIds = new RecentIds(REPLAY_IDS_KEPT);
  private inFlight: PendingCall | undefined;
  /**
   * Times out the call in flight at its `deadline`. One exchange after another would otherwise
   * set and clear a timer each (and Node its timer list for the duration): this one stays armed
   * from call to call and, firing before the deadline of the call then in flight (or with none in
   * flight), arms itself again for that call's deadline (or ends).
   */
  private watchdog: Timer | undefined;
  /** Monotonic ms `watchdog` fires at. */
  private watchdogAt = 0;
  private transport: Transport | undefined;
  /** Bumped on every attach and detach, so an answer computed for an old link is not sent on a new one. */
  private linkGeneration = 0;
  // Until boot logic says otherwise, the central system may only hear BootNotification (spec 4.2.1).
  private currentGate: Gate = 'boot-only';
  /** Registration Rejected: central-system CALLs are dropped unanswered (spec 4.2). */
  private silent = false;
  /**
   * Central-system CALLs being handled on this link. While there is one, none of our CALLs is
   * written: a CALL the handler causes, directly or through an event (a status change inside
   * ChangeAvailability), must follow the answer on the wire. A handler that awaited one of our
   * CALLs would wait for itself; none does (only UnlockConnector is asynchronous, and it awaits
   * the engine and the lock, never a CALL), and should one ever do, the hold of an asynchronous
   * handler ends after the call timeout, so it costs a delay, never a deadlock.
   */
  private readonly dispatches: Dispatch[] = [];
  /** The dispatch whose handler is running right now (synchronously), for `afterAnswer`. */
  private current: Dispatch | undefined;
  /**
   * Inbound frames not looked at yet. An answer to our CALL settles the caller's promise; the caller
   * applies it in its continuation (the outbox stores a transactionId there). The next frame waits
   * until those continuations have run (one macrotask: every promise continuation runs before it),
   * so a RemoteStopTransaction right behind a StartTransaction.conf finds the transaction with its
   * id. Holding frames here rather than giving `call()` a synchronous settle hook keeps the
   * guarantee for every caller, registration and the outbox alike, without each one opting in.
   */
  private readonly inbound: string[] = [];
  private awaitingCaller = false;
  private warmedUp = false;

  constructor(opts: RpcOptions) {
    super();
    this.log = opts.log;
    this.clock = opts.clock;
    this.callTimeoutMs = opts.callTimeoutMs;
    this.maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  get gate(): Gate {
    return this.currentGate;
  }

  handle<A extends InboundAction>(action: A, handler: Handler<A>): void {
    if (!isInbound(action)) throw new Error(`${action} is not sent by the central system`);
    if (this.routes.has(action)) throw new Error(`a handler for ${action} is already registered`);
    this.routes.set(action, { action, handler: handler as AnyHandler });
  }

  call<A extends OutboundAction>(
    action: A,
    payload: RequestOf<A>,
    opts: CallOptions = {},
  ): Promise<ResponseOf<A>> {
    if (!this.transport) return Promise.reject(new NotConnectedError(`cannot send ${action}: not connected`));
    const invalid = validateRequest(action, payload);
    if (invalid) {
      this.log.error({ action, reason: invalid.message }, 'refusing to send an invalid request');
      return Promise.reject(new Error(`invalid ${action} request: ${invalid.message}`));
    }
    const messageId = nextMessageId();
    const text = serializeCall(messageId, action, payload);
    const triggerKey = opts.triggered ? `${action}/${connectorOf(payload)}` : undefined;
    if (triggerKey !== undefined && this.queue.length > 0) {
      const twin = this.queue.find((call) => call.triggerKey === triggerKey);
      if (twin) return this.join(twin, serializeCall(twin.messageId, action, payload));
      if (this.triggeredQueued() >= MAX_TRIGGERED_QUEUED) {
        this.log.warn(
          { action, waiting: MAX_TRIGGERED_QUEUED },
          'triggered message dropped: too many waiting',
        );
        return Promise.reject(
          new Error(`${action} not sent: ${MAX_TRIGGERED_QUEUED} triggered messages wait`),
        );
      }
    }
    return new Promise<ResponseOf<A>>((resolve, reject) => {
      const call: PendingCall = {
        messageId,
        action,
        text,
        timeoutMs: opts.timeoutMs ?? this.callTimeoutMs,
        triggered: opts.triggered ?? false,
        queued: opts.queued ?? false,
        triggerKey,
        urgent: URGENT_ACTIONS.has(action),
        resolve: resolve as (response: unknown) => void,
        reject,
      };
      if (call.urgent) this.enqueueUrgent(call);
      else this.queue.push(call);
      this.pump();
    });
  }

  private triggeredQueued(): number {
    let count = 0;
    for (const call of this.queue) if (call.triggered) count += 1;
    return count;
  }

  /** A repeat of a triggered call still queued: the newer payload (same message id) goes, and both callers get its answer. */
  private join<R>(twin: PendingCall, text: string): Promise<R> {
    twin.text = text;
    return new Promise<R>((resolve, reject) => {
      const { resolve: first, reject: firstReject } = twin;
      twin.resolve = (response) => {
        first(response);
        resolve(response as R);
      };
      twin.reject = (error) => {
        firstReject(error);
        reject(error);
      };
    });
  }

  private enqueueUrgent(call: PendingCall): void {
    const behindUrgent = this.queue.findIndex((queued) => !queued.urgent);
    this.queue.splice(behindUrgent < 0 ? this.queue.length : behindUrgent, 0, call);
    call.timer = this.clock.setTimeout(() => this.onTimeout(call), call.timeoutMs);
    const current = this.inFlight;
    if (!current || current.preempted || current.queued || !PREEMPTIBLE_ACTIONS.has(current.action)) return;
    current.preempted = true;
    current.deadline = undefined;
    current.timer?.cancel();
    const left = Math.max(0, (current.sentAt ?? 0) + PREEMPT_AFTER_MS - this.clock.monotonic());
    current.timer = this.clock.setTimeout(() => this.onTimeout(current), left);
  }

  attach(transport: Transport): void {
    // A new link without a detach still means the old one is gone, and with it every pending answer.
    if (this.transport) this.detach();
    this.linkGeneration += 1;
    this.transport = transport;
    this.inboundCallIds.clear();
    this.pump();
  }

  detach(): void {
    this.linkGeneration += 1;
    this.transport = undefined;
    // Frames and handlers of the old link can no longer be answered on it; they hold nothing back.
    this.inbound.length = 0;
    this.awaitingCaller = false;
    for (const dispatch of this.dispatches) dispatch.timer?.cancel();
    this.dispatches.length = 0;
    this.watchdog?.cancel();
    this.watchdog = undefined;
    const pending = this.inFlight ? [this.inFlight, ...this.queue] : [...this.queue];
    this.queue.length = 0;
    this.inFlight = undefined;
    for (const call of pending) {
      call.timer?.cancel();
      call.reject(new NotConnectedError(`${call.action} abandoned: connection closed`));
    }
    this.emit('idle');
  }

  setGate(gate: Gate): void {
    this.currentGate = gate;
    this.pump();
  }

  /** While silent (registration Rejected), central-system CALLs are dropped with a log line, unanswered. */
  setSilent(silent: boolean): void {
    this.silent = silent;
  }

  /**
   * For code a handler reaches without its context (a configuration listener run by
   * ChangeConfiguration): runs `fn` after the answer to the central-system CALL whose handler is
   * running now, as `HandlerContext.afterAnswer`; at once when no handler is running (a local change).
   */
  afterAnswer(fn: () => void): void {
    if (this.current) this.current.afterAnswer(fn);
    else fn();
  }

  /**
   * Resolves once no CALL of ours is in flight (its answer arrived, it timed out, or the link
   * closed), or after `maxWaitMs`. A graceful stop closes the gate and waits here, so the message
   * on the wire is not cut off; calls still queued stay unsent.
   */
  whenIdle(maxWaitMs: number): Promise<void> {
    if (!this.inFlight) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(done, maxWaitMs);
      const self = this;
      function done(): void {
        timer.cancel();
        self.off('idle', done);
        resolve();
      }
      this.on('idle', done);
    });
  }

  /**
   * Rehearses, once and in a later event-loop turn, a central-system CALL: parsed, validated,
   * dispatched to its handler and answered. V8 compiles a function on its first call, and the
   * boot's exchanges are all CALLs of ours: without this, the first CALL from the central system
   * (typically the RemoteStartTransaction of the first session after boot) pays for compiling the
   * dispatch. The rehearsal runs on a throwaway endpoint that shares only this class's code:
   * nothing reaches this endpoint's transport, handlers, counters or `frame` listeners (the
   * trace). It goes on as a TriggerMessage does: the handler sends a CALL of ours once its answer
   * is written (`afterAnswer`), that CALL is answered, and the next frame arrives while the
   * answer's caller runs (it waits in `inbound`). Code that first meets those after V8 optimized
   * the dispatch (the first `Dispatch.waiting` written after its constructor, a field V8 took for
   * a constant; the first frame queued) threw the optimized code away at the first TriggerMessage,
   * well into a session. Resolves with the frames the rehearsal wrote (none when already warmed
   * up). Call it once registered, so it does not delay the BootNotification.
   */
  async warmUp(): Promise<string[]> {
    if (this.warmedUp) return [];
    this.warmedUp = true;
    const written: string[] = [];
    const rehearsal = new RpcEndpoint({
      log: this.log,
      clock: this.clock,
      callTimeoutMs: this.callTimeoutMs,
    });
    rehearsal.attach({ send: (text) => written.push(text) > 0 });
    rehearsal.setGate('open');
    rehearsal.handle('RemoteStartTransaction', (_req, call) => {
      call.afterAnswer(() => void rehearsal.call('Heartbeat', {}).catch(() => undefined));
      return { status: 'Rejected' };
    });
    await new Promise<void>((resolve) => setImmediate(resolve));
    rehearsal.receive(REHEARSED_CALL);
    const heartbeat = written[1] === undefined ? undefined : parseFrame(written[1], this.maxFrameBytes);
    if (heartbeat?.kind === 'call') {
      rehearsal.receive(
        JSON.stringify([MESSAGE_TYPE.CALLRESULT, heartbeat.messageId, REHEARSED_HEARTBEAT_ANSWER]),
      );
      // Its caller has not run yet: this one is queued, and dropped by the detach.
      rehearsal.receive(REHEARSED_CALL);
    }
    rehearsal.detach();
    return written;
  }

  /** Every inbound text frame, handled strictly in order. Never throws: a bad frame is answered or logged, and counted. */
  receive(text: string): void {
    if (this.awaitingCaller) {
      this.inbound.push(text);
      return;
    }
    this.corked(() => this.process(text));
  }

  /** Runs `write` with the transport corked: what it sends leaves in one socket write. */
  private corked(write: () => void): void {
    const transport = this.transport;
    if (transport?.corked) transport.corked(write);
    else write();
  }

  private process(text: string): void {
    try {
      this.counters.framesIn += 1;
      const frame = parseFrame(text, this.maxFrameBytes);
      switch (frame.kind) {
        case 'call':
          this.emitFrame('in', text, MESSAGE_TYPE.CALL, frame.messageId, frame.action);
          this.onCall(frame);
          break;
        case 'result':
          this.emitFrame('in', text, MESSAGE_TYPE.CALLRESULT, frame.messageId);
          this.onResult(frame);
          break;
        case 'error':
          this.emitFrame('in', text, MESSAGE_TYPE.CALLERROR, frame.messageId);
          this.onError(frame);
          break;
        default:
          this.emitSafely('frame', { direction: 'in', text } satisfies FrameEvent);
          this.onMalformed(frame, text);
      }
    } catch (err) {
      this.log.error({ err }, 'unexpected failure while handling an inbound frame');
    }
  }

  // ---- central-system CALLs ----

  private onCall(frame: CallFrame): void {
    const { messageId, action, payload } = frame;
    if (this.silent) {
      this.dropWhileSilent(messageId, clip(action));
      return;
    }
    if (this.inboundCallIds.has(messageId)) {
      this.securityEvent(
        'AttemptedReplayAttacks',
        `${clip(action)} CALL reuses message id ${clip(messageId)}`,
      );
    }
    this.inboundCallIds.add(messageId);
    const route = this.routes.get(action);
    if (!route) {
      this.refuseUnrouted(messageId, action);
      return;
    }
    const invalid = validateRequest(route.action, payload);
    if (invalid) {
      this.counters.invalidPayloads += 1;
      this.securityEvent('InvalidMessages', `${action} request: ${invalid.message}`);
      this.refuse(messageId, action, invalid.code, invalid.message);
      return;
    }
    this.handleCall(new Dispatch(messageId, this.linkGeneration), route, payload);
  }

  /** A CALL no handler answers: an action OCPP does not have, or one we do not take. */
  private refuseUnrouted(messageId: string, action: string): void {
    if (isAction(action)) this.refuse(messageId, action, 'NotSupported', `${action} is not supported`);
    else this.refuse(messageId, clip(action), 'NotImplemented', `unknown action ${clip(action)}`);
  }

  private handleCall(dispatch: Dispatch, { action, handler }: Route, payload: Payload): void {
    const { messageId } = dispatch;
    this.dispatches.push(dispatch);
    const outer = this.current;
    this.current = dispatch;
    let result: unknown;
    try {
      result = handler(payload, dispatch);
    } catch (err) {
      this.current = outer;
      this.onHandlerFailure(dispatch, messageId, action, err);
      return;
    }
    this.current = outer;
    // Synchronous handlers are answered at once; the common case costs no extra tick.
    if (isPromiseLike(result)) {
      dispatch.timer = this.clock.setTimeout(() => {
        this.log.warn({ messageId, action }, 'handler still busy after the call timeout; our CALLs go ahead');
        this.release(dispatch);
        this.pump();
      }, this.callTimeoutMs);
      result.then(
        (response) => this.answer(dispatch, messageId, action, response),
        (err: unknown) => this.onHandlerFailure(dispatch, messageId, action, err),
      );
    } else {
      this.answer(dispatch, messageId, action, result);
    }
  }

  private answer(dispatch: Dispatch, messageId: string, action: InboundAction, response: unknown): void {
    this.finish(dispatch, this.writeResult(dispatch.generation, messageId, action, response));
  }

  /** Writes the CALLRESULT, or InternalError for a response we must not send; true when the CALLRESULT left. */
  private writeResult(
    generation: number,
    messageId: string,
    action: InboundAction,
    response: unknown,
  ): boolean {
    if (this.isStale(generation, messageId, action)) return false;
    const invalid = validateResponse(action, response);
    if (invalid) {
      this.log.error({ reason: invalid.message, messageId, action }, 'handler returned an invalid response');
      this.replyError(messageId, 'InternalError', 'internal error');
      return false;
    }
    let text: string;
    try {
      text = serializeResult(messageId, response);
    } catch (err) {
      this.log.error({ err, messageId, action }, 'handler response cannot be serialised');
      this.replyError(messageId, 'InternalError', 'internal error');
      return false;
    }
    return this.send(text, MESSAGE_TYPE.CALLRESULT, messageId);
  }

  private onHandlerFailure(dispatch: Dispatch, messageId: string, action: InboundAction, err: unknown): void {
    if (this.isStale(dispatch.generation, messageId, action)) {
      this.finish(dispatch, false);
      return;
    }
    if (err instanceof CallError) {
      this.log.info(
        { code: err.code, reason: err.description, messageId, action },
        'handler answered with CALLERROR',
      );
      this.replyError(messageId, err.code, err.description, err.details);
    } else {
      this.log.error({ err, messageId, action }, 'handler failed');
      this.replyError(messageId, 'InternalError', 'internal error');
    }
    this.finish(dispatch, false);
  }

  /** The answer is out (or dropped): run what waited for it, then release our held CALLs. */
  private finish(dispatch: Dispatch, answered: boolean): void {
    dispatch.timer?.cancel();
    this.release(dispatch);
    if (answered && dispatch.waiting) {
      for (const fn of dispatch.waiting) {
        try {
          fn();
        } catch (err) {
          this.log.error({ err }, 'afterAnswer callback failed');
        }
      }
    }
    // Only calls queued meanwhile (held while the handler ran, or queued by afterAnswer) need the
    // pump: with none it would send nothing, and its 'idle' has no listener (whenIdle listens only
    // while a call is in flight, and whatever ends that call emits it). Not calling it keeps it
    // cold under a flood of central-system calls: one TurboFan compile fewer in the first ones.
    if (this.queue.length > 0) this.pump();
  }

  /** Its answer no longer holds our CALLs back. */
  private release(dispatch: Dispatch): void {
    const index = this.dispatches.indexOf(dispatch);
    if (index < 0) return;
    // Their order means nothing: the last takes its place, and nothing is allocated.
    this.dispatches[index] = this.dispatches[this.dispatches.length - 1]!;
    this.dispatches.pop();
  }

  private dropWhileSilent(messageId: string, action?: string): void {
    this.log.warn(
      { reason: 'registration Rejected', messageId, action },
      'central-system CALL dropped unanswered',
    );
  }

  /** The peer that sent this CALL is gone: its answer must not reach whoever is connected now. */
  private isStale(generation: number, messageId: string, action: string): boolean {
    if (generation === this.linkGeneration) return false;
    this.log.warn({ reason: 'connection changed', messageId, action }, 'answer dropped');
    return true;
  }

  private refuse(messageId: string, action: string, code: CallErrorCode, description: string): void {
    this.log.warn({ reason: description, code, messageId, action }, 'CALL refused');
    this.replyError(messageId, code, description);
  }

  private replyError(
    messageId: string,
    code: CallErrorCode,
    description: string,
    details: Payload = {},
  ): void {
    let text: string;
    try {
      text = serializeError(messageId, code, description, details);
    } catch {
      // Details a handler put together may not be serialisable; the code alone still answers.
      text = serializeError(messageId, code, description);
    }
    if (this.send(text, MESSAGE_TYPE.CALLERROR, messageId)) this.counters.callErrorsSent += 1;
  }

  // ---- answers to our CALLs ----

  private onResult(frame: CallResultFrame): void {
    const call = this.takeInFlight(frame.messageId, 'CALLRESULT');
    if (!call) return;
    const invalid = validateResponse(call.action, frame.payload);
    if (invalid) {
      this.counters.invalidPayloads += 1;
      this.securityEvent('InvalidMessages', `${call.action} response: ${invalid.message}`);
      this.log.warn(
        { reason: invalid.message, code: invalid.code, messageId: call.messageId, action: call.action },
        'invalid response payload',
      );
      call.reject(new CallError(invalid.code, invalid.message));
    } else {
      call.resolve(frame.payload);
    }
    this.awaitCaller();
  }

  private onError(frame: CallErrorFrame): void {
    this.counters.callErrorsReceived += 1;
    const call = this.takeInFlight(frame.messageId, 'CALLERROR');
    if (!call) return;
    const error = new CallError(normalizeCallErrorCode(frame.code), frame.description, frame.details);
    error.rawCode = frame.code;
    this.log.warn(
      { reason: frame.description, code: frame.code, messageId: call.messageId, action: call.action },
      'central system answered with CALLERROR',
    );
    call.reject(error);
    this.awaitCaller();
  }

  /**
   * The caller of a settled CALL records the answer in its continuation (the outbox commits its
   * queue row there). Neither the next inbound frame nor our next CALL goes ahead before that: the
   * frame must see the answer's effects, and a crash in between must not re-send this CALL.
   */
  private awaitCaller(): void {
    this.awaitingCaller = true;
    const generation = this.linkGeneration;
    setImmediate(() => {
      if (generation !== this.linkGeneration) return;
      this.awaitingCaller = false;
      this.corked(() => {
        while (!this.awaitingCaller) {
          const text = this.inbound.shift();
          if (text === undefined) break;
          this.process(text);
        }
        this.pump();
      });
    });
  }

  private onMalformed(frame: MalformedFrame, text: string): void {
    this.counters.malformed += 1;
    const { reason, messageId, messageTypeId, replyCode } = frame;
    this.log.warn({ reason, messageId, messageTypeId, length: text.length }, 'malformed frame');
    this.emitSafely('malformed', { reason, text } satisfies MalformedEvent);
    this.securityEvent('InvalidMessages', `malformed frame: ${reason}`);
    if (messageId === undefined) return;
    if (replyCode) {
      if (this.silent) {
        this.dropWhileSilent(messageId);
        return;
      }
      this.replyError(messageId, replyCode, reason);
      return;
    }
    const isAnswer = messageTypeId === MESSAGE_TYPE.CALLRESULT || messageTypeId === MESSAGE_TYPE.CALLERROR;
    // A broken answer to our call: it failed, and waiting for the timeout would only delay the queue.
    if (isAnswer && messageId === this.inFlight?.messageId) {
      const call = this.inFlight;
      call.timer?.cancel();
      this.inFlight = undefined;
      call.reject(
        new CallError(
          messageTypeId === MESSAGE_TYPE.CALLERROR ? 'GenericError' : 'FormationViolation',
          reason,
        ),
      );
      this.awaitCaller();
    }
  }

  /** The in-flight call this answer is for, or undefined (logged and counted) when there is none. */
  private takeInFlight(messageId: string, kind: string): PendingCall | undefined {
    const call = this.inFlight;
    if (call?.messageId === messageId) {
      call.timer?.cancel();
      this.inFlight = undefined;
      this.answeredIds.add(messageId);
      return call;
    }
    this.counters.unknownResults += 1;
    const late = this.lateIds.has(messageId);
    if (this.answeredIds.has(messageId)) {
      this.securityEvent('AttemptedReplayAttacks', `${kind} again for answered call ${clip(messageId)}`);
    } else if (!late && !this.sentIds.has(messageId)) {
      this.securityEvent('AttemptedReplayAttacks', `${kind} for a call never sent: ${clip(messageId)}`);
    }
    this.log.warn(
      { reason: late ? 'answer after timeout' : 'no such call', messageId },
      `ignored ${kind} for a call not in flight`,
    );
    return undefined;
  }

  // ---- our CALLs ----

  /** Send the next call the gate allows, if nothing is in flight. */
  private pump(): void {
    if (this.awaitingCaller) return;
    while (!this.inFlight && this.transport && !this.holdsCalls()) {
      const index = this.nextSendable();
      if (index < 0) break;
      const call = index === 0 ? this.queue.shift() : this.queue.splice(index, 1)[0];
      if (!call) break;
      call.triggerKey = undefined;
      if (!this.send(call.text, MESSAGE_TYPE.CALL, call.messageId, call.action)) {
        call.timer?.cancel();
        call.reject(new NotConnectedError(`cannot send ${call.action}: socket not open`));
        continue;
      }
      this.inFlight = call;
      this.sentIds.add(call.messageId);
      call.sentAt = this.clock.monotonic();
      // An urgent call's timer already runs, since it was asked for.
      if (!call.timer) this.watch(call, call.sentAt + call.timeoutMs);
    }
    if (!this.inFlight) this.emit('idle');
  }

  /** Lets the watchdog time out `call` at `deadline`: armed anew only if it would fire later. */
  private watch(call: PendingCall, deadline: number): void {
    call.deadline = deadline;
    if (this.watchdog && this.watchdogAt <= deadline) return;
    this.watchdog?.cancel();
    this.armWatchdog(deadline);
  }

  private armWatchdog(at: number): void {
    this.watchdogAt = at;
    this.watchdog = this.clock.setTimeout(() => this.onWatchdog(), at - this.clock.monotonic());
  }

  private onWatchdog(): void {
    this.watchdog = undefined;
    const call = this.inFlight;
    if (call?.deadline === undefined) return;
    if (call.deadline > this.clock.monotonic()) this.armWatchdog(call.deadline);
    else this.onTimeout(call);
  }

  /** A central-system CALL of this link is being handled: its answer goes first. */
  private holdsCalls(): boolean {
    return this.dispatches.length > 0;
  }

  private nextSendable(): number {
    switch (this.currentGate) {
      case 'open':
        return this.queue.length > 0 ? 0 : -1;
      case 'boot-only':
        // BootNotification, and what the central system triggered while Pending, must not wait
        // behind calls the gate holds back.
        return this.queue.findIndex((call) => call.action === 'BootNotification' || call.triggered);
      default:
        return -1;
    }
  }

  private onTimeout(call: PendingCall): void {
    if (this.inFlight !== call) {
      // An urgent call that never got its turn: its caller decides without the answer.
      const index = this.queue.indexOf(call);
      if (index < 0) return;
      this.queue.splice(index, 1);
      this.counters.timeouts += 1;
      this.log.warn({ reason: 'timeout', action: call.action }, 'CALL not sent in time');
      call.reject(new CallTimeoutError(call.action, call.timeoutMs));
      return;
    }
    this.inFlight = undefined;
    this.counters.timeouts += 1;
    this.lateIds.add(call.messageId);
    this.log.warn(
      {
        reason: call.preempted ? 'an urgent call waits' : 'timeout',
        messageId: call.messageId,
        action: call.action,
      },
      'no response to CALL',
    );
    call.reject(new CallTimeoutError(call.action, call.timeoutMs));
    this.pump();
  }

  private send(
    text: string,
    messageType: FrameHeader['messageType'],
    messageId: string,
    action?: string,
  ): boolean {
    if (!this.transport?.send(text)) {
      this.log.warn({ reason: 'not connected', length: text.length }, 'frame not sent');
      return false;
    }
    this.counters.framesOut += 1;
    this.emitFrame('out', text, messageType, messageId, action);
    return true;
  }

  private emitFrame(
    direction: FrameEvent['direction'],
    text: string,
    messageType: FrameHeader['messageType'],
    messageId: string,
    action?: string,
  ): void {
    // Nobody listens in most tests and on the rehearsal endpoint: build nothing for nobody.
    if (this.listenerCount('frame') === 0) return;
    const header: FrameHeader =
      action === undefined ? { messageType, messageId } : { messageType, messageId, action };
    this.emitSafely('frame', { direction, text, header } satisfies FrameEvent);
  }

  private securityEvent(type: RpcSecurityEvent['type'], techInfo: string): void {
    this.emitSafely('securityEvent', { type, techInfo } satisfies RpcSecurityEvent);
  }

  /** A listener's exception must not escape into the protocol path. */
  private emitSafely(event: string, arg: FrameEvent | MalformedEvent | RpcSecurityEvent): void {
    try {
      this.emit(event, arg);
    } catch (err) {
      this.log.error({ err, event }, 'event listener failed');
    }
  }
}

function isInbound(action: Action): action is InboundAction {
  return ACTION_INFO[action].initiator !== 'CP';
}

/** The connector a payload is about ('' when none): repeats of one trigger are told apart by it. */
function connectorOf(payload: object): string {
  return 'connectorId' in payload ? String(payload.connectorId) : '';
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}

function clip(text: string): string {
  return text.length <= 64 ? text : `${text.slice(0, 61)}...`;
}

/**
 * The last `size` ids, for a question asked only once something is already wrong (an answer to no
 * call in flight): remembering one costs a store, asking a scan. A set would hash every id of every
 * exchange (our CALLs and their answers) and churn as the oldest leave, for a lookup that a
 * well-behaved central system never causes.
 */
class IdRing {
  private readonly ring: Array<string | undefined>;
  private next = 0;

  constructor(size: number) {
    this.ring = new Array<string | undefined>(size).fill(undefined);
  }

  /** Remembers `id`; returns the id forgotten to make room, if any. */
  add(id: string): string | undefined {
    const forgotten = this.ring[this.next];
    this.ring[this.next] = id;
    this.next = (this.next + 1) % this.ring.length;
    return forgotten;
  }

  has(id: string): boolean {
    return this.ring.includes(id);
  }

  clear(): void {
    this.ring.fill(undefined);
    this.next = 0;
  }
}

/**
 * The last `size` ids added, oldest forgotten first, for a question asked of every central-system
 * CALL (its id reused?): a set, and a ring that says which id to forget, so adding one allocates
 * nothing. An id added again keeps its first place in the ring.
 */
class RecentIds {
  private readonly ids = new Set<string>();
  private readonly ring: IdRing;

  constructor(size: number) {
    this.ring = new IdRing(size);
  }

  add(id: string): void {
    if (this.ids.has(id)) return;
    const forgotten = this.ring.add(id);
    if (forgotten !== undefined) this.ids.delete(forgotten);
    this.ids.add(id);
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  clear(): void {
    this.ids.clear();
    this.ring.clear();
  }
}
