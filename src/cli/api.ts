/**
 * What the control socket offers: the daemon implements ControlApi, the socket server exposes it,
 * and cpctl calls it. Plain data only, so it travels as JSON.
 */
import type { DeviceHealth, MeterReading, PilotState } from '../../hal/types.js';

export interface ConnectorReport {
  id: number;
  /** OCPP ChargePointStatus and error code as last derived by the station. */
  status: string;
  errorCode: string;
  info?: string;
  availability: 'Operative' | 'Inoperative';
  plugged: boolean;
  pilot: PilotState;
  /** Current offered to the EV, A. */
  currentLimitA: number;
  relay: { closed: boolean; feedback?: boolean };
  /** Latest meter reading, or why there is none. */
  meter?: MeterReading | { error: string };
  /** Every unhealthy device of this connector. */
  faults: Array<{ device: string; fault: string; info?: string }>;
}

export interface StatusReport {
  version: string;
  chargePointId: string;
  board: string;
  link: { state: string; securityProfile: number };
  /** BootNotification state: Unregistered, Pending, Rejected or Accepted. */
  registration: string;
  connectors: ConnectorReport[];
  readers: Array<{
    name: string;
    connectorIds: number[];
    health: DeviceHealth;
    lastRead?: { idTag: string; at: number };
  }>;
  faultInputs: Array<{ kind: string; active: boolean }>;
}

export interface ConfigEntry {
  key: string;
  readonly: boolean;
  value?: string;
}

/** The simulated board's controls (contract 4 in DESIGN.md); absent on a real board. */
export interface SimControls {
  plug(connectorId: number): void;
  unplug(connectorId: number): void;
  ev(connectorId: number, mode: 'charge' | 'pause'): void;
  swipe(idTag: string, reader?: number): void;
  fault(connectorId: number, errorCode: string): void;
  clear(connectorId: number): void;
  lockFail(connectorId: number, failing: boolean): void;
  meter(connectorId: number, powerW: number): void;
}

export interface ControlApi {
  status(): Promise<StatusReport>;
  /** All keys when `keys` is empty. Unknown keys are listed in `unknownKey`. */
  configGet(keys: string[]): { configurationKey: ConfigEntry[]; unknownKey: string[] };
  /** A local change, validated exactly as ChangeConfiguration and logged as a technician change. */
  configSet(key: string, value: string): 'Accepted' | 'Rejected' | 'RebootRequired' | 'NotSupported';
  /** Read a connector's meter now. */
  halMeterRead(connectorId: number): Promise<MeterReading>;
  /** Last card read by each reader. */
  halLastRfid(): Array<{ reader: string; idTag?: string; at?: number }>;
  /** Toggle a relay for a test; refused unless the connector is idle (Available or Unavailable, no transaction). */
  halRelay(connectorId: number, closed: boolean): Promise<void>;
  /** Undefined unless the board is the simulated one. */
  readonly sim: SimControls | undefined;
}

/** A refusal with a message for the technician (bad connector, not idle, not a sim board...). */
export class ControlError extends Error {}
