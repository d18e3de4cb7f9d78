import { connect, type MqttClient } from 'mqtt';
import type { Clock, Timer } from '../clock.js';
import { errorMessage } from '../error-message.js';
import type { Registration } from '../features/core/registration.js';
import type { Logger } from '../log.js';
import type { Link } from '../ocpp/link.js';
import type { ChargingLimit, LimitInEffect } from '../station/charging-limit.js';
import type { Station } from '../station/station.js';
import { sameTag, type TransactionEngine, type TransactionEvent } from '../station/transactions.js';
import type { StatusSnapshot } from '../station/types.js';
import type { TransactionRow } from '../store/transactions-repo.js';
import { redactUrl } from '../transfer/url.js';
import {
  type Command,
  type CommandResult,
  connectorStatePayload,
  type LinkStatePayload,
  type LinkStateValue,
  meterPayload,
  mqttPrefix,
  parseCommand,
  type Topics,
  topicsFor,
  transactionEventPayload,
} from './topics.js';

/** The parts of the runtime the bridge reads and drives; nothing else of it is reachable from here. */
export interface MqttBridgeDeps {
  url: string;
  /** The configured prefix; default `chargepoint/<chargePointId>/`. */
  prefix?: string | undefined;
  chargePointId: string;
  station: Pick<
    Station,
    'on' | 'off' | 'status' | 'statuses' | 'connector' | 'connectorIds' | 'availabilityOf'
  >;
  transactions: Pick<
    TransactionEngine,
    'on' | 'off' | 'transactionOn' | 'activeTransactions' | 'isFree' | 'presentIdTag'
  >;
  /** The owner of the offered current: `limit` sets its local limit; its changes are published. */
  limit: Pick<ChargingLimit, 'on' | 'off' | 'setLocalLimit' | 'limitInEffect'>;
  link: Pick<Link, 'on' | 'off' | 'isOpen'>;
  registration: Pick<Registration, 'on' | 'off' | 'status'>;
  clock: Clock;
  log: Logger;
  /** How often every meter is read and published; 0 publishes them only on connect and on cmd/status. */
  meterIntervalMs?: number;
  /** Wait between attempts to reach the broker. */
  reconnectMs?: number;
  /** Transaction events kept while the broker is unreachable; the oldest go first beyond this. */
  queueLimit?: number;
}

const METER_INTERVAL_MS = 10_000;
const RECONNECT_MS = 2_000;
const CONNECT_TIMEOUT_MS = 10_000;
const QUEUE_LIMIT = 100;
/** How long a stop waits for the broker to acknowledge what is in flight. */
const STOP_DRAIN_MS = 1_000;

/** A command the charger refuses for a reason the caller can act on (not a fault of ours). */
class CommandRefused extends Error {}

interface Outgoing {
  topic: string;
  payload: string;
}

/**
 * Local apps' view of the charger over MQTT (contract 5, docs/mqtt.md): retained state, meter
 * readings and transaction events out, a few commands in. The broker is a convenience, never a
 * dependency: `start()` returns at once, nothing waits for the broker, state is republished whole on
 * every (re)connect instead of being queued, and only transaction events wait, in a bounded queue.
 */
export class MqttBridge {
  private readonly topics: Topics;
  private readonly prefix: string;
  private client: MqttClient | undefined;
  private readonly queue: Outgoing[] = [];
  private dropped = 0;
  private readonly detach: Array<() => void> = [];
  private meterTimer: Timer | undefined;
  private linkSince: number;
  private bootSince: number;
  /** Whether the broker answered since the last failure: each outage is logged once, not per retry. */
  private reachable = true;
  private outageError: string | undefined;
  /** Session commands run one after the other: each judges the connectors by the outcome of the last. */
  private sessionCommands: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(private readonly deps: MqttBridgeDeps) {
    this.prefix = mqttPrefix(deps.chargePointId, deps.prefix);
    this.topics = topicsFor(this.prefix);
    this.linkSince = this.bootSince = deps.clock.now();
    // Follow the domain from now on, so events of the start-up (power-loss stops) are queued too.
    this.follow();
  }

