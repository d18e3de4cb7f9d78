import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { Timer } from '../../src/clock.js';
import type { ConfigurationRegistry } from '../../src/config/registry.js';
import { createLogger, type Logger } from '../../src/log.js';
import { CallError, CallTimeoutError, NotConnectedError } from '../../src/ocpp/errors.js';
import {
  DEAD_LETTER_MAX_AGE_MS,
  DEAD_LETTERS_KEPT,
  type DeadLetter,
  Outbox,
  type OutboxEntry,
  type OutboxOptions,
} from '../../src/ocpp/outbox.js';
import type { CallOptions, RpcEndpoint } from '../../src/ocpp/rpc.js';
import { transactionDelivery } from '../../src/ocpp/transaction-delivery.js';
import { openStore, type Store } from '../../src/store/index.js';
import { OutboxRepo } from '../../src/store/outbox-repo.js';
import { DiskFull } from '../support/disk-full.js';
import { FakeClock } from '../support/fake-clock.js';

const T0 = Date.parse('2024-05-01T12:00:00.000Z');
const STAMP = '2024-05-01T12:00:00.000Z';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cp-outbox-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function open(dir: string): Store {
  const store = openStore({ dir, log: createLogger({ level: 'silent' }), clock: { now: () => T0 } });
  cleanups.push(() => store.close());
  return store;
}

interface RecordedCall {
  action: string;
  payload: Record<string, unknown>;
  options: CallOptions | undefined;
  resolve(response: unknown): void;
  reject(error: Error): void;
}

/**
 * Stands in for RpcEndpoint.call. With `answer` set it settles every call at once (a throw
 * rejects); otherwise each call waits for the test to take it with `next()` and settle it.
 */
class FakeRpc {
  readonly calls: RecordedCall[] = [];
  answer: ((action: string, payload: Record<string, unknown>) => unknown) | undefined;
  maxInFlight = 0;
  private inFlight = 0;
  private readonly unclaimed: RecordedCall[] = [];
  private readonly waiting: Array<(call: RecordedCall) => void> = [];

  call(action: string, payload: Record<string, unknown>, options?: CallOptions): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.inFlight += 1;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      const call: RecordedCall = {
        action,
        payload: structuredClone(payload),
        options,
        resolve: (response) => {
          this.inFlight -= 1;
          resolve(response);
        },
        reject: (error) => {
          this.inFlight -= 1;
          reject(error);
        },
      };
      this.calls.push(call);
      if (this.answer) {
        try {
          call.resolve(this.answer(action, payload));
        } catch (err) {
          call.reject(err as Error);
        }
        return;
      }
      const waiter = this.waiting.shift();
      if (waiter) waiter(call);
      else this.unclaimed.push(call);
    });
  }

  next(): Promise<RecordedCall> {
    const call = this.unclaimed.shift();
    if (call) return Promise.resolve(call);
    return new Promise((resolve) => this.waiting.push(resolve));
  }
}

/** A FakeClock that reports each timer armed, so a test can await the outbox scheduling a retry. */
class WatchedClock extends FakeClock {
  private readonly armed: Array<(ms: number) => void> = [];

  override setTimeout(fn: () => void, ms: number): Timer {
    const timer = super.setTimeout(fn, ms);
    this.armed.shift()?.(ms);
    return timer;
  }

  /** Resolves with the delay of the next timer set. */
  nextTimer(): Promise<number> {
    return new Promise((resolve) => this.armed.push(resolve));
  }
}

/** Log lines as objects, and a way to await one. */
class LogWatch {
  readonly lines: Array<Record<string, unknown>> = [];
  readonly log: Logger;
  private readonly waiting: Array<{ msg: string; resolve(line: Record<string, unknown>): void }> = [];

  constructor() {
    this.log = createLogger({
      level: 'debug',
      destination: {
        write: (text: string) => {
          const line = JSON.parse(text) as Record<string, unknown>;
          this.lines.push(line);
          for (const w of this.waiting.filter((w) => String(line.msg).includes(w.msg))) {
            this.waiting.splice(this.waiting.indexOf(w), 1);
            w.resolve(line);
          }
        },
      },
    });
  }

  next(msg: string): Promise<Record<string, unknown>> {
    return new Promise((resolve) => this.waiting.push({ msg, resolve }));
  }
}

