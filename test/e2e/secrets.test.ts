/**
 * Secrets never leave the charger: the AuthorizationKey (as configured, hex, and as the Basic-auth
 * password it stands for) appears in no log line, trace frame, cpctl output or MQTT message,
 * whatever happened with it (provisioned, changed over OCPP, reported in a security event).
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { HandshakeInfo } from '../csms/server.js';
import { cpctl } from '../support/cpctl-process.js';
import { CP_ID, useHarness } from '../support/harness.js';
import { Mosquitto, MqttWatcher } from '../support/mosquitto.js';

const hex = (text: string) => Buffer.from(text).toString('hex').toUpperCase();
const FIRST = 'first-password-0001';
const SECOND = 'second-password-002';

/** Every spelling of a password that would give it away. */
function spellings(password: string): string[] {
  return [
    password,
    hex(password),
    hex(password).toLowerCase(),
    Buffer.from(`${CP_ID}:${password}`).toString('base64'),
  ];
}

describe('secrets', () => {
  const start = useHarness();
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  it('the AuthorizationKey is in no log, trace, cpctl output or MQTT message', async () => {
    const broker = await Mosquitto.start({ persistent: false });
    cleanup.push(() => broker.dispose());
    const watcher = await MqttWatcher.connect(broker.url, `chargepoint/${CP_ID}/#`);
    cleanup.push(() => watcher.close());
    const users = { [CP_ID]: FIRST };
    const h = await start({
      csms: { basicAuth: users },
      ocpp: { AuthorizationKey: hex(FIRST) },
      config: () => ({ csms: { securityProfile: 1 }, mqtt: { url: broker.url } }),
    });
    await h.booted();

    // Changed over OCPP: the charger reconnects with the new password (the central system knows it).
    users[CP_ID] = SECOND;
    const mark = h.csms.mark();
    const reconnected = once(h.csms, 'connection');
    expect(
      await h.csms.call(CP_ID, 'ChangeConfiguration', { key: 'AuthorizationKey', value: hex(SECOND) }),
    ).toEqual({ status: 'Accepted' });
    const [handshake] = (await reconnected) as [HandshakeInfo];
    expect(handshake.basicAuth?.password).toBe(SECOND);
    await h.csms.waitForCall(CP_ID, 'SecurityEventNotification', {
      since: mark,
      where: (payload) => payload.type === 'ReconfigurationOfSecurityParameters',
    });

    const socket = h.config.cli.socket;
    const outputs: Record<string, string> = {
      log: JSON.stringify(h.sink.lines),
      trace: (await cpctl(socket, 'trace', '--limit', '1000', '--json')).stdout,
      status: (await cpctl(socket, 'status', '--json')).stdout,
      config: (await cpctl(socket, 'config', 'get', '--json')).stdout,
      configHuman: (await cpctl(socket, 'config', 'get')).stdout,
      securityLog: (await cpctl(socket, 'security-log', '--json')).stdout,
      mqtt: JSON.stringify(watcher.messages.map((m) => [m.topic, m.json ?? null])),
    };
    // The outputs are real: the change and the event are in them.
    expect(outputs.trace).toContain('AuthorizationKey');
    expect(outputs.securityLog).toContain('ReconfigurationOfSecurityParameters');
    expect(outputs.mqtt).toContain('state/link');
    for (const [where, text] of Object.entries(outputs))
      for (const secret of [...spellings(FIRST), ...spellings(SECOND)])
        expect(text.includes(secret), `${where} contains a spelling of the AuthorizationKey`).toBe(false);
  });
});
