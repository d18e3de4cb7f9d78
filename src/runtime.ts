import { join } from 'node:path';
import type { Board, FaultInput } from '../hal/types.js';
import { changesOf, mergeFeeds } from './cli/changes.js';
import { RuntimeControl } from './cli/control-api.js';
import { ControlServer, DaemonAlreadyRunningError } from './cli/server.js';
import { type Clock, OcppTime, systemClock, type Timer } from './clock.js';
import { loadBoard, smartChargingKeys } from './config/board-file.js';
import { csmsUrlFor, type RuntimeConfig } from './config/file.js';
import { ConfigurationRegistry } from './config/registry.js';
import { Redactor } from './diagnostics/redact.js';
import { DiagnosticsFiles } from './diagnostics/uploads.js';
import { errorMessage } from './error-message.js';
import { localAuthListProfile } from './features/auth-list/profile.js';
import { type FeatureContext, type ResetType, sendQuietly } from './features/context.js';
import { VendorExtensions } from './features/core/data-transfer.js';
import { Heartbeat } from './features/core/heartbeat.js';
import { coreProfile } from './features/core/profile.js';
import { Registration } from './features/core/registration.js';
import { StatusReporter } from './features/core/status-notification.js';
import { deliverTransactionMessages, TransactionMessages } from './features/core/transaction-messages.js';
import { firmwareStatusSender } from './features/firmware/firmware-status-notification.js';
import { firmwareManagementProfile } from './features/firmware/profile.js';
import {
  type InstalledProfile,
  MESSAGE_TRIGGERS,
  type MessageTrigger,
  type Profile,
  type TriggerTarget,
} from './features/profile.js';
import { remoteTriggerProfile } from './features/remote-trigger/profile.js';
import { reservationProfile } from './features/reservation/profile.js';
import {
  type InstalledSecurityExtension,
  installSecurityExtension,
  SECURITY_EXTENSION_CAPABILITIES,
} from './features/security/extension.js';
import { isSecurityEventType, SecurityEvents } from './features/security/security-events.js';
import { SecurityProfileSwitch } from './features/security/security-profile.js';
import { smartChargingProfile } from './features/smart-charging/profile.js';
import { firmwareConfirmation } from './firmware/confirm.js';
import { FirmwareUpdates } from './firmware/firmware-updates.js';
import type { Logger } from './log.js';
import type { MqttBridge } from './mqtt/bridge.js';
import { authorizationKeySecrets } from './ocpp/basic-auth.js';
import { Link, type LinkCredentials, type SecurityProfile } from './ocpp/link.js';
import { Outbox } from './ocpp/outbox.js';
import { RpcEndpoint } from './ocpp/rpc.js';
import { FrameTrace } from './ocpp/trace.js';
import { CertificateStore } from './security/certificate-store.js';
import { ChargePointCertificate } from './security/charge-point-certificate.js';
import { Authorizer } from './station/auth/authorizer.js';
import { AuthCache } from './station/auth/cache.js';
import { LastAuthorizations } from './station/auth/last-authorizations.js';
import { LocalAuthList } from './station/auth/local-list.js';
import { ChargingLimit } from './station/charging-limit.js';
import { ChargingProfiles } from './station/charging-profiles.js';
import { type MemoryReader, MemoryWatch } from './station/memory-watch.js';
import { profileComposites } from './station/profile-composites.js';
import { Reservations } from './station/reservations.js';
import { Station } from './station/station.js';
import { TransactionEngine, type StopReason as TransactionStopReason } from './station/transactions.js';
import { AuthCacheRepo } from './store/auth-cache-repo.js';
import { CertificatesRepo } from './store/certificates-repo.js';
import { ChargingProfilesRepo } from './store/charging-profiles-repo.js';
import { ConnectorLimitsRepo } from './store/connector-limits-repo.js';
import { FirmwareRepo } from './store/firmware-repo.js';
import type { StoreHealthSnapshot } from './store/health.js';
import { lockStateDirectory, openStore, type Store, type StoreOptions } from './store/index.js';
import { LocalListRepo } from './store/local-list-repo.js';
import { OutboxRepo } from './store/outbox-repo.js';
import { ReservationsRepo } from './store/reservations-repo.js';
import { RetentionRepo } from './store/retention.js';
import { SecurityLogRepo } from './store/security-log-repo.js';
import type { StateLock } from './store/state-lock.js';
import { TransactionSamplesRepo } from './store/transaction-samples-repo.js';
import { TransactionsRepo } from './store/transactions-repo.js';
import { FIRMWARE_VERSION } from './version.js';

