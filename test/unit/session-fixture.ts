import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach } from 'vitest';
import { DEFAULT_SIM_SPEC, SimBoard, type SimBoardSpec } from '../../hal/sim/board.js';
import type { MeterReading } from '../../hal/types.js';
import { OcppTime } from '../../src/clock.js';
import { ConfigurationRegistry } from '../../src/config/registry.js';
import type { FeatureContext } from '../../src/features/context.js';
import { registerRemoteStartTransaction } from '../../src/features/core/remote-start-transaction.js';
import { registerRemoteStopTransaction } from '../../src/features/core/remote-stop-transaction.js';
import {
  deliverTransactionMessages,
  TransactionMessages,
} from '../../src/features/core/transaction-messages.js';
import { silentLogger } from '../../src/log.js';
import { Outbox } from '../../src/ocpp/outbox.js';
import { RpcEndpoint } from '../../src/ocpp/rpc.js';
import type { IdTagInfo } from '../../src/station/auth-types.js';
import { ChargingLimit } from '../../src/station/charging-limit.js';
import { ChargingProfiles } from '../../src/station/charging-profiles.js';
import { profileComposites } from '../../src/station/profile-composites.js';
import { Reservations } from '../../src/station/reservations.js';
import { Station } from '../../src/station/station.js';
import type {
  ReadingContext,
  TransactionSink,
  TransactionStop,
} from '../../src/station/transaction-types.js';
import { TransactionEngine, type WriteHealth } from '../../src/station/transactions.js';
import type { ConnectorStatus } from '../../src/station/types.js';
import { ChargingProfilesRepo } from '../../src/store/charging-profiles-repo.js';
import { ConnectorLimitsRepo } from '../../src/store/connector-limits-repo.js';
import { openStore, type Store } from '../../src/store/index.js';
import { OutboxRepo } from '../../src/store/outbox-repo.js';
import { ReservationsRepo } from '../../src/store/reservations-repo.js';
import { TransactionSamplesRepo } from '../../src/store/transaction-samples-repo.js';
import { type TransactionRow, TransactionsRepo } from '../../src/store/transactions-repo.js';
import { FakeClock } from '../support/fake-clock.js';
import { LoopbackCsms } from '../support/loopback-csms.js';

export const T0 = Date.parse('2024-05-01T12:00:00.000Z');

/** What the engine told its sink and what the station reported, in the order it happened. */
export type Happening =
  | { kind: 'started'; tx: TransactionRow; reading: MeterReading | undefined }
  | { kind: 'sampled'; tx: TransactionRow; reading: MeterReading; context: ReadingContext }
  | { kind: 'stopped'; tx: TransactionRow; stop: TransactionStop }
  | { kind: 'status'; connectorId: number; status: ConnectorStatus };

class RecordingSink implements TransactionSink {
  constructor(private readonly timeline: Happening[]) {}

  started(tx: TransactionRow, _timestampMs: number, reading: MeterReading | undefined): void {
    this.timeline.push({ kind: 'started', tx, reading });
  }

  stopped(tx: TransactionRow, stop: TransactionStop): void {
    this.timeline.push({ kind: 'stopped', tx, stop });
  }

  sampled(tx: TransactionRow, reading: MeterReading, context: ReadingContext): void {
    this.timeline.push({ kind: 'sampled', tx, reading, context });
  }
}

/** Hands every engine event to each of several sinks, in order. */
class TeeSink implements TransactionSink {
  constructor(private readonly sinks: readonly TransactionSink[]) {}

  started(tx: TransactionRow, timestampMs: number, reading: MeterReading | undefined): void {
    for (const sink of this.sinks) sink.started(tx, timestampMs, reading);
  }

  stopped(tx: TransactionRow, stop: TransactionStop): void {
    for (const sink of this.sinks) sink.stopped(tx, stop);
  }

  sampled(tx: TransactionRow, reading: MeterReading, context: ReadingContext, timestampMs: number): void {
    for (const sink of this.sinks) sink.sampled(tx, reading, context, timestampMs);
  }
}

