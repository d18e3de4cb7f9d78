import { EventEmitter } from 'node:events';
import { type Clock, Schedule } from '../clock.js';
import type { ConfigurationRegistry } from '../config/registry.js';
import { errorMessage } from '../error-message.js';
import type { Logger } from '../log.js';
import {
  type DeadLetter,
  KIND_OF,
  type MessageKind,
  type OutboxEntry,
  type OutboxRepo,
  type QueuedAction,
} from '../store/outbox-repo.js';
import { CallTimeoutError, NotConnectedError } from './errors.js';
import type { RequestOf } from './generated/messages.js';
import type { CallOptions, RpcEndpoint } from './rpc.js';

export type { DeadLetter, MessageKind, OutboxEntry, QueuedAction };

export interface OutboxOptions {
  repo: OutboxRepo;
  rpc: RpcEndpoint;
  config: ConfigurationRegistry;
  clock: Clock;
  log: Logger;
}

/** How the outbox's messages are called: never cut short for an urgent call (see CallOptions). */
const QUEUED: CallOptions = { queued: true };

/** What to send for a queued message, or why it can never be sent (it goes to the dead letters). */
export type Prepared = { payload: Record<string, unknown> } | { refused: string };

/**
 * The consumer of one kind of message. Every method is optional: a kind whose answers carry
 * nothing to apply (security events) registers `{}`.
 */
export interface DeliveryHandler {
  /**
   * The payload as it must leave now (a transaction message gets its transactionId). Default: as
   * stored. Only reads: `warmUp` calls it on messages that are not queued.
   */
  prepare?(entry: OutboxEntry): Prepared;
  /**
   * Applies a central-system answer. Runs inside the SQL transaction that deletes the row, so it
   * must be synchronous and only write to the same database; if it throws, its writes and the
   * delete are rolled back together and the delivery counts as a failed attempt.
   */
  delivered?(entry: OutboxEntry, response: unknown): void;
  /** After the message was moved to the dead letters (committed). */
  deadLettered?(entry: DeadLetter): void;
}

export interface OutboxEvents {
  /** After the answer was applied and the row deleted (committed). `entry.payload` is what was sent. */
  delivered: [entry: OutboxEntry, response: unknown];
  deadLettered: [entry: DeadLetter];
  /** Nothing left to deliver. */
  idle: [];
}

/**
 * Dead letters kept: the newest this many, none older than DEAD_LETTER_MAX_AGE_MS. They are the
 * record of what never reached the central system (and what `cpctl queue retry` can send again);
 * a charger that cannot deliver for months must still not fill its disk with them.
 */
export const DEAD_LETTERS_KEPT = 1000;
export const DEAD_LETTER_MAX_AGE_MS = 90 * 24 * 3600 * 1000;

/** How a call the loop was waiting for ended. */
type Outcome = { answer: unknown } | { error: unknown } | 'abandoned';

/**
 * The durable queue of the messages that must reach the central system: transaction messages
 * (StartTransaction, StopTransaction, transaction MeterValues), security events, a signed update's
 * statuses and how a GetDiagnostics or GetLog upload ended (`KIND_OF`). One queue for every kind,
 * delivered in the order enqueued, one at a time, only while resumed; each kind's answers go to
 * the `DeliveryHandler` registered for it.
 *
 * - A message is committed to SQLite before `enqueue` returns, so a power cut cannot lose it.
 * - A CALLERROR or an invalid response is a failed attempt: the next try waits
 *   TransactionMessageRetryInterval x attempts so far; after TransactionMessageAttempts failures the
 *   row moves to `outbox_dead_letter` (never deleted silently) and delivery goes on with the next.
 * - Not being connected is not an attempt: the queue pauses until `resume()`, however long that is.
 * - No answer is not an attempt either: it says the link or the central system is unhealthy, not
 *   that the message is wrong, and a central system slow for minutes must not cost a session. The
 *   message is sent again after the retry interval, for as long as it takes.
 * - A good answer is applied (the handler's `delivered`) and the row deleted in ONE SQL transaction.
 *
 * Delivery is at-least-once. The remaining window: if the process dies (or `stop` gives up on the
 * call) after the central system answered but before that transaction commits, the row is still
 * there and the message is sent once more after restart. OCPP 1.6 has no idempotency key, so a
 * charge point cannot do better; the central system sees a duplicate at worst, never a gap.
 * A crash in flight also does not count the interrupted transmission as an attempt.
 */