/** Why the runtime ended; the daemon maps it to an exit code. */
export type StopReason = { kind: 'stop' } | { kind: 'reset'; type: ResetType };

export interface RuntimeOptions {
  config: RuntimeConfig;
  log: Logger;
  clock?: Clock;
  /** A ready board (tests); otherwise built from config.board. */
  board?: Board;
  /** Told when a graceful stop begins, whatever asked for it (signal or Reset). */
  onStopping?: (reason: StopReason) => void;
  /** Fault injection for tests only (a disk that fills): the database connection the repositories use. */
  wrapDatabase?: StoreOptions['wrapDatabase'];
  /** Fault injection for tests only (memory running short): what the memory watch reads. */
  memory?: MemoryReader;
}

type BuiltOptions = RuntimeOptions & { board: Board; stateLock: StateLock; mqttBridge?: typeof MqttBridge };

/**
 * How long a graceful stop waits, in all, for the central system: for queued StopTransactions to
 * leave and for the answer to the CALL in flight. One budget for every wait, so a silent central
 * system cannot add them up; closing the socket takes at most Link's close timeout on top.
 */
export const STOP_BUDGET_MS = 2000;

/** How often history past its retention is pruned (also once at every start). */
const PRUNE_EVERY_MS = 24 * 3600 * 1000;

/**
 * The feature profiles this build installs, each whole: SupportedFeatureProfiles reports exactly
 * these, and the configuration keys of their capabilities exist. A later profile's TriggerMessage
 * target replaces an earlier one's for the same message.
 */
const PROFILES: readonly Profile[] = [
  coreProfile,
  firmwareManagementProfile,
  localAuthListProfile,
  remoteTriggerProfile,
  reservationProfile,
  smartChargingProfile,
];

/**
 * The running charge point: store, configuration, board, station and the OCPP link, wired once.
 * `done` resolves when it has stopped, with the reason.
 */
export class Runtime {
  readonly store: Store;
  readonly config: ConfigurationRegistry;
  readonly board: Board;
  readonly station: Station;
  readonly rpc: RpcEndpoint;
  readonly link: Link;
  readonly registration: Registration;
  readonly vendors = new VendorExtensions();
  readonly localList: LocalAuthList;
  readonly authCache: AuthCache;
  readonly authorizer: Authorizer;
  readonly outbox: Outbox;
  readonly reservations: Reservations;
  readonly chargingProfiles: ChargingProfiles;
  readonly transactions: TransactionEngine;
  /** The owner of each connector's offered current (pilot, contactor, DC setpoint). */
  readonly chargingLimit: ChargingLimit;
  readonly trace: FrameTrace;
  /** The root certificates: TLS trust and InstallCertificate / DeleteCertificate. */
  readonly certificates: CertificateStore;
  /** The charge point's TLS client certificate and key (security profile 3), renewed over OCPP. */
  readonly chargePointCertificate: ChargePointCertificate;
  private readonly securityExtension: InstalledSecurityExtension;
  /** Security events (white paper A04): the security log and SecurityEventNotification. */
  readonly securityEvents: SecurityEvents;
  /** The daemon's heap and the system's RAM, reported as MemoryExhaustion when they run short. */
  private readonly memoryWatch: MemoryWatch;
  /** The firmware pipeline (UpdateFirmware, SignedUpdateFirmware, cpctl firmware). */
  readonly firmware: FirmwareUpdates;
  /** The one wall-clock time: OCPP timestamps and expiry decisions. */
  readonly time: OcppTime;
  /** Diagnostics and log bundles: GetDiagnostics, GetLog and cpctl diagnostics. */
  readonly diagnostics: DiagnosticsFiles;
  private readonly profiles: InstalledProfile[] = [];
  private readonly transactionsRepo: TransactionsRepo;
  /** The last id decided on at each connector (`cpctl status`). */
  private readonly authorizations: LastAuthorizations;
  /** Monotonic ms the runtime was built at: its uptime counts from here. */
  private readonly startedAtMonotonic: number;
  readonly done: Promise<StopReason>;
  private readonly heartbeat: Heartbeat;
  private readonly statusReporter: StatusReporter;
  private readonly mqtt: MqttBridge | undefined;
  private resolveDone!: (reason: StopReason) => void;
  private control: ControlServer | undefined;
  private controlApi: RuntimeControl | undefined;
  private stopping: Promise<void> | undefined;
  private pruneTimer: Timer | undefined;
  private readonly clock: Clock;

