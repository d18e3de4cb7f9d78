import { EventEmitter } from 'node:events';
import type Database from 'better-sqlite3';
import type { Clock, Timer } from '../clock.js';
import type { ConfigurationRegistry } from '../config/registry.js';
import type { Logger } from '../log.js';
import { type DeadLetter, type OutboxEntry, OutboxRepo, type QueuedAction } from '../store/outbox-repo.js';
import { NotConnectedError } from './errors.js';
import type { RequestOf } from './generated/messages.js';
import type { RpcEndpoint } from './rpc.js';

export type { DeadLetter, OutboxEntry, QueuedAction };

export interface OutboxOptions {
  db: Database.Database;
  rpc: RpcEndpoint;
  config: ConfigurationRegistry;
  clock: Clock;
  log: Logger;
  /** The central system's id of a local transaction, once its StartTransaction was answered. */
  resolveTransactionId(localTxId: number): number | undefined;
  /**
   * Applies a central-system answer (e.g. stores the transactionId of a StartTransaction). Runs
   * inside the SQL transaction that deletes the row, so it must be synchronous and only write to
   * the same database; if it throws, its writes and the delete are rolled back together.
   */
  onDelivered(entry: OutboxEntry, response: unknown): void;
}

export interface OutboxEvents {
  /** After the answer was applied and the row deleted (committed). `entry.payload` is what was sent. */
  delivered: [entry: OutboxEntry, response: unknown];
  deadLettered: [entry: DeadLetter];
  /** Nothing left to deliver. */
  idle: [];
}

type Prepared = { payload: Record<string, unknown> } | { refused: string };

/**
 * The durable queue of transaction messages (StartTransaction, StopTransaction and transaction
 * MeterValues), delivered in the order they were enqueued, one at a time, only while resumed.
 *
 * - A message is committed to SQLite before `enqueue` returns, so a power cut cannot lose it.
 * - A CALLERROR, an invalid response or no response is a failed attempt: the next try waits
 *   TransactionMessageRetryInterval x attempts so far; after TransactionMessageAttempts failures the
 *   row moves to `outbox_dead_letter` (never deleted silently) and delivery goes on with the next.
 * - Not being connected is not an attempt: the queue pauses until `resume()`, however long that is.
 * - A good answer is applied (`onDelivered`) and the row deleted in ONE SQL transaction.
 *
 * Delivery is at-least-once. The remaining window: if the process dies after the central system
 * answered but before that transaction commits (or while the call is in flight), the row is still
 * there and the message is sent once more after restart. OCPP 1.6 has no idempotency key, so a
 * charge point cannot do better; the central system sees a duplicate at worst, never a gap.
 * A crash in flight also does not count the interrupted transmission as an attempt.
 */
export class Outbox extends EventEmitter<OutboxEvents> {
  private readonly opts: OutboxOptions;
  private readonly repo: OutboxRepo;
  private readonly log: Logger;
  private active = false;
  private stopped = false;
  /** True from the moment a delivery loop is scheduled until it returns; at most one runs. */
  private draining = false;
  private loop: Promise<void> = Promise.resolve();
  private retryTimer: Timer | undefined;
  /** Bumped by every resume(), so a NotConnectedError of a call made before it does not undo it. */
  private resumes = 0;

  constructor(opts: OutboxOptions) {
    super();
    this.opts = opts;
    this.repo = new OutboxRepo(opts.db);
    this.log = opts.log.child({ module: 'outbox' });
  }

  /** Persists the message (committed when this returns) and delivers it when its turn comes. */
  enqueue(action: QueuedAction, payload: Record<string, unknown>, localTxId?: number): OutboxEntry {
    const entry = this.repo.add(action, payload, localTxId, this.isoNow());
    this.kick();
    return entry;
  }

  /** The link is registered (BootNotification accepted): deliver what is queued. Idempotent. */
  resume(): void {
    if (this.stopped) return;
    this.resumes += 1;
    this.active = true;
    this.kick();
  }

  /** The link went down: stop after the call in flight. */
  pause(): void {
    this.active = false;
    this.retryTimer?.cancel();
    this.retryTimer = undefined;
  }

