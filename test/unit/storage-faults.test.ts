import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { OcppTime } from '../../src/clock.js';
import { ConfigurationRegistry } from '../../src/config/registry.js';
import { silentLogger } from '../../src/log.js';
import type { TransactionStop } from '../../src/station/transaction-types.js';
import { REGISTER_PERSIST_MS, TransactionEngine } from '../../src/station/transactions.js';
import { attemptWrite, STORE_PROBE_MS } from '../../src/store/health.js';
import { openStore, type Store } from '../../src/store/index.js';
import { OutboxRepo } from '../../src/store/outbox-repo.js';
import { DEFAULT_RETENTION, RetentionRepo } from '../../src/store/retention.js';
import { TransactionsRepo } from '../../src/store/transactions-repo.js';
import { DiskFull } from '../support/disk-full.js';
import { FakeClock } from '../support/fake-clock.js';
import { SessionFixture, T0 } from './session-fixture.js';

const TAG = 'VALID01';
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cp-faults-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function store(dir = tempDir(), wrapDatabase?: (db: Database.Database) => Database.Database): Store {
  const s = openStore({ dir, log: silentLogger(), ...(wrapDatabase ? { wrapDatabase } : {}) });
  cleanups.push(() => s.close());
  return s;
}

describe('the meter register with MeterValueSampleInterval 0', () => {
  it('is persisted every REGISTER_PERSIST_MS, so a power cut ends the transaction at the last known energy and time, not at meterStart', async () => {
    const fx = new SessionFixture({ ocpp: { MeterValueSampleInterval: 0 } });
    cleanups.push(() => fx.close());
    const row = await fx.charging(1, TAG);
    // An hour of charging at 11 kW, and then the power goes 5 s after a persist.
    for (let t = 0; t < 3_600_000; t += REGISTER_PERSIST_MS) {
      fx.clock.advance(REGISTER_PERSIST_MS);
      await fx.settle();
    }
    fx.clock.advance(5_000);
    await fx.settle();
    const persisted = fx.repo.get(row.localId)!;
    expect(persisted.lastMeter - row.meterStart).toBeGreaterThan(10_900);
    expect(persisted.lastMeterAt).toBe(new Date(fx.clock.now() - 5_000).toISOString());
    // No MeterValues were queued for it: only the register.
    expect(fx.timeline.filter((h) => h.kind === 'sampled')).toHaveLength(0);

    // The next boot: a new engine on the same database, later.
    const stops: TransactionStop[] = [];
    const engine = new TransactionEngine({
      station: fx.station,
      repo: fx.repo,
      reservations: fx.reservations,
      limit: fx.limit,
      sink: { started: () => {}, sampled: () => {}, stopped: (_tx, stop) => void stops.push(stop) },
      authorize: async (idTag) => ({ idTag, info: { status: 'Accepted' }, source: 'central' }),
      reportIdTagInfo: () => undefined,
      config: new ConfigurationRegistry({
        store: { loadAll: () => new Map(), save: () => {} },
        capabilities: new Set(),
        fixed: { NumberOfConnectors: '2', SupportedFeatureProfiles: 'Core' },
        log: silentLogger(),
      }),
      clock: fx.clock,
      time: new OcppTime(fx.clock, false),
      log: silentLogger(),
    });
    fx.clock.advance(600_000);
    engine.start();
    engine.close();
    expect(stops).toEqual([
      { reason: 'PowerLoss', meterStop: persisted.lastMeter, timestampMs: Date.parse(persisted.lastMeterAt) },
    ]);
  });
});

