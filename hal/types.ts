/**
 * Hardware abstraction: what the station needs from a charger's devices, free of any OCPP type.
 * Drivers (GPIO, serial, Modbus) and the simulated board implement these. Every device reports
 * its health, so the station can raise the right error code instead of guessing.
 */
import type { EventEmitter } from 'node:events';

/**
 * The OCPP ChargePointErrorCode values a device can cause: what a driver reports as health and
 * what a simulated fault may raise. LocalListConflict and ResetFailure are the runtime's own
 * findings and NoError is no fault, so none of them is here. The station maps each to the OCPP
 * error code of the same name.
 */
export const HARDWARE_FAULTS = [
  'ConnectorLockFailure',
  'EVCommunicationError',
  'GroundFailure',
  'HighTemperature',
  'InternalError',
  'OverCurrentFailure',
  'OverVoltage',
  'PowerMeterFailure',
  'PowerSwitchFailure',
  'ReaderFailure',
  'UnderVoltage',
  'WeakSignal',
  'OtherError',
] as const;

export type HardwareFault = (typeof HARDWARE_FAULTS)[number];

export function isHardwareFault(code: string): code is HardwareFault {
  return (HARDWARE_FAULTS as readonly string[]).includes(code);
}

/**
 * The board cannot run as its board file describes it (no GPIO interface, no permission on it, a
 * line held by another driver): a configuration error that restarting will not cure.
 */
export class BoardConfigurationError extends Error {
  override readonly name = 'BoardConfigurationError';
}

/** `message` in place of `error`'s, as its cause; a configuration error stays one (the daemon exits 78). */
export function rewrapBoardError(error: unknown, message: string): Error {
  return error instanceof BoardConfigurationError
    ? new BoardConfigurationError(message, { cause: error })
    : new Error(message, { cause: error });
}