export class Outbox extends EventEmitter<OutboxEvents> {
  private readonly opts: OutboxOptions;
  private readonly repo: OutboxRepo;
  private readonly log: Logger;
  private readonly handlers = new Map<MessageKind, DeliveryHandler>();
  /** Started while resumed: its running state is the queue's, and it holds the one retry timer. */
  private readonly retry: Schedule;
  /** The wait before the head may be sent again, while the loop is not running. */
  private retryInMs: number | undefined;
  private stopped = false;
  /** True from the moment a delivery loop is scheduled until it returns; at most one runs. */
  private draining = false;
  private loop: Promise<void> = Promise.resolve();
  /** Bumped by every resume(), so a NotConnectedError of a call made before it does not undo it. */
  private resumes = 0;
  /** `stop` has waited long enough: the call in flight, and any made after, count as abandoned. */
  private abandoned = false;
  /**
   * Settles the call the loop waits for as abandoned. One per call, never a promise raced by every
   * delivery: each race would leave a reaction on it for as long as the outbox lives.
   */
  private settleAbandoned: (() => void) | undefined;
  private warmedUp = false;

  constructor(opts: OutboxOptions) {
    super();
    this.opts = opts;
    this.repo = opts.repo;
    this.log = opts.log.child({ module: 'outbox' });
    this.retry = new Schedule(opts.clock, () => {
      const inMs = this.retryInMs;
      if (inMs === undefined) return undefined;
      return {
        inMs,
        run: () => {
          this.retryInMs = undefined;
          this.kick();
        },
      };
    });
  }

  /** Routes the answers of one kind of message to `handler`. Once per kind, before anything is delivered. */
  register(kind: MessageKind, handler: DeliveryHandler): void {
    if (this.handlers.has(kind))
      throw new Error(`a delivery handler for ${kind} messages is already registered`);
    this.handlers.set(kind, handler);
  }

  /**
   * Persists the message (committed when this returns) and delivers it when its turn comes.
   * `localTxId` binds a transaction message to its transaction; no other kind has one.
   */
  enqueue(action: QueuedAction, payload: Record<string, unknown>, localTxId?: number): OutboxEntry {
    const entry = this.repo.add(action, payload, localTxId, this.isoNow());
    this.kick();
    return entry;
  }

  /** Registered (BootNotification accepted) and connected: deliver what is queued. Idempotent. */
  resume(): void {
    if (this.stopped) return;
    // Dead letters age out even on a charger that has not failed a message for months. A store
    // that cannot be written now is no reason to hold delivery: the next dead letter prunes again.
    try {
      this.pruneDeadLetters();
    } catch (err) {
      this.log.error({ err }, 'pruning the dead letters failed');
    }
    this.resumes += 1;
    this.retry.start();
    this.kick();
  }

  /**
   * Runs, once and in a later event-loop turn, what the first delivery of each action works out
   * before it sends, for messages that are not queued (seq 0, which AUTOINCREMENT never gives): the
   * wait and its handler's `prepare` for each, and the whole delivery of the first one `prepare`
   * refuses, which dead-letters a message that is not there, so nothing moves. V8 compiles a
   * function on its first call, and the first StartTransaction and StopTransaction after boot
   * would pay for it. Nothing is sent or changed (`prepare` only reads). Resolves with what was
   * prepared, by action.
   */
  async warmUp(): Promise<Array<[QueuedAction, Prepared]>> {
    if (this.warmedUp) return [];
    this.warmedUp = true;
    await new Promise<void>((resolve) => setImmediate(resolve));
    const prepared: Array<[QueuedAction, Prepared]> = [];
    let delivered = false;
    for (const [action, kind] of Object.entries(KIND_OF)) {
      if (!isQueuedAction(action)) continue;
      const entry: OutboxEntry = {
        seq: 0,
        kind,
        action,
        ...(kind === 'transaction' ? { localTxId: 0 } : {}),
        payload: {},
        attempts: 0,
        nextAttemptAt: 0,
        createdAt: this.isoNow(),
      };
      this.waitBefore(entry);
      const handler = this.handlers.get(kind);
      if (!handler?.prepare) continue;
      const outcome = handler.prepare(entry);
      prepared.push([action, outcome]);
      if (delivered || !('refused' in outcome)) continue;
      delivered = true;
      try {
        await this.deliver(entry);
      } catch (err) {
        // A store that refuses even this leaves only the first delivery cold.
        this.log.warn({ err }, 'outbox warm-up not completed');
      }
    }
    return prepared;
  }

  /** Not connected, or no longer accepted: stop after the call in flight. */
  pause(): void {
    this.retryInMs = undefined;
    this.retry.stop();
  }

  /** Whether delivery may go on (resumed and not paused since). */
  get resumed(): boolean {
    return this.retry.running;
  }