/**
 * Lets every pending promise continuation run. Only for proving that something did NOT happen
 * (there is no event to await for an absence); positive outcomes are awaited as events.
 */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

interface Harness {
  store: Store;
  outbox: Outbox;
  rpc: FakeRpc;
  clock: WatchedClock;
  config: { TransactionMessageAttempts: number; TransactionMessageRetryInterval: number };
  logs: LogWatch;
  /** When set, the transaction handler's `delivered` throws it (after its own write, which must be rolled back). */
  hookFailure: Error | undefined;
  /** Seqs of the security messages whose answers reached their handler. */
  securityAnswers: number[];
  /** The local transactions whose transactionId the transaction handler looked up, in order. */
  lookedUp: number[];
}

function insertTransaction(db: Database.Database): number {
  const row = db
    .prepare(
      `INSERT INTO transactions (connector_id, id_tag, meter_start, started_at, last_meter, last_meter_at)
       VALUES (1, 'TAG1', 0, ?, 0, ?) RETURNING local_id`,
    )
    .get(STAMP, STAMP) as { local_id: number };
  return row.local_id;
}

function transactionIdOf(db: Database.Database, localTxId: number): number | undefined {
  const row = db.prepare('SELECT transaction_id FROM transactions WHERE local_id = ?').get(localTxId) as
    | { transaction_id: number | null }
    | undefined;
  return row?.transaction_id ?? undefined;
}

function harness(
  opts: { store?: Store; clock?: WatchedClock; attempts?: number; interval?: number } = {},
): Harness {
  const store = opts.store ?? open(tempDir());
  const rpc = new FakeRpc();
  const clock = opts.clock ?? new WatchedClock(T0);
  const logs = new LogWatch();
  const config = {
    TransactionMessageAttempts: opts.attempts ?? 3,
    TransactionMessageRetryInterval: opts.interval ?? 60,
  };
  const registry = {
    getInt(key: string): number {
      if (key !== 'TransactionMessageAttempts' && key !== 'TransactionMessageRetryInterval')
        throw new Error(`unexpected key ${key}`);
      return config[key];
    },
  } as unknown as ConfigurationRegistry;
  const h: Harness = { store, rpc, clock, config, logs, hookFailure: undefined } as Harness;
  const options: OutboxOptions = {
    repo: new OutboxRepo(store.db),
    rpc: rpc as unknown as RpcEndpoint,
    config: registry,
    clock,
    log: logs.log,
  };
  const outbox = new Outbox(options);
  h.outbox = outbox;
  h.securityAnswers = [];
  h.lookedUp = [];
  outbox.register(
    'transaction',
    transactionDelivery({
      resolveTransactionId: (localTxId) => {
        h.lookedUp.push(localTxId);
        return transactionIdOf(store.db, localTxId);
      },
      deadLetteredStart: (localTxId) => outbox.deadLetteredStart(localTxId),
      delivered(entry, response) {
        if (entry.action === 'StartTransaction' && entry.localTxId !== undefined) {
          store.db
            .prepare('UPDATE transactions SET transaction_id = ? WHERE local_id = ?')
            .run((response as { transactionId: number }).transactionId, entry.localTxId);
        }
        if (h.hookFailure) throw h.hookFailure;
      },
      deadLettered() {},
    }),
  );
  outbox.register('security', { delivered: (entry) => h.securityAnswers.push(entry.seq) });
  return h;
}

const startPayload = (): Record<string, unknown> => ({
  connectorId: 1,
  idTag: 'TAG1',
  meterStart: 0,
  timestamp: STAMP,
});
const meterPayload = (value: number, transactionId?: number): Record<string, unknown> => ({
  connectorId: 1,
  ...(transactionId === undefined ? {} : { transactionId }),
  meterValue: [{ timestamp: STAMP, sampledValue: [{ value: String(value) }] }],
});
const stopPayload = (): Record<string, unknown> => ({ meterStop: 1500, timestamp: STAMP, reason: 'Local' });
const securityPayload = (techInfo: string): Record<string, unknown> => ({
  type: 'InvalidCentralSystemCertificate',
  timestamp: STAMP,
  techInfo,
});
const startAnswer = (transactionId: number) => ({ idTagInfo: { status: 'Accepted' }, transactionId });

