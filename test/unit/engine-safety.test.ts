import { afterEach, describe, expect, it } from 'vitest';
import { LOCK_RETRY_MS } from '../../src/station/transactions.js';
import { SessionFixture } from './session-fixture.js';

const TAG = 'VALID01';

const fixtures: SessionFixture[] = [];
afterEach(() => {
  for (const fx of fixtures.splice(0)) fx.close();
});

/** A failed lock at plug-in, the cable left in (a jammed lock holds it): connector 1 Faulted. */
async function jammed(): Promise<SessionFixture> {
  const fx = new SessionFixture();
  fixtures.push(fx);
  fx.board.lockFail(1, true);
  fx.board.plug(1);
  await fx.engine.presentIdTag(TAG, [1]);
  await fx.settle();
  expect(fx.station.status(1)).toMatchObject({ status: 'Faulted', errorCode: 'ConnectorLockFailure' });
  return fx;
}

describe('a failed connector lock is tried again (fake clock)', () => {
  it(`every ${LOCK_RETRY_MS} ms while it fails, and the connector is free again once it works`, async () => {
    const fx = await jammed();
    for (let attempt = 0; attempt < 3; attempt++) {
      fx.clock.advance(LOCK_RETRY_MS);
      await fx.settle();
      expect(fx.statusOf(1)).toBe('Faulted');
    }
    fx.board.lockFail(1, false);
    fx.clock.advance(LOCK_RETRY_MS - 1);
    await fx.settle();
    expect(fx.statusOf(1)).toBe('Faulted');
    fx.clock.advance(1);
    await fx.settle();
    // The cable is still in: the connector waits for a card again, and nothing is left to retry.
    expect(fx.station.status(1)).toMatchObject({ status: 'Preparing', errorCode: 'NoError' });
    expect(fx.board.connector(1)?.lock?.isLocked()).toBe(false);
    expect(fx.clock.pending).toBe(0);
    expect(fx.starts()).toEqual([]);
  });
});

describe('the contactor closes only for a running transaction with its cable locked', () => {
  it('a lock released under a session keeps the contactor open when the EV asks again', async () => {
    const fx = new SessionFixture();
    fixtures.push(fx);
    await fx.charging(1, TAG);
    const relay = fx.board.connector(1)?.devices.relay;
    expect(relay?.isClosed()).toBe(true);
    fx.board.ev(1, 'pause');
    await fx.settle();
    expect(relay?.isClosed()).toBe(false);
    // Released without any fault to report (a lock with no feedback contact cannot tell).
    expect(await fx.board.connector(1)?.lock?.unlock()).toBe(true);
    fx.board.ev(1, 'charge');
    await fx.settle();
    expect(relay?.isClosed()).toBe(false);
    expect(fx.logLines.some((l) => l.msg === 'cable not locked: contactor kept open')).toBe(true);
  });
});
