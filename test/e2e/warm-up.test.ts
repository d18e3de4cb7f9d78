/**
 * The warm-ups after registration (issue 8, first session after boot): the runtime has the RPC,
 * the outbox and the transaction engine rehearse what the first session will ask of them, and
 * none of it reaches the central system, the trace or the store.
 */
import { describe, expect, it } from 'vitest';
import { whenOutbox } from '../support/charging.js';
import { CP_ID, useHarness } from '../support/harness.js';

/** Event-loop turns enough for every warm-up step (each takes its own turn) to have run. */
async function turns(count = 20): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** What any start sends: the boot, the statuses, and the StartupOfTheDevice security event. */
function ofTheBoot(action: string, payload: unknown): boolean {
  if (action === 'BootNotification' || action === 'StatusNotification') return true;
  return (
    action === 'SecurityEventNotification' && (payload as { type?: string }).type === 'StartupOfTheDevice'
  );
}

describe('warm-up after registration', () => {
  const start = useHarness();

  it('warms the RPC, the outbox and the engine once accepted, and the central system sees only the boot', async () => {
    const h = await start();
    await h.booted();
    // The StartupOfTheDevice queued at start is delivered; a row a warm-up left would keep the queue from emptying.
    await whenOutbox(h, () => h.runtime.outbox.size() === 0, 'the queue emptied');
    await turns();

    // Each already ran: a second call finds nothing left to do.
    expect(await h.runtime.rpc.warmUp()).toEqual([]);
    expect(await h.runtime.outbox.warmUp()).toEqual([]);
    // Nothing of them on the wire, in the trace, in the queue or among the transactions.
    const ours = h.csms.frames.filter((f) => f.chargePointId === CP_ID);
    const sent = ours.flatMap((f) => (f.direction === 'in' && f.message?.type === 'call' ? [f.message] : []));
    expect(sent.filter((call) => !ofTheBoot(call.action, call.payload)).map((call) => call.action)).toEqual(
      [],
    );
    const traced = h.runtime.trace.query({ limit: 100 }).map((entry) => entry.text);
    expect(traced.filter((text) => text.includes('WARM-UP') || text.includes('warm-up'))).toEqual([]);
    expect(h.runtime.outbox.size()).toBe(0);
    expect(h.runtime.transactions.activeTransactions()).toEqual([]);
    // The rehearsed CALL and its answer were not counted as frames of this link.
    await h.runtime.rpc.whenIdle(5_000);
    expect(h.runtime.rpc.counters.framesIn).toBe(ours.filter((f) => f.direction === 'out').length);
    expect(h.runtime.rpc.counters.framesOut).toBe(ours.filter((f) => f.direction === 'in').length);
  });
});
