import { describe, expect, it } from 'vitest';
import type { DeadLetter } from '../../src/ocpp/outbox.js';
import {
  answered,
  charging,
  energyOf,
  goOffline,
  goOnline,
  listed,
  type MeterValuesReq,
  OutboxWatch,
  type StartReq,
  type StopReq,
  transactionIdOf,
  whenContactor,
  whenEngine,
  whenOutbox,
  whenStation,
} from '../support/charging.js';
import { cpctl } from '../support/cpctl-process.js';
import { CP_ID, type Harness, type HarnessOptions, useHarness } from '../support/harness.js';

const TAG = 'VALID01';

/** IdTagCached memory state: a whole session with the id leaves it in the authorization cache. */
async function cached(h: Harness, idTag = TAG): Promise<void> {
  await charging(h, idTag);
  const mark = h.csms.mark();
  h.board.swipe(idTag);
  await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
  h.board.unplug(1);
  await h.status(1, 'Available', mark);
  expect(h.runtime.authCache.size()).toBe(1);
}

/** Plug and present the card while the central system is unreachable: the transaction starts locally. */
async function offlineStart(h: Harness, idTag = TAG): Promise<void> {
  h.board.plug(1);
  h.board.swipe(idTag);
  await whenEngine(h, () => h.runtime.transactions.transactionOn(1) !== undefined, 'an offline start');
  // The charging limit offers the current (PWM) first, then closes the contactor.
  await whenContactor(h, 1, true);
  expect(h.runtime.transactions.transactionOn(1)?.transactionId).toBeUndefined();
}

/** The central system answers the charger's second BootNotification Pending, every other one Accepted. */
const PENDING_ON_SECOND_BOOT: HarnessOptions = {
  csms: {
    rules: {
      boot: (_req, count) =>
        count === 2 ? { status: 'Pending', interval: 3600 } : { status: 'Accepted', interval: 3600 },
    },
  },
};

/** Triggers a BootNotification and waits for the charger to log its Pending answer; the trigger's own answer. */
async function triggerPendingBoot(h: Harness): Promise<unknown> {
  const answer = await h.csms.call(CP_ID, 'TriggerMessage', { requestedMessage: 'BootNotification' });
  await h.sink.waitFor((l) => l.msg === 'BootNotification answered' && l.status === 'Pending');
  return answer;
}

