/**
 * Smart charging's vocabulary inside the station, free of OCPP frame types: what an installed
 * charging profile says, the electrical facts of a connector, and the composite schedule that
 * combines them. Times are epoch milliseconds (OCPP time), durations and period starts seconds,
 * as OCPP counts them.
 */

/**
 * The longest composite computed (GetCompositeSchedule, `cpctl limits`): a week shows a weekly
 * profile whole. The schema sets no bound on the duration a central system asks for, and a
 * composite over decades of a daily profile would hold the event loop for minutes.
 */
export const MAX_COMPOSITE_DURATION_S = 7 * 86_400;

export type ChargingProfilePurpose = 'ChargePointMaxProfile' | 'TxDefaultProfile' | 'TxProfile';
export type ChargingProfileKind = 'Absolute' | 'Recurring' | 'Relative';
export type RecurrencyKind = 'Daily' | 'Weekly';
/** OCPP's ChargingRateUnitType: A (current per phase) or W (power, all phases). */
export type ChargingRateUnit = 'A' | 'W';

export interface SchedulePeriod {
  /** Seconds from the start of the schedule; the first period starts at 0. */
  startPeriod: number;
  /** In the schedule's unit. */
  limit: number;
  /** Phases this period may use (OCPP default: 3). */
  numberPhases?: number;
}

export interface ChargingSchedule {
  /** Absolute and Recurring: where period 0 starts (Recurring: the anchor of the recurrence). */
  startSchedule?: number;
  /** Seconds the schedule lasts from its start; unbounded when absent. */
  duration?: number;
  unit: ChargingRateUnit;
  /** Below this rate (schedule unit) the EV cannot charge: the charger pauses instead. */
  minChargingRate?: number;
  periods: readonly SchedulePeriod[];
}

/** One installed charging profile, as stored. */
export interface ChargingProfile {
  /** chargingProfileId. */
  id: number;
  /** 0: the whole charge point (ChargePointMaxProfile) or every connector (TxDefaultProfile). */
  connectorId: number;
  stackLevel: number;
  purpose: ChargingProfilePurpose;
  kind: ChargingProfileKind;
  recurrency?: RecurrencyKind;
  validFrom?: number;
  validTo?: number;
  /** TxProfile: the transactionId the central system named, when it named one. */
  transactionId?: number;
  /**
   * TxProfile: the local id of the transaction row it belongs to. A TxProfile is bound to its
   * transaction and ends with it.
   */
  transactionLocalId?: number;
  schedule: ChargingSchedule;
}

/** What a connector can carry; the conversion between A and W uses it. */
export interface ConnectorElectrical {
  /** The outlet's maximum (board `maxCurrentA`). */
  maxCurrentA: number;
  /** Phases wired to the outlet (1 or 3; DC: 1). */
  phases: number;
  /** Nominal phase voltage (board file; default 230 V). */
  voltageV: number;
}

/** A transaction the composite is computed for (TxProfile and Relative profiles anchor at it). */
export interface ScheduleTransaction {
  localId: number;
  transactionId?: number;
  /** Epoch ms the transaction started. */
  startedAt: number;
}

/** Where a period's limit comes from, for the operator (`cpctl limits`). */
export type LimitSource =
  | { kind: 'profile'; profileId: number; purpose: ChargingProfilePurpose }
  | { kind: 'hardware' }
  | { kind: 'local' }
  | { kind: 'loadSharing' };

/** A limit that holds for the whole composite (local limit, a load-sharing share), in amps. */
export interface ConstantLimit {
  limitA: number;
  source: LimitSource;
}

export interface CompositeRequest {
  /** Every installed profile (connector 0 and all others); the function picks what applies. */
  profiles: readonly ChargingProfile[];
  /** 0: the charge point as a whole. */
  connectorId: number;
  /** The connector's transaction, if one runs. */
  transaction?: ScheduleTransaction;
  /** Epoch ms the composite starts at. */
  now: number;
  durationS: number;
  electrical: ConnectorElectrical;
  /** Further limits for the whole span (local limit, load-sharing share). */
  limits?: readonly ConstantLimit[];
}

export interface CompositePeriod {
  /** Seconds from `now`. */
  startPeriod: number;
  /** Amps per phase. */
  limitA: number;
  numberPhases: number;
  source: LimitSource;
  /**
   * The limit before rounding to 0.1 A (the lowest of the merged stretch): the conversion to W
   * starts from it, so a limit set in W is reported as set.
   */
  exactLimitA?: number;
  /**
   * The winning TxProfile's / TxDefaultProfile's minChargingRate in A (rounded like limitA), when
   * it has one: below it the owner of the pilot pauses instead of offering `limitA`.
   */
  minChargingRateA?: number;
}

/** The composite schedule in amps; periods merged where limit, phases and source are equal. */
export interface CompositeSchedule {
  start: number;
  durationS: number;
  periods: readonly CompositePeriod[];
}

/** A composite period in the unit GetCompositeSchedule was asked for (no source on the wire). */
export interface CompositeRatePeriod {
  /** Seconds from the composite's start. */
  startPeriod: number;
  /** In the schedule's unit, one decimal. */
  limit: number;
  numberPhases: number;
}

/** The composite schedule in A or W; periods merged where limit and phases are equal. */
export interface CompositeRateSchedule {
  start: number;
  durationS: number;
  unit: ChargingRateUnit;
  periods: readonly CompositeRatePeriod[];
}

/**
 * A RemoteStartTransaction's TxProfile before its transaction exists: the connector, the
 * transaction row and its id are those of the transaction it starts.
 */
export type PendingTxProfile = Omit<ChargingProfile, 'connectorId' | 'transactionId' | 'transactionLocalId'>;
