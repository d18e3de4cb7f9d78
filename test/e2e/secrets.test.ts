/**
 * Secrets never leave the charger: the AuthorizationKey (as configured, hex, and as the Basic-auth
 * password it stands for) appears in no log line, trace frame, cpctl output or MQTT message,
 * whatever happened with it (provisioned, changed over OCPP, reported in a security event); nor
 * does the password of a file server the central system sends in a transfer URL.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { HandshakeInfo } from '../csms/server.js';
import { cpctl } from '../support/cpctl-process.js';
import { CP_ID, type Harness, useHarness } from '../support/harness.js';
import { Mosquitto, MqttWatcher } from '../support/mosquitto.js';

const hex = (text: string) => Buffer.from(text).toString('hex').toUpperCase();
const FIRST = 'first-password-0001';
const SECOND = 'second-password-002';
const FILE_SERVER_PASSWORD = 's3cr3t-pw';
/** Nothing listens on port 1: the transfers fail at once, after their frames were traced. */
const DIAGNOSTICS_LOCATION = `ftp://user:${FILE_SERVER_PASSWORD}@127.0.0.1:1/diagnostics/`;
const FIRMWARE_LOCATION = `ftp://user:${FILE_SERVER_PASSWORD}@127.0.0.1:1/firmware/fw.bin`;

/** Every spelling of a password that would give it away. */
function spellings(password: string): string[] {
  return [
    password,
    hex(password),
    hex(password).toLowerCase(),
    Buffer.from(`${CP_ID}:${password}`).toString('base64'),
  ];
}

function statusReported(h: Harness, action: string, status: string, since: number): Promise<unknown> {
  return h.csms.waitForCall(CP_ID, action, {
    since,
    where: (payload: { status: string }) => payload.status === status,
  });
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

  it("a transfer URL's password is in no log, trace, cpctl output or MQTT message", async () => {
    const broker = await Mosquitto.start({ persistent: false });
    cleanup.push(() => broker.dispose());
    const watcher = await MqttWatcher.connect(broker.url, `chargepoint/${CP_ID}/#`);
    cleanup.push(() => watcher.close());
    const h = await start({ config: () => ({ mqtt: { url: broker.url } }) });
    await h.booted();

    let mark = h.csms.mark();
    await h.csms.call(CP_ID, 'GetDiagnostics', { location: DIAGNOSTICS_LOCATION, retries: 0 });
    await statusReported(h, 'DiagnosticsStatusNotification', 'UploadFailed', mark);
    mark = h.csms.mark();
    await h.csms.call(CP_ID, 'UpdateFirmware', {
      location: FIRMWARE_LOCATION,
      retrieveDate: new Date().toISOString(),
      retries: 0,
    });
    await statusReported(h, 'FirmwareStatusNotification', 'DownloadFailed', mark);

    const socket = h.config.cli.socket;
    const outputs: Record<string, string> = {
      log: JSON.stringify(h.sink.lines),
      trace: (await cpctl(socket, 'trace', '--limit', '1000', '--json')).stdout,
      traceHuman: (await cpctl(socket, 'trace', '--limit', '1000')).stdout,
      firmware: (await cpctl(socket, 'firmware', '--json')).stdout,
      status: (await cpctl(socket, 'status', '--json')).stdout,
      mqtt: JSON.stringify(watcher.messages.map((m) => [m.topic, m.json ?? null])),
    };
    for (const [where, text] of Object.entries(outputs))
      expect(text.includes(FILE_SERVER_PASSWORD), `${where} contains the file server's password`).toBe(false);
    // The outputs are real: both requests are in the trace, their URLs kept but for the password.
    for (const location of [DIAGNOSTICS_LOCATION, FIRMWARE_LOCATION])
      expect(outputs.trace).toContain(location.replace(FILE_SERVER_PASSWORD, '[redacted]'));
    expect(outputs.firmware).toContain('DownloadFailed');
    expect(outputs.firmware).toContain('127.0.0.1:1/firmware/fw.bin');
    expect(outputs.mqtt).toContain('state/link');
  });
});
