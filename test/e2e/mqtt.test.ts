/**
 * The MQTT bridge (contract 5, docs/mqtt.md) against a real mosquitto started by each test: retained
 * state, transaction events, local commands, and a broker that restarts or is down at start.
 */
import { isDeepStrictEqual } from 'node:util';
import type { IClientOptions } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { SIM_REGISTER_START_WH } from '../../hal/sim/registers.js';
import { charging, type StopReq, whenEngine } from '../support/charging.js';
import { useDaemonEnv } from '../support/daemon-process.js';
import { CP_ID, type Harness, useHarness } from '../support/harness.js';
import { Mosquitto, MqttWatcher, type Received } from '../support/mosquitto.js';

const P = `chargepoint/${CP_ID}/`;
const TAG = 'VALID01';

type Json = Record<string, unknown>;
const json = (m: Received): Json => (m.json ?? {}) as Json;
const on =
  (topic: string, fields: Json = {}) =>
  (m: Received) =>
    m.topic === topic && Object.entries(fields).every(([k, v]) => isDeepStrictEqual(json(m)[k], v));

describe('MQTT bridge', () => {
  const start = useHarness();
  const brokers: Mosquitto[] = [];
  const watchers: MqttWatcher[] = [];
  afterEach(async () => {
    for (const w of watchers.splice(0)) await w.close();
    for (const b of brokers.splice(0)) await b.dispose();
  });

  async function broker(run = true, persistent = false): Promise<Mosquitto> {
    const b = run ? await Mosquitto.start({ persistent }) : await Mosquitto.create({ persistent });
    brokers.push(b);
    return b;
  }

  async function watch(b: Mosquitto, options: IClientOptions = {}): Promise<MqttWatcher> {
    const w = await MqttWatcher.connect(b.url, `${P}#`, options);
    watchers.push(w);
    return w;
  }

  const withMqtt = (b: Mosquitto) => ({ config: () => ({ mqtt: { url: b.url } }) });

  /** Publishes a command and waits for its result (matched by correlation id). */
  async function command(w: MqttWatcher, name: string, body: Json): Promise<Json> {
    const since = w.mark();
    await w.publish(`${P}cmd/${name}`, body);
    return json(await w.waitFor(on(`${P}cmd/result`, { id: body.id }), `result of ${name}`, since));
  }

  it('keeps link, boot, connector and meter state retained for subscribers that come later', async () => {
    const b = await broker();
    const h = await start(withMqtt(b));
    await h.booted();
    const early = await watch(b);
    await early.waitFor(on(`${P}state/boot`, { status: 'Accepted' }), 'boot Accepted');
    await early.waitFor(on(`${P}state/link`, { state: 'open' }), 'link open');
    await early.waitFor(on(`${P}connector/2/meter`), 'meter of connector 2');

    const late = await watch(b);
    const byTopic = async (topic: string) => {
      const m = await late.waitFor(on(topic), topic);
      expect(m.retained).toBe(true);
      return json(m);
    };
    expect(await byTopic(`${P}state/boot`)).toMatchObject({ status: 'Accepted' });
    expect(await byTopic(`${P}state/link`)).toMatchObject({ state: 'open' });
    expect(await byTopic(`${P}connector/0/state`)).toMatchObject({
      connectorId: 0,
      status: 'Available',
      errorCode: 'NoError',
      availability: 'Operative',
    });
    expect(await byTopic(`${P}connector/1/state`)).toMatchObject({
      connectorId: 1,
      status: 'Available',
      errorCode: 'NoError',
      availability: 'Operative',
      plugged: false,
      // No session: the pilot offers nothing (IEC 61851-1 B1); a session would get the outlet's 32 A.
      currentLimitA: 0,
      offerState: 'noSession',
      compositeLimitA: 32,
      limitSource: { kind: 'hardware' },
      limitPaused: false,
      maxCurrentA: 32,
    });
    expect(await byTopic(`${P}connector/1/meter`)).toMatchObject({
      connectorId: 1,
      energyImportWh: SIM_REGISTER_START_WH,
    });

    // A graceful stop says so: the retained values are no longer kept up to date.
    const since = late.mark();
    await h.runtime.stop();
    const offline = await late.waitFor(on(`${P}state/link`, { state: 'offline' }), 'offline', since);
    expect(json(offline).since).toEqual(expect.any(String));
  });

  it('publishes transaction events and connector states of a charging session', async () => {
    const b = await broker();
    const h = await start(withMqtt(b));
    await h.booted();
    const w = await watch(b);
    const since = w.mark();
    const transactionId = await charging(h, TAG);
    const started = await w.waitFor(on(`${P}event/transaction`, { event: 'started' }), 'started', since);
    expect(started.retained).toBe(false);
    expect(json(started)).toMatchObject({ connectorId: 1, idTag: TAG, meterStartWh: 0 });
    await w.waitFor(on(`${P}connector/1/state`, { status: 'Charging', plugged: true }), 'Charging', since);

    await whenEngine(h, () => h.runtime.transactions.transactionOn(1)?.transactionId === transactionId, 'id');
    h.board.swipe(TAG);
    const stopped = await w.waitFor(on(`${P}event/transaction`, { event: 'stopped' }), 'stopped', since);
    expect(json(stopped)).toMatchObject({
      connectorId: 1,
      localId: json(started).localId,
      transactionId,
      idTag: TAG,
      stopIdTag: TAG,
      reason: 'Local',
      meterStartWh: 0,
    });
    const { meterStopWh, energyWh } = json(stopped);
    expect(energyWh).toBe(meterStopWh);
    await w.waitFor(on(`${P}connector/1/state`, { status: 'Finishing' }), 'Finishing', since);
  });

  it('starts and stops a local session on command; the central system sees both', async () => {
    const b = await broker();
    const h = await start(withMqtt(b));
    await h.booted();
    const w = await watch(b);
    const mark = h.csms.mark();

    const started = await command(w, 'session/start', { id: 'start-1', connectorId: 1, idTag: 'LOCAL01' });
    expect(started).toEqual({
      id: 'start-1',
      command: 'session/start',
      ok: true,
      result: { connectorId: 1, waitingForCable: true },
    });
    h.board.plug(1);
    const startTx = await h.csms.waitForCall(CP_ID, 'StartTransaction', { since: mark });
    expect(startTx.payload).toMatchObject({ connectorId: 1, idTag: 'LOCAL01' });
    await h.status(1, 'Charging', mark);

    // A busy connector takes no second session.
    const busy = await command(w, 'session/start', { id: 'start-2', connectorId: 1, idTag: 'LOCAL02' });
    expect(busy).toMatchObject({ ok: false, error: expect.stringContaining('not free') });

    const stopped = await command(w, 'session/stop', { id: 'stop-1', connectorId: 1 });
    expect(stopped).toMatchObject({ ok: true, result: { connectorId: 1 } });
    const stopTx = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    expect(stopTx.payload as StopReq).toMatchObject({ reason: 'Local', idTag: 'LOCAL01' });

    const again = await command(w, 'session/stop', { id: 'stop-2', idTag: 'LOCAL01' });
    expect(again).toMatchObject({ ok: false, error: 'no session running for LOCAL01' });
  });

  it('sets the local current limit on command, never above the connector maximum, kept across a restart', async () => {
    const b = await broker();
    const h = await start(withMqtt(b));
    await h.booted();
    const w = await watch(b);
    const pilot = h.board.connector(1)!.devices.pilot;
    // A session, so that the pilot offers its limit.
    await charging(h, TAG);

    const since = w.mark();
    expect(await command(w, 'limit', { id: 'l1', connectorId: 1, amps: 16 })).toEqual({
      id: 'l1',
      command: 'limit',
      ok: true,
      result: { connectorId: 1, amps: 16 },
    });
    expect(pilot.currentLimit()).toBe(16);
    const limited = await w.waitFor(
      on(`${P}connector/1/state`, { currentLimitA: 16 }),
      'state with the limit',
      since,
    );
    expect(json(limited)).toMatchObject({
      offerState: 'offered',
      compositeLimitA: 16,
      limitSource: { kind: 'local' },
    });

    const above = await command(w, 'limit', { id: 'l2', connectorId: 1, amps: 40 });
    expect(above).toMatchObject({ ok: false, error: expect.stringContaining('maximum of 32 A') });
    const nowhere = await command(w, 'limit', { id: 'l3', connectorId: 9, amps: 10 });
    expect(nowhere).toMatchObject({ ok: false, error: expect.stringContaining('no connector 9') });
    expect(pilot.currentLimit()).toBe(16);

    // Persisted: the daemon comes back with it, and publishes it with the connector's state. The
    // stop ended the session, so nothing is offered: the limit is what the next session would get.
    await h.runtime.stop();
    const restarted = w.mark();
    await h.startRuntime();
    await w.waitFor(
      on(`${P}connector/1/state`, {
        currentLimitA: 0,
        offerState: 'noSession',
        compositeLimitA: 16,
        limitSource: { kind: 'local' },
      }),
      'the limit after the restart',
      restarted,
    );
    expect(h.runtime.chargingLimit.localLimit(1)).toBe(16);
    // The outlet's maximum lifts it.
    const lifted = w.mark();
    await command(w, 'limit', { id: 'l4', connectorId: 1, amps: 32 });
    expect(h.runtime.chargingLimit.localLimit(1)).toBeUndefined();
    await w.waitFor(
      on(`${P}connector/1/state`, { compositeLimitA: 32, limitSource: { kind: 'hardware' } }),
      'the limit lifted',
      lifted,
    );
  });

  it('publishes the limit in effect with its source, again at each period boundary of a profile', async () => {
    const b = await broker();
    const h = await start(withMqtt(b));
    await h.booted();
    const w = await watch(b);
    const since = w.mark();
    // 16 A, after 1 s 10 A, after 2 s the profile ends and the outlet's 32 A apply.
    expect(
      await h.csms.call(CP_ID, 'SetChargingProfile', {
        connectorId: 1,
        csChargingProfiles: {
          chargingProfileId: 5,
          stackLevel: 0,
          chargingProfilePurpose: 'TxDefaultProfile',
          chargingProfileKind: 'Absolute',
          chargingSchedule: {
            startSchedule: new Date(h.runtime.time.nowMs()).toISOString(),
            duration: 2,
            chargingRateUnit: 'A',
            chargingSchedulePeriod: [
              { startPeriod: 0, limit: 16 },
              { startPeriod: 1, limit: 10 },
            ],
          },
        },
      }),
    ).toEqual({ status: 'Accepted' });
    // Each state after the one before: the subscription's retained 32 A must not count as the last.
    // No session runs, so nothing is offered (IEC 61851-1 B1): the boundaries show in what a session
    // would get.
    let after = since;
    const state = async (amps: number) => {
      const m = await w.waitFor(on(`${P}connector/1/state`, { compositeLimitA: amps }), `${amps} A`, after);
      after = w.mark();
      return json(m);
    };
    const idle = { currentLimitA: 0, offerState: 'noSession', limitPaused: false };
    const profile = { kind: 'profile', profileId: 5, purpose: 'TxDefaultProfile' };
    expect(await state(16)).toMatchObject({ ...idle, limitSource: profile, maxCurrentA: 32 });
    expect(await state(10)).toMatchObject({ ...idle, limitSource: profile });
    expect(await state(32)).toMatchObject({ ...idle, limitSource: { kind: 'hardware' } });
    expect(h.board.connector(1)?.devices.pilot.currentLimit()).toBe(0);

    const late = await watch(b);
    const retained = await late.waitFor(on(`${P}connector/1/state`), 'retained state');
    expect(retained.retained).toBe(true);
    expect(json(retained)).toMatchObject({ ...idle, compositeLimitA: 32, limitSource: { kind: 'hardware' } });
  });

  it('logs the broker it connected to with the password of its URL masked, the user kept', async () => {
    const b = await broker();
    const url = b.url.replace('mqtt://', 'mqtt://bridge:br0ker-pw@');
    const h = await start({ config: () => ({ mqtt: { url } }) });

    const connected = await h.sink.waitFor((l) => l.msg === 'connected to MQTT broker');

    expect(connected.url).toBe(b.url.replace('mqtt://', 'mqtt://bridge:***@'));
    expect(JSON.stringify(h.sink.lines)).not.toContain('br0ker-pw');
  });

  it('answers bad commands with an error, logs them and carries on', async () => {
    const b = await broker();
    const h = await start(withMqtt(b));
    await h.booted();
    const w = await watch(b);
    const result = (text: string, name: string) =>
      w.waitFor(
        (m) => on(`${P}cmd/result`, { command: name, ok: false })(m) && String(json(m).error).includes(text),
        `error "${text}"`,
      );

    await w.publish(`${P}cmd/session/start`, '{not json');
    expect(json(await result('not valid JSON', 'session/start')).id).toBeNull();
    await w.publish(`${P}cmd/session/start`, '[1, 2]');
    await result('must be a JSON object', 'session/start');
    await w.publish(`${P}cmd/reboot`, { id: 'r' });
    expect(json(await result('unknown command', 'reboot')).id).toBe('r');
    await w.publish(`${P}cmd/session/start`, { id: 'c', connectorId: 'one', idTag: TAG });
    await result('connectorId must be a connector number', 'session/start');
    await w.publish(`${P}cmd/session/stop`, { id: 'n' });
    await result('needs connectorId or idTag', 'session/stop');
    await w.publish(`${P}cmd/limit`, { id: 'a', connectorId: 1, amps: -3 });
    await result('amps must be a number', 'limit');
    await w.publish(`${P}cmd/session/start`, { id: 't', idTag: 'X'.repeat(21) });
    await result('idTag must be a string of 1 to 20 characters', 'session/start');
    await w.publish(`${P}cmd/status`, 'x'.repeat(5000));
    await result('payload larger than', 'status');
    await h.sink.waitFor((l) => l.msg === 'MQTT command refused' && l.command === 'reboot');

    const since = w.mark();
    expect(await command(w, 'status', { id: 's' })).toEqual({ id: 's', command: 'status', ok: true });
    await w.waitFor(on(`${P}connector/1/state`, { status: 'Available' }), 'republished state', since);
    expect(h.runtime.transactions.activeTransactions()).toEqual([]);
  });

  it('survives a broker restart: state is republished and events of the outage are delivered', async () => {
    const b = await broker(true, true);
    const h = await start(withMqtt(b));
    await h.booted();
    // A persistent session: what the bridge publishes while this watcher reconnects still reaches it.
    const w = await watch(b, { clientId: 'watcher-restart', clean: false });
    await w.waitFor(on(`${P}connector/1/state`, { status: 'Available' }), 'Available');

    await b.stop();
    await h.sink.waitFor(
      (l) => l.msg === 'MQTT broker unreachable; charging goes on, retrying in the background',
    );
    await charging(h, TAG);
    const since = w.mark();
    await b.start();
    // The restarted broker only knows the state from before the outage; Charging comes from the bridge.
    await w.waitFor(on(`${P}connector/1/state`, { status: 'Charging' }), 'republished state', since);
    const started = await w.waitFor(on(`${P}event/transaction`, { event: 'started' }), 'queued event', since);
    expect(json(started)).toMatchObject({ connectorId: 1, idTag: TAG });
  });

  it('boots while the broker is down, and publishes once it is up', async () => {
    const b = await broker(false);
    const h: Harness = await start(withMqtt(b));
    await h.booted();
    await h.sink.waitFor(
      (l) => l.msg === 'MQTT broker unreachable; charging goes on, retrying in the background',
    );
    await b.start();
    const w = await watch(b);
    await w.waitFor(on(`${P}state/boot`, { status: 'Accepted' }), 'boot state');
    await w.waitFor(on(`${P}connector/2/state`, { status: 'Available' }), 'connector state');
  });
});

describe('MQTT bridge of a daemon that dies', () => {
  const cp = 'CP-MQTT-KILL';
  const env = useDaemonEnv('cp-mqtt-', cp);

  it('leaves state/link "offline" (the Last Will) when the process is killed', async () => {
    const b = await Mosquitto.start();
    let w: MqttWatcher | undefined;
    try {
      w = await MqttWatcher.connect(b.url, `chargepoint/${cp}/state/link`);
      const daemon = env().spawn(env().daemonConfig({ mqtt: { url: b.url } }));
      await w.waitFor((m) => (m.json as Json).state === 'open', 'link open');
      const since = w.mark();
      daemon.child.kill('SIGKILL');
      const will = await w.waitFor((m) => (m.json as Json).state === 'offline', 'the Last Will', since);
      expect(will.json).toEqual({ state: 'offline' });
    } finally {
      await w?.close();
      await b.dispose();
    }
  });
});