/** Refuses a limit an output cannot take: not a number, or below 0 (`what` and `unit` name it). */
export function checkLimit(value: number, what: string, unit: string): void {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${what} ${value} ${unit} is not >= 0`);
}

export type DeviceHealth = { ok: true } | { ok: false; fault: HardwareFault; info?: string };

export const HEALTHY: DeviceHealth = { ok: true };

export interface HealthEvents {
  /** Emitted on every change of health (ok -> fault, fault -> ok, fault -> other fault). */
  health: [health: DeviceHealth];
}

/** Something the board starts and stops (ports opened, polling begun, lines exported). */
export interface Lifecycle {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface RelayEvents extends HealthEvents {
  /** The commanded state changed. */
  change: [closed: boolean];
  /**
   * The feedback contact changed, or reads again after it was unreadable (a relay without a
   * feedback input never emits it).
   */
  feedback: [closed: boolean];
}

/** Contactor relay. With a feedback input, a contact that does not follow the command is a fault. */
export interface Relay extends EventEmitter<RelayEvents>, Lifecycle {
  /**
   * The device closes the contactor itself once the EV asks (pilot C/D), and offers the pilot's
   * PWM only while permitted (an IEC 61851 charge controller): closing this relay grants that
   * permission. Its owner closes it while a session may draw energy, whatever the pilot state,
   * since an EV waiting in B sees no PWM until then and would never ask.
   */
  readonly switchesOnPilot?: true;
  /** Close (true) or open (false) the contactor. Resolves once commanded (not once confirmed). */
  set(closed: boolean): Promise<void>;
  /** The commanded state. */
  isClosed(): boolean;
  /**
   * The measured contact state, where a feedback input exists (its last reading: see
   * `feedbackReadable`).
   */
  feedback(): boolean | undefined;
  /**
   * False while the feedback input exists but cannot be read (`feedback()` is then a stale
   * reading, and the contact is not known open); true where it reads, or where there is none.
   */
  feedbackReadable(): boolean;
  /**
   * How long the contact may take to follow a command, ms, where a feedback input exists: a
   * contact that disagrees after it is welded or stuck open.
   */
  readonly feedbackSettleMs?: number;
  /** PowerSwitchFailure when feedback disagrees with the command after the settle time (welded/stuck). */
  health(): DeviceHealth;
  /**
   * Drives the contactor open now, before start(): a crashed run may have left it closed. Opens
   * nothing else; throws (naming the output) when the output cannot be driven.
   */
  safe(): void;
}

export interface RfidReaderEvents extends HealthEvents {
  /** A card was presented: its UID normalised to an OCPP id tag (upper-case hex, at most 20 chars). */
  tag: [idTag: string];
}

/** Card reader. Repeats of the same card while it stays on the reader are suppressed by the driver. */
export interface RfidReader extends EventEmitter<RfidReaderEvents>, Lifecycle {
  readonly name: string;
  /** ReaderFailure while the device is absent, unreadable, or sends garbage. */
  health(): DeviceHealth;
  lastRead(): { idTag: string; at: number } | undefined;
}

/** OCPP-named measurands a meter can supply (phase-resolved where the array has entries). */
export interface MeterReading {
  /** Epoch ms of the reading. */
  at: number;
  /** Energy.Active.Import.Register, Wh. Always present: a meter that cannot give it is failed. */
  energyImportWh: number;
  /** Energy.Active.Export.Register, Wh. */
  energyExportWh?: number;
  /** Power.Active.Import, W (total). */
  powerW?: number;
  /** Current.Import per phase L1..L3 (DC meters: one entry), A. */
  currentA?: number[];
  /** Voltage per phase L1-N..L3-N (DC meters: one entry), V. */
  voltageV?: number[];
  /** Frequency, Hz. */
  frequencyHz?: number;
  /** SoC, %, where the device knows it (DC). */
  socPercent?: number;
  /** Temperature, °C. */
  temperatureC?: number;
}

/** Energy meter. A meter that stops answering is failed (PowerMeterFailure), never read as zero. */
export interface Meter extends EventEmitter<HealthEvents>, Lifecycle {
  /** The latest reading; rejects (and reports health) when the device cannot be read. */
  read(): Promise<MeterReading>;
  /** Asks the device now, never a cached reading (the self-test); rejects as `read` does. */
  readNow(): Promise<MeterReading>;
  /** Measurand names (OCPP spelling, e.g. 'Energy.Active.Import.Register', 'Voltage') it supplies. */
  readonly measurands: readonly string[];
  readonly type?: string;
  readonly serialNumber?: string;
  health(): DeviceHealth;
}

/**
 * IEC 61851 control-pilot state: A no EV, B EV connected, C EV asks for energy, D with
 * ventilation, E short / no pilot, F EVSE fault. DC cabinets map plug-present to B and
 * EV-ready to C.
 */
export type PilotState = 'A' | 'B' | 'C' | 'D' | 'E' | 'F';

export interface Pilot extends EventEmitter<HealthEvents & { state: [state: PilotState] }>, Lifecycle {
  state(): PilotState;
  /** Offer the EV at most this current (A); 0 pauses charging. */
  setCurrentLimit(amps: number): Promise<void>;
  currentLimit(): number;
  /** EVCommunicationError in state E/F or when the pilot circuit cannot be read. */
  health(): DeviceHealth;
  /** Withdraws any charge permission it outputs now, before start() (see Relay.safe). */
  safe(): void;
}

/** Connector (socket) lock. */
export interface ConnectorLock extends EventEmitter<HealthEvents>, Lifecycle {
  /** Resolves true once locked (confirmed by feedback where present), false on failure. */
  lock(): Promise<boolean>;
  unlock(): Promise<boolean>;
  /**
   * Known locked: confirmed by feedback where it exists (false while it cannot be read: a cable
   * the lock cannot be shown to hold must not carry current), else commanded and taken.
   */
  isLocked(): boolean;
  /**
   * The measured lock state, where a feedback input exists (its last reading: see
   * `feedbackReadable`).
   */
  feedback(): boolean | undefined;
  /**
   * False while the feedback input exists but cannot be read (`feedback()` is then a stale
   * reading); true where it reads, or where there is none.
   */
  feedbackReadable(): boolean;
  /** ConnectorLockFailure after a failed lock or unlock, until the next success. */
  health(): DeviceHealth;
}

export type BoardFaultKind = 'emergencyStop' | 'tamper';

/** A board-level fault input (emergency stop button, tamper switch). */
export interface FaultInput extends EventEmitter<{ change: [active: boolean] }>, Lifecycle {
  readonly kind: BoardFaultKind;
  isActive(): boolean;
  /** The input delivers a level (an unreadable one counts as active). */
  readable(): boolean;
}

/** The devices of one outlet. */
export interface ConnectorDevices {
  readonly id: number;
  /** A tethered cable cannot be unlocked (UnlockConnector answers NotSupported). */
  readonly fixedCable: boolean;
  /** Most current the outlet may offer, A, and its phases (1 or 3; DC: 1). */
  readonly maxCurrentA: number;
  readonly phases: 1 | 3;
  /**
   * The supply line (L1, L2, L3) a 1-phase outlet is wired to, where the board file says: load
   * sharing counts its current on that line only (on every line when not said). Ignored for 3 phases.
   */
  readonly phase?: 1 | 2 | 3;
  /** Nominal phase voltage (V) for converting between A and W; 230 when the board file does not say. */
  readonly nominalVoltageV?: number;
  readonly relay: Relay;
  readonly pilot: Pilot;
  readonly meter?: Meter;
  readonly lock?: ConnectorLock;
  /** DC: the power the charger module may deliver, where the board has such an output. */
  readonly powerSetpoint?: PowerSetpoint;
}

/** A DC charger module's power limit output (W); 0 delivers nothing. */
export interface PowerSetpoint extends EventEmitter<HealthEvents>, Lifecycle {
  setPowerLimit(watts: number): Promise<void>;
  powerLimit(): number;
  health(): DeviceHealth;
  /** Delivers nothing (0 W) now, before start() (see Relay.safe). */
  safe(): void;
}

export interface ReaderAssignment {
  readonly reader: RfidReader;
  /** The connectors this reader serves (one reader may serve several). */
  readonly connectorIds: readonly number[];
}

/**
 * Where a connector's fault comes from, so that consumers decide by it rather than by the text:
 * a board input (emergency stop, tamper), one of its devices, the pilot (state E/F), or a source
 * that reported it (`reportFault`).
 */
export type FaultKind = BoardFaultKind | 'device' | 'pilot' | 'reported';

export interface ConnectorFault {
  fault: HardwareFault;
  info?: string;
  kind: FaultKind;
}

export interface ConnectorHardwareEvents {
  /** Cable plugged at the EV side (true) or removed (false). */
  plug: [plugged: boolean];
  /** The derived fault or warning changed (a device became unhealthy or healthy again). */
  fault: [fault: HardwareFault | undefined, info?: string];
  /** The pilot state changed. */
  pilot: [state: PilotState];
}

/**
 * One outlet as the station sees it: its devices plus what follows from them (plugged,
 * the fault to report). Built by `hal/connector.ts` from ConnectorDevices.
 */
export interface ConnectorHardware extends EventEmitter<ConnectorHardwareEvents> {
  readonly id: number;
  readonly fixedCable: boolean;
  readonly devices: ConnectorDevices;
  readonly lock?: ConnectorLock;
  readonly meter?: Meter;
  plugged(): boolean;
  /** The fault that keeps this connector from delivering energy, if any. */
  fault(): ConnectorFault | undefined;
  /** A problem that does not stop energy delivery (e.g. its card reader failed), if any. */
  warning(): { fault: HardwareFault; info?: string } | undefined;
  /** Every current problem with the device it comes from, for diagnostics. */
  problems(): Array<{ device: string; fault: HardwareFault; info?: string }>;
}

export interface Board extends Lifecycle {
  readonly name: string;
  /**
   * Drives every output to its safe level (contactors open, charge permission off) and nothing
   * else: the first thing a run does, before the store opens or any device starts. Drives every
   * output it can even when one fails, then throws the first failure. `stop()` releases them.
   */
  safe(): void;
  readonly connectors: readonly ConnectorHardware[];
  readonly readers: readonly ReaderAssignment[];
  readonly faultInputs: readonly FaultInput[];
  /** What the supply feeding every connector carries (A per phase), when less than their sum. */
  readonly supplyMaxCurrentA?: number;
  /** How many charging profiles the controller handles, where the board file says (else the defaults). */
  readonly smartCharging?: SmartChargingCapabilities;
}

/**
 * The charging-profile capacity of a controller, from its board file: the read-only smart
 * charging configuration keys report these.
 */
export interface SmartChargingCapabilities {
  /** Highest stack level a profile may have. */
  readonly maxStackLevel?: number;
  /** Most periods one charging schedule may have. */
  readonly maxPeriods?: number;
  /** Most charging profiles installed at once. */
  readonly maxProfiles?: number;
  /** Units a charging schedule may use: A (current) and / or W (power). */
  readonly rateUnits?: readonly ('A' | 'W')[];
}