  private constructor(private readonly opts: BuiltOptions) {
    const { config: cfg, log } = opts;
    const clock = opts.clock ?? systemClock;
    this.clock = clock;
    this.startedAtMonotonic = clock.monotonic();
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
    this.store = openStore({
      dir: cfg.stateDir,
      lock: opts.stateLock,
      log,
      clock,
      ...(opts.wrapDatabase ? { wrapDatabase: opts.wrapDatabase } : {}),
    });
    this.store.health.useClock(clock);
    this.time = new OcppTime(clock, !cfg.clock.ntpSynchronized, { log: log.child({ module: 'clock' }) });
    this.board = opts.board;
    const initial = { SecurityProfile: cfg.csms.securityProfile, ...cfg.ocpp };
    const measurands = new Set(this.board.connectors.flatMap((c) => c.meter?.measurands ?? []));
    const capabilities = new Set([
      ...PROFILES.flatMap((profile) => profile.capabilities),
      ...SECURITY_EXTENSION_CAPABILITIES,
    ]);
    this.config = new ConfigurationRegistry({
      store: this.store.config,
      floors: this.store.floors,
      initial,
      forced: cfg.ocppForced,
      capabilities,
      fixed: {
        NumberOfConnectors: String(this.board.connectors.length),
        SupportedFeatureProfiles: PROFILES.map((profile) => profile.name).join(','),
        // The controller's charging-profile capacity is the board's, not the operator's to set.
        ...(capabilities.has('smartCharging') ? smartChargingKeys(this.board.smartCharging) : {}),
      },
      supportedMeasurands: measurands,
      log,
    });
    this.certificates = new CertificateStore({
      stateDir: cfg.stateDir,
      repo: new CertificatesRepo(this.store.db),
      ...(cfg.csms.caFile ? { caFile: cfg.csms.caFile } : {}),
      maxLength: () => this.config.getInt('CertificateStoreMaxLength'),
      additionalRootCertificateCheck: () => this.config.getBool('AdditionalRootCertificateCheck'),
      now: () => this.time.nowMs(),
      connectionChain: () => this.link.peerCertificates,
      raise: (type, techInfo) => this.securityEvents.raiseForCall(type, techInfo),
      log: log.child({ module: 'certificates' }),
    });
    this.station = new Station({ board: this.board, availability: this.store.availability, clock, log });
    this.rpc = new RpcEndpoint({ log, clock, callTimeoutMs: cfg.csms.callTimeoutSeconds * 1000 });
    this.trace = new FrameTrace({ store: this.store, maxFrames: cfg.trace.maxFrames, clock, log });
    this.trace.attach(this.rpc);
    this.link = new Link({
      chargePointId: cfg.chargePointId,
      credentials: () => this.credentials(),
      pingIntervalSec: () => this.config.getInt('WebSocketPingInterval'),
      backoff: {
        initialMs: cfg.csms.reconnect.initialSeconds * 1000,
        maxMs: cfg.csms.reconnect.maxSeconds * 1000,
      },
      connectTimeoutMs: cfg.csms.connectTimeoutSeconds * 1000,
      log,
      clock,
    });

    const ctx: FeatureContext = {
      rpc: this.rpc,
      config: this.config,
      station: this.station,
      time: this.time,
      clock,
      log,
      requestReset: (type) => void this.stop({ kind: 'reset', type }),
    };
    this.registration = new Registration(ctx, {
      identity: this.identity(),
      retrySeconds: cfg.csms.bootRetrySeconds,
    });
    this.transactionsRepo = new TransactionsRepo(this.store.db);
    this.localList = new LocalAuthList(new LocalListRepo(this.store.db));
    this.authCache = new AuthCache({
      repo: new AuthCacheRepo(this.store.db, this.store.health),
      time: this.time,
    });
    this.authorizer = new Authorizer({
      list: this.localList,
      cache: this.authCache,
      config: this.config,
      remote: async (idTag) => (await this.rpc.call('Authorize', { idTag })).idTagInfo,
      online: () => this.online(),
      time: this.time,
      log,
    });
    const messages = new TransactionMessages(
      () => this.outbox,
      this.config,
      (idTag, info) => this.authorizer.fromCentral(idTag, info),
      new TransactionSamplesRepo(this.store.db),
    );
    this.reservations = new Reservations({
      repo: new ReservationsRepo(this.store.db),
      connectorIds: this.station.connectorIds(),
      statusOf: (connectorId) => this.station.status(connectorId)?.status,
      connectorZeroSupported: () => this.config.getBool('ReserveConnectorZeroSupported'),
      clock,
      time: ctx.time,
      log,
    });
    this.reservations.on('changed', () => this.station.refresh());
    this.station.on('status', (snapshot) => this.reservations.onStatus(snapshot));
    this.chargingProfiles = new ChargingProfiles({
      repo: new ChargingProfilesRepo(this.store.db),
      station: this.station,
      ...(this.board.supplyMaxCurrentA === undefined
        ? {}
        : { supplyMaxCurrentA: this.board.supplyMaxCurrentA }),
      config: this.config,
      writes: this.store.health,
      log,
    });
    this.chargingLimit = new ChargingLimit({
      board: this.board,
      station: this.station,
      composites: profileComposites(this.chargingProfiles),
      localLimits: new ConnectorLimitsRepo(this.store.db, () => clock.now()),
      clock,
      time: this.time,
      log,
    });
    this.chargingProfiles.setLimits((connectorId) => this.chargingLimit.limitsOf(connectorId));
    this.chargingProfiles.on('changed', () => this.chargingLimit.evaluateSoon());
    this.transactions = new TransactionEngine({
      station: this.station,
      repo: this.transactionsRepo,
      writes: this.store.health,
      reservations: this.reservations,
      limit: this.chargingLimit,
      txProfiles: this.chargingProfiles,
      sink: messages,
      authorize: (idTag) => this.authorizer.authorize(idTag),
      reportIdTagInfo: (idTag, info) => this.authorizer.fromCentral(idTag, info),
      config: this.config,
      clock,
      time: ctx.time,
      log,
    });
    this.authorizations = new LastAuthorizations(this.transactions, this.time);
    this.outbox = new Outbox({
      repo: new OutboxRepo(this.store.db),
      rpc: this.rpc,
      config: this.config,
      clock,
      log,
    });
    deliverTransactionMessages(this.outbox, this.transactions, messages);
    // Security events and the update and upload statuses only need to arrive: their answers carry nothing.
    this.outbox.register('security', {});
    this.outbox.register('firmware', {});
    this.securityEvents = new SecurityEvents({
      repo: new SecurityLogRepo(this.store.db),
      outbox: this.outbox,
      time: this.time,
      clock,
      writes: this.store.health,
      log,
      secrets: () => authorizationKeySecrets(this.config.get('AuthorizationKey')),
      sendUnrecorded: (notification) => {
        if (!this.online()) {
          log.warn({ securityEvent: notification.type }, 'security event neither recorded nor sent: offline');
          return;
        }
        void sendQuietly(log, 'SecurityEventNotification', () =>
          this.rpc.call('SecurityEventNotification', notification),
        );
      },
    });
    this.store.health.on('changed', (now, before) => this.onStoreHealth(now, before));
    this.memoryWatch = new MemoryWatch({
      clock,
      ...(opts.memory ? { read: opts.memory } : {}),
      exhausted: (techInfo) => this.securityEvents.raise('MemoryExhaustion', techInfo),
      log: log.child({ module: 'memory' }),
    });
    messages.bind(this.transactions);
    this.chargingProfiles.bind(this.transactions);
    this.firmware = new FirmwareUpdates({
      repo: new FirmwareRepo(this.store.db),
      dir: join(cfg.stateDir, 'firmware'),
      resultFile: join(cfg.stateDir, 'firmware-result.json'),
      config: cfg.firmware,
      // src/transfer (basic-ftp and friends) loads on the first transfer: boot does not pay for it.
      download: async (options) =>
        (await import('./transfer/index.js')).download({ ...options, ...this.transferOptions() }),
      manufacturerRoots: () => this.certificates.rootsPem('ManufacturerRootCertificate'),
      charger: this.station,
      sessions: this.transactions,
      notify: firmwareStatusSender(ctx, this.outbox),
      raise: (type, techInfo) => this.securityEvents.raise(type, techInfo),
      restart: (type) => void this.stop({ kind: 'reset', type }),
      time: this.time,
      clock,
      log: log.child({ module: 'firmware' }),
    });
    this.heartbeat = new Heartbeat(ctx);
    this.statusReporter = new StatusReporter(ctx);
    this.diagnostics = new DiagnosticsFiles({
      sources: {
        chargePointId: cfg.chargePointId,
        stateDir: cfg.stateDir,
        provisioning: cfg,
        control: {
          status: () => this.reports().status(),
          queue: () => this.reports().queue(),
          transactions: (recent) => this.reports().transactions(recent),
          configGet: (keys) => this.reports().configGet(keys),
        },
        trace: this.trace,
        securityLog: this.securityEvents,
        redactor: () => new Redactor(cfg.chargePointId, [this.config.get('AuthorizationKey')]),
        now: () => this.time.nowMs(),
      },
      upload: async (options) =>
        (await import('./transfer/index.js')).upload({ ...options, ...this.transferOptions() }),
      log,
    });
    const triggers = new Map<MessageTrigger, TriggerTarget>();
    const services = {
      registration: this.registration,
      heartbeat: this.heartbeat,
      statusReporter: this.statusReporter,
      vendors: this.vendors,
      engine: this.transactions,
      reservations: this.reservations,
      chargingProfiles: this.chargingProfiles,
      localList: this.localList,
      authCache: this.authCache,
      authorizer: this.authorizer,
      firmware: this.firmware,
      marks: this.store.floors,
      triggers,
      diagnostics: this.diagnostics,
      outbox: this.outbox,
    };
    for (const profile of PROFILES) {
      const installed = profile.install(ctx, services);
      for (const message of MESSAGE_TRIGGERS) {
        const send = installed.triggers?.[message];
        if (send) triggers.set(message, send);
      }
      this.profiles.push(installed);
    }
    this.chargePointCertificate = new ChargePointCertificate({
      dir: join(cfg.stateDir, 'certs'),
      ...(cfg.csms.certFile && cfg.csms.keyFile
        ? { provisioned: { certFile: cfg.csms.certFile, keyFile: cfg.csms.keyFile } }
        : {}),
      keyType: cfg.security.keyType,
      time: this.time,
      log,
    });
    this.securityExtension = installSecurityExtension(ctx, {
      certificates: this.certificates,
      chargePointCertificate: this.chargePointCertificate,
      serialNumber: cfg.identity.chargeBoxSerialNumber ?? cfg.identity.chargePointSerialNumber,
      online: () => this.online(),
      link: this.link,
      triggers,
      securityEvents: this.securityEvents,
      diagnostics: this.diagnostics,
      outbox: this.outbox,
      firmware: this.firmware,
    });
    this.profiles.push(this.securityExtension);
    new SecurityProfileSwitch({
      config: this.config,
      link: this.link,
      rpc: this.rpc,
      log,
      urlFor: (profile) => csmsUrlFor(cfg.csms, profile),
      centralSystemRootInstalled: () => this.certificates.hasValidRoot('CentralSystemRootCertificate'),
      chargePointCertificateProblem: () => this.chargePointCertificate.certificateProblem(),
    });
    this.config.onChange('WebSocketPingInterval', () => this.link.restartPing());
    this.wireLink();
    this.wireReaders();
    this.wireSecurityEvents();
    this.mqtt =
      cfg.mqtt && opts.mqttBridge
        ? new opts.mqttBridge({
            url: cfg.mqtt.url,
            prefix: cfg.mqtt.prefix,
            chargePointId: cfg.chargePointId,
            station: this.station,
            transactions: this.transactions,
            limit: this.chargingLimit,
            link: this.link,
            registration: this.registration,
            clock,
            log,
          })
        : undefined;
  }