  /**
   * Pauses for good. Resolves once the call in flight (if any) has settled and been recorded, or
   * after `graceMs` at most: a call held by the RPC (e.g. behind the gate while registration is
   * Pending) may never settle before the link is gone. Given up on, the message stays queued and
   * is sent again after the restart, as after a crash.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    this.pause();
    if (!this.draining) return;
    const grace = this.opts.clock.setTimeout(() => {
      this.abandoned = true;
      this.settleAbandoned?.();
    }, graceMs);
    await this.loop;
    grace.cancel();
  }

  pending(): OutboxEntry[] {
    return this.repo.all();
  }

  /** The first `limit` messages in delivery order, read without loading the rest. */
  firstPending(limit: number): OutboxEntry[] {
    return this.repo.first(limit);
  }

  deadLetters(): DeadLetter[] {
    return this.repo.deadLetters();
  }

  /** The newest `limit` dead letters, oldest first. */
  newestDeadLetters(limit: number): DeadLetter[] {
    return this.repo.newestDeadLetters(limit);
  }

  deadLetterCount(): number {
    return this.repo.deadLetterCount();
  }

  /**
   * Puts every dead letter back into the queue, in its original place and with no attempts spent
   * (a technician's `cpctl queue retry`, once the cause is fixed); returns how many.
   */
  retryDeadLetters(): number {
    const moved = this.repo.requeueDeadLetters();
    if (moved > 0) {
      this.log.warn({ messages: moved, origin: 'local' }, 'dead letters queued again');
      this.kick();
    }
    return moved;
  }

  /** The seq of a dead-lettered StartTransaction of this local transaction, if there is one. */
  deadLetteredStart(localTxId: number): number | undefined {
    return this.repo.deadLetteredStart(localTxId);
  }

  size(): number {
    return this.repo.count();
  }

  private kick(): void {
    if (!this.resumed || this.draining) return;
    this.draining = true;
    // Deferred so that enqueue() never runs delivery (and its events) inside the caller's stack.
    this.loop = Promise.resolve().then(() => this.drain());
  }

  /**
   * The delivery loop. `draining` is cleared in the same synchronous step that decides to stop, and
   * the retry timer is armed only after, so a wake-up can never find a loop that is about to end.
   */
  private async drain(): Promise<void> {
    let next: 'idle' | { retryInMs: number } | undefined;
    try {
      while (this.resumed) {
        const head = this.repo.head();
        if (!head) {
          next = 'idle';
          break;
        }
        const wait = this.waitBefore(head);
        if (wait > 0) {
          next = { retryInMs: wait };
          break;
        }
        await this.deliver(head);
      }
    } catch (err) {
      // The store itself failed (disk full, I/O error): retrying at once would spin, so wait.
      this.log.error({ err }, 'outbox delivery failed; trying again after the retry interval');
      next = { retryInMs: this.retryIntervalMs() };
    } finally {
      this.draining = false;
    }
    if (next === 'idle') this.emitSafely('idle');
    else if (next) this.armRetry(next.retryInMs);
  }

  private async deliver(entry: OutboxEntry): Promise<void> {
    const handler = this.handlers.get(entry.kind);
    const prepared: Prepared = !handler
      ? { refused: `no delivery handler for ${entry.kind} messages` }
      : (handler.prepare?.(entry) ?? { payload: entry.payload });
    if ('refused' in prepared) {
      this.deadLetter(entry, entry.attempts, prepared.refused);
      return;
    }
    const sent: OutboxEntry = { ...entry, payload: prepared.payload };
    const resumes = this.resumes;
    const outcome = await new Promise<Outcome>((resolve) => {
      this.opts.rpc.call(entry.action, prepared.payload as unknown as RequestOf<QueuedAction>, QUEUED).then(
        (answer: unknown) => resolve({ answer }),
        (error: unknown) => resolve({ error }),
      );
      if (this.abandoned) resolve('abandoned');
      else this.settleAbandoned = () => resolve('abandoned');
    });
    this.settleAbandoned = undefined;
    if (outcome === 'abandoned') {
      this.log.warn(
        { seq: entry.seq, action: entry.action },
        'stopping: no answer in time, message kept for the next run',
      );
      return;
    }
    if ('error' in outcome) {
      if (outcome.error instanceof NotConnectedError) {
        this.log.info(
          { seq: entry.seq, action: entry.action },
          'not connected: holding the queue until resumed',
        );
        if (resumes === this.resumes) this.pause();
        return;
      }
      if (outcome.error instanceof CallTimeoutError) {
        this.unanswered(entry);
        return;
      }
      this.failed(entry, describe(outcome.error));
      return;
    }
    const response = outcome.answer;
    try {
      // No await between the answer and this commit: the RPC looks at the next inbound frame only
      // after this continuation, so a RemoteStopTransaction right behind a StartTransaction.conf
      // finds the transactionId.
      this.repo.complete(entry.seq, () => handler?.delivered?.(sent, response));
    } catch (err) {
      // Counted as an attempt, so a hook that always fails ends in the dead letters, not in a resend loop.
      this.log.error(
        { err, seq: entry.seq, action: entry.action },
        'applying the answer failed; message kept',
      );
      this.failed(entry, `applying the answer failed: ${describe(err)}`);
      return;
    }
    this.emitSafely('delivered', sent, response);
  }

