import { EventEmitter } from 'node:events';
import type { Board, ConnectorHardware } from '../../hal/types.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { IDLE, type SessionState } from './session-machine.js';
import { holdsTransaction, pilotAsksForEnergy, statusInfo, statusOf, statusPath } from './session-status.js';
import type { Availability, ConnectorStatus, ErrorCode, StatusSnapshot } from './types.js';

/** Where availability survives restarts (connector 0 = the whole charge point). */
export interface AvailabilityStore {
  all(): Map<number, Availability>;
  setMany(entries: ReadonlyArray<[number, Availability]>): void;
}

export type AvailabilityResult = 'Accepted' | 'Rejected' | 'Scheduled';

/** What the transaction engine says about a connector; the station turns it into an OCPP status. */
export interface SessionView {
  state: SessionState;
  /** A reservation holds the connector. */
  reserved: boolean;
  /** The charging limit pauses it (below the minimum current): SuspendedEVSE. */
  limitPaused: boolean;
}

const IDLE_SESSION: SessionView = { state: IDLE, reserved: false, limitPaused: false };

export interface StationEvents {
  status: [snapshot: StatusSnapshot];
  /**
   * The availability of these connectors changed (connector 0: all of them); emitted before the
   * statuses are re-derived, so a session that cannot go on there ends first.
   */
  availability: [connectorIds: number[]];
}

export interface StationOptions {
  board: Board;
  availability: AvailabilityStore;
  clock: Clock;
  log: Logger;
}

/**
 * The charger as a set of connectors whose OCPP status follows from each connector's session state
 * (session-machine.ts), its hardware and the operator's availability choice (session-status.ts).
 * A change the OCPP 1.6 status table does not allow is reported through the status joining both.
 */
export class Station extends EventEmitter<StationEvents> {
  private readonly availability = new Map<number, Availability>();
  private readonly snapshots = new Map<number, StatusSnapshot>();
  private readonly hardware: ReadonlyMap<number, ConnectorHardware>;
  private readonly detach: Array<() => void> = [];
  private sessionOf: (connectorId: number) => SessionView = () => IDLE_SESSION;
  /** Why the whole charger is out of service for a while (a firmware install), not persisted. */
  private outOfService: string | undefined;

  constructor(private readonly opts: StationOptions) {
    super();
    this.hardware = new Map(opts.board.connectors.map((c) => [c.id, c]));
    for (const [id, value] of opts.availability.all()) {
      if (id === 0 || this.hardware.has(id)) this.availability.set(id, value);
    }
    for (const id of [0, ...this.hardware.keys()]) this.snapshots.set(id, this.derive(id, opts.clock.now()));
    for (const connector of this.hardware.values()) {
      const refresh = (): void => this.refresh();
      connector.on('plug', refresh);
      connector.on('fault', refresh);
      this.detach.push(() => {
        connector.off('plug', refresh);
        connector.off('fault', refresh);
      });
    }
  }

  /** Ids of the physical connectors, 1..N. */
  connectorIds(): number[] {
    return [...this.hardware.keys()];
  }

  hasConnector(id: number): boolean {
    return this.hardware.has(id);
  }

  connector(id: number): ConnectorHardware | undefined {
    return this.hardware.get(id);
  }

  /** Status of connector 0 (the charge point) or of a connector. */
  status(connectorId: number): StatusSnapshot | undefined {
    return this.snapshots.get(connectorId);
  }

  /** Connector 0 first, then every connector. */
  statuses(): StatusSnapshot[] {
    return [...this.snapshots.values()].sort((a, b) => a.connectorId - b.connectorId);
  }

  /** The transaction engine plugs in here; call `refresh()` whenever a session changes. */
  setSessionProvider(provider: (connectorId: number) => SessionView): void {
    this.sessionOf = provider;
    this.refresh();
  }

  availabilityOf(connectorId: number): Availability {
    return this.availability.get(connectorId) ?? 'Operative';
  }