describe('offline behaviour and transaction-message delivery', () => {
  const start = useHarness();

  it('TC_036_CS connection loss during a transaction: queued MeterValues arrive first, in order, spaced by the interval', async () => {
    const h = await start({ ocpp: { MeterValueSampleInterval: 1 } });
    await h.booted();
    const watch = new OutboxWatch(h.runtime.outbox);
    const transactionId = await charging(h, TAG);
    await h.csms.waitForCall(CP_ID, 'MeterValues', {
      where: (p: MeterValuesReq) => p.transactionId === transactionId,
    });
    await goOffline(h);
    const from = watch.entries.length;
    await watch.waitFor(
      (entries) => entries.slice(from).filter((e) => e.action === 'MeterValues').length >= 3,
      'three samples taken offline',
    );
    // Nothing leaves while offline: what is pending now is exactly the queue the reconnect must empty.
    const queued = h.runtime.outbox
      .pending()
      .filter((e) => e.action === 'MeterValues')
      .map((e) => (e.payload as MeterValuesReq).meterValue[0]?.timestamp);
    expect(queued.length).toBeGreaterThanOrEqual(3);

    const mark = h.csms.mark();
    await goOnline(h);
    await h.csms.waitForCall(CP_ID, 'MeterValues', {
      since: mark,
      where: (p: MeterValuesReq) => !queued.includes(p.meterValue[0]?.timestamp),
    });
    const sent = h.csms.calls(CP_ID, 'MeterValues', mark).map((c) => c.payload as MeterValuesReq);
    expect(sent.slice(0, queued.length).map((p) => p.meterValue[0]?.timestamp)).toEqual(queued);
    expect(sent.every((p) => p.transactionId === transactionId)).toBe(true);
    const times = sent.map((p) => Date.parse(p.meterValue[0]?.timestamp ?? ''));
    for (let i = 1; i < times.length; i++) {
      // Each sample is taken a whole interval after the previous one, whether it could be sent or not.
      expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(900);
      expect(energyOf(sent[i]!)).toBeGreaterThanOrEqual(energyOf(sent[i - 1]!));
    }
  });

  it.each([
    ['the local list', listed],
    ['the authorization cache', cached],
  ])(
    'TC_037_1_CS offline start with an id in %s: StartTransaction after the reconnect, Accepted',
    async (_name, known) => {
      const h = await start();
      await h.booted();
      await known(h, TAG);
      await goOffline(h);
      const mark = h.csms.mark();
      await offlineStart(h);
      await goOnline(h);
      const startTx = await h.csms.waitForCall(CP_ID, 'StartTransaction', { since: mark });
      expect(startTx.payload).toMatchObject({ connectorId: 1, idTag: TAG });
      await answered(h.csms, startTx.id);
      const transactionId = transactionIdOf(h.csms, startTx.id);
      await h.status(1, 'Charging', mark);
      await whenOutbox(
        h,
        () => h.runtime.transactions.transactionOn(1)?.transactionId === transactionId,
        'the transaction id to be recorded',
      );
      // Neither offline nor after the reconnect does the charger ask about an id it already trusts.
      expect(h.csms.calls(CP_ID, 'Authorize', mark)).toEqual([]);
      expect(h.board.connector(1)?.devices.relay.isClosed()).toBe(true);
    },
  );

  it('TC_037_2_CS offline start, the central system answers Invalid, StopTransactionOnInvalidId false: SuspendedEVSE, transaction kept', async () => {
    const h = await start({ ocpp: { StopTransactionOnInvalidId: false } });
    await h.booted();
    await listed(h, TAG);
    h.csms.rules.onCall = (_cp, action) =>
      action === 'StartTransaction' ? { transactionId: 4242, idTagInfo: { status: 'Invalid' } } : undefined;
    await goOffline(h);
    const mark = h.csms.mark();
    await offlineStart(h);
    await goOnline(h);
    const startTx = await h.csms.waitForCall(CP_ID, 'StartTransaction', { since: mark });
    await answered(h.csms, startTx.id);
    await h.status(1, 'SuspendedEVSE', mark);
    expect(h.board.connector(1)?.devices.relay.isClosed()).toBe(false);
    expect(h.runtime.transactions.transactionOn(1)?.transactionId).toBe(4242);
    // The transaction is still there: the central system can stop it, and that is the only stop.
    expect(await h.csms.call(CP_ID, 'RemoteStopTransaction', { transactionId: 4242 })).toEqual({
      status: 'Accepted',
    });
    const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    expect(stop.payload).toMatchObject({ transactionId: 4242, reason: 'Remote' });
    expect(h.csms.calls(CP_ID, 'StopTransaction', mark)).toHaveLength(1);
  });

  it('TC_037_3_CS offline start, the central system answers Invalid, StopTransactionOnInvalidId true: StopTransaction DeAuthorized', async () => {
    const h = await start({ ocpp: { StopTransactionOnInvalidId: true } });
    await h.booted();
    await listed(h, TAG);
    h.csms.rules.onCall = (_cp, action) =>
      action === 'StartTransaction' ? { transactionId: 4343, idTagInfo: { status: 'Invalid' } } : undefined;
    await goOffline(h);
    const mark = h.csms.mark();
    await offlineStart(h);
    await goOnline(h);
    const startTx = await h.csms.waitForCall(CP_ID, 'StartTransaction', { since: mark });
    const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    expect(stop.payload).toMatchObject({ transactionId: 4343, reason: 'DeAuthorized' });
    expect(stop.record.seq).toBeGreaterThan(startTx.record.seq);
    await h.status(1, 'Finishing', mark);
    expect(h.board.connector(1)?.devices.relay.isClosed()).toBe(false);
    expect(h.runtime.transactions.transactionOn(1)).toBeUndefined();
  });

  it('TC_038_CS offline local stop: StopTransaction reason Local after the reconnect', async () => {
    const h = await start();
    await h.booted();
    const transactionId = await charging(h, TAG);
    await goOffline(h);
    const mark = h.csms.mark();
    h.board.swipe(TAG);
    await whenEngine(h, () => h.runtime.transactions.transactionOn(1) === undefined, 'the local stop');
    expect(h.board.connector(1)?.devices.relay.isClosed()).toBe(false);
    await goOnline(h);
    const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    expect(stop.payload).toMatchObject({ transactionId, idTag: TAG, reason: 'Local' });
    await h.status(1, 'Finishing', mark);
    expect(h.csms.calls(CP_ID, 'StopTransaction', mark)).toHaveLength(1);
  });

  it('TC_039_CS start, stop and unplug offline: StartTransaction, then StopTransaction with the id the central system gave', async () => {
    const h = await start();
    await h.booted();
    await listed(h, TAG);
    await goOffline(h);
    const mark = h.csms.mark();
    await offlineStart(h);
    h.board.swipe(TAG);
    await whenEngine(h, () => h.runtime.transactions.transactionOn(1) === undefined, 'the local stop');
    h.board.unplug(1);
    await whenStation(h, () => h.runtime.station.status(1)?.status === 'Available', 'Available');
    await goOnline(h);
    const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    const starts = h.csms.calls(CP_ID, 'StartTransaction', mark);
    expect(starts).toHaveLength(1);
    expect(starts[0]?.payload).toMatchObject({ connectorId: 1, idTag: TAG });
    expect(stop.payload).toMatchObject({
      transactionId: transactionIdOf(h.csms, starts[0]!.id),
      idTag: TAG,
      reason: 'Local',
    });
    const first = starts[0]!;
    const startSeq = h.csms.frames.find((f) => f.message?.id === first.id)?.seq ?? Infinity;
    expect(startSeq).toBeLessThan(stop.record.seq);
    expect((stop.payload as StopReq).meterStop).toBeGreaterThanOrEqual(
      (first.payload as StartReq).meterStart,
    );
  });

  it('TC_007_CS remote start with a cached id: no Authorize', async () => {
    const h = await start({
      ocpp: { AuthorizationCacheEnabled: true, AuthorizeRemoteTxRequests: true, LocalPreAuthorize: true },
    });
    await h.booted();
    await cached(h);
    const mark = h.csms.mark();
    h.board.plug(1);
    await h.status(1, 'Preparing', mark);
    expect(await h.csms.call(CP_ID, 'RemoteStartTransaction', { connectorId: 1, idTag: TAG })).toEqual({
      status: 'Accepted',
    });
    const startTx = await h.csms.waitForCall(CP_ID, 'StartTransaction', { since: mark });
    expect(startTx.payload).toMatchObject({ connectorId: 1, idTag: TAG });
    await answered(h.csms, startTx.id);
    expect(answeredStatus(h, startTx.id)).toBe('Accepted');
    await h.status(1, 'Charging', mark);
    expect(h.csms.calls(CP_ID, 'Authorize', mark)).toEqual([]);
  });

  it('TC_061_CS after ClearCache the same card is asked about again (through the reader)', async () => {
    const h = await start({ ocpp: { LocalPreAuthorize: true, ConnectionTimeOut: 1 } });
    await h.booted();
    let mark = h.csms.mark();
    h.board.swipe(TAG);
    await h.csms.waitForCall(CP_ID, 'Authorize', { since: mark });
    await h.status(1, 'Preparing', mark);
    await h.status(1, 'Available', mark);
    expect(h.runtime.authCache.size()).toBe(1);
    expect(await h.csms.call(CP_ID, 'ClearCache', {})).toEqual({ status: 'Accepted' });
    mark = h.csms.mark();
    h.board.swipe(TAG);
    const auth = await h.csms.waitForCall(CP_ID, 'Authorize', { since: mark });
    expect(auth.payload).toEqual({ idTag: TAG });
  });

  it('TC_005_2_CS EV-side disconnect with UnlockConnectorOnEVSideDisconnect false: stops, stays locked, UnlockConnector unlocks', async () => {
    const h = await start({
      ocpp: { StopTransactionOnEVSideDisconnect: true, UnlockConnectorOnEVSideDisconnect: false },
    });
    await h.booted();
    const transactionId = await charging(h, TAG);
    const mark = h.csms.mark();
    h.board.unplug(1);
    const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    expect(stop.payload).toMatchObject({ transactionId, reason: 'EVDisconnected' });
    await h.csms.waitForCall(CP_ID, 'StatusNotification', {
      since: mark,
      where: (p: { connectorId: number; status: string }) =>
        p.connectorId === 1 && (p.status === 'Finishing' || p.status === 'Available'),
    });
    expect(h.board.connector(1)?.lock?.isLocked()).toBe(true);
    expect(await h.csms.call(CP_ID, 'UnlockConnector', { connectorId: 1 })).toEqual({ status: 'Unlocked' });
    expect(h.board.connector(1)?.lock?.isLocked()).toBe(false);
  });

  it('a StartTransaction refused with CALLERROR twice is delivered on the third attempt', async () => {
    const h = await start({ ocpp: { TransactionMessageAttempts: 3, TransactionMessageRetryInterval: 1 } });
    await h.booted();
    let refusals = 0;
    h.csms.rules.onCall = (_cp, action) => {
      if (action !== 'StartTransaction' || refusals >= 2) return undefined;
      refusals += 1;
      return { callError: { code: 'InternalError', description: 'try again later' } };
    };
    const mark = h.csms.mark();
    h.board.plug(1);
    h.board.swipe(TAG);
    const third = await h.csms.waitForCall(CP_ID, 'StartTransaction', {
      since: mark,
      where: () => h.csms.calls(CP_ID, 'StartTransaction', mark).length === 3,
    });
    await answered(h.csms, third.id);
    const transactionId = transactionIdOf(h.csms, third.id);
    const starts = h.csms.calls(CP_ID, 'StartTransaction', mark);
    expect(starts).toHaveLength(3);
    // The same message each time: the timestamp and meterStart of the moment the transaction began.
    expect(new Set(starts.map((s) => JSON.stringify(s.payload))).size).toBe(1);
    await whenOutbox(
      h,
      () => h.runtime.transactions.transactionOn(1)?.transactionId === transactionId,
      'the transaction id to be recorded',
    );
    expect(h.runtime.outbox.deadLetters()).toEqual([]);
    await h.csms.call(CP_ID, 'RemoteStopTransaction', { transactionId });
    const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    expect(stop.payload).toMatchObject({ transactionId, reason: 'Remote' });
  });

  it('a StartTransaction refused on every attempt goes to the dead letters, and so does its StopTransaction: never lost', async () => {
    const h = await start({ ocpp: { TransactionMessageAttempts: 3, TransactionMessageRetryInterval: 1 } });
    await h.booted();
    h.csms.rules.onCall = (_cp, action) =>
      action === 'StartTransaction'
        ? { callError: { code: 'InternalError', description: 'down' } }
        : undefined;
    const dead: DeadLetter[] = [];
    h.runtime.outbox.on('deadLettered', (entry) => dead.push(entry));
    const mark = h.csms.mark();
    h.board.plug(1);
    h.board.swipe(TAG);
    await new Promise<void>((resolve) => h.runtime.outbox.once('deadLettered', () => resolve()));
    const starts = h.csms.calls(CP_ID, 'StartTransaction', mark);
    expect(starts).toHaveLength(3);
    expect(h.runtime.outbox.deadLetters()).toMatchObject([
      { action: 'StartTransaction', attempts: 3, payload: starts[0]?.payload },
    ]);

    // The driver ends the session: its StopTransaction cannot name a transaction the central system
    // never acknowledged, so it is kept with the StartTransaction rather than sent or dropped.
    h.board.swipe(TAG);
    await new Promise<void>((resolve) => h.runtime.outbox.once('deadLettered', () => resolve()));
    const letters = h.runtime.outbox.deadLetters();
    expect(letters.map((l) => l.action)).toEqual(['StartTransaction', 'StopTransaction']);
    expect(letters[1]?.localTxId).toBe(letters[0]?.localTxId);
    expect(letters[1]?.payload).toMatchObject({ reason: 'Local', idTag: TAG });
    expect(h.csms.calls(CP_ID, 'StopTransaction', mark)).toEqual([]);
    expect(h.runtime.outbox.size()).toBe(0);
    expect(dead.map((d) => d.action)).toEqual(['StartTransaction', 'StopTransaction']);
  });
});