  /** Connects in the background; never throws and never waits for the broker. */
  start(): void {
    if (this.client || this.stopped) return;
    const { log, url, chargePointId } = this.deps;
    if (/[#+\0]/.test(this.prefix)) {
      log.error({ prefix: this.prefix }, 'MQTT bridge disabled: the prefix contains a wildcard (# or +)');
      return;
    }
    try {
      this.client = connect(url, {
        clientId: `chargepoint-${chargePointId}`,
        clean: true,
        reconnectPeriod: this.deps.reconnectMs ?? RECONNECT_MS,
        connectTimeout: CONNECT_TIMEOUT_MS,
        // Nothing is queued inside the client while it is offline: we decide what waits (see send).
        queueQoSZero: false,
        resubscribe: false,
        will: {
          topic: this.topics.link,
          payload: Buffer.from(JSON.stringify({ state: 'offline' } satisfies LinkStatePayload)),
          qos: 1,
          retain: true,
        },
      });
    } catch (error) {
      log.error({ url: redactUrl(url, '***'), err: errorMessage(error) }, 'MQTT bridge disabled');
      return;
    }
    const client = this.client;
    client.on('connect', () => this.guard('connect', () => this.onConnect(client)));
    client.on('close', () => this.onClose());
    client.on('error', (error) => this.onError(error));
    client.on('message', (topic, payload, packet) => {
      void this.onMessage(topic, payload, packet.retain).catch((error: Error) =>
        log.error({ topic, err: error.message }, 'MQTT command failed'),
      );
    });
    this.scheduleMeters();
  }

  /** Tells subscribers the state is no longer kept, then disconnects (bounded wait). Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const off of this.detach.splice(0)) off();
    this.meterTimer?.cancel();
    const client = this.client;
    if (!client) return;
    const graceful = client.connected;
    if (graceful) this.publishLink('offline');
    await new Promise<void>((resolve) => {
      // A broker that stops answering must not hold up the daemon's stop.
      const timer = this.deps.clock.setTimeout(() => {
        client.stream?.destroy();
        resolve();
      }, STOP_DRAIN_MS);
      client.end(!graceful, {}, () => {
        timer.cancel();
        resolve();
      });
    });
  }

  // ---- following the charger ----

  private follow(): void {
    const { station, transactions, link, registration, limit } = this.deps;
    const onStatus = (snapshot: StatusSnapshot) =>
      this.guard('status', () => this.publishConnector(snapshot.connectorId));
    const onLimit = (connectorId: number, _limit: LimitInEffect) =>
      this.guard('limit', () => this.publishConnector(connectorId));
    const onTransaction = (event: TransactionEvent) =>
      this.guard('transaction', () =>
        this.publishEvent(this.topics.transactionEvent, transactionEventPayload(event)),
      );
    const onLink = () =>
      this.guard('link', () => {
        this.linkSince = this.deps.clock.now();
        this.publishLink(link.isOpen ? 'open' : 'disconnected');
      });
    const onBoot = () =>
      this.guard('boot', () => {
        this.bootSince = this.deps.clock.now();
        this.publishBoot();
      });
    station.on('status', onStatus);
    limit.on('changed', onLimit);
    transactions.on('transaction', onTransaction);
    link.on('open', onLink);
    link.on('close', onLink);
    registration.on('status', onBoot);
    this.detach.push(
      () => station.off('status', onStatus),
      () => limit.off('changed', onLimit),
      () => transactions.off('transaction', onTransaction),
      () => link.off('open', onLink),
      () => link.off('close', onLink),
      () => registration.off('status', onBoot),
    );
  }

  /** A listener of the station or the engine must never throw into them. */
  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.deps.log.error({ what, err: errorMessage(error) }, 'MQTT bridge could not publish');
    }
  }

  // ---- the broker connection ----

  private onConnect(client: MqttClient): void {
    const { log, url } = this.deps;
    this.reachable = true;
    this.outageError = undefined;
    log.info({ url: redactUrl(url, '***'), prefix: this.prefix }, 'connected to MQTT broker');
    client.subscribe(this.topics.commands, { qos: 1 }, (error) => {
      if (error) log.warn({ err: error.message }, 'MQTT commands not subscribed; reconnecting');
      if (error) client.reconnect();
    });
    this.publishState();
    void this.publishMeters();
    if (this.dropped > 0)
      log.warn({ dropped: this.dropped }, 'MQTT transaction events dropped while the broker was unreachable');
    this.dropped = 0;
    for (const { topic, payload } of this.queue.splice(0)) this.send(topic, payload, false);
  }

  private onClose(): void {
    if (this.stopped || !this.reachable) return;
    this.reachable = false;
    this.deps.log.warn('MQTT broker unreachable; charging goes on, retrying in the background');
  }

  private onError(error: Error & { code?: string | number }): void {
    if (this.stopped) return;
    // The same failure repeats on every retry; the first one of an outage says all there is to say.
    if (!this.reachable && error.message === this.outageError) return;
    this.outageError = error.message;
    this.deps.log.warn({ err: error.message, code: error.code }, 'MQTT connection error');
  }

  // ---- publishing ----

  /** Everything retained, as it is now: after a (re)connect the broker may know nothing, or stale values. */
  private publishState(): void {
    this.publishLink(this.deps.link.isOpen ? 'open' : 'disconnected');
    this.publishBoot();
    for (const snapshot of this.deps.station.statuses()) this.publishConnector(snapshot.connectorId);
  }

  private publishLink(state: LinkStateValue): void {
    this.publishRetained(this.topics.link, { state, since: this.iso(this.linkSince) });
  }

  private publishBoot(): void {
    this.publishRetained(this.topics.boot, {
      status: this.deps.registration.status,
      since: this.iso(this.bootSince),
    });
  }

  private publishConnector(connectorId: number): void {
    const { station } = this.deps;
    const snapshot = station.status(connectorId);
    if (!snapshot) return;
    const payload = connectorStatePayload(
      snapshot,
      station.availabilityOf(connectorId),
      station.connector(connectorId),
      this.deps.limit.limitInEffect(connectorId),
    );
    this.publishRetained(this.topics.connectorState(connectorId), payload);
  }

  /** Reads every meter and publishes what could be read; a failed meter shows in the connector state. */
  private async publishMeters(): Promise<void> {
    const { station, log } = this.deps;
    if (!this.client?.connected) return;
    await Promise.all(
      station.connectorIds().map(async (id) => {
        const meter = station.connector(id)?.meter;
        if (!meter) return;
        try {
          const reading = await meter.read();
          this.send(this.topics.connectorMeter(id), JSON.stringify(meterPayload(id, reading)), true, 0);
        } catch (error) {
          log.debug({ connectorId: id, err: errorMessage(error) }, 'meter not read for MQTT');
        }
      }),
    );
  }

  private scheduleMeters(): void {
    const interval = this.deps.meterIntervalMs ?? METER_INTERVAL_MS;
    if (interval <= 0 || this.stopped) return;
    this.meterTimer = this.deps.clock.setTimeout(() => {
      void this.publishMeters().finally(() => this.scheduleMeters());
    }, interval);
  }

  private publishRetained(topic: string, payload: unknown): void {
    this.send(topic, JSON.stringify(payload), true);
  }

  /** Events wait for the broker, at most `queueLimit` of them; the oldest give way. */
  private publishEvent(topic: string, payload: unknown): void {
    const text = JSON.stringify(payload);
    if (this.send(topic, text, false)) return;
    this.queue.push({ topic, payload: text });
    const limit = this.deps.queueLimit ?? QUEUE_LIMIT;
    if (this.queue.length > limit) {
      this.queue.shift();
      this.dropped++;
    }
  }

  /** Publishes only while connected, so the client never piles up messages of its own. */
  private send(topic: string, payload: string, retain: boolean, qos: 0 | 1 = 1): boolean {
    const client = this.client;
    if (!client?.connected) return false;
    client.publish(topic, payload, { qos, retain }, (error) => {
      if (error) this.deps.log.debug({ topic, err: error.message }, 'MQTT publish not acknowledged');
    });
    return true;
  }

  private iso(ms: number): string {
    return new Date(ms).toISOString();
  }

  // ---- commands ----

  private async onMessage(topic: string, payload: Buffer, retained: boolean): Promise<void> {
    const name = this.topics.commandOf(topic);
    if (name === undefined || topic === this.topics.result || this.stopped) return;
    const { log } = this.deps;
    if (retained) {
      // A retained command would run again on every reconnect.
      log.warn({ topic }, 'retained MQTT command ignored');
      return;
    }
    const parsed = parseCommand(name, payload);
    if (!parsed.ok) {
      log.warn({ command: name, err: parsed.error }, 'MQTT command refused');
      this.reply({ id: parsed.id, command: name, ok: false, error: parsed.error });
      return;
    }
    try {
      const result = await this.execute(parsed.command);
      log.info({ command: name, ...result }, 'MQTT command done');
      this.reply({ id: parsed.id, command: name, ok: true, ...(result ? { result } : {}) });
    } catch (error) {
      const message = errorMessage(error);
      if (error instanceof CommandRefused) log.warn({ command: name, err: message }, 'MQTT command refused');
      else log.error({ command: name, err: message }, 'MQTT command failed');
      this.reply({ id: parsed.id, command: name, ok: false, error: message });
    }
  }

  private reply(result: CommandResult): void {
    this.send(this.topics.result, JSON.stringify(result), false);
  }

  private async execute(command: Command): Promise<Record<string, unknown> | undefined> {
    switch (command.name) {
      case 'session/start':
        return this.oneAtATime(() => this.startSession(command.idTag, command.connectorId));
      case 'session/stop':
        return this.oneAtATime(() => this.stopSession(command.connectorId, command.idTag));
      case 'limit':
        return this.setLimit(command.connectorId, command.amps);
      case 'status':
        this.publishState();
        await this.publishMeters();
        return undefined;
    }
  }

  private oneAtATime<T>(run: () => Promise<T>): Promise<T> {
    const result = this.sessionCommands.then(run, run);
    this.sessionCommands = result.catch(() => undefined);
    return result;
  }

  /** As if the card were presented at a reader serving the connector(s): authorized, then started once plugged. */
  private async startSession(idTag: string, connectorId?: number): Promise<Record<string, unknown>> {
    const { station, transactions } = this.deps;
    if (connectorId !== undefined) this.hardware(connectorId);
    const candidates = connectorId === undefined ? station.connectorIds() : [connectorId];
    // Only free connectors: the same card at a busy one would stop its session instead.
    const free = candidates.filter((id) => transactions.isFree(id));
    if (free.length === 0)
      throw new CommandRefused(
        connectorId === undefined
          ? 'no connector is free for a new session'
          : `connector ${connectorId} is not free (${station.status(connectorId)?.status})`,
      );
    await transactions.presentIdTag(idTag, free);
    const taken = free.find((id) => !transactions.isFree(id));
    if (taken === undefined)
      throw new CommandRefused(
        `${idTag} was not accepted: not authorized, or the connector is reserved for another id`,
      );
    return { connectorId: taken, waitingForCable: !station.connector(taken)?.plugged() };
  }

  /** Ends the session as its own card would (reason Local). */
  private async stopSession(connectorId?: number, idTag?: string): Promise<Record<string, unknown>> {
    const { transactions } = this.deps;
    let row: TransactionRow | undefined;
    if (connectorId !== undefined) {
      this.hardware(connectorId);
      row = transactions.transactionOn(connectorId);
      if (!row) throw new CommandRefused(`no session running on connector ${connectorId}`);
      if (idTag !== undefined && !sameTag(row.idTag, idTag))
        throw new CommandRefused(`the session on connector ${connectorId} is not ${idTag}'s`);
    } else {
      row = transactions.activeTransactions().find((r) => idTag !== undefined && sameTag(r.idTag, idTag));
      if (!row) throw new CommandRefused(`no session running for ${idTag}`);
    }
    await transactions.presentIdTag(row.idTag, [row.connectorId]);
    if (transactions.transactionOn(row.connectorId)?.localId === row.localId)
      throw new CommandRefused(`the session on connector ${row.connectorId} did not stop`);
    return {
      connectorId: row.connectorId,
      localId: row.localId,
      ...(row.transactionId === undefined ? {} : { transactionId: row.transactionId }),
    };
  }

  /**
   * The connector's local limit (persisted; the owner of the offered current applies it with the
   * rest); never above what the outlet is built for, and its maximum lifts it.
   */
  private async setLimit(connectorId: number, amps: number): Promise<Record<string, unknown>> {
    const { devices } = this.hardware(connectorId);
    if (amps > devices.maxCurrentA)
      throw new CommandRefused(
        `${amps} A is above connector ${connectorId}'s maximum of ${devices.maxCurrentA} A`,
      );
    await this.deps.limit.setLocalLimit(connectorId, amps);
    this.publishConnector(connectorId);
    return { connectorId, amps };
  }

  private hardware(connectorId: number) {
    const { station } = this.deps;
    const hw = station.connector(connectorId);
    if (!hw)
      throw new CommandRefused(
        `no connector ${connectorId} (connectors: ${station.connectorIds().join(', ')})`,
      );
    return hw;
  }
}
