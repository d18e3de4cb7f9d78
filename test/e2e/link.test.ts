import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_FRAME_BYTES, MAX_SEND_LOCAL_LIST_LENGTH } from '../../src/ocpp/frames.js';
import { MAX_BUFFERED_BYTES } from '../../src/ocpp/link.js';
import { STOP_BUDGET_MS } from '../../src/runtime.js';
import { DevCsms } from '../csms/server.js';
import { charging, whenEngine } from '../support/charging.js';
import { CP_ID, type Harness, useHarness } from '../support/harness.js';

describe('Link: connection management', () => {
  const start = useHarness();

  it('connects with subprotocol ocpp1.6 to <url>/<chargePointId>, plain on profile 0 without Basic auth', async () => {
    const h = await start();
    const info = await h.csms.waitForConnection(CP_ID);
    expect(info.path).toBe(`/ocpp/${CP_ID}`);
    expect(info.subprotocols).toContain('ocpp1.6');
    expect(info.headers.authorization).toBeUndefined();
    await h.booted();
  });

  it('reconnects after the central system restarts, without a new BootNotification', async () => {
    const h = await start();
    await h.booted();
    const csms = await h.restartCsms();
    await csms.waitForConnection(CP_ID);
    // Registered in this run already: the charge point reports its connectors again instead of rebooting.
    await csms.waitForCall(CP_ID, 'StatusNotification', {
      where: (p: { connectorId: number }) => p.connectorId === 2,
    });
    expect(csms.calls(CP_ID, 'BootNotification')).toEqual([]);
    // Answered on the new connection, with the interval the BootNotification.conf of the first one set.
    expect(await csms.call(CP_ID, 'GetConfiguration', { key: ['HeartbeatInterval'] })).toEqual({
      configurationKey: [{ key: 'HeartbeatInterval', readonly: false, value: '300' }],
    });
  });

  it('keeps retrying with backoff when the very first connect fails', async () => {
    const h = await start({ deferStart: true });
    const port = Number(new URL(h.url).port);
    await h.csms.stop();
    await h.startRuntime();
    await h.sink.waitFor((l) => l.msg === 'will retry connecting' && Number(l.attempt) >= 3);
    h.csms = new DevCsms({ port });
    await h.csms.start();
    await h.booted();
  });

  it('a refused upgrade (HTTP 503) is retried', async () => {
    const h = await start({ deferStart: true });
    h.csms.refuseConnections(true, 503);
    await h.startRuntime();
    await h.sink.waitFor((l) => l.msg === 'central system refused the WebSocket upgrade' && l.status === 503);
    h.csms.refuseConnections(false);
    await h.booted();
  });

  it('WebSocketPingInterval set live: a central system that stops answering pings is dropped, then reconnected', async () => {
    const h = await start();
    await h.booted();
    expect(
      await h.csms.call(CP_ID, 'ChangeConfiguration', { key: 'WebSocketPingInterval', value: '1' }),
    ).toEqual({
      status: 'Accepted',
    });
    await new Promise((resolve) => h.csms.once('ping', resolve));
    h.csms.setPongEnabled(false);
    const reconnected = once(h.csms, 'connection');
    await h.sink.waitFor((l) => l.msg === 'central system did not answer our ping; dropping the connection');
    h.csms.setPongEnabled(true);
    await reconnected;
    expect(await h.csms.call(CP_ID, 'GetConfiguration', { key: ['WebSocketPingInterval'] })).toMatchObject({
      configurationKey: [{ value: '1' }],
    });
  });

  it('the central system dropping the connection is survived', async () => {
    const h = await start();
    await h.booted();
    const reconnected = once(h.csms, 'connection');
    h.csms.terminateConnection(CP_ID);
    await reconnected;
    expect(await h.csms.call(CP_ID, 'GetConfiguration', { key: ['HeartbeatInterval'] })).toMatchObject({
      configurationKey: [{ key: 'HeartbeatInterval' }],
    });
  });
});