export interface SessionFixtureOptions {
  /**
   * Also put the engine's messages on the wire: the real TransactionMessages, durable outbox and
   * RpcEndpoint, answered by an in-process central system (`fixture.csms`).
   */
  centralSystem?: boolean;
  board?: SimBoardSpec;
  /** The board's supply limit (A per phase), shared by all its connectors. */
  supplyMaxCurrentA?: number;
  /** The state directory (a restart reuses it); default a fresh temp dir. */
  dir?: string;
  ocpp?: Record<string, string | number | boolean>;
  /** The central system's verdict on an id (default Accepted). */
  authorize?: (idTag: string) => IdTagInfo;
  /** The store's health for the engine's writes (the runtime's StoreHealth); default none. */
  writes?: WriteHealth;
}

/**
 * The transaction engine in process: the station on a simulated board, the real store and
 * reservations in a temp dir, a fake clock (hours of charging in milliseconds) and a sink that
 * records instead of sending.
 */
export class SessionFixture {
  readonly clock = new FakeClock(T0);
  readonly timeline: Happening[] = [];
  readonly logLines: Array<{ msg: string } & Record<string, unknown>> = [];
  readonly board: SimBoard;
  readonly station: Station;
  readonly reservations: Reservations;
  readonly engine: TransactionEngine;
  /** The owner of each connector's offered current. */
  readonly limit: ChargingLimit;
  readonly dir: string;
  readonly chargingProfiles: ChargingProfiles;
  readonly repo: TransactionsRepo;
  /** The loopback central system, with `centralSystem: true`. */
  readonly csms: LoopbackCsms | undefined;
  readonly config: ConfigurationRegistry;
  private readonly cleanups: Array<() => void> = [];

