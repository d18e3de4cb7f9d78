/**
 * The durable outbox holds nothing per delivered message: tens of thousands of deliveries (a day of
 * MeterValues at 1 s sampling) leave the heap where it was. Each delivery used to race the call
 * against one promise that lives as long as the outbox, and every race left a reaction on it:
 * about 15 MiB a simulated day in the week run, until the board runs out of memory.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, expect, it } from 'vitest';
import type { ConfigurationRegistry } from '../../src/config/registry.js';
import { createLogger } from '../../src/log.js';
import { Outbox } from '../../src/ocpp/outbox.js';
import type { RpcEndpoint } from '../../src/ocpp/rpc.js';
import { openStore, type Store } from '../../src/store/index.js';
import { OutboxRepo } from '../../src/store/outbox-repo.js';
import { FakeClock } from '../support/fake-clock.js';
import { fastTempRoot } from '../support/fast-temp.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const WARM_UP = 5_000;
const DELIVERIES = 30_000;

let dir: string | undefined;
let store: Store | undefined;
afterEach(() => {
  store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function heapMiB(): number {
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

it(`${DELIVERIES} deliveries leave the heap where it was`, async () => {
  dir = mkdtempSync(join(fastTempRoot(), 'cp-outbox-memory-'));
  store = openStore({ dir, log: createLogger({ level: 'silent' }) });
  // The central system answers every call at once.
  const rpc = { call: () => Promise.resolve({}) } as unknown as RpcEndpoint;
  const outbox = new Outbox({
    repo: new OutboxRepo(store.db),
    rpc,
    config: { getInt: () => 3 } as unknown as ConfigurationRegistry,
    clock: new FakeClock(Date.UTC(2026, 0, 5)),
    log: createLogger({ level: 'silent' }),
  });
  outbox.register('security', {});
  outbox.resume();
  const deliver = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const idle = once(outbox, 'idle');
      outbox.enqueue('SecurityEventNotification', {
        type: 'MemoryTest',
        timestamp: '2026-01-05T00:00:00.000Z',
      });
      await idle;
    }
  };
  await deliver(WARM_UP);
  const before = heapMiB();
  await deliver(DELIVERIES);
  const after = heapMiB();
  expect(outbox.size()).toBe(0);
  expect(after - before, `heap used ${before.toFixed(1)} -> ${after.toFixed(1)} MiB`).toBeLessThan(1.5);
}, 120_000);