  static async start(opts: RuntimeOptions): Promise<Runtime> {
    // The state directory's lock before the board: a second daemon on the same charger must be
    // turned away before it drives (or releases) the outputs the running one controls.
    const stateLock = lockStateDirectory(opts.config.stateDir);
    let board: Board;
    try {
      board =
        opts.board ??
        (await loadBoard(opts.config.board, {
          log: opts.log,
          clock: opts.clock ?? systemClock,
          stateDir: opts.config.stateDir,
        }));
    } catch (error) {
      stateLock.release();
      throw error;
    }
    // Outputs safe before anything else, the store included: a killed run may have left a
    // contactor closed, and a start that fails below must leave it open.
    let runtime: Runtime;
    try {
      board.safe();
      // The MQTT client library is a large part of the start-up time and memory: loaded only when used.
      const mqttBridge = opts.config.mqtt ? (await import('./mqtt/bridge.js')).MqttBridge : undefined;
      runtime = new Runtime({ ...opts, board, stateLock, ...(mqttBridge ? { mqttBridge } : {}) });
      await runtime.board.start();
    } catch (error) {
      await board.stop();
      stateLock.release();
      throw error;
    }
    // Transactions the last run left open are stopped (PowerLoss) and queued before we connect.
    runtime.transactions.start();
    await runtime.chargingLimit.start();
    runtime.pruneHistory();
    for (const profile of runtime.profiles) profile.start?.();
    await runtime.startControlSocket();
    runtime.mqtt?.start();
    runtime.time.start();
    runtime.securityEvents.raise('StartupOfTheDevice', `firmware ${FIRMWARE_VERSION}`);
    runtime.memoryWatch.start();
    // An enclosure opened while the charger was off is found at start.
    if (runtime.tamperInputs().some((input) => input.isActive())) runtime.tamperDetected();
    runtime.link.start();
    return runtime;
  }

