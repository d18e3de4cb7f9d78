import { describe, expect, it } from 'vitest';
import type { StatusReport } from '../../src/cli/api.js';
import { charging } from '../support/charging.js';
import { cpctl } from '../support/cpctl-process.js';
import { CP_ID, type Harness, useHarness } from '../support/harness.js';

type Composite = {
  status: string;
  chargingSchedule?: { chargingSchedulePeriod: Array<{ startPeriod: number; limit: number }> };
};

const offered = (h: Harness, connectorId: number) =>
  h.board.connector(connectorId)?.devices.pilot.currentLimit();

/** Resolves when `pred` holds, checked now and after every change of a connector's limit in effect. */
function whenLimit(h: Harness, pred: () => boolean, what: string): Promise<void> {
  const limit = h.runtime.chargingLimit;
  return new Promise((resolve, reject) => {
    if (pred()) return resolve();
    const timer = setTimeout(() => {
      limit.off('changed', check);
      reject(new Error(`timed out waiting for ${what}`));
    }, 10_000);
    function check(): void {
      if (!pred()) return;
      clearTimeout(timer);
      limit.off('changed', check);
      resolve();
    }
    limit.on('changed', check);
  });
}

async function compositeLimits(h: Harness, connectorId: number): Promise<number[]> {
  const answer = await h.csms.call<Composite>(CP_ID, 'GetCompositeSchedule', {
    connectorId,
    duration: 600,
    chargingRateUnit: 'A',
  });
  expect(answer.status).toBe('Accepted');
  return answer.chargingSchedule?.chargingSchedulePeriod.map((p) => p.limit) ?? [];
}

/** What `cpctl status --json` reports. */
async function statusReport(socket: string): Promise<StatusReport> {
  return JSON.parse((await cpctl(socket, 'status', '--json')).stdout) as StatusReport;
}

describe('the charging limit end to end (real WebSocket, simulated board)', () => {
  const start = useHarness();

  it('load sharing: two sessions split the 40 A supply, GetCompositeSchedule shows each share, a stop gives it back', async () => {
    const h = await start({ board: { connectors: [{ id: 1 }, { id: 2 }], supplyMaxCurrentA: 40 } });
    await h.booted();
    const first = await charging(h, 'CARD01', 1);
    expect(offered(h, 1)).toBe(32);
    await charging(h, 'CARD02', 2);
    await whenLimit(h, () => offered(h, 1) === 20 && offered(h, 2) === 20, 'equal shares');
    expect(await compositeLimits(h, 1)).toEqual([20]);
    expect(await compositeLimits(h, 2)).toEqual([20]);
    expect(h.board.connector(2)?.devices.relay.isClosed()).toBe(true);

    expect(await h.csms.call(CP_ID, 'RemoteStopTransaction', { transactionId: first })).toEqual({
      status: 'Accepted',
    });
    await whenLimit(h, () => offered(h, 2) === 32, 'the whole outlet for connector 2');
    expect(await compositeLimits(h, 2)).toEqual([32]);
  });

  it('the newest session pauses (SuspendedEVSE) when 6 A each does not fit, and charges once the first stops', async () => {
    const h = await start({ board: { connectors: [{ id: 1 }, { id: 2 }], supplyMaxCurrentA: 10 } });
    await h.booted();
    const first = await charging(h, 'CARD01', 1);
    const mark = h.csms.mark();
    h.board.plug(2);
    h.board.swipe('CARD02');
    await h.status(2, 'SuspendedEVSE', mark);
    expect([offered(h, 2), h.board.connector(2)?.devices.relay.isClosed()]).toEqual([0, false]);
    expect(await compositeLimits(h, 2)).toEqual([0]);
    await h.csms.call(CP_ID, 'RemoteStopTransaction', { transactionId: first });
    await h.status(2, 'Charging', mark);
    expect([offered(h, 2), h.board.connector(2)?.devices.relay.isClosed()]).toEqual([10, true]);
  });

  it('cpctl limit: the local limit caps the offer, shows in cpctl status, and is kept across a restart', async () => {
    const h = await start();
    await h.booted();
    const socket = h.config.cli.socket;
    expect(await cpctl(socket, 'limit', '1', '10')).toMatchObject({
      code: 0,
      stdout: 'connector 1: local limit 10 A\n',
    });
    // Idle, the pilot offers nothing (IEC 61851-1 B1); the next session gets at most 10 A.
    expect(offered(h, 1)).toBe(0);
    await charging(h, 'CARD01', 1);
    await whenLimit(h, () => offered(h, 1) === 10, 'the local limit offered');
    const charged = await statusReport(socket);
    expect(charged.connectors[0]).toMatchObject({
      id: 1,
      currentLimitA: 10,
      offerState: 'offered',
      compositeLimitA: 10,
      limitSource: { kind: 'local' },
    });
    const above = await cpctl(socket, 'limit', '1', '40');
    expect(above.code).toBe(1);
    expect(above.stderr).toContain("outside connector 1's 0..32 A");

    await h.runtime.stop();
    const mark = h.csms.mark();
    await h.startRuntime();
    await h.booted(mark);
    const status = await statusReport(socket);
    // The stop ended the session: nothing is offered, and the status says so rather than a limit of
    // 0; the local limit is kept, and is what the next session on connector 1 gets.
    expect(
      status.connectors.map((c) => [
        c.id,
        c.currentLimitA,
        c.offerState,
        c.compositeLimitA,
        c.limitSource,
        c.localLimitA,
      ]),
    ).toEqual([
      [1, 0, 'noSession', 10, { kind: 'local' }, 10],
      [2, 0, 'noSession', 32, { kind: 'hardware' }, undefined],
    ]);
    const text = (await cpctl(socket, 'status')).stdout;
    expect(text).toContain('0 A: no session; limit 10 A (local limit)');
    expect(text).toContain('0 A: no session; limit 32 A (hardware)');
    expect(await cpctl(socket, 'limit', '1', 'none')).toMatchObject({
      code: 0,
      stdout: 'connector 1: no local limit\n',
    });
    const lifted = await statusReport(socket);
    expect(lifted.connectors[0]).toMatchObject({
      id: 1,
      currentLimitA: 0,
      offerState: 'noSession',
      compositeLimitA: 32,
      limitSource: { kind: 'hardware' },
    });
    expect(lifted.connectors[0]?.localLimitA).toBeUndefined();
  });
});