function outboxRow(db: Database.Database, seq: number): Record<string, unknown> | undefined {
  return db.prepare('SELECT * FROM outbox WHERE seq = ?').get(seq) as Record<string, unknown> | undefined;
}

describe('Outbox', () => {
  it('commits a message before enqueue returns and deletes it only after the answer', async () => {
    const h = harness();
    const reader = new Database(h.store.path, { readonly: true });
    cleanups.push(() => reader.close());
    const seen = () => reader.prepare('SELECT action, payload FROM outbox').all();
    h.outbox.resume();

    const entry = h.outbox.enqueue('MeterValues', meterPayload(1, 7));

    // Another connection sees the row, and nothing was sent yet.
    expect(seen()).toEqual([{ action: 'MeterValues', payload: JSON.stringify(meterPayload(1, 7)) }]);
    expect(h.rpc.calls).toHaveLength(0);
    expect(entry).toMatchObject({ action: 'MeterValues', attempts: 0, nextAttemptAt: 0, createdAt: STAMP });
    expect(h.outbox.pending()).toEqual([entry]);

    const call = await h.rpc.next();
    expect(call).toMatchObject({ action: 'MeterValues', payload: meterPayload(1, 7) });
    // Never cut short for an Authorize: cut short, this queue would send it again.
    expect(call.options).toEqual({ queued: true });
    expect(seen()).toHaveLength(1);

    const delivered = once(h.outbox, 'delivered');
    call.resolve({});
    const [deliveredEntry, response] = (await delivered) as [OutboxEntry, unknown];
    expect(deliveredEntry.seq).toBe(entry.seq);
    expect(response).toEqual({});
    expect(seen()).toEqual([]);
    expect(h.outbox.size()).toBe(0);
  });

  it('delivers many messages in order, one at a time, including those enqueued while draining', async () => {
    const h = harness();
    const late: number[] = [];
    h.rpc.answer = () => {
      // Enqueued from inside a call: must go behind everything already queued.
      if (h.rpc.calls.length === 100) late.push(h.outbox.enqueue('MeterValues', meterPayload(-1, 1)).seq);
      return {};
    };
    const seqs: number[] = [];
    for (let i = 0; i < 2000; i += 1) seqs.push(h.outbox.enqueue('MeterValues', meterPayload(i, 1)).seq);
    expect(h.outbox.size()).toBe(2000);

    const idle = once(h.outbox, 'idle');
    h.outbox.resume();
    await idle;

    expect(h.rpc.calls.map((c) => c.payload)).toEqual([
      ...seqs.map((_, i) => meterPayload(i, 1)),
      meterPayload(-1, 1),
    ]);
    expect(late).toHaveLength(1);
    expect(h.rpc.maxInFlight).toBe(1);
    expect(h.outbox.size()).toBe(0);
  });

  it('a message that gets no answer is retried after the interval without spending an attempt, however often', async () => {
    const h = harness({ attempts: 1, interval: 60 });
    const first = h.outbox.enqueue('MeterValues', meterPayload(1, 9));
    h.outbox.resume();
    for (let round = 0; round < 5; round++) {
      const call = await h.rpc.next();
      expect(call.payload).toEqual(meterPayload(1, 9));
      const armed = h.clock.nextTimer();
      call.reject(new CallTimeoutError('MeterValues', 30_000));
      expect(await armed).toBe(60_000);
      expect(outboxRow(h.store.db, first.seq)).toMatchObject({ attempts: 0 });
      h.clock.advance(60_000);
    }
    expect(h.outbox.deadLetters()).toEqual([]);
    const call = await h.rpc.next();
    const delivered = once(h.outbox, 'delivered');
    call.resolve({});
    await delivered;
    expect(h.outbox.size()).toBe(0);
  });

  it('keeps the newest DEAD_LETTERS_KEPT dead letters, none older than DEAD_LETTER_MAX_AGE_MS', async () => {
    const h = harness({ attempts: 1 });
    const repo = new OutboxRepo(h.store.db);
    const old = new Date(T0 - DEAD_LETTER_MAX_AGE_MS - 1).toISOString();
    const stale = repo.add('SecurityEventNotification', securityPayload('stale'), undefined, old);
    repo.moveToDeadLetter(stale.seq, 1, 'down', old);
    for (let i = 0; i < DEAD_LETTERS_KEPT; i++) {
      const entry = repo.add('SecurityEventNotification', securityPayload(`old ${i}`), undefined, STAMP);
      repo.moveToDeadLetter(entry.seq, 1, 'down', new Date(T0).toISOString());
    }
    // Resuming prunes by age: the stale one goes, the DEAD_LETTERS_KEPT recent ones stay.
    h.outbox.resume();
    expect(h.outbox.deadLetterCount()).toBe(DEAD_LETTERS_KEPT);
    expect(h.outbox.newestDeadLetters(DEAD_LETTERS_KEPT + 1)[0]?.payload).toMatchObject({
      techInfo: 'old 0',
    });

    // A new dead letter pushes the oldest out.
    h.rpc.answer = () => {
      throw new CallError('InternalError', 'down');
    };
    const deadLettered = once(h.outbox, 'deadLettered');
    h.outbox.enqueue('SecurityEventNotification', securityPayload('new'));
    await deadLettered;
    expect(h.outbox.deadLetterCount()).toBe(DEAD_LETTERS_KEPT);
    const newest = h.outbox.newestDeadLetters(DEAD_LETTERS_KEPT);
    expect(newest[0]?.payload).toMatchObject({ techInfo: 'old 1' });
    expect(newest.at(-1)?.payload).toMatchObject({ techInfo: 'new' });
  });

  it('retries after interval x attempts, then moves the message to the dead letters and goes on', async () => {
    const h = harness({ attempts: 3, interval: 60 });
    const first = h.outbox.enqueue('MeterValues', meterPayload(1, 9));
    const second = h.outbox.enqueue('MeterValues', meterPayload(2, 9));
    h.outbox.resume();

    let call = await h.rpc.next();
    let armed = h.clock.nextTimer();
    call.reject(new CallError('InternalError', 'central system broke'));
    expect(await armed).toBe(60_000);
    expect(outboxRow(h.store.db, first.seq)).toMatchObject({ attempts: 1, next_attempt_at: T0 + 60_000 });
    h.clock.advance(59_999);
    expect(h.clock.pending).toBe(1);
    h.clock.advance(1);
    expect(h.clock.pending).toBe(0);

    call = await h.rpc.next();
    expect(call.payload).toEqual(meterPayload(1, 9));
    armed = h.clock.nextTimer();
    call.reject(new CallError('GenericError', 'try later'));
    expect(await armed).toBe(120_000);
    expect(outboxRow(h.store.db, first.seq)).toMatchObject({
      attempts: 2,
      next_attempt_at: T0 + 60_000 + 120_000,
    });
    h.clock.advance(119_999);
    expect(h.clock.pending).toBe(1);
    h.clock.advance(1);

    call = await h.rpc.next();
    const deadLettered = once(h.outbox, 'deadLettered');
    call.reject(new CallError('FormationViolation', 'invalid response payload'));
    const [dead] = (await deadLettered) as [DeadLetter];

    expect(dead).toMatchObject({
      seq: first.seq,
      action: 'MeterValues',
      attempts: 3,
      payload: meterPayload(1, 9),
      lastError: 'FormationViolation: invalid response payload',
      failedAt: new Date(T0 + 180_000).toISOString(),
    });
    expect(h.outbox.deadLetters()).toEqual([dead]);
    expect(outboxRow(h.store.db, first.seq)).toBeUndefined();
    expect(
      h.logs.lines.filter((l) => l.level === 'warn' && l.msg === 'queued message moved to the dead letters'),
    ).toMatchObject([{ seq: first.seq, attempts: 3 }]);

    // Delivery continues with the next message, at once.
    call = await h.rpc.next();
    expect(call.payload).toEqual(meterPayload(2, 9));
    const delivered = once(h.outbox, 'delivered');
    call.resolve({});
    expect(((await delivered) as [OutboxEntry])[0].seq).toBe(second.seq);
    expect(h.rpc.calls).toHaveLength(4);
  });

  it('does not count NotConnectedError as an attempt: it holds the queue until resumed', async () => {
    const h = harness({ attempts: 1 });
    const entry = h.outbox.enqueue('MeterValues', meterPayload(1, 3));
    h.outbox.resume();

    let call = await h.rpc.next();
    const held = h.logs.next('not connected');
    call.reject(new NotConnectedError());
    await held;

    // With one attempt allowed, counting this one would have dead-lettered the message.
    expect(h.outbox.deadLetters()).toEqual([]);
    expect(outboxRow(h.store.db, entry.seq)).toMatchObject({ attempts: 0, next_attempt_at: 0 });
    expect(h.clock.pending).toBe(0);
    h.clock.advance(7 * 24 * 3600_000);
    h.outbox.enqueue('MeterValues', meterPayload(2, 3));
    await settle();
    expect(h.rpc.calls).toHaveLength(1);

    const idle = once(h.outbox, 'idle');
    h.outbox.resume();
    call = await h.rpc.next();
    expect(call.payload).toEqual(meterPayload(1, 3));
    call.resolve({});
    call = await h.rpc.next();
    expect(call.payload).toEqual(meterPayload(2, 3));
    call.resolve({});
    await idle;
    expect(h.outbox.size()).toBe(0);
  });

  it('pause lets the call in flight finish and sends nothing more until resume', async () => {
    const h = harness();
    h.outbox.enqueue('MeterValues', meterPayload(1, 3));
    h.outbox.enqueue('MeterValues', meterPayload(2, 3));
    h.outbox.resume();

    let call = await h.rpc.next();
    h.outbox.pause();
    const delivered = once(h.outbox, 'delivered');
    call.resolve({});
    await delivered;
    await settle();
    expect(h.rpc.calls).toHaveLength(1);
    expect(h.outbox.size()).toBe(1);

    h.outbox.resume();
    h.outbox.resume();
    call = await h.rpc.next();
    expect(call.payload).toEqual(meterPayload(2, 3));
    call.resolve({});
    await once(h.outbox, 'idle');
    expect(h.rpc.calls).toHaveLength(2);
  });

  it('fills in the transactionId of a transaction started offline once its StartTransaction is answered', async () => {
    const h = harness();
    const tx = insertTransaction(h.store.db);
    h.rpc.answer = (action) => (action === 'StartTransaction' ? startAnswer(4242) : {});
    h.outbox.enqueue('StartTransaction', startPayload(), tx);
    const meter = h.outbox.enqueue('MeterValues', meterPayload(10), tx);
    h.outbox.enqueue('MeterValues', meterPayload(11, 77), tx);
    h.outbox.enqueue('StopTransaction', stopPayload(), tx);
    const delivered: OutboxEntry[] = [];
    h.outbox.on('delivered', (entry) => delivered.push(entry));

    expect(meter.payload).not.toHaveProperty('transactionId');
    const idle = once(h.outbox, 'idle');
    h.outbox.resume();
    await idle;

    expect(h.rpc.calls.map((c) => [c.action, c.payload])).toEqual([
      ['StartTransaction', startPayload()],
      ['MeterValues', meterPayload(10, 4242)],
      ['MeterValues', meterPayload(11, 77)],
      ['StopTransaction', { ...stopPayload(), transactionId: 4242 }],
    ]);
    expect(delivered.map((e) => e.payload.transactionId)).toEqual([undefined, 4242, 77, 4242]);
    expect(transactionIdOf(h.store.db, tx)).toBe(4242);
  });

  it('dead-letters the messages of a transaction whose StartTransaction was dead-lettered', async () => {
    const h = harness({ attempts: 1 });
    const tx = insertTransaction(h.store.db);
    h.rpc.answer = (action) => {
      if (action === 'StartTransaction') throw new CallError('InternalError', 'no');
      return {};
    };
    const start = h.outbox.enqueue('StartTransaction', startPayload(), tx);
    const meter = h.outbox.enqueue('MeterValues', meterPayload(10), tx);
    const stop = h.outbox.enqueue('StopTransaction', stopPayload(), tx);
    h.outbox.enqueue('MeterValues', meterPayload(12, 5));
    const dead: DeadLetter[] = [];
    h.outbox.on('deadLettered', (entry) => dead.push(entry));

    const idle = once(h.outbox, 'idle');
    h.outbox.resume();
    await idle;

    expect(h.rpc.calls.map((c) => [c.action, c.payload])).toEqual([
      ['StartTransaction', startPayload()],
      ['MeterValues', meterPayload(12, 5)],
    ]);
    expect(dead.map((d) => d.seq)).toEqual([start.seq, meter.seq, stop.seq]);
    expect(h.outbox.deadLetters()).toEqual(dead);
    const reason = `no transactionId for local transaction ${tx}: its StartTransaction (seq ${start.seq}) was dead-lettered`;
    expect(dead.slice(1)).toMatchObject([
      { lastError: reason, payload: meterPayload(10), localTxId: tx, attempts: 0 },
      { lastError: reason, payload: stopPayload(), localTxId: tx, attempts: 0 },
    ]);
    expect(h.outbox.size()).toBe(0);
  });

  it('warms up on messages that are not queued, delivering the first one refused: nothing is sent, kept, dead-lettered or written', async () => {
    const h = harness();
    const tx = insertTransaction(h.store.db);
    const queued = h.outbox.enqueue('StartTransaction', startPayload(), tx);
    const dead: DeadLetter[] = [];
    h.outbox.on('deadLettered', (entry) => dead.push(entry));
    const wal = `${h.store.path}-wal`;
    const walBytes = fs.statSync(wal).size;

    // Prepared as a first delivery prepares them, so that code is compiled before one is due...
    expect(await h.outbox.warmUp()).toEqual([
      ['StartTransaction', { payload: {} }],
      ['StopTransaction', { refused: 'no transactionId known for local transaction 0' }],
      ['MeterValues', { refused: 'no transactionId known for local transaction 0' }],
    ]);
    // ...and the StopTransaction delivered, which prepared it once more and found nothing to dead-letter.
    expect(h.lookedUp).toEqual([0, 0, 0]);
    expect(await h.outbox.warmUp()).toEqual([]);
    // The queue, the dead letters, the log, the file and the wire are as they were.
    expect(h.rpc.calls).toEqual([]);
    expect(dead).toEqual([]);
    expect(h.outbox.deadLetters()).toEqual([]);
    expect(h.outbox.pending()).toEqual([queued]);
    expect(h.logs.lines).toEqual([]);
    expect(fs.statSync(wal).size).toBe(walBytes);
  });

  it('warms up on a full disk too: the delivery it rehearses is refused, logged, and nothing else happens', async () => {
    const disk = new DiskFull();
    const store = openStore({
      dir: tempDir(),
      log: createLogger({ level: 'silent' }),
      wrapDatabase: disk.wrap,
    });
    cleanups.push(() => store.close());
    const h = harness({ store });
    disk.fill();

    expect(await h.outbox.warmUp()).toHaveLength(3);
    expect(disk.refused).toBe(1);
    expect(h.logs.lines.map((line) => line.msg)).toEqual(['outbox warm-up not completed']);
    expect(h.rpc.calls).toEqual([]);
  });

  it('after a crash mid-flight, a new Outbox delivers the rest exactly once (the in-flight one once more)', async () => {
    const dir = tempDir();
    const first = harness({ store: open(dir) });
    const seqs = [1, 2, 3, 4, 5].map((i) => first.outbox.enqueue('MeterValues', meterPayload(i, 8)).seq);
    first.outbox.resume();
    let call = await first.rpc.next();
    const delivered = once(first.outbox, 'delivered');
    call.resolve({});
    await delivered;
    call = await first.rpc.next();
    expect(call.payload).toEqual(meterPayload(2, 8));
    // The process dies here: the answer to message 2 never arrives and the database is let go.
    first.store.close();

    const second = harness({ store: open(dir) });
    second.rpc.answer = () => ({});
    expect(second.outbox.pending().map((e) => e.seq)).toEqual(seqs.slice(1));
    const idle = once(second.outbox, 'idle');
    second.outbox.resume();
    await idle;
    expect(second.rpc.calls.map((c) => c.payload)).toEqual([2, 3, 4, 5].map((i) => meterPayload(i, 8)));
    second.store.close();

    const third = harness({ store: open(dir) });
    expect(third.outbox.size()).toBe(0);
    expect(third.outbox.deadLetters()).toEqual([]);
  });

  it('keeps the row and rolls back the hook when the delivery handler throws', async () => {
    const h = harness({ attempts: 3, interval: 60 });
    const tx = insertTransaction(h.store.db);
    const entry = h.outbox.enqueue('StartTransaction', startPayload(), tx);
    h.hookFailure = new Error('disk says no');
    let deliveredEvents = 0;
    h.outbox.on('delivered', () => {
      deliveredEvents += 1;
    });
    h.outbox.resume();

    let call = await h.rpc.next();
    const armed = h.clock.nextTimer();
    call.resolve(startAnswer(99));
    expect(await armed).toBe(60_000);

    expect(h.outbox.pending()).toMatchObject([{ seq: entry.seq, attempts: 1 }]);
    expect(transactionIdOf(h.store.db, tx)).toBeUndefined();
    expect(deliveredEvents).toBe(0);
    expect(
      h.logs.lines.some((l) => l.level === 'error' && l.msg === 'applying the answer failed; message kept'),
    ).toBe(true);

    h.hookFailure = undefined;
    h.clock.advance(60_000);
    call = await h.rpc.next();
    const delivered = once(h.outbox, 'delivered');
    call.resolve(startAnswer(100));
    await delivered;
    expect(h.outbox.size()).toBe(0);
    expect(transactionIdOf(h.store.db, tx)).toBe(100);
  });

  it('honours a retry time persisted before a restart, capped at the full wait if the clock went back', async () => {
    const dir = tempDir();
    const first = harness({ store: open(dir), attempts: 3, interval: 60 });
    first.outbox.enqueue('MeterValues', meterPayload(1, 4));
    first.outbox.resume();
    const call = await first.rpc.next();
    const armed = first.clock.nextTimer();
    call.reject(new CallTimeoutError('MeterValues', 30_000));
    expect(await armed).toBe(60_000);
    await first.outbox.stop(0);
    first.store.close();

    const later = harness({ store: open(dir), clock: new WatchedClock(T0 + 45_000) });
    const laterArmed = later.clock.nextTimer();
    later.outbox.resume();
    expect(await laterArmed).toBe(15_000);
    await later.outbox.stop(0);
    later.store.close();

    const wentBack = harness({ store: open(dir), clock: new WatchedClock(T0 - 3600_000) });
    const backArmed = wentBack.clock.nextTimer();
    wentBack.outbox.resume();
    expect(await backArmed).toBe(60_000);
    wentBack.clock.advance(60_000);
    const retried = await wentBack.rpc.next();
    expect(retried.payload).toEqual(meterPayload(1, 4));
  });
  it('delivers a security event in order with transaction messages, once, across a crash, its answer to its own handler', async () => {
    const dir = tempDir();
    const first = harness({ store: open(dir) });
    const tx = insertTransaction(first.store.db);
    first.outbox.enqueue('StartTransaction', startPayload(), tx);
    const event = first.outbox.enqueue('SecurityEventNotification', securityPayload('after start'));
    first.outbox.enqueue('MeterValues', meterPayload(10), tx);
    const late = first.outbox.enqueue('SecurityEventNotification', securityPayload('after meter'));
    first.outbox.enqueue('StopTransaction', stopPayload(), tx);
    expect(event).toMatchObject({ kind: 'security', action: 'SecurityEventNotification' });
    expect(event).not.toHaveProperty('localTxId');
    first.outbox.resume();
    let call = await first.rpc.next();
    let delivered = once(first.outbox, 'delivered');
    call.resolve(startAnswer(31));
    await delivered;
    call = await first.rpc.next();
    expect(call).toMatchObject({
      action: 'SecurityEventNotification',
      payload: securityPayload('after start'),
    });
    delivered = once(first.outbox, 'delivered');
    call.resolve({});
    await delivered;
    expect(first.securityAnswers).toEqual([event.seq]);
    call = await first.rpc.next();
    expect(call.payload).toEqual(meterPayload(10, 31));
    // The process dies here, the MeterValues unanswered.
    first.store.close();

    const second = harness({ store: open(dir) });
    second.rpc.answer = () => ({});
    expect(second.outbox.pending().map((e) => [e.kind, e.action])).toEqual([
      ['transaction', 'MeterValues'],
      ['security', 'SecurityEventNotification'],
      ['transaction', 'StopTransaction'],
    ]);
    const idle = once(second.outbox, 'idle');
    second.outbox.resume();
    await idle;
    expect(second.rpc.calls.map((c) => [c.action, c.payload])).toEqual([
      ['MeterValues', meterPayload(10, 31)],
      ['SecurityEventNotification', securityPayload('after meter')],
      ['StopTransaction', { ...stopPayload(), transactionId: 31 }],
    ]);
    expect(second.securityAnswers).toEqual([late.seq]);
    expect(second.outbox.size()).toBe(0);
    expect(second.outbox.deadLetters()).toEqual([]);
  });

  it('retries and dead-letters a security event like any message, and goes on with the next', async () => {
    const h = harness({ attempts: 2, interval: 10 });
    const event = h.outbox.enqueue('SecurityEventNotification', securityPayload('refused'));
    const next = h.outbox.enqueue('MeterValues', meterPayload(1, 5));
    h.outbox.resume();
    let call = await h.rpc.next();
    const armed = h.clock.nextTimer();
    call.reject(new CallError('InternalError', 'not now'));
    expect(await armed).toBe(10_000);
    h.clock.advance(10_000);
    call = await h.rpc.next();
    const dead = once(h.outbox, 'deadLettered');
    call.reject(new CallError('InternalError', 'still not'));
    expect(((await dead) as [DeadLetter])[0]).toMatchObject({
      seq: event.seq,
      kind: 'security',
      action: 'SecurityEventNotification',
      attempts: 2,
      payload: securityPayload('refused'),
    });
    expect(h.outbox.deadLetters()).toMatchObject([{ seq: event.seq, kind: 'security' }]);
    call = await h.rpc.next();
    expect(call.payload).toEqual(meterPayload(1, 5));
    expect(next.kind).toBe('transaction');
  });

  it('refuses to bind a non-transaction message to a transaction, in the API and in the table', () => {
    const h = harness();
    const tx = insertTransaction(h.store.db);
    expect(() => h.outbox.enqueue('SecurityEventNotification', securityPayload('x'), tx)).toThrow(RangeError);
    expect(() =>
      h.store.db
        .prepare(
          "INSERT INTO outbox (kind, action, local_tx_id, payload, created_at) VALUES ('security', 'SecurityEventNotification', ?, '{}', ?)",
        )
        .run(tx, STAMP),
    ).toThrow(/CHECK constraint failed/);
    expect(h.outbox.size()).toBe(0);
  });

  it('dead-letters a message whose kind has no delivery handler instead of sending it unrouted', async () => {
    const h = harness();
    const store = h.store;
    const bare = new Outbox({
      repo: new OutboxRepo(store.db),
      rpc: h.rpc as unknown as RpcEndpoint,
      config: { getInt: () => 3 } as unknown as ConfigurationRegistry,
      clock: h.clock,
      log: h.logs.log,
    });
    const event = bare.enqueue('SecurityEventNotification', securityPayload('nobody listens'));
    const dead = once(bare, 'deadLettered');
    bare.resume();
    expect(((await dead) as [DeadLetter])[0]).toMatchObject({
      seq: event.seq,
      lastError: 'no delivery handler for security messages',
    });
    expect(h.rpc.calls).toEqual([]);
    expect(() => h.outbox.register('security', {})).toThrow(/already registered/);
  });

  it('stop gives up on a call that is never answered after the grace time, keeping the message', async () => {
    const dir = tempDir();
    const first = harness({ store: open(dir) });
    const entry = first.outbox.enqueue('MeterValues', meterPayload(1, 6));
    first.outbox.resume();
    // The RPC holds the call (e.g. behind the boot-only gate) and never settles it.
    await first.rpc.next();
    let stopped = false;
    const stopping = first.outbox.stop(2000).then(() => {
      stopped = true;
    });
    first.clock.advance(1999);
    await settle();
    expect(stopped).toBe(false);
    first.clock.advance(1);
    await stopping;
    expect(first.outbox.pending()).toMatchObject([{ seq: entry.seq, attempts: 0 }]);
    first.outbox.resume();
    await settle();
    expect(first.rpc.calls).toHaveLength(1);
    first.store.close();

    const second = harness({ store: open(dir) });
    second.rpc.answer = () => ({});
    const idle = once(second.outbox, 'idle');
    second.outbox.resume();
    await idle;
    expect(second.rpc.calls.map((c) => c.payload)).toEqual([meterPayload(1, 6)]);
  });
});