  /**
   * The technician's socket. Charging matters more than the CLI: a socket that cannot be created is
   * logged and the daemon runs on; a second daemon on the same socket is refused outright.
   */
  private async startControlSocket(): Promise<void> {
    const { config: cfg, log } = this.opts;
    const api = new RuntimeControl({
      chargePointId: cfg.chargePointId,
      board: this.board,
      station: this.station,
      config: this.config,
      link: this.link,
      registration: this.registration,
      authorizations: this.authorizations,
      startedAtMonotonic: this.startedAtMonotonic,
      changes: mergeFeeds([
        changesOf(this.station, ['status', 'availability']),
        changesOf(this.transactions, ['changed', 'transaction', 'authorized']),
        changesOf(this.link, ['open', 'close', 'connectFailed']),
        changesOf(this.registration, ['status']),
        changesOf(this.store.health, ['changed']),
        changesOf(this.chargingLimit, ['changed']),
        // A delivered StartTransaction brings the transactionId, a MeterValues the session's energy.
        changesOf(this.outbox, ['delivered', 'deadLettered']),
        changesOf(this.time, ['adjusted']),
      ]),
      log,
      transactionLog: this.transactionsRepo,
      outbox: this.outbox,
      localList: this.localList,
      securityEvents: this.securityEvents,
      authCache: this.authCache,
      transactions: this.transactions,
      limit: this.chargingLimit,
      chargingProfiles: this.chargingProfiles,
      time: this.time,
      requestReset: (type) => void this.stop({ kind: 'reset', type }),
      trace: this.trace,
      clock: this.clock,
      store: this.store,
      diagnosticsBundle: () => this.diagnostics.build('diagnostics', {}),
      firmware: this.firmware,
      installHook: cfg.firmware.install !== undefined,
    });
    this.controlApi = api;
    const server = new ControlServer({ path: cfg.cli.socket, api, log, version: FIRMWARE_VERSION });
    try {
      await server.start();
      this.control = server;
    } catch (error) {
      // Two daemons on one charger would fight over its relays and its store.
      if (error instanceof DaemonAlreadyRunningError) throw error;
      log.error(
        { socket: cfg.cli.socket, err: errorMessage(error) },
        'control socket unavailable; cpctl will not work',
      );
    }
  }