describe('Link: a central system that accepts the connection but never answers (black hole)', () => {
  const start = useHarness();
  const TAG = 'BLACKHOLE1';

  /** Registered, then every CALL of ours is left unanswered. */
  async function blackHole(h: Harness): Promise<void> {
    await h.booted();
    h.csms.rules.onCall = () => 'ignore';
  }

  it('a card on the local list with LocalPreAuthorize starts charging within a second', async () => {
    const h = await start({
      ocpp: { LocalAuthListEnabled: true, LocalPreAuthorize: true },
      config: () => ({ csms: { callTimeoutSeconds: 30 } }),
    });
    await h.booted();
    expect(
      await h.csms.call(CP_ID, 'SendLocalList', {
        listVersion: 1,
        updateType: 'Full',
        localAuthorizationList: [{ idTag: TAG, idTagInfo: { status: 'Accepted' } }],
      }),
    ).toEqual({ status: 'Accepted' });
    h.csms.rules.onCall = () => 'ignore';
    h.board.plug(1);
    await h.csms.waitForCall(CP_ID, 'StatusNotification', {
      where: (p: { status: string }) => p.status === 'Preparing',
    });
    const swiped = Date.now();
    h.board.swipe(TAG);
    await whenEngine(
      h,
      () => h.board.connector(1)?.devices.relay.isClosed() === true,
      'the relay to close',
      2000,
    );
    expect(Date.now() - swiped).toBeLessThan(1000);
    expect(h.csms.calls(CP_ID, 'Authorize')).toEqual([]);
  });

  it('an unknown card is asked about at once despite a hanging StatusNotification, then decided offline after the Authorize timeout', async () => {
    const h = await start({
      ocpp: { AllowOfflineTxForUnknownId: true },
      config: () => ({ csms: { callTimeoutSeconds: 3 } }),
    });
    await blackHole(h);
    h.board.plug(1);
    await h.csms.waitForCall(CP_ID, 'StatusNotification', {
      where: (p: { status: string }) => p.status === 'Preparing',
    });
    const swiped = Date.now();
    h.board.swipe(TAG);
    const authorize = await h.csms.waitForCall(CP_ID, 'Authorize', { timeoutMs: 5000 });
    // Before: behind the StatusNotification's whole timeout (3 s).
    expect(authorize.record.at - swiped).toBeLessThan(2000);
    await whenEngine(
      h,
      () => h.board.connector(1)?.devices.relay.isClosed() === true,
      'the offline start',
      6000,
    );
    const decided = Date.now() - swiped;
    expect(decided).toBeGreaterThanOrEqual(2900);
    // Before: both timeouts, one after the other (6 s).
    expect(decided).toBeLessThan(5500);
    await h.sink.waitFor((l) => l.msg === 'Authorize.req failed; deciding offline');
  });
});

describe('Link: graceful stop with a central system that never answers', () => {
  const start = useHarness();

  /** A session is running and the central system has gone silent: every CALL of ours hangs. */
  async function silentWithSession(h: Harness): Promise<void> {
    await h.booted();
    await charging(h, 'SILENT01');
    h.csms.rules.onCall = () => 'ignore';
  }

  it('SIGTERM (Runtime.stop) ends within STOP_BUDGET_MS plus the socket close, the StopTransaction kept for the next run', async () => {
    const h = await start();
    await silentWithSession(h);
    const began = Date.now();
    await h.runtime.stop();
    expect(Date.now() - began).toBeLessThan(STOP_BUDGET_MS + 1000);
    await h.startRuntime();
    // Behind it, the new run's StartupOfTheDevice.
    expect(h.runtime.outbox.pending().map((m) => m.action)).toEqual([
      'StopTransaction',
      'SecurityEventNotification',
    ]);
  });

  it('Reset Soft ends within the same bound', async () => {
    const h = await start();
    await silentWithSession(h);
    const began = Date.now();
    expect(await h.csms.call(CP_ID, 'Reset', { type: 'Soft' })).toEqual({ status: 'Accepted' });
    expect(await h.runtime.done).toEqual({ kind: 'reset', type: 'Soft' });
    expect(Date.now() - began).toBeLessThan(STOP_BUDGET_MS + 1000);
  });
});

