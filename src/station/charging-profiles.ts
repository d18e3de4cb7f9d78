import { EventEmitter } from 'node:events';
import type { ConfigurationRegistry } from '../config/registry.js';
import { errorMessage } from '../error-message.js';
import type { Logger } from '../log.js';
import type { ChargingProfilesRepo } from '../store/charging-profiles-repo.js';
import { attemptWrite } from '../store/health.js';
import type { TransactionRow } from '../store/transactions-repo.js';
import type {
  ChargingProfile,
  ChargingProfilePurpose,
  ChargingRateUnit,
  ChargingSchedule,
  CompositeRequest,
  ConnectorElectrical,
  ConstantLimit,
  PendingTxProfile,
  ScheduleTransaction,
} from './charging-profile-types.js';
import { electricalOf } from './electrical.js';
import type { Station } from './station.js';
import type { TransactionEngine, WriteHealth } from './transactions.js';

export type InstallStatus = 'Accepted' | 'Rejected';

/** ClearChargingProfile's criteria: an id alone, or any of the others (all given must match). */
export interface ClearCriteria {
  id?: number;
  connectorId?: number;
  purpose?: ChargingProfilePurpose;
  stackLevel?: number;
}

export interface ChargingProfilesEvents {
  /** The connectors whose applicable profiles changed (a connector-0 profile concerns all). */
  changed: [connectorIds: number[]];
}

export interface ChargingProfilesOptions {
  repo: ChargingProfilesRepo;
  station: Pick<Station, 'connectorIds' | 'hasConnector' | 'connector'>;
  /** The board's supply limit (A per phase), which the charge point as a whole (connector 0) carries. */
  supplyMaxCurrentA?: number;
  config: ConfigurationRegistry;
  /** Storage failures of installations: a disk that refuses the write makes it Rejected. */
  writes?: WriteHealth;
  log: Logger;
}

/** The configuration key's names for the two units (spec 9.4 ChargingScheduleAllowedChargingRateUnit). */
const UNIT_KEY_VALUE: Record<ChargingRateUnit, string> = { A: 'Current', W: 'Power' };

/**
 * What the engine tells the profiles about: its transactions (open, and running, i.e. not being
 * stopped), when they end, and the TxProfiles of the remote starts not yet recorded.
 */
type Transactions = Pick<
  TransactionEngine,
  'on' | 'transactionOn' | 'runningTransactionOn' | 'pendingTxProfiles'
>;

/**
 * The installed charging profiles (spec 3.13): validated on installation (SetChargingProfile, a
 * remote start's TxProfile), persisted before they are acknowledged, restored at start. A
 * TxProfile is bound to its transaction row and ends with it (here on the engine's stop, in the
 * store by ON DELETE CASCADE, and at start for a stop a power cut separated from the deletion).
 * `compositeFor` gathers what the composite schedule of a connector is computed from.
 */
export class ChargingProfiles extends EventEmitter<ChargingProfilesEvents> {
  private readonly installed = new Map<number, ChargingProfile>();
  /** A remote start's TxProfile was written in an SQL transaction not yet known to have committed. */
  private boundUnconfirmed = false;
  private transactions: Transactions | undefined;
  private limits: (connectorId: number) => readonly ConstantLimit[] = () => [];

  constructor(private readonly opts: ChargingProfilesOptions) {
    super();
    const dropped = opts.repo.removeOfEndedTransactions();
    if (dropped > 0) opts.log.info({ dropped }, 'TxProfiles of transactions that ended removed');
    for (const profile of opts.repo.all()) this.installed.set(profile.id, profile);
  }

  /**
   * Follows the engine (built after the profiles, as it binds remote-start TxProfiles through
   * them): a TxProfile ends with its transaction. Call before the engine starts, so the
   * transactions a power cut left open take their profiles with them.
   */
  bind(transactions: Transactions): void {
    this.transactions = transactions;
    transactions.on('transaction', (event) => {
      if (event.kind === 'stopped') this.endTransaction(event.row.localId);
      else if (this.boundUnconfirmed) this.reload(event.row.localId);
    });
  }

  /** Further limits for the whole composite (the local limit, a load-sharing share), in amps. */
  setLimits(limits: (connectorId: number) => readonly ConstantLimit[]): void {
    this.limits = limits;
  }