  /** The control API's reports (built at start, with the control socket): what a bundle shows. */
  private reports(): RuntimeControl {
    if (!this.controlApi) throw new Error('the runtime has not started');
    return this.controlApi;
  }

  /** Graceful stop: close the socket cleanly, then the store. Idempotent. */
  stop(reason: StopReason = { kind: 'stop' }): Promise<void> {
    this.stopping ??= (async () => {
      this.opts.log.info({ reason }, 'stopping');
      this.opts.onStopping?.(reason);
      // Queued before the stop begins, so it may still leave with the StopTransactions.
      if (reason.kind === 'reset') this.securityEvents.raise('ResetOrReboot', `${reason.type} reset`);
      const deadline = performance.now() + STOP_BUDGET_MS;
      const left = () => Math.max(0, deadline - performance.now());
      // A contactor closed for a test opens now, and no test starts while the charger stops.
      const testsEnded = this.controlApi?.close();
      await this.transactions.stopAll(transactionStopReason(reason));
      // Give the queued StopTransactions a moment to leave; whatever stays is sent after the restart.
      await this.outboxDrained(left());
      await this.outbox.stop(left());
      for (const profile of this.profiles) profile.stop?.();
      this.transactions.close();
      this.pruneTimer?.cancel();
      this.reservations.close();
      // Send nothing new, but let the message on the wire get its answer (bounded).
      this.rpc.setGate('closed');
      await this.rpc.whenIdle(left());
      this.heartbeat.stop();
      this.registration.stop();
      this.time.stop();
      this.memoryWatch.stop();
      this.statusReporter.disable();
      await this.link.stop();
      await this.mqtt?.stop();
      // Through the contactors' owner while it still acts, and so that cpctl gets its report.
      await settledWithin(testsEnded, left());
      await this.control?.stop();
      this.chargingLimit.close();
      this.rpc.detach();
      this.station.close();
      await this.board.stop();
      this.securityEvents.close();
      this.trace.close();
      this.store.close();
      this.resolveDone(reason);
    })();
    return this.stopping;
  }

