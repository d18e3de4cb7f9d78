/**
 * Queue figures: a backlog of transaction messages written to the store as the runtime writes it
 * (through the repositories), then a daemon booted on it. `queueDrain`: 10,000 messages drained
 * after the daemon connects. `queuedBacklog`: 100,000 messages held while the central system
 * refuses the connection (the daemon's resident size with them), then the drain rate once it
 * accepts, over the first QUEUED_DRAIN_SAMPLE of them.
 */
import { join } from 'node:path';
import { request } from '../src/cli/client.js';
import { silentLogger } from '../src/log.js';
import { openStore } from '../src/store/index.js';
import { OutboxRepo } from '../src/store/outbox-repo.js';
import { TransactionsRepo } from '../src/store/transactions-repo.js';
import type { DevCsms, FrameRecord } from '../test/csms/server.js';
import { CP, rssMb, settle, spawnDaemon, stopProcess, untilAnswering } from './bench-compare.js';

const QUEUED = 10_000;
const BACKLOG = 100_000;
/** Messages of the 100,000 whose delivery is timed: the rate, without waiting for all of them. */
const QUEUED_DRAIN_SAMPLE = 10_000;
const FIRST_MESSAGE_TIMEOUT_MS = 30_000;
/**
 * The README's target: as for the 1,000,000-entry local list. The outbox reads its queue one
 * message at a time, so a long queue costs disk, not memory.
 */
export const BACKLOG_RSS_TARGET_MB = 90;

/**
 * `count` MeterValues of one finished transaction in the outbox of a fresh store in `stateDir`,
 * oldest first, one SQL transaction for all of them.
 */
function fillOutbox(stateDir: string, count: number): void {
  const store = openStore({ dir: stateDir, log: silentLogger() });
  try {
    store.db.transaction(() => {
      const now = new Date().toISOString();
      const transactions = new TransactionsRepo(store.db);
      const tx = transactions.insert({ connectorId: 1, idTag: 'QUEUED', meterStart: 0, startedAt: now });
      transactions.setTransactionId(tx.localId, 4242);
      transactions.stop(tx.localId, { stopReason: 'Local', meterStop: 0, stoppedAt: now });
      const outbox = new OutboxRepo(store.db);
      for (let i = 0; i < count; i++) {
        const at = new Date(Date.now() - (count - i) * 1000).toISOString();
        const payload = {
          connectorId: 1,
          meterValue: [
            {
              timestamp: at,
              sampledValue: [{ value: String(i), measurand: 'Energy.Active.Import.Register', unit: 'Wh' }],
            },
          ],
        };
        outbox.add('MeterValues', payload, tx.localId, at);
      }
    })();
  } finally {
    store.close();
  }
}

/**
 * Delivery rate, messages per second, from the first MeterValues the central system receives to
 * its `count`-th (the first one is awaited by `first`, already set up by the caller).
 */
async function drainRate(
  csms: DevCsms,
  first: Promise<{ record: FrameRecord }>,
  count: number,
): Promise<number> {
  let received = 0;
  let last = 0;
  const all = new Promise<void>((resolve) => {
    const onFrame = (r: FrameRecord) => {
      if (r.direction !== 'in' || r.message?.type !== 'call' || r.message.action !== 'MeterValues') return;
      received++;
      last = r.at;
      if (received === count) {
        csms.off('frame', onFrame);
        resolve();
      }
    };
    csms.on('frame', onFrame);
  });
  const t0 = (await first).record.at;
  await all;
  // The first message starts the clock, so count - 1 deliveries fall inside it.
  return Math.round(((count - 1) / (last - t0)) * 1000);
}

/** 10,000 transaction messages queued while offline, drained after the daemon (re)connects. */
export async function queueDrain(csms: DevCsms, url: string, dir: string) {
  const stateDir = join(dir, 'drain');
  fillOutbox(stateDir, QUEUED);
  csms.clearFrames();
  const first = csms.waitForCall(CP, 'MeterValues', { timeoutMs: FIRST_MESSAGE_TIMEOUT_MS });
  const rate = drainRate(csms, first, QUEUED);
  const child = spawnDaemon(url, stateDir);
  try {
    return { queueDrainMessages: QUEUED, queueDrainMessagesPerSecond: await rate };
  } finally {
    await stopProcess(child);
  }
}

/**
 * 100,000 transaction messages queued, the daemon started while the central system refuses every
 * connection: its resident size once it answers on its control socket and has settled. Then the
 * central system accepts and the daemon is told to connect at once (`reconnect`): the rate of the
 * first QUEUED_DRAIN_SAMPLE deliveries.
 */
export async function queuedBacklog(csms: DevCsms, url: string, dir: string) {
  const stateDir = join(dir, 'backlog');
  const socket = join(stateDir, 'cpctl.sock');
  fillOutbox(stateDir, BACKLOG);
  csms.clearFrames();
  csms.refuseConnections(true);
  const child = spawnDaemon(url, stateDir);
  try {
    await untilAnswering(socket);
    await settle();
    const daemonRssWith100kQueuedMb = rssMb(child.pid ?? 0);
    csms.refuseConnections(false);
    const first = csms.waitForCall(CP, 'MeterValues', { timeoutMs: FIRST_MESSAGE_TIMEOUT_MS });
    const rate = drainRate(csms, first, QUEUED_DRAIN_SAMPLE);
    await request(socket, 'reconnect', {});
    return {
      queuedMessages: BACKLOG,
      daemonRssWith100kQueuedMb,
      queuedDrainSampleMessages: QUEUED_DRAIN_SAMPLE,
      queuedDrainMessagesPerSecondWith100k: await rate,
    };
  } finally {
    csms.refuseConnections(false);
    await stopProcess(child);
  }
}