describe('StoreHealth', () => {
  it('a disk that fills and empties: degraded at the failed write, ok at the first probe after space returns', () => {
    const disk = new DiskFull();
    const s = store(tempDir(), disk.wrap);
    const clock = new FakeClock(T0);
    s.health.useClock(clock);
    const changes: string[] = [];
    s.health.on('changed', (now) => changes.push(now.state));

    disk.fill();
    expect(() => s.availability.set(1, 'Inoperative')).toThrow(/full/);
    try {
      s.availability.set(1, 'Inoperative');
    } catch (err) {
      expect(s.health.writeFailed(err, 'availability')).toBe(true);
    }
    expect(s.health.snapshot()).toEqual({
      state: 'degraded',
      reason: 'SQLITE_FULL: database or disk is full',
      since: T0,
    });
    clock.advance(STORE_PROBE_MS);
    expect(s.health.snapshot().state).toBe('degraded');
    disk.free();
    clock.advance(STORE_PROBE_MS);
    expect(s.health.snapshot()).toEqual({ state: 'ok' });
    expect(changes).toEqual(['degraded', 'ok']);
  });

  it('attemptWrite: through the health when given (a refused write reported, false), else the write itself', () => {
    const disk = new DiskFull();
    const s = store(tempDir(), disk.wrap);
    disk.fill();
    expect(attemptWrite(s.health, 'availability', () => s.availability.set(1, 'Inoperative'))).toBe(false);
    expect(s.health.snapshot().state).toBe('degraded');
    expect(() => attemptWrite(undefined, 'availability', () => s.availability.set(1, 'Inoperative'))).toThrow(
      /full/,
    );
    disk.free();
    expect(attemptWrite(undefined, 'availability', () => s.availability.set(1, 'Inoperative'))).toBe(true);
    expect(s.availability.all().get(1)).toBe('Inoperative');
  });

  it('an error that is not the disk is not taken for one', () => {
    const s = store();
    expect(s.health.writeFailed(new Error('bug'), 'x')).toBe(false);
    expect(s.health.writeFailed(new Database.SqliteError('constraint', 'SQLITE_CONSTRAINT_CHECK'), 'x')).toBe(
      false,
    );
    expect(s.health.writeFailed(new Database.SqliteError('ro', 'SQLITE_READONLY_DBMOVED'), 'x')).toBe(true);
    expect(s.health.snapshot().state).toBe('read-only');
  });
});

describe('retention of per-session history', () => {
  const iso = (ms: number) => new Date(ms).toISOString();
  const DAY = 24 * 3600 * 1000;

  it('prunes finished transactions by age and count, never one a queued message or dead letter refers to', () => {
    const s = store();
    const transactions = new TransactionsRepo(s.db);
    const outbox = new OutboxRepo(s.db);
    const finished = (ageDays: number) => {
      const row = transactions.insert({
        connectorId: 1,
        idTag: 'T',
        meterStart: 0,
        startedAt: iso(T0 - ageDays * DAY),
      });
      transactions.stop(row.localId, {
        stopReason: 'Local',
        meterStop: 1,
        stoppedAt: iso(T0 - ageDays * DAY),
      });
      return row.localId;
    };
    const old = finished(400);
    const oldButQueued = finished(400);
    outbox.add('StopTransaction', {}, oldButQueued, iso(T0));
    const oldButDeadLettered = finished(400);
    const dead = outbox.add('StartTransaction', {}, oldButDeadLettered, iso(T0));
    outbox.moveToDeadLetter(dead.seq, 5, 'x', iso(T0 - DAY));
    const running = transactions.insert({
      connectorId: 2,
      idTag: 'R',
      meterStart: 0,
      startedAt: iso(T0 - 500 * DAY),
    });
    const recent = Array.from({ length: 5 }, () => finished(1));

    const removed = new RetentionRepo(s.db).prune(T0, { ...DEFAULT_RETENTION, maxTransactions: 3 });

    const kept = new Set(transactions.recent(100).map((t) => t.localId));
    expect(kept.has(old)).toBe(false);
    expect(kept.has(oldButQueued)).toBe(true);
    expect(kept.has(oldButDeadLettered)).toBe(true);
    expect(kept.has(running.localId)).toBe(true);
    expect(recent.filter((id) => kept.has(id))).toEqual(recent.slice(-3));
    expect(outbox.deadLetters().map((d) => d.seq)).toEqual([dead.seq]);
    expect(removed).toEqual({ transactions: 3 });
  });
});

describe('SecurityProfile floor', () => {
  function registry(s: Store, initial: Record<string, string | number> = {}) {
    return new ConfigurationRegistry({
      store: s.config,
      floors: s.floors,
      initial,
      capabilities: new Set(),
      fixed: { NumberOfConnectors: '1', SupportedFeatureProfiles: 'Core' },
      log: silentLogger(),
    });
  }

  it('a database lost after SecurityProfile was raised does not bring the charger back on a weaker profile', () => {
    const dir = tempDir();
    const first = openStore({ dir, log: silentLogger() });
    const config = registry(first, {
      SecurityProfile: 0,
      AuthorizationKey: '0123456789abcdef0123456789abcdef',
    });
    expect(config.change('SecurityProfile', '1', 'csms')).toBe('Accepted');
    first.close();
    // The database is gone (moved aside as corrupt, or replaced); the provisioning file still says 0.
    for (const name of fs.readdirSync(dir))
      if (name.startsWith('chargepoint.db') && !name.endsWith('.floors')) fs.rmSync(path.join(dir, name));

    const again = registry(store(dir), {
      SecurityProfile: 0,
      AuthorizationKey: '0123456789abcdef0123456789abcdef',
    });
    expect(again.getInt('SecurityProfile')).toBe(1);
  });
});