  /**
   * A full or failing disk is a MemoryExhaustion when it is detected: the event cannot be recorded
   * then, so it is sent at once if online (`sendUnrecorded`). A microtask later, so that its write
   * is outside the write that failed. When the store writes again, what was held in memory is
   * written and the episode is reported again, recorded and queued this time.
   */
  private onStoreHealth(now: StoreHealthSnapshot, before: StoreHealthSnapshot): void {
    if (now.state !== 'ok') {
      if (before.state === 'ok') {
        const techInfo = `state store ${now.state}: ${now.reason ?? 'unknown'}`;
        queueMicrotask(() => this.securityEvents.raise('MemoryExhaustion', techInfo));
      }
      return;
    }
    this.transactions.persistPending();
    const since = before.since === undefined ? '' : ` since ${new Date(before.since).toISOString()}`;
    this.securityEvents.raise(
      'MemoryExhaustion',
      `state store ${before.state}${since}: ${before.reason ?? 'unknown'}`,
    );
  }

  /** Finished sessions past their retention go; then again a day later (dead letters: the outbox). */
  private pruneHistory(): void {
    const { clock } = this;
    this.store.health.attempt('pruning', () => {
      const removed = new RetentionRepo(this.store.db).prune(clock.now());
      if (removed.transactions > 0) this.opts.log.info(removed, 'old transactions pruned');
    });
    this.pruneTimer = clock.setTimeout(() => this.pruneHistory(), PRUNE_EVERY_MS);
  }

  /** Registered and connected: a CALL can leave now. */
  private online(): boolean {
    return this.link.isOpen && this.registration.status === 'Accepted';
  }

  private identity() {
    const { identity } = this.opts.config;
    const meter = this.board.connectors[0]?.meter;
    return {
      chargePointVendor: identity.vendor,
      chargePointModel: identity.model,
      firmwareVersion: FIRMWARE_VERSION,
      ...(identity.chargePointSerialNumber
        ? { chargePointSerialNumber: identity.chargePointSerialNumber }
        : {}),
      ...(identity.chargeBoxSerialNumber ? { chargeBoxSerialNumber: identity.chargeBoxSerialNumber } : {}),
      ...(identity.iccid ? { iccid: identity.iccid } : {}),
      ...(identity.imsi ? { imsi: identity.imsi } : {}),
      ...(meter?.type ? { meterType: meter.type.slice(0, 25) } : {}),
      ...(meter?.serialNumber ? { meterSerialNumber: meter.serialNumber.slice(0, 25) } : {}),
    };
  }

  /**
   * What every download and upload shares: the clock, the log, and the central-system roots an
   * HTTPS / FTPS file server may chain to besides the system's CAs (an operator's file server
   * often has the operator's own CA, as its central system does).
   */
  private transferOptions(): { ca?: string[]; clock: Clock; log: Logger } {
    const roots = this.certificates.rootsPem('CentralSystemRootCertificate');
    return {
      ...(roots.length > 0 ? { ca: roots } : {}),
      clock: this.clock,
      log: this.opts.log.child({ module: 'transfer' }),
    };
  }