  private failed(entry: OutboxEntry, reason: string): void {
    const attempts = entry.attempts + 1;
    if (attempts >= this.opts.config.getInt('TransactionMessageAttempts')) {
      this.deadLetter(entry, attempts, reason);
      return;
    }
    const delay = this.retryWaitMs(attempts);
    this.repo.schedule(entry.seq, attempts, this.opts.clock.now() + delay);
    this.log.info(
      { seq: entry.seq, action: entry.action, attempts, retryInMs: delay, reason },
      'queued message failed; will retry',
    );
  }

  /** No answer in time: try again after the retry interval, without spending an attempt. */
  private unanswered(entry: OutboxEntry): void {
    const delay = this.retryWaitMs(entry.attempts);
    this.repo.schedule(entry.seq, entry.attempts, this.opts.clock.now() + delay);
    this.log.info(
      { seq: entry.seq, action: entry.action, attempts: entry.attempts, retryInMs: delay },
      'queued message got no answer; will retry (not counted as an attempt)',
    );
  }

  private deadLetter(entry: OutboxEntry, attempts: number, reason: string): void {
    const failedAt = this.isoNow();
    if (!this.repo.moveToDeadLetter(entry.seq, attempts, reason, failedAt)) return;
    const dead: DeadLetter = { ...entry, attempts, nextAttemptAt: 0, lastError: reason, failedAt };
    this.log.warn(
      { seq: entry.seq, action: entry.action, localTxId: entry.localTxId, attempts, reason },
      'queued message moved to the dead letters',
    );
    this.pruneDeadLetters();
    const handler = this.handlers.get(entry.kind);
    if (handler?.deadLettered) this.safely('deadLettered', () => handler.deadLettered?.(dead));
    this.emitSafely('deadLettered', dead);
  }

  private pruneDeadLetters(): void {
    const failedBefore = new Date(this.opts.clock.now() - DEAD_LETTER_MAX_AGE_MS).toISOString();
    const pruned = this.repo.pruneDeadLetters(failedBefore, DEAD_LETTERS_KEPT);
    if (pruned > 0) this.log.warn({ pruned, kept: DEAD_LETTERS_KEPT }, 'oldest dead letters deleted');
  }

  /** Milliseconds until the head may be sent. */
  private waitBefore(entry: OutboxEntry): number {
    // Never tried: due at once, whatever the wall clock reads (a step back can even put it before 1970).
    if (entry.nextAttemptAt === 0) return 0;
    const now = this.opts.clock.now();
    const remaining = entry.nextAttemptAt - now;
    if (remaining <= 0) return 0;
    const fullWait = this.retryWaitMs(entry.attempts);
    if (remaining <= fullWait) return remaining;
    // Longer than any wait we schedule: the wall clock went back (e.g. a restart without RTC). Wait
    // the full interval from now, and store it, or the queue would stay held for as long as it went back.
    this.repo.schedule(entry.seq, entry.attempts, now + fullWait);
    return fullWait;
  }

  private armRetry(ms: number): void {
    // Paused meanwhile: resume() starts a new loop, which finds the wait again.
    if (!this.resumed) return;
    this.retryInMs = ms;
    this.retry.replan();
  }

  /** The longest wait before a message that failed `attempts` times (at least one interval: an unanswered one). */
  private retryWaitMs(attempts: number): number {
    return this.retryIntervalMs() * Math.max(1, attempts);
  }

  private retryIntervalMs(): number {
    return this.opts.config.getInt('TransactionMessageRetryInterval') * 1000;
  }

  private isoNow(): string {
    return new Date(this.opts.clock.now()).toISOString();
  }

  /** A listener's exception must not break delivery: the row is already settled. */
  private emitSafely<K extends keyof OutboxEvents>(event: K, ...args: OutboxEvents[K]): void {
    this.safely(event, () => (this.emit as (event: K, ...args: OutboxEvents[K]) => boolean)(event, ...args));
  }

  private safely(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ err, event: what }, 'outbox listener failed');
    }
  }
}

function isQueuedAction(action: string): action is QueuedAction {
  return action in KIND_OF;
}

function describe(err: unknown): string {
  return errorMessage(err);
}