  all(): readonly ChargingProfile[] {
    return [...this.installed.values()];
  }

  /**
   * SetChargingProfile. A TxProfile is bound to the transaction running on its connector; the
   * profile it replaces (same id, or same purpose, stack level and connector) is removed in the
   * same SQL transaction.
   */
  install(profile: ChargingProfile): InstallStatus {
    const checked = this.problem(profile, profile.connectorId) ?? this.withTransaction(profile);
    if (typeof checked === 'string') return this.rejected(profile, checked);
    if (!this.attempt('charging profile', () => this.store(checked))) return 'Rejected';
    this.opts.log.info(
      { chargingProfileId: profile.id, connectorId: profile.connectorId, purpose: profile.purpose },
      'charging profile installed',
    );
    return 'Accepted';
  }

  /**
   * A RemoteStartTransaction's TxProfile, checked like SetChargingProfile's except for the
   * transaction, which does not exist yet (so it may not name one): what the session keeps until
   * its transaction is recorded, or undefined when Rejected. `connectorId` is the request's. Until
   * its session lapses or binds it, it counts against MaxChargingProfilesInstalled like an
   * installed profile (the engine's `pendingTxProfiles`), so it still fits when it is bound.
   */
  forRemoteStart(profile: ChargingProfile, connectorId: number | undefined): PendingTxProfile | undefined {
    const reason =
      profile.purpose !== 'TxProfile'
        ? 'a remote start carries only a TxProfile'
        : profile.transactionId !== undefined
          ? 'a remote start TxProfile names no transaction'
          : this.problem(profile, connectorId);
    if (reason) {
      this.rejected(profile, reason);
      return undefined;
    }
    const { connectorId: _connector, transactionId: _id, transactionLocalId: _row, ...pending } = profile;
    return pending;
  }

  /**
   * The engine's hook when it records a transaction started with a remote start's TxProfile:
   * called inside that SQL transaction, so the profile is stored if and only if the row is.
   */
  bindToTransaction(profile: PendingTxProfile, row: TransactionRow): void {
    this.persist({ ...profile, connectorId: row.connectorId, transactionLocalId: row.localId });
    // That SQL transaction may still roll back (and the row id be handed out again): memory
    // follows when the engine reports the start recorded.
    this.boundUnconfirmed = true;
    this.opts.log.info(
      { chargingProfileId: profile.id, connectorId: row.connectorId, localId: row.localId },
      'remote start TxProfile installed',
    );
  }

  /** ClearChargingProfile: Unknown when no profile matched. */
  clear(criteria: ClearCriteria): 'Accepted' | 'Unknown' {
    const matches = this.all().filter((profile) => matchesCriteria(profile, criteria));
    if (matches.length === 0) return 'Unknown';
    this.opts.repo.atomically(() => this.opts.repo.remove(matches.map((p) => p.id)));
    for (const profile of matches) this.installed.delete(profile.id);
    this.opts.log.info({ ...criteria, cleared: matches.map((p) => p.id) }, 'charging profiles cleared');
    this.changed(matches);
    return 'Accepted';
  }

  /**
   * What the composite schedule of a connector (0: the charge point) is computed from, or
   * undefined for an unknown connector.
   */
  compositeFor(connectorId: number, now: number, durationS: number): CompositeRequest | undefined {
    const electrical = this.electrical(connectorId);
    if (!electrical) return undefined;
    const transaction = connectorId === 0 ? undefined : this.runningTransaction(connectorId);
    return {
      profiles: this.all(),
      connectorId,
      ...(transaction ? { transaction } : {}),
      now,
      durationS,
      electrical,
      limits: this.limits(connectorId),
    };
  }

  // ---- validation ----