describe('delivery while registration is no longer Accepted', () => {
  const start = useHarness();

  it('a triggered BootNotification answered Pending holds the queue, and a stop still finishes', async () => {
    const h = await start(PENDING_ON_SECOND_BOOT);
    await h.booted();
    const transactionId = await charging(h, TAG);
    expect(await triggerPendingBoot(h)).toEqual({ status: 'Accepted' });
    expect(h.runtime.outbox.resumed).toBe(false);
    const mark = h.csms.mark();
    h.board.swipe(TAG);
    await whenEngine(h, () => h.runtime.transactions.transactionOn(1) === undefined, 'the local stop');
    expect(h.runtime.outbox.pending().map((e) => e.action)).toEqual(['StopTransaction']);

    // The StopTransaction may not leave while Pending; the stop must not wait for it forever.
    await finishes(h.runtime.stop(), 10_000, 'Runtime.stop()');
    expect(h.csms.calls(CP_ID, 'StopTransaction', mark)).toEqual([]);

    // Kept, and sent once the central system accepts the charger again (its third boot).
    await h.startRuntime();
    const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    expect(stop.payload).toMatchObject({ transactionId, idTag: TAG, reason: 'Local' });
    expect(h.csms.calls(CP_ID, 'StopTransaction', mark)).toHaveLength(1);
  });
});

