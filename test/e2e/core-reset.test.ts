import { describe, expect, it } from 'vitest';
import { answered, charging } from '../support/charging.js';
import { CP_ID, type Harness, useHarness } from '../support/harness.js';

type Status = { connectorId: number; status: string };

async function resetKeepsAvailability(h: Harness, type: 'Hard' | 'Soft'): Promise<void> {
  await h.booted();
  let mark = h.csms.mark();
  expect(await h.csms.call(CP_ID, 'ChangeAvailability', { connectorId: 1, type: 'Inoperative' })).toEqual({
    status: 'Accepted',
  });
  await h.csms.waitForCall(CP_ID, 'StatusNotification', {
    since: mark,
    where: (p: Status) => p.connectorId === 1 && p.status === 'Unavailable',
  });
  expect(await h.csms.call(CP_ID, 'Reset', { type })).toEqual({ status: 'Accepted' });
  expect(await h.runtime.done).toEqual({ kind: 'reset', type });

  mark = h.csms.mark();
  await h.startRuntime();
  await h.booted(mark);
  const after = new Map(
    h.csms.calls(CP_ID, 'StatusNotification', mark).map((c) => {
      const p = c.payload as Status;
      return [p.connectorId, p.status];
    }),
  );
  expect(after).toEqual(
    new Map([
      [0, 'Available'],
      [1, 'Unavailable'],
      [2, 'Available'],
    ]),
  );

  mark = h.csms.mark();
  expect(await h.csms.call(CP_ID, 'ChangeAvailability', { connectorId: 1, type: 'Operative' })).toEqual({
    status: 'Accepted',
  });
  await h.csms.waitForCall(CP_ID, 'StatusNotification', {
    since: mark,
    where: (p: Status) => p.connectorId === 1 && p.status === 'Available',
  });
}

/** Reset while charging: the answer leaves first, the transaction stops with the reset's own reason. */
async function resetWhileCharging(h: Harness, type: 'Hard' | 'Soft'): Promise<void> {
  await h.booted();
  const transactionId = await charging(h, 'VALID01', 1);
  const mark = h.csms.mark();
  expect(await h.csms.call(CP_ID, 'Reset', { type })).toEqual({ status: 'Accepted' });
  expect(await h.runtime.done).toEqual({ kind: 'reset', type });
  // The StopTransaction leaves before the restart or, queued in the store, right after it.
  await h.startRuntime();
  const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
  expect(stop.payload).toMatchObject({
    transactionId,
    reason: type === 'Hard' ? 'HardReset' : 'SoftReset',
  });
  const resetAnswer = h.csms.frames.find(
    (f) => f.seq > mark && f.direction === 'in' && f.message?.type === 'result',
  );
  expect(resetAnswer?.message).toMatchObject({ payload: { status: 'Accepted' } });
  expect(stop.record.seq).toBeGreaterThan(resetAnswer?.seq ?? Number.POSITIVE_INFINITY);
  await answered(h.csms, stop.id);
  expect(h.runtime.transactions.transactionOn(1)).toBeUndefined();
}

describe('Core: reset and availability across restarts', () => {
  const start = useHarness();

  it('TC_013_CS hard reset without transaction: an Inoperative connector stays Unavailable', async () => {
    const h = await start();
    await resetKeepsAvailability(h, 'Hard');
  });

  it('TC_014_CS soft reset without transaction: an Inoperative connector stays Unavailable', async () => {
    const h = await start();
    await resetKeepsAvailability(h, 'Soft');
  });

  it('TC_015_CS hard reset with a transaction: StopTransaction with reason HardReset, runtime done with Hard', async () => {
    const h = await start();
    await resetWhileCharging(h, 'Hard');
  });

  it('TC_016_CS soft reset with a transaction: StopTransaction with reason SoftReset, runtime done with Soft', async () => {
    const h = await start();
    await resetWhileCharging(h, 'Soft');
  });

  it('TC_034_CS charge point Inoperative survives a power cycle', async () => {
    const h = await start();
    await h.booted();
    expect(await h.csms.call(CP_ID, 'ChangeAvailability', { connectorId: 0, type: 'Inoperative' })).toEqual({
      status: 'Accepted',
    });
    await h.runtime.stop();
    const mark = h.csms.mark();
    await h.startRuntime();
    await h.booted(mark);
    const statuses = h.csms.calls(CP_ID, 'StatusNotification', mark).map((c) => c.payload as Status);
    expect(statuses.map((s) => s.status)).toEqual(['Unavailable', 'Unavailable', 'Unavailable']);
  });
});
