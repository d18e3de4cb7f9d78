import { readFileSync } from 'node:fs';
import type { Board } from '../hal/types.js';
import { RuntimeControl } from './cli/control-api.js';
import { ControlServer } from './cli/server.js';
import { type Clock, OcppTime, systemClock } from './clock.js';
import { loadBoard } from './config/board-file.js';
import { csmsUrlFor, type RuntimeConfig } from './config/file.js';
import { ConfigurationRegistry } from './config/registry.js';
import type { FeatureContext, ResetType } from './features/context.js';
import { registerChangeAvailability } from './features/core/change-availability.js';
import { registerChangeConfiguration } from './features/core/change-configuration.js';
import { registerClearCache } from './features/core/clear-cache.js';
import { registerDataTransfer, VendorExtensions } from './features/core/data-transfer.js';
import { registerGetConfiguration } from './features/core/get-configuration.js';
import { Heartbeat } from './features/core/heartbeat.js';
import { Registration } from './features/core/registration.js';
import { registerReset } from './features/core/reset.js';
import { StatusReporter } from './features/core/status-notification.js';
import { registerTriggerMessage } from './features/remote-trigger/trigger-message.js';
import { SecurityProfileSwitch } from './features/security/security-profile.js';
import type { Logger } from './log.js';
import type { FeatureProfile } from './ocpp/actions.js';
import { Link, type LinkCredentials, type SecurityProfile } from './ocpp/link.js';
import { RpcEndpoint } from './ocpp/rpc.js';
import { Station } from './station/station.js';
import { openStore, type Store } from './store/index.js';
import { FIRMWARE_VERSION } from './version.js';

/** Why the runtime ended; the daemon maps it to an exit code. */
export type StopReason = { kind: 'stop' } | { kind: 'reset'; type: ResetType };

export interface RuntimeOptions {
  config: RuntimeConfig;
  log: Logger;
  clock?: Clock;
  /** A ready board (tests); otherwise built from config.board. */
  board?: Board;
}

type BuiltOptions = RuntimeOptions & { board: Board };

/** How long a graceful stop waits for the answer to the CALL in flight. */
const STOP_DRAIN_MS = 2000;

/** Feature profiles whose every message this build handles; SupportedFeatureProfiles reports exactly these. */
const IMPLEMENTED_PROFILES: readonly FeatureProfile[] = ['Core', 'RemoteTrigger'];