describe('security events on the outbox', () => {
  const start = useHarness();

  it('a SecurityEventNotification queued offline survives a restart and is delivered once, in order with the transaction', async () => {
    const h = await start();
    await h.booted();
    // This run's StartupOfTheDevice has left before the outage.
    await h.csms.waitForCall(CP_ID, 'SecurityEventNotification');
    await listed(h, TAG);
    await goOffline(h);
    const mark = h.csms.mark();
    await offlineStart(h);
    const event = {
      type: 'InvalidCentralSystemCertificate',
      timestamp: new Date().toISOString(),
      techInfo: 'queued offline',
    };
    h.runtime.outbox.enqueue('SecurityEventNotification', event);
    h.board.swipe(TAG);
    await whenEngine(h, () => h.runtime.transactions.transactionOn(1) === undefined, 'the local stop');
    expect(h.runtime.outbox.pending().map((e) => [e.kind, e.action])).toEqual([
      ['transaction', 'StartTransaction'],
      ['security', 'SecurityEventNotification'],
      ['transaction', 'StopTransaction'],
    ]);
    await h.runtime.stop();

    h.csms.refuseConnections(false);
    await h.startRuntime();
    const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    await answered(h.csms, stop.id);
    await whenOutbox(h, () => h.runtime.outbox.size() === 0, 'the queue emptied');
    const queued = ['StartTransaction', 'SecurityEventNotification', 'StopTransaction'];
    const sent = h.csms.calls(CP_ID, undefined, mark).filter((c) => queued.includes(c.action));
    // The restart's own StartupOfTheDevice was queued after them.
    expect(sent.map((c) => c.action)).toEqual([...queued, 'SecurityEventNotification']);
    expect(sent[1]?.payload).toEqual(event);
    expect(sent[3]?.payload).toMatchObject({ type: 'StartupOfTheDevice' });
    expect(stop.payload).toMatchObject({
      transactionId: transactionIdOf(h.csms, sent[0]!.id),
      reason: 'Local',
    });
    expect(h.runtime.outbox.deadLetters()).toEqual([]);
  });
});

