import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { DevCsms } from '../csms/server.js';
import { CP_ID, useHarness } from '../support/harness.js';

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
