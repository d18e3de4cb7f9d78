import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { openStore, type Store } from '../../src/store/index.js';
import { OutboxRepo } from '../../src/store/outbox-repo.js';

const AT = '2025-01-02T00:00:00.000Z';
const event = (n: number) => ({ type: 'SettingSystemTime', timestamp: AT, techInfo: String(n) });

describe('OutboxRepo: paging, dead letters put back and pruned', () => {
  let dir: string;
  let store: Store;
  let repo: OutboxRepo;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cp-outbox-'));
    store = openStore({ dir, log: silentLogger() });
    repo = new OutboxRepo(store.db);
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const queue = (n: number) =>
    Array.from(
      { length: n },
      (_, i) => repo.add('SecurityEventNotification', event(i + 1), undefined, AT).seq,
    );
  const bury = (seqs: number[], failedAt = AT) => {
    for (const seq of seqs) expect(repo.moveToDeadLetter(seq, 3, 'down', failedAt)).toBe(true);
  };

  it('reads the first queued messages and the newest dead letters without loading the rest', () => {
    const seqs = queue(30);
    bury(seqs.slice(0, 10));
    expect(repo.first(5).map((e) => e.seq)).toEqual(seqs.slice(10, 15));
    expect(repo.count()).toBe(20);
    expect(repo.newestDeadLetters(3).map((d) => d.seq)).toEqual(seqs.slice(7, 10));
    expect(repo.newestDeadLetters(3)[0]).toMatchObject({ lastError: 'down', failedAt: AT, attempts: 3 });
    expect(repo.deadLetterCount()).toBe(10);
  });

  it('puts dead letters back under their own seq, ahead of what was queued since, with no attempts spent', () => {
    const seqs = queue(4);
    bury(seqs.slice(0, 2));
    expect(repo.requeueDeadLetters()).toBe(2);
    expect(repo.deadLetterCount()).toBe(0);
    expect(repo.first(10).map((e) => [e.seq, e.attempts, e.payload.techInfo])).toEqual([
      [seqs[0], 0, '1'],
      [seqs[1], 0, '2'],
      [seqs[2], 0, '3'],
      [seqs[3], 0, '4'],
    ]);
    // The counter is not moved back: a new message still comes last.
    expect(repo.add('SecurityEventNotification', event(5), undefined, AT).seq).toBeGreaterThan(seqs[3]!);
  });

  it('prunes dead letters by age and keeps at most the newest n', () => {
    const seqs = queue(8);
    bury(seqs.slice(0, 2), '2024-01-01T00:00:00.000Z');
    bury(seqs.slice(2));
    expect(repo.pruneDeadLetters('2024-06-01T00:00:00.000Z', 100)).toBe(2);
    expect(repo.pruneDeadLetters('2024-06-01T00:00:00.000Z', 4)).toBe(2);
    expect(repo.deadLetters().map((d) => d.seq)).toEqual(seqs.slice(4));
  });
});