describe('delivery after registration is Accepted again', () => {
  const start = useHarness();

  it('what was held while Pending is delivered once the central system accepts the charger again', async () => {
    const h = await start(PENDING_ON_SECOND_BOOT);
    await h.booted();
    const transactionId = await charging(h, TAG);
    await triggerPendingBoot(h);
    const mark = h.csms.mark();
    h.board.swipe(TAG);
    await whenEngine(h, () => h.runtime.transactions.transactionOn(1) === undefined, 'the local stop');
    expect(h.runtime.outbox.size()).toBe(1);

    await h.csms.call(CP_ID, 'TriggerMessage', { requestedMessage: 'BootNotification' });
    const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    expect(stop.payload).toMatchObject({ transactionId, idTag: TAG, reason: 'Local' });
    await whenOutbox(h, () => h.runtime.outbox.size() === 0, 'the StopTransaction delivered');
    expect(h.runtime.outbox.resumed).toBe(true);
  });
});

describe('delivery while registration is no longer Accepted (the call already waiting in the RPC)', () => {
  const start = useHarness();

  it('a message queued behind a BootNotification whose answer is Pending does not hold the stop', async () => {
    let withhold = false;
    const h = await start({
      csms: {
        rules: {
          onCall: (_cp, action) => (action === 'BootNotification' && withhold ? 'ignore' : undefined),
        },
      },
    });
    await h.booted();
    const transactionId = await charging(h, TAG);
    const watch = new OutboxWatch(h.runtime.outbox);
    withhold = true;
    let mark = h.csms.mark();
    await h.csms.call(CP_ID, 'TriggerMessage', { requestedMessage: 'BootNotification' });
    const boot = await h.csms.waitForCall(CP_ID, 'BootNotification', { since: mark });
    // The BootNotification is in flight, so the StopTransaction waits in the RPC queue behind it.
    h.board.swipe(TAG);
    await watch.waitFor(
      (entries) => entries.some((e) => e.action === 'StopTransaction'),
      'the StopTransaction',
    );
    mark = h.csms.mark();
    h.csms.sendRaw(
      CP_ID,
      JSON.stringify([
        3,
        boot.id,
        { status: 'Pending', currentTime: new Date().toISOString(), interval: 3600 },
      ]),
    );
    await h.sink.waitFor((l) => l.msg === 'BootNotification answered' && l.status === 'Pending');

    await finishes(h.runtime.stop(), 10_000, 'Runtime.stop()');
    expect(h.csms.calls(CP_ID, 'StopTransaction', mark)).toEqual([]);

    withhold = false;
    await h.startRuntime();
    const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    expect(stop.payload).toMatchObject({ transactionId, idTag: TAG, reason: 'Local' });
    expect(h.csms.calls(CP_ID, 'StopTransaction', mark)).toHaveLength(1);
  });
});