  private credentials(): LinkCredentials {
    const { csms } = this.opts.config;
    const profile = this.config.getInt('SecurityProfile') as SecurityProfile;
    const key = this.config.get('AuthorizationKey');
    const roots = profile >= 2 ? this.certificates.rootsPem('CentralSystemRootCertificate') : [];
    const ca = roots.length > 0 ? roots.join('\n') : undefined;
    return {
      url: csmsUrlFor(csms, profile),
      securityProfile: profile,
      ...(key ? { authorizationKey: key } : {}),
      ...(ca
        ? {
            tls: {
              ca,
              ...(profile === 3 ? this.chargePointCertificate.credentials() : {}),
            },
          }
        : {}),
    };
  }

  private wireReaders(): void {
    for (const { reader, connectorIds } of this.board.readers) {
      reader.on('tag', (idTag) => {
        this.opts.log.info({ reader: reader.name, idTag, connectorIds }, 'card presented');
        void this.transactions.presentIdTag(idTag, connectorIds).catch((error: Error) => {
          this.opts.log.error({ idTag, err: error.message }, 'card could not be handled');
        });
      });
    }
  }

  /**
   * The security events detected elsewhere, raised where they are detected: the transport (TLS,
   * authentication), the RPC (invalid and replayed frames), the time, and the board's tamper inputs.
   */
  private wireSecurityEvents(): void {
    const events = this.securityEvents;
    const fromDetector = ({ type, techInfo }: { type: string; techInfo: string }) => {
      if (isSecurityEventType(type)) events.raise(type, techInfo);
      else this.opts.log.error({ securityEvent: type }, 'unknown security event type');
    };
    this.link.on('securityEvent', fromDetector);
    this.rpc.on('securityEvent', fromDetector);
    this.time.on('securityEvent', fromDetector);
    // A step of the system clock is the time's own event; the central system setting our time is this one.
    this.time.on('adjusted', ({ byMs, source }) => {
      if (source === 'centralSystem')
        events.raise('SettingSystemTime', `time set by the central system, ${byMs} ms`);
    });
    for (const input of this.tamperInputs()) {
      input.on('change', (active) => {
        if (active) this.tamperDetected();
      });
    }
  }

  private tamperInputs(): FaultInput[] {
    return this.board.faultInputs.filter((input) => input.kind === 'tamper');
  }

  private tamperDetected(): void {
    this.securityEvents.raise('TamperDetectionActivated', 'tamper input active');
  }

  private outboxDrained(maxWaitMs: number): Promise<void> {
    if (this.outbox.size() === 0 || !this.outbox.resumed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, maxWaitMs);
      const outbox = this.outbox;
      function done(): void {
        clearTimeout(timer);
        outbox.off('idle', done);
        resolve();
      }
      outbox.on('idle', done);
    });
  }

  private wireLink(): void {
    this.link.on('open', () => {
      this.rpc.attach(this.link);
      this.registration.onLinkOpen();
      this.certificates.connected(this.link.peerCertificates);
    });
    this.link.on('message', (text) => this.rpc.receive(text));
    this.link.on('close', () => {
      this.outbox.pause();
      this.statusReporter.disable();
      this.registration.onLinkClose();
      this.rpc.detach();
    });
    this.registration.on(
      'accepted',
      firmwareConfirmation(this.opts.config.firmware.confirm, FIRMWARE_VERSION, this.opts.log),
    );
    this.registration.on('accepted', () => {
      this.statusReporter.enable();
      this.heartbeat.start();
      this.outbox.resume();
      this.transactions.warmUp();
      // One after the other, each in a later turn: a frame arriving meanwhile is not held up long.
      void this.rpc.warmUp().then(() => this.outbox.warmUp());
      this.securityExtension.onAccepted();
    });
    // Pending or Rejected after Accepted: the gate holds our CALLs, so the outbox waits too.
    this.registration.on('status', (status) => {
      if (status !== 'Accepted') this.outbox.pause();
    });
  }
}

/** A stop of the daemon ends running transactions with the reason the central system should see. */
function transactionStopReason(reason: StopReason): TransactionStopReason {
  if (reason.kind === 'reset') return reason.type === 'Hard' ? 'HardReset' : 'SoftReset';
  return 'Reboot';
}

/** Resolves once `work` has settled, or after `maxWaitMs` whatever it does. */
function settledWithin(work: Promise<unknown> | undefined, maxWaitMs: number): Promise<void> {
  if (!work) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, maxWaitMs);
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    work.then(done, done);
  });
}