  /**
   * Why the profile cannot be installed on `connectorId`, apart from its transaction (spec 3.13,
   * 5.16, 6.43 and the configured limits); undefined when it can.
   */
  private problem(profile: PendingTxProfile, connectorId: number | undefined): string | undefined {
    const { config, station } = this.opts;
    if (connectorId !== undefined && connectorId !== 0 && !station.hasConnector(connectorId))
      return 'unknown connector';
    if (profile.purpose === 'ChargePointMaxProfile' && connectorId !== 0)
      return 'a ChargePointMaxProfile is for connector 0 only';
    if (profile.purpose === 'TxProfile' && connectorId === 0) return 'a TxProfile is for a connector > 0';
    // The 1.6 schema lets any integer through; the spec counts stack levels from 0.
    if (profile.stackLevel < 0) return 'stackLevel below 0';
    const maxStackLevel = config.getInt('ChargeProfileMaxStackLevel');
    if (profile.stackLevel > maxStackLevel)
      return `stackLevel above ChargeProfileMaxStackLevel (${maxStackLevel})`;
    if (profile.kind === 'Recurring' && (!profile.recurrency || profile.schedule.startSchedule === undefined))
      return 'a Recurring profile needs recurrencyKind and startSchedule';
    if (
      profile.validFrom !== undefined &&
      profile.validTo !== undefined &&
      profile.validTo <= profile.validFrom
    )
      return 'validTo is not after validFrom';
    const scheduleReason = this.scheduleProblem(profile.schedule);
    if (scheduleReason) return scheduleReason;
    const max = config.getInt('MaxChargingProfilesInstalled');
    const kept = this.all().filter((p) => !this.replaces(profile, connectorId, p));
    // A remote start's TxProfile has its place from the RemoteStartTransaction on: it is installed
    // when its transaction is recorded, without asking again.
    const reserved = this.transactions?.pendingTxProfiles().length ?? 0;
    if (kept.length + reserved + 1 > max) return `MaxChargingProfilesInstalled (${max}) reached`;
    return undefined;
  }

  private scheduleProblem(schedule: ChargingSchedule): string | undefined {
    const { config } = this.opts;
    if (!config.getList('ChargingScheduleAllowedChargingRateUnit').includes(UNIT_KEY_VALUE[schedule.unit]))
      return `chargingRateUnit ${schedule.unit} not in ChargingScheduleAllowedChargingRateUnit`;
    const maxPeriods = config.getInt('ChargingScheduleMaxPeriods');
    if (schedule.periods.length > maxPeriods)
      return `more periods than ChargingScheduleMaxPeriods (${maxPeriods})`;
    if (schedule.periods[0]?.startPeriod !== 0) return 'the first period does not start at 0';
    for (const [i, period] of schedule.periods.entries()) {
      const previous = schedule.periods[i - 1];
      if (previous && period.startPeriod <= previous.startPeriod)
        return 'startPeriod not strictly increasing';
      if (period.limit < 0) return 'a negative limit';
      if (period.numberPhases !== undefined && (period.numberPhases < 1 || period.numberPhases > 3))
        return 'numberPhases outside 1..3';
    }
    if (schedule.minChargingRate !== undefined && schedule.minChargingRate < 0)
      return 'a negative minChargingRate';
    return undefined;
  }

  /**
   * A TxProfile needs a transaction running on its connector, and the one it names: it is bound to
   * that transaction's row. One being stopped takes none: its end may already have removed its
   * profiles. Other purposes as they are; the reason when refused.
   */
  private withTransaction(profile: ChargingProfile): ChargingProfile | string {
    if (profile.purpose !== 'TxProfile') return profile;
    const row = this.transactions?.runningTransactionOn(profile.connectorId);
    if (!row)
      return this.transactions?.transactionOn(profile.connectorId)
        ? 'the transaction on the connector is being stopped'
        : 'no transaction on the connector';
    if (profile.transactionId !== undefined && profile.transactionId !== row.transactionId)
      return `transactionId ${profile.transactionId} is not the connector's transaction`;
    return { ...profile, transactionLocalId: row.localId };
  }

  /**
   * Whether installing `profile` on `connectorId` replaces `existing` (spec 5.16.1); a remote
   * start without a connector is only known to replace the same id.
   */
  private replaces(
    profile: PendingTxProfile,
    connectorId: number | undefined,
    existing: ChargingProfile,
  ): boolean {
    return (
      existing.id === profile.id ||
      (existing.purpose === profile.purpose &&
        existing.stackLevel === profile.stackLevel &&
        existing.connectorId === connectorId)
    );
  }

  private rejected(profile: PendingTxProfile, reason: string): 'Rejected' {
    this.opts.log.info(
      { chargingProfileId: profile.id, purpose: profile.purpose, reason },
      'charging profile rejected',
    );
    return 'Rejected';
  }

