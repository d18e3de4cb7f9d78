/**
 * Hardware abstraction: what the station needs from a charger's devices, free of any OCPP type.
 * Drivers (GPIO, serial, Modbus) and the simulated board implement these.
 */
import type { EventEmitter } from 'node:events';

/** A device fault the station maps to an OCPP error code. */
export type HardwareFault =
  | 'ConnectorLockFailure'
  | 'EVCommunicationError'
  | 'GroundFailure'
  | 'HighTemperature'
  | 'InternalError'
  | 'OverCurrentFailure'
  | 'OverVoltage'
  | 'PowerMeterFailure'
  | 'PowerSwitchFailure'
  | 'ReaderFailure'
  | 'UnderVoltage'
  | 'OtherError';

export interface MeterReading {
  /** Energy import register, Wh. */
  energyImportWh: number;
  /** Active power import, W. */
  powerW?: number;
}

export interface Meter {
  read(): Promise<MeterReading>;
  /** Measurand names (OCPP spelling) this meter can supply; used to validate MeterValues keys. */
  readonly measurands: readonly string[];
  readonly type?: string;
  readonly serialNumber?: string;
}

export interface ConnectorLock {
  lock(): Promise<boolean>;
  unlock(): Promise<boolean>;
}

export interface ConnectorHardwareEvents {
  /** Cable plugged at the EV side (true) or removed (false). */
  plug: [plugged: boolean];
  /** A fault appeared (fault set) or cleared (undefined). */
  fault: [fault: HardwareFault | undefined, info?: string];
}

/** One outlet of the charger, with the devices that serve it. */
export interface ConnectorHardware extends EventEmitter<ConnectorHardwareEvents> {
  readonly id: number;
  /** A tethered cable cannot be unlocked (UnlockConnector answers NotSupported). */
  readonly fixedCable: boolean;
  readonly lock?: ConnectorLock;
  readonly meter?: Meter;
  plugged(): boolean;
  fault(): { fault: HardwareFault; info?: string } | undefined;
}

export interface Board {
  readonly name: string;
  readonly connectors: readonly ConnectorHardware[];
  start(): Promise<void>;
  stop(): Promise<void>;
}