/** Resolves when `promise` does; rejects if it has not within `ms` (a hang must fail, not stall the run). */
function finishes(promise: Promise<unknown>, ms: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    promise.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

function answeredStatus(h: Harness, callId: string): string | undefined {
  const frame = h.csms.frames.find(
    (f) => f.direction === 'out' && f.message?.type === 'result' && f.message.id === callId,
  );
  return (frame?.message as { payload?: { idTagInfo?: { status?: string } } } | undefined)?.payload?.idTagInfo
    ?.status;
}

describe('a central system slow for minutes loses no session', () => {
  const start = useHarness();

  it('a StartTransaction that times out is retried without spending attempts; the MeterValues and StopTransaction behind it follow', async () => {
    const h = await start({
      ocpp: {
        TransactionMessageAttempts: 1,
        TransactionMessageRetryInterval: 1,
        MeterValueSampleInterval: 1,
      },
      config: () => ({ csms: { callTimeoutSeconds: 0.2 } }),
    });
    await h.booted();
    let ignored = 0;
    h.csms.rules.onCall = (_cp, action) => {
      if (action !== 'StartTransaction' || ignored >= 3) return undefined;
      ignored += 1;
      return 'ignore';
    };
    const mark = h.csms.mark();
    h.board.plug(1);
    h.board.swipe(TAG);
    await whenEngine(h, () => h.runtime.transactions.transactionOn(1) !== undefined, 'the start');
    // The driver leaves while the central system still has not answered.
    h.board.swipe(TAG);
    const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark, timeoutMs: 15_000 });
    const starts = h.csms.calls(CP_ID, 'StartTransaction', mark);
    expect(starts).toHaveLength(4);
    const transactionId = transactionIdOf(h.csms, starts[3]!.id);
    expect(stop.payload).toMatchObject({ transactionId, reason: 'Local' });
    for (const meter of h.csms.calls(CP_ID, 'MeterValues', mark)) {
      expect(meter.payload).toMatchObject({ transactionId });
    }
    await answered(h.csms, stop.id);
    await whenOutbox(h, () => h.runtime.outbox.size() === 0, 'the queue to drain');
    expect(h.runtime.outbox.deadLetters()).toEqual([]);
  });
});