  /**
   * Whether a connector may hold a session now: operative, and the charger not taken out of
   * service. The transaction engine starts nothing elsewhere.
   */
  inService(connectorId: number): boolean {
    return (
      this.outOfService === undefined &&
      this.availabilityOf(0) === 'Operative' &&
      this.availabilityOf(connectorId) === 'Operative'
    );
  }

  /**
   * Takes the whole charger out of service (`reason`) or back (undefined) without touching the
   * operator's persisted availability: every connector shows Unavailable, one in a transaction
   * once the transaction ends (nothing cuts it), and no new session starts. A restart ends it.
   */
  setOutOfService(reason: string | undefined): void {
    if (this.outOfService === reason) return;
    this.outOfService = reason;
    this.opts.log.info({ reason }, reason ? 'charger out of service' : 'charger back in service');
    this.emit('availability', this.connectorIds());
    this.refresh();
  }

  /**
   * ChangeAvailability: connector 0 changes the charge point and every connector. Persisted before
   * it takes effect, so a power cut cannot lose an Inoperative the central system was told about.
   */
  changeAvailability(connectorId: number, type: Availability): AvailabilityResult {
    if (connectorId !== 0 && !this.hardware.has(connectorId)) return 'Rejected';
    const ids = connectorId === 0 ? [0, ...this.hardware.keys()] : [connectorId];
    const entries = ids.map((id): [number, Availability] => [id, type]);
    this.opts.availability.setMany(entries);
    for (const [id, value] of entries) this.availability.set(id, value);
    // Stored now; a connector in a transaction keeps charging and takes the change when it ends.
    const busy = ids.some((id) => holdsTransaction(this.sessionOf(id).state));
    this.opts.log.info({ connectorId, availability: type, scheduled: busy }, 'availability changed');
    this.emit(
      'availability',
      ids.filter((id) => id !== 0),
    );
    this.refresh();
    return busy && type === 'Inoperative' ? 'Scheduled' : 'Accepted';
  }

  close(): void {
    for (const off of this.detach.splice(0)) off();
  }

  /** Re-derives every status and reports the ones that changed. */
  refresh(): void {
    const now = this.opts.clock.now();
    for (const id of [0, ...this.hardware.keys()]) {
      const previous = this.snapshots.get(id);
      const next = this.derive(id, now);
      if (
        previous &&
        previous.status === next.status &&
        previous.errorCode === next.errorCode &&
        previous.info === next.info
      ) {
        continue;
      }
      const path = previous && id !== 0 ? statusPath(previous.status, next.status) : [next.status];
      for (const step of path.slice(0, -1)) {
        const bridge: StatusSnapshot = { connectorId: id, status: step, errorCode: 'NoError', since: now };
        this.snapshots.set(id, bridge);
        this.emit('status', bridge);
      }
      this.snapshots.set(id, next);
      this.emit('status', next);
    }
  }

  private derive(id: number, now: number): StatusSnapshot {
    const make = (
      status: ConnectorStatus,
      errorCode: ErrorCode = 'NoError',
      info?: string,
    ): StatusSnapshot => ({
      connectorId: id,
      status,
      errorCode,
      since: now,
      ...(info ? { info } : {}),
    });
    const chargePointInoperative =
      this.availabilityOf(0) === 'Inoperative' || this.outOfService !== undefined;
    if (id === 0) return make(chargePointInoperative ? 'Unavailable' : 'Available');
    const hw = this.hardware.get(id);
    const fault = hw?.fault();
    // A degraded device (e.g. the card reader) is reported without taking the connector out of service.
    const problem = fault ?? hw?.warning();
    const session = this.sessionOf(id);
    const facts = {
      faulted: fault !== undefined,
      inoperative: chargePointInoperative || this.availabilityOf(id) === 'Inoperative',
      plugged: hw?.plugged() ?? false,
      evAsksForEnergy: pilotAsksForEnergy(hw?.devices.pilot.state()),
      reserved: session.reserved,
      limitPaused: session.limitPaused,
    };
    const status = statusOf(session.state, facts);
    return make(status, problem?.fault, problem?.info ?? statusInfo(session.state, facts));
  }
}
