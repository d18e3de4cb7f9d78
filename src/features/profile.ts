import type { SettingFloorStore } from '../config/registry.js';
import type { DiagnosticsFiles } from '../diagnostics/uploads.js';
import type { FirmwareUpdates } from '../firmware/firmware-updates.js';
import type { FeatureProfile } from '../ocpp/actions.js';
import type { TriggerMessageRequest } from '../ocpp/generated/messages.js';
import type { Outbox } from '../ocpp/outbox.js';
import type { Authorizer } from '../station/auth/authorizer.js';
import type { AuthCache } from '../station/auth/cache.js';
import type { LocalAuthList } from '../station/auth/local-list.js';
import type { ChargingProfiles } from '../station/charging-profiles.js';
import type { Reservations } from '../station/reservations.js';
import type { TransactionEngine } from '../station/transactions.js';
import type { FeatureContext } from './context.js';
import type { VendorExtensions } from './core/data-transfer.js';
import type { Heartbeat } from './core/heartbeat.js';
import type { Registration } from './core/registration.js';
import type { StatusReporter } from './core/status-notification.js';

export type MessageTrigger = TriggerMessageRequest['requestedMessage'];

/** Every message TriggerMessage can ask for (the schema's enum). */
export const MESSAGE_TRIGGERS = [
  'BootNotification',
  'DiagnosticsStatusNotification',
  'FirmwareStatusNotification',
  'Heartbeat',
  'MeterValues',
  'StatusNotification',
] as const satisfies readonly MessageTrigger[];

/**
 * Sends the message a TriggerMessage asked for (connectorId as requested, already checked). It is
 * sent as triggered, so it also leaves while registration is Pending (spec 4.2.1).
 */
export type TriggerTarget = (connectorId: number | undefined) => Promise<void>;

/** The charger's services a profile may build on; the composition root creates each once. */
export interface ChargePointServices {
  registration: Registration;
  heartbeat: Heartbeat;
  statusReporter: StatusReporter;
  vendors: VendorExtensions;
  engine: TransactionEngine;
  reservations: Reservations;
  chargingProfiles: ChargingProfiles;
  localList: LocalAuthList;
  authCache: AuthCache;
  authorizer: Authorizer;
  /** The firmware pipeline: UpdateFirmware, SignedUpdateFirmware and cpctl share it. */
  firmware: FirmwareUpdates;
  /** Values that only rise and outlive the database (the store's setting floors). */
  marks: SettingFloorStore;
  /** The TriggerMessage targets of every installed profile, filled in as they install. */
  triggers: ReadonlyMap<MessageTrigger, TriggerTarget>;
  /** Diagnostics and log bundles, built and uploaded (GetDiagnostics, GetLog, cpctl diagnostics). */
  diagnostics: DiagnosticsFiles;
  /** The durable queue, for what must reach the central system across outages and restarts. */
  outbox: Pick<Outbox, 'enqueue'>;
}

/** What an installed profile hands back to the runtime. */
export interface InstalledProfile {
  /** The messages of this profile a TriggerMessage may ask for. */
  triggers?: Partial<Record<MessageTrigger, TriggerTarget>>;
  /** Once the board and the store are ready, before the link connects. */
  start?(): void;
  /** At a graceful stop, before the link closes. */
  stop?(): void;
}

/**
 * One OCPP feature profile (spec 3.3) that installs itself: its handlers, the configuration keys
 * of its capabilities, its TriggerMessage targets and its start/stop. SupportedFeatureProfiles
 * lists exactly the profiles the runtime installs, so a profile is reported once all of it is here.
 */
export interface Profile {
  readonly name: FeatureProfile;
  /** Optional functions whose configuration keys exist only with this profile (keys.ts `capability`). */
  readonly capabilities: readonly string[];
  install(ctx: FeatureContext, services: ChargePointServices): InstalledProfile;
}