function readPem(path: string | undefined): string | undefined {
  return path ? readFileSync(path, 'utf8') : undefined;
}

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
  readonly done: Promise<StopReason>;
  private readonly heartbeat: Heartbeat;
  private readonly statusReporter: StatusReporter;
  private resolveDone!: (reason: StopReason) => void;
  private control: ControlServer | undefined;
  private stopping: Promise<void> | undefined;

  private constructor(private readonly opts: BuiltOptions) {
    const { config: cfg, log } = opts;
    const clock = opts.clock ?? systemClock;
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
    this.store = openStore({ dir: cfg.stateDir, log });
    this.board = opts.board;
    const initial = { SecurityProfile: cfg.csms.securityProfile, ...cfg.ocpp };
    const measurands = new Set(this.board.connectors.flatMap((c) => c.meter?.measurands ?? []));
    this.config = new ConfigurationRegistry({
      store: this.store.config,
      initial,
      forced: cfg.ocppForced,
      capabilities: new Set(),
      fixed: {
        NumberOfConnectors: String(this.board.connectors.length),
        SupportedFeatureProfiles: IMPLEMENTED_PROFILES.join(','),
      },
      supportedMeasurands: measurands,
      log,
    });
    this.station = new Station({ board: this.board, availability: this.store.availability, clock, log });
    this.rpc = new RpcEndpoint({ log, clock, callTimeoutMs: cfg.csms.callTimeoutSeconds * 1000 });
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
      time: new OcppTime(clock, !cfg.clock.ntpSynchronized),
      clock,
      log,
      requestReset: (type) => void this.stop({ kind: 'reset', type }),
    };
    this.registration = new Registration(ctx, {
      identity: this.identity(),
      retrySeconds: cfg.csms.bootRetrySeconds,
    });
    this.heartbeat = new Heartbeat(ctx);
    this.statusReporter = new StatusReporter(ctx);
    registerGetConfiguration(ctx);
    registerChangeConfiguration(ctx);
    registerDataTransfer(ctx, this.vendors);
    registerChangeAvailability(ctx);
    registerReset(ctx);
    registerClearCache(ctx, undefined);
    registerTriggerMessage(ctx, {
      registration: this.registration,
      heartbeat: this.heartbeat,
      status: this.statusReporter,
    });
    new SecurityProfileSwitch({
      config: this.config,
      link: this.link,
      log,
      urlFor: (profile) => csmsUrlFor(cfg.csms, profile),
      ...(cfg.csms.caFile ? { caFile: cfg.csms.caFile } : {}),
      ...(cfg.csms.certFile ? { certFile: cfg.csms.certFile } : {}),
      ...(cfg.csms.keyFile ? { keyFile: cfg.csms.keyFile } : {}),
    });
    this.config.onChange('WebSocketPingInterval', () => this.link.restartPing());
    this.wireLink();
    this.wireReaders();
  }

  static async start(opts: RuntimeOptions): Promise<Runtime> {
    const board =
      opts.board ?? (await loadBoard(opts.config.board, { log: opts.log, clock: opts.clock ?? systemClock }));
    const runtime = new Runtime({ ...opts, board });
    await runtime.board.start();
    await runtime.startControlSocket();
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
      log,
    });
    const server = new ControlServer({ path: cfg.cli.socket, api, log, version: FIRMWARE_VERSION });
    try {
      await server.start();
      this.control = server;
      log.info({ socket: cfg.cli.socket }, 'control socket listening');
    } catch (error) {
      // Two daemons on one charger would fight over its relays and its store.
      if ((error as Error).message.startsWith('another chargepointd')) throw error;
      log.error(
        { socket: cfg.cli.socket, err: (error as Error).message },
        'control socket unavailable; cpctl will not work',
      );
    }
  }

  /** Graceful stop: close the socket cleanly, then the store. Idempotent. */
  stop(reason: StopReason = { kind: 'stop' }): Promise<void> {
    this.stopping ??= (async () => {
      this.opts.log.info({ reason }, 'stopping');
      // Send nothing new, but let the message on the wire get its answer (bounded).
      this.rpc.setGate('closed');
      await this.rpc.whenIdle(STOP_DRAIN_MS);
      this.heartbeat.stop();
      this.registration.stop();
      this.statusReporter.disable();
      await this.link.stop();
      await this.control?.stop();
      this.rpc.detach();
      this.station.close();
      await this.board.stop();
      this.store.close();
      this.resolveDone(reason);
    })();
    return this.stopping;
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

  private credentials(): LinkCredentials {
    const { csms } = this.opts.config;
    const profile = this.config.getInt('SecurityProfile') as SecurityProfile;
    const key = this.config.get('AuthorizationKey');
    const ca = profile >= 2 ? readPem(csms.caFile) : undefined;
    return {
      url: csmsUrlFor(csms, profile),
      securityProfile: profile,
      ...(key ? { authorizationKey: key } : {}),
      ...(ca
        ? {
            tls: {
              ca,
              ...(profile === 3 ? { cert: readPem(csms.certFile), key: readPem(csms.keyFile) } : {}),
            },
          }
        : {}),
    };
  }

  /** Cards only show in the log for now; authorization and sessions consume them next. */
  private wireReaders(): void {
    for (const { reader, connectorIds } of this.board.readers) {
      reader.on('tag', (idTag) =>
        this.opts.log.info({ reader: reader.name, idTag, connectorIds }, 'card presented'),
      );
    }
  }

  private wireLink(): void {
    this.link.on('open', () => {
      this.rpc.attach({ send: (text) => this.link.send(text) });
      this.registration.onLinkOpen();
    });
    this.link.on('message', (text) => this.rpc.receive(text));
    this.link.on('close', () => {
      this.statusReporter.disable();
      this.registration.onLinkClose();
      this.rpc.detach();
    });
    this.registration.on('accepted', () => {
      this.statusReporter.enable();
      this.heartbeat.start();
    });
  }
}