  // ---- state ----

  /** A write through the store's health when given (the runtime's): false when the disk refused it. */
  private attempt(what: string, write: () => void): boolean {
    return attemptWrite(this.opts.writes, what, write);
  }

  /** Saves the profile and removes what it replaces, in one SQL transaction, then in memory. */
  private store(profile: ChargingProfile): void {
    const replaced = this.persist(profile);
    for (const p of replaced) this.installed.delete(p.id);
    this.installed.set(profile.id, profile);
    this.changed([...replaced, profile]);
  }

  /** The SQL of `store`: what the profile replaces goes in the same transaction. Returns that. */
  private persist(profile: ChargingProfile): ChargingProfile[] {
    const replaced = this.all().filter((p) => this.replaces(profile, profile.connectorId, p));
    const { repo } = this.opts;
    repo.atomically(() => {
      repo.remove(replaced.filter((p) => p.id !== profile.id).map((p) => p.id));
      repo.save(profile);
    });
    return replaced;
  }

  /** Memory from the store once a start that bound a TxProfile is recorded (see bindToTransaction). */
  private reload(localId: number): void {
    this.boundUnconfirmed = false;
    const before = this.all();
    this.installed.clear();
    for (const profile of this.opts.repo.all()) this.installed.set(profile.id, profile);
    // Replaced, or moved to another connector under the same id.
    const gone = before.filter((p) => this.installed.get(p.id)?.connectorId !== p.connectorId);
    this.changed([...gone, ...this.all().filter((p) => p.transactionLocalId === localId)]);
  }

  private endTransaction(localId: number): void {
    const ended = this.all().filter((p) => p.transactionLocalId === localId);
    if (ended.length === 0) return;
    try {
      this.opts.repo.removeOfTransaction(localId);
    } catch (error) {
      // The next start removes it: its transaction row records the stop by then.
      this.opts.log.warn(
        { localId, err: errorMessage(error) },
        'TxProfile of an ended transaction not removed from the store',
      );
    }
    for (const p of ended) this.installed.delete(p.id);
    this.changed(ended);
  }

  private changed(profiles: readonly ChargingProfile[]): void {
    const all = profiles.some((p) => p.connectorId === 0);
    const ids = all
      ? [0, ...this.opts.station.connectorIds()]
      : [...new Set(profiles.map((p) => p.connectorId))];
    this.emit('changed', ids);
  }

  private runningTransaction(connectorId: number): ScheduleTransaction | undefined {
    const row = this.transactions?.transactionOn(connectorId);
    if (!row) return undefined;
    return {
      localId: row.localId,
      ...(row.transactionId === undefined ? {} : { transactionId: row.transactionId }),
      startedAt: Date.parse(row.startedAt),
    };
  }

  /**
   * A connector's electrical facts; connector 0's are the charge point's: what every outlet
   * together carries, or the supply's limit when that is less.
   */
  private electrical(connectorId: number): ConnectorElectrical | undefined {
    const { station, supplyMaxCurrentA } = this.opts;
    if (connectorId !== 0) {
      const hw = station.connector(connectorId);
      return hw ? electricalOf(hw.devices) : undefined;
    }
    const outlets = station.connectorIds().flatMap((id) => {
      const hw = station.connector(id);
      return hw ? [electricalOf(hw.devices)] : [];
    });
    const [first] = outlets;
    if (!first) return undefined;
    const sum = outlets.reduce((total, outlet) => total + outlet.maxCurrentA, 0);
    return {
      maxCurrentA: Math.min(sum, supplyMaxCurrentA ?? sum),
      phases: Math.max(...outlets.map((outlet) => outlet.phases)),
      voltageV: first.voltageV,
    };
  }
}

function matchesCriteria(profile: ChargingProfile, criteria: ClearCriteria): boolean {
  if (criteria.id !== undefined) return profile.id === criteria.id;
  return (
    (criteria.connectorId === undefined || profile.connectorId === criteria.connectorId) &&
    (criteria.purpose === undefined || profile.purpose === criteria.purpose) &&
    (criteria.stackLevel === undefined || profile.stackLevel === criteria.stackLevel)
  );
}