  constructor(opts: SessionFixtureOptions = {}) {
    const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'cp-session-'));
    this.dir = dir;
    if (opts.dir === undefined) this.cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const log = pino(
      { level: 'debug' },
      { write: (line: string) => void this.logLines.push(JSON.parse(line)) },
    );
    const store = openStore({ dir, log: silentLogger() });
    this.cleanups.push(() => store.close());
    const spec = opts.board ?? DEFAULT_SIM_SPEC;
    this.board = new SimBoard(
      opts.supplyMaxCurrentA === undefined ? spec : { ...spec, supplyMaxCurrentA: opts.supplyMaxCurrentA },
      this.clock,
    );
    const config = new ConfigurationRegistry({
      store: store.config,
      initial: opts.ocpp ?? {},
      capabilities: new Set([
        'authCache',
        'localAuthList',
        'maxEnergyOnInvalidId',
        'reservation',
        'smartCharging',
      ]),
      fixed: {
        NumberOfConnectors: String(this.board.connectors.length),
        SupportedFeatureProfiles: 'Core,Reservation',
      },
      log: silentLogger(),
    });
    this.config = config;
    this.station = new Station({
      board: this.board,
      availability: store.availability,
      clock: this.clock,
      log,
    });
    this.cleanups.push(() => this.station.close());
    const time = new OcppTime(this.clock, false);
    this.reservations = new Reservations({
      repo: new ReservationsRepo(store.db),
      connectorIds: this.station.connectorIds(),
      statusOf: (id) => this.station.status(id)?.status,
      connectorZeroSupported: () => false,
      clock: this.clock,
      time,
      log,
    });
    this.cleanups.push(() => this.reservations.close());
    this.reservations.on('changed', () => this.station.refresh());
    this.station.on('status', (snapshot) => {
      this.reservations.onStatus(snapshot);
      this.timeline.push({ kind: 'status', connectorId: snapshot.connectorId, status: snapshot.status });
    });
    this.repo = new TransactionsRepo(store.db);
    this.chargingProfiles = new ChargingProfiles({
      repo: new ChargingProfilesRepo(store.db),
      station: this.station,
      ...(this.board.supplyMaxCurrentA === undefined
        ? {}
        : { supplyMaxCurrentA: this.board.supplyMaxCurrentA }),
      config,
      log,
    });
    this.limit = new ChargingLimit({
      board: this.board,
      station: this.station,
      composites: profileComposites(this.chargingProfiles),
      localLimits: new ConnectorLimitsRepo(store.db, () => this.clock.now()),
      clock: this.clock,
      time,
      log,
    });
    this.chargingProfiles.setLimits((connectorId) => this.limit.limitsOf(connectorId));
    this.chargingProfiles.on('changed', () => void this.limit.evaluate());
    this.cleanups.push(() => this.limit.close());
    const verdict = opts.authorize ?? (() => ({ status: 'Accepted' }));
    const sinks: TransactionSink[] = [new RecordingSink(this.timeline)];
    const wire = opts.centralSystem ? this.wire(store, config) : undefined;
    if (wire) sinks.push(wire.messages);
    this.csms = wire?.csms;
    this.engine = new TransactionEngine({
      station: this.station,
      repo: this.repo,
      reservations: this.reservations,
      limit: this.limit,
      txProfiles: this.chargingProfiles,
      sink: new TeeSink(sinks),
      authorize: async (idTag) => ({ idTag, info: verdict(idTag), source: 'central' }),
      reportIdTagInfo: () => undefined,
      ...(opts.writes ? { writes: opts.writes } : {}),
      config,
      clock: this.clock,
      time,
      log,
    });
    this.chargingProfiles.bind(this.engine);
    if (wire) {
      wire.messages.bind(this.engine);
      const ctx: FeatureContext = {
        rpc: wire.rpc,
        config,
        station: this.station,
        time,
        clock: this.clock,
        log,
        requestReset: () => undefined,
      };
      registerRemoteStartTransaction(ctx, this.engine, this.chargingProfiles);
      registerRemoteStopTransaction(ctx, this.engine);
    }
    this.engine.start();
    this.cleanups.push(() => this.engine.close());
    void this.limit.start();
    // As the runtime wires them: a card at a reader is presented for the connectors it serves.
    for (const { reader, connectorIds } of this.board.readers)
      reader.on('tag', (idTag) => void this.engine.presentIdTag(idTag, connectorIds));
  }

  /** The message path of the runtime, with a loopback central system at its end. */
  private wire(store: Store, config: ConfigurationRegistry) {
    const log = silentLogger();
    const rpc = new RpcEndpoint({ log, clock: this.clock, callTimeoutMs: 30_000 });
    const outbox = new Outbox({ repo: new OutboxRepo(store.db), rpc, config, clock: this.clock, log });
    const messages = new TransactionMessages(
      () => outbox,
      config,
      () => undefined,
      new TransactionSamplesRepo(store.db),
    );
    deliverTransactionMessages(
      outbox,
      { transactionIdOf: (localId) => this.engine.transactionIdOf(localId) },
      messages,
    );
    const csms = new LoopbackCsms(rpc);
    csms.connect();
    outbox.resume();
    this.cleanups.push(() => void outbox.stop(0));
    return { messages, csms, rpc };
  }

  close(): void {
    for (const cleanup of this.cleanups.splice(0).reverse()) cleanup();
  }

  /**
   * Lets every reaction already set off run to its end. The simulated devices and SQLite answer
   * at once, so the engine's promise chains finish within a few turns of the event loop; no time
   * passes on the fake clock.
   */
  async settle(): Promise<void> {
    for (let turn = 0; turn < 10; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
  }

  statusOf(connectorId: number): ConnectorStatus | undefined {
    return this.station.status(connectorId)?.status;
  }

  /** Every status the station reported for a connector, in order. */
  statuses(connectorId: number): ConnectorStatus[] {
    return this.timeline.flatMap((h) =>
      h.kind === 'status' && h.connectorId === connectorId ? [h.status] : [],
    );
  }

  starts(): Array<Extract<Happening, { kind: 'started' }>> {
    return this.timeline.filter((h) => h.kind === 'started');
  }

  stops(): Array<Extract<Happening, { kind: 'stopped' }>> {
    return this.timeline.filter((h) => h.kind === 'stopped');
  }

  /** Plug, card, transaction: returns the running transaction's row. */
  async charging(connectorId: number, idTag: string): Promise<TransactionRow> {
    this.board.plug(connectorId);
    await this.engine.presentIdTag(idTag, [connectorId]);
    await this.settle();
    const row = this.engine.transactionOn(connectorId);
    if (!row) throw new Error(`no transaction on connector ${connectorId}`);
    return row;
  }
}

/** Makes fixtures that are closed after the test that made them. */
export function useSessionFixtures(): (opts?: SessionFixtureOptions) => SessionFixture {
  const fixtures: SessionFixture[] = [];
  afterEach(() => {
    for (const fx of fixtures.splice(0)) fx.close();
  });
  return (opts = {}) => {
    const fx = new SessionFixture(opts);
    fixtures.push(fx);
    return fx;
  };
}