describe('Link: backpressure', () => {
  const start = useHarness();

  it('a central system that floods CALLs without reading the answers is dropped once MAX_BUFFERED_BYTES wait, then reconnected', async () => {
    const h = await start();
    await h.booted();
    h.csms.stopReading(CP_ID);
    const dropped = h.sink.waitFor(
      (l) => l.msg === 'central system is not reading; dropping the connection',
      15_000,
    );
    const reconnected = once(h.csms, 'connection');
    let sent = 0;
    let stop = false;
    void dropped.then(() => {
      stop = true;
    });
    // Each answer carries every configuration key: a few kB, so the kernel buffers fill quickly.
    while (!stop && sent < 50_000 && h.csms.isConnected(CP_ID)) {
      for (let i = 0; i < 50; i++) {
        h.csms.sendRaw(CP_ID, JSON.stringify([2, `flood-${sent++}`, 'GetConfiguration', {}]));
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    const line = await dropped;
    expect(Number(line.bufferedAmount)).toBeGreaterThan(MAX_BUFFERED_BYTES);
    // One answer past the limit at most.
    expect(Number(line.bufferedAmount)).toBeLessThan(MAX_BUFFERED_BYTES + 64 * 1024);
    await reconnected;
    expect(await h.csms.call(CP_ID, 'GetConfiguration', { key: ['HeartbeatInterval'] })).toMatchObject({
      configurationKey: [{ key: 'HeartbeatInterval' }],
    });
  });
});

describe('Link: SendLocalList at the advertised maximum', () => {
  const start = useHarness();

  /** 20 characters outside the Basic Multilingual Plane (4 bytes each in UTF-8), unique per n. */
  const widest = (n: number) =>
    Array.from({ length: 20 }, (_, i) =>
      String.fromCodePoint(0x10000 + (((n >> (i % 3)) * 7 + i) % 0xfffff)),
    ).join('');

  it('a list of SendLocalListMaxLength maximal entries is taken in one frame, without a 1009 disconnect', async () => {
    const h = await start({
      ocpp: {
        LocalAuthListEnabled: true,
        SendLocalListMaxLength: MAX_SEND_LOCAL_LIST_LENGTH,
        LocalAuthListMaxLength: MAX_SEND_LOCAL_LIST_LENGTH,
      },
    });
    await h.booted();
    const advertised = await h.csms.call<{ configurationKey: Array<{ value: string }> }>(
      CP_ID,
      'GetConfiguration',
      { key: ['SendLocalListMaxLength'] },
    );
    const max = Number(advertised.configurationKey[0]?.value);
    expect(max).toBe(MAX_SEND_LOCAL_LIST_LENGTH);
    const localAuthorizationList = Array.from({ length: max }, (_, n) => ({
      idTag: `${String(n).padStart(4, '0')}${widest(n).slice(8)}`,
      idTagInfo: {
        expiryDate: '2099-12-31T23:59:59.999999999+14:00',
        parentIdTag: widest(n + 1),
        status: 'ConcurrentTx',
      },
    }));
    const payload = { listVersion: 7, updateType: 'Full', localAuthorizationList };
    const frameBytes = Buffer.byteLength(JSON.stringify([2, 'a'.repeat(36), 'SendLocalList', payload]));
    expect(frameBytes).toBeGreaterThan(DEFAULT_MAX_FRAME_BYTES * 0.95);
    expect(frameBytes).toBeLessThanOrEqual(DEFAULT_MAX_FRAME_BYTES);
    let closed = false;
    h.csms.once('close', () => {
      closed = true;
    });
    expect(await h.csms.call(CP_ID, 'SendLocalList', payload)).toEqual({ status: 'Accepted' });
    expect(await h.csms.call(CP_ID, 'GetLocalListVersion', {})).toEqual({ listVersion: 7 });
    expect(closed).toBe(false);
    expect(h.runtime.localList.size()).toBe(max);
  });
});
