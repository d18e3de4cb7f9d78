import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { CallTimeoutError } from '../../src/ocpp/errors.js';
import type { StatusNotificationRequest } from '../../src/ocpp/generated/messages.js';
import { MAX_TRIGGERED_QUEUED, PREEMPT_AFTER_MS, RpcEndpoint, type Transport } from '../../src/ocpp/rpc.js';
import { FakeClock } from '../support/fake-clock.js';

const TIMEOUT = 30_000;
const TS = '2025-01-01T00:00:00.000Z';
const status = (
  connectorId: number,
  s: StatusNotificationRequest['status'] = 'Available',
): StatusNotificationRequest => ({ connectorId, status: s, errorCode: 'NoError', timestamp: TS });
const START = { connectorId: 1, idTag: 'CARD', meterStart: 0, timestamp: TS };

class SilentPeer implements Transport {
  readonly frames: unknown[][] = [];
  send(text: string): boolean {
    this.frames.push(JSON.parse(text) as unknown[]);
    return true;
  }
  actions(): unknown[] {
    return this.frames.map((f) => f[2]);
  }
}

function setup() {
  const clock = new FakeClock();
  const peer = new SilentPeer();
  const rpc = new RpcEndpoint({ log: silentLogger(), clock, callTimeoutMs: TIMEOUT });
  rpc.attach(peer);
  rpc.setGate('open');
  return { clock, peer, rpc };
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
const outcome = (promise: Promise<unknown>) =>
  Promise.race([promise.catch((e: unknown) => e), settle().then(() => 'pending')]);

describe('RPC priorities: a driver never waits behind unrelated calls', () => {
  it('an Authorize leaves at once behind two StatusNotifications the central system has left unanswered for seconds', async () => {
    const { clock, peer, rpc } = setup();
    const first = rpc.call('StatusNotification', status(1)).catch((e: unknown) => e);
    const second = rpc.call('StatusNotification', status(2));
    clock.advance(5000);
    const authorize = rpc.call('Authorize', { idTag: 'CARD' });
    clock.advance(0);
    await settle();
    // The Authorize goes before the StatusNotification that was queued before it.
    expect(peer.actions()).toEqual(['StatusNotification', 'Authorize']);
    expect(await first).toBeInstanceOf(CallTimeoutError);
    const id = peer.frames[1]?.[1];
    rpc.receive(JSON.stringify([3, id, { idTagInfo: { status: 'Accepted' } }]));
    expect(await authorize).toEqual({ idTagInfo: { status: 'Accepted' } });
    await settle();
    expect(peer.actions()).toEqual(['StatusNotification', 'Authorize', 'StatusNotification']);
    expect(await outcome(second)).toBe('pending');
  });

  it('a just-sent StatusNotification gets its moment before the Authorize cuts in', async () => {
    const { clock, peer, rpc } = setup();
    void rpc.call('StatusNotification', status(1)).catch(() => {});
    clock.advance(300);
    void rpc.call('Authorize', { idTag: 'CARD' }).catch(() => {});
    clock.advance(PREEMPT_AFTER_MS - 301);
    expect(peer.actions()).toEqual(['StatusNotification']);
    clock.advance(1);
    await settle();
    expect(peer.actions()).toEqual(['StatusNotification', 'Authorize']);
  });

  it('a StartTransaction in flight is not cut short: the Authorize times out from the card on, so the authorizer decides offline', async () => {
    const { clock, peer, rpc } = setup();
    const start = rpc.call('StartTransaction', START);
    clock.advance(10_000);
    const authorize = rpc.call('Authorize', { idTag: 'CARD' }, { timeoutMs: 5000 });
    clock.advance(4999);
    expect(await outcome(authorize)).toBe('pending');
    clock.advance(1);
    expect(await outcome(authorize)).toBeInstanceOf(CallTimeoutError);
    expect(peer.actions()).toEqual(['StartTransaction']);
    expect(await outcome(start)).toBe('pending');
    expect(rpc.counters.timeouts).toBe(1);
  });

  it('a queued message in flight is not cut short, whatever its action: cut short, the outbox would send it twice', async () => {
    const { clock, peer, rpc } = setup();
    const uploaded = rpc.call('DiagnosticsStatusNotification', { status: 'Uploaded' }, { queued: true });
    clock.advance(10_000);
    const authorize = rpc.call('Authorize', { idTag: 'CARD' }, { timeoutMs: 5000 });
    clock.advance(PREEMPT_AFTER_MS);
    expect(await outcome(uploaded)).toBe('pending');
    expect(peer.actions()).toEqual(['DiagnosticsStatusNotification']);
    clock.advance(5000 - PREEMPT_AFTER_MS);
    expect(await outcome(authorize)).toBeInstanceOf(CallTimeoutError);
    // The same action sent directly (Uploading, best effort) is cut short as before.
    const direct = setup();
    const uploading = direct.rpc
      .call('DiagnosticsStatusNotification', { status: 'Uploading' })
      .catch((e: unknown) => e);
    direct.clock.advance(10_000);
    void direct.rpc.call('Authorize', { idTag: 'CARD' }).catch(() => {});
    direct.clock.advance(0);
    expect(await uploading).toBeInstanceOf(CallTimeoutError);
  });

  it('repeated triggers of one message while the central system does not answer are joined: the newest payload leaves once, every caller gets its answer', async () => {
    const { peer, rpc } = setup();
    void rpc.call('Heartbeat', {}).catch(() => {});
    const triggered = [
      rpc.call('StatusNotification', status(1, 'Preparing'), { triggered: true }),
      rpc.call('StatusNotification', status(1, 'Charging'), { triggered: true }),
      rpc.call('StatusNotification', status(1, 'Finishing'), { triggered: true }),
    ];
    rpc.receive(JSON.stringify([3, peer.frames[0]?.[1], { currentTime: TS }]));
    await settle();
    expect(peer.frames.slice(1)).toEqual([
      [2, expect.any(String), 'StatusNotification', status(1, 'Finishing')],
    ]);
    rpc.receive(JSON.stringify([3, peer.frames[1]?.[1], {}]));
    expect(await Promise.all(triggered)).toEqual([{}, {}, {}]);
  });

  it('at most MAX_TRIGGERED_QUEUED triggered messages wait; more are refused, not queued', async () => {
    const { rpc } = setup();
    void rpc.call('Heartbeat', {}).catch(() => {});
    const waiting = Array.from({ length: MAX_TRIGGERED_QUEUED }, (_, i) =>
      rpc.call('StatusNotification', status(i + 1), { triggered: true }).catch(() => {}),
    );
    await expect(
      rpc.call('StatusNotification', status(MAX_TRIGGERED_QUEUED + 1), { triggered: true }),
    ).rejects.toThrow(/triggered messages wait/);
    // Untriggered calls of the charger's own are not affected.
    expect(await outcome(rpc.call('StatusNotification', status(99)))).toBe('pending');
    expect(waiting).toHaveLength(MAX_TRIGGERED_QUEUED);
  });
});