  /** Pauses for good and resolves once the call in flight (if any) has settled and been recorded. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.pause();
    await this.loop;
  }

  pending(): OutboxEntry[] {
    return this.repo.all();
  }

  deadLetters(): DeadLetter[] {
    return this.repo.deadLetters();
  }

  size(): number {
    return this.repo.count();
  }

  private kick(): void {
    if (!this.active || this.draining) return;
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
      while (this.active) {
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
    const prepared = this.prepare(entry);
    if ('refused' in prepared) {
      this.deadLetter(entry, entry.attempts, prepared.refused);
      return;
    }
    const sent: OutboxEntry = { ...entry, payload: prepared.payload };
    const resumes = this.resumes;
    let response: unknown;
    try {
      response = await this.opts.rpc.call(
        entry.action,
        prepared.payload as unknown as RequestOf<QueuedAction>,
      );
    } catch (err) {
      if (err instanceof NotConnectedError) {
        this.log.info(
          { seq: entry.seq, action: entry.action },
          'not connected: holding the queue until resumed',
        );
        if (resumes === this.resumes) this.pause();
        return;
      }
      this.failed(entry, describe(err));
      return;
    }
    try {
      // No await between the answer and this commit: the RPC looks at the next inbound frame only
      // after this continuation, so a RemoteStopTransaction right behind a StartTransaction.conf
      // finds the transactionId.
      this.repo.complete(entry.seq, () => this.opts.onDelivered(sent, response));
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

  /** The payload to send, with the central system's transactionId filled in where it was not known. */
  private prepare(entry: OutboxEntry): Prepared {
    const { action, localTxId, payload } = entry;
    if (localTxId === undefined || action === 'StartTransaction') return { payload };
    if (action === 'MeterValues' && payload.transactionId !== undefined) return { payload };
    const transactionId = this.opts.resolveTransactionId(localTxId);
    if (transactionId !== undefined) return { payload: { ...payload, transactionId } };
    // Delivery is in order, so this transaction's StartTransaction has already been answered or given up.
    const deadStart = this.repo.deadLetteredStart(localTxId);
    return {
      refused:
        deadStart === undefined
          ? `no transactionId known for local transaction ${localTxId}`
          : `no transactionId for local transaction ${localTxId}: its StartTransaction (seq ${deadStart}) was dead-lettered`,
    };
  }

  private failed(entry: OutboxEntry, reason: string): void {
    const attempts = entry.attempts + 1;
    if (attempts >= this.opts.config.getInt('TransactionMessageAttempts')) {
      this.deadLetter(entry, attempts, reason);
      return;
    }
    const delay = this.retryIntervalMs() * attempts;
    this.repo.schedule(entry.seq, attempts, this.opts.clock.now() + delay);
    this.log.info(
      { seq: entry.seq, action: entry.action, attempts, retryInMs: delay, reason },
      'transaction message failed; will retry',
    );
  }

  private deadLetter(entry: OutboxEntry, attempts: number, reason: string): void {
    const failedAt = this.isoNow();
    if (!this.repo.moveToDeadLetter(entry.seq, attempts, reason, failedAt)) return;
    const dead: DeadLetter = { ...entry, attempts, nextAttemptAt: 0, lastError: reason, failedAt };
    this.log.warn(
      { seq: entry.seq, action: entry.action, localTxId: entry.localTxId, attempts, reason },
      'transaction message moved to the dead letters',
    );
    this.emitSafely('deadLettered', dead);
  }

  /** Milliseconds until the head may be sent. */
  private waitBefore(entry: OutboxEntry): number {
    const now = this.opts.clock.now();
    const remaining = entry.nextAttemptAt - now;
    if (remaining <= 0) return 0;
    const fullWait = this.retryIntervalMs() * entry.attempts;
    if (remaining <= fullWait) return remaining;
    // Longer than any wait we schedule: the wall clock went back (e.g. a restart without RTC). Wait
    // the full interval from now, and store it, or the queue would stay held for as long as it went back.
    this.repo.schedule(entry.seq, entry.attempts, now + fullWait);
    return fullWait;
  }

  private armRetry(ms: number): void {
    this.retryTimer?.cancel();
    this.retryTimer = undefined;
    if (!this.active) return;
    this.retryTimer = this.opts.clock.setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, ms);
  }

  private retryIntervalMs(): number {
    return this.opts.config.getInt('TransactionMessageRetryInterval') * 1000;
  }

  private isoNow(): string {
    return new Date(this.opts.clock.now()).toISOString();
  }

  /** A listener's exception must not break delivery: the row is already settled. */
  private emitSafely<K extends keyof OutboxEvents>(event: K, ...args: OutboxEvents[K]): void {
    try {
      (this.emit as (event: K, ...args: OutboxEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      this.log.error({ err, event }, 'outbox event listener failed');
    }
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