describe('cpctl queue retry', () => {
  const start = useHarness();

  it('puts the dead letters back in their original order; the session then reaches the central system', async () => {
    const h = await start({ ocpp: { TransactionMessageAttempts: 1, TransactionMessageRetryInterval: 1 } });
    await h.booted();
    h.csms.rules.onCall = (_cp, action) =>
      action === 'StartTransaction'
        ? { callError: { code: 'InternalError', description: 'down' } }
        : undefined;
    h.board.plug(1);
    h.board.swipe(TAG);
    await new Promise<void>((resolve) => h.runtime.outbox.once('deadLettered', () => resolve()));
    h.board.swipe(TAG);
    await new Promise<void>((resolve) => h.runtime.outbox.once('deadLettered', () => resolve()));
    expect(h.runtime.outbox.deadLetters().map((l) => l.action)).toEqual([
      'StartTransaction',
      'StopTransaction',
    ]);

    // The central system is fixed; the technician sends what it refused again.
    h.csms.rules.onCall = undefined;
    const mark = h.csms.mark();
    const retried = await cpctl(h.config.cli.socket, 'queue', 'retry');
    expect(retried).toMatchObject({ code: 0, stdout: '2 dead letters queued again\n' });
    const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    const [startCall] = h.csms.calls(CP_ID, 'StartTransaction', mark);
    expect(stop.payload).toMatchObject({
      transactionId: transactionIdOf(h.csms, startCall!.id),
      reason: 'Local',
    });
    await answered(h.csms, stop.id);
    await whenOutbox(h, () => h.runtime.outbox.size() === 0, 'the queue to drain');
    expect(h.runtime.outbox.deadLetters()).toEqual([]);
    expect((await cpctl(h.config.cli.socket, 'queue', 'retry')).stdout).toBe('no dead letters\n');
  });
});
