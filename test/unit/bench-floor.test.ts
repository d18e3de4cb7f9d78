/**
 * The bench's durable floor (`scripts/bench-floor.ts` given a database file): the floor the
 * transaction figures are held against must do the durability work ours does, no more and no
 * less: each record committed before the message that follows from it leaves.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { DevCsms } from '../csms/server.js';

const FLOOR = fileURLToPath(new URL('../../scripts/bench-floor.ts', import.meta.url));
const CP = 'CP-DURABLE-FLOOR-TEST';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function durableFloor(): Promise<{ csms: DevCsms; file: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'cp-bench-floor-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const csms = new DevCsms({ rules: { boot: { status: 'Accepted', interval: 3600 } } });
  const { url } = await csms.start();
  cleanups.push(() => csms.stop());
  const file = join(dir, 'floor.db');
  const booted = csms.waitForCall(CP, 'BootNotification', { timeoutMs: 15_000 });
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', FLOOR, url, CP, file], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  cleanups.push(async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  });
  await booted;
  return { csms, file };
}

/** What the floor has committed so far, read by another connection as a restart would find it. */
function committed(file: string) {
  const db = new Database(file, { readonly: true });
  try {
    return {
      configuration: db.prepare('SELECT key, value FROM configuration').all(),
      sessions: db.prepare('SELECT start, transaction_id, stop, delivered FROM sessions').all(),
    };
  } finally {
    db.close();
  }
}

describe('the durable floor', () => {
  it('commits a configuration change before answering it, a start, its transactionId and a stop before what follows from them', async () => {
    const { csms, file } = await durableFloor();

    await csms.call(CP, 'ChangeConfiguration', { key: 'MeterValueSampleInterval', value: '10' });
    expect(committed(file).configuration).toEqual([{ key: 'MeterValueSampleInterval', value: '10' }]);

    const started = csms.waitForCall(CP, 'StartTransaction');
    await csms.call(CP, 'RemoteStartTransaction', { connectorId: 2, idTag: 'FLOOR' });
    const start = await started;
    // The row was there when the message arrived, and holds the message as sent.
    const [session] = committed(file).sessions as Array<{ start: string }>;
    expect(JSON.parse(session?.start ?? '')).toEqual(start.payload);

    const answer = await csms.waitForFrame(
      CP,
      (f) => f.direction === 'out' && f.message?.type === 'result' && f.message.id === start.id,
    );
    const { transactionId } = (answer.message as { payload: { transactionId: number } }).payload;
    // Charging is reported once the answer is applied and its transactionId committed: the bench
    // sends the RemoteStopTransaction after it, as it does to ours.
    await csms.waitForCall(CP, 'StatusNotification', {
      where: (p: { connectorId: number; status: string }) => p.connectorId === 2 && p.status === 'Charging',
    });
    expect(committed(file).sessions).toMatchObject([{ transaction_id: transactionId }]);
    const stopped = csms.waitForCall(CP, 'StopTransaction');
    await csms.call(CP, 'RemoteStopTransaction', { transactionId });
    const stop = await stopped;
    const [after] = committed(file).sessions as Array<{ transaction_id: number; stop: string }>;
    expect(after?.transaction_id).toBe(transactionId);
    expect(JSON.parse(after?.stop ?? '')).toEqual(stop.payload);
  });
});
