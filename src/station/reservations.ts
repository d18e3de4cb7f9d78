import { EventEmitter } from 'node:events';
import type { Clock, OcppTime, Timer } from '../clock.js';
import type { Logger } from '../log.js';
import type { ReservationsRepo } from '../store/reservations-repo.js';
import type { ConnectorStatus, StatusSnapshot } from './types.js';

/** The answer to a reservation request (mirrors OCPP's ReservationStatus). */
export type ReservationStatus = 'Accepted' | 'Faulted' | 'Occupied' | 'Rejected' | 'Unavailable';

export interface ReservationRequest {
  /** 0: any connector of the charge point. */
  connectorId: number;
  /** ISO 8601, central-system time. */
  expiryDate: string;
  idTag: string;
  parentIdTag?: string;
  reservationId: number;
}

export interface Reservation {
  reservationId: number;
  connectorId: number;
  idTag: string;
  parentIdTag?: string;
  /** Epoch ms, central-system time. */
  expiresAt: number;
}

/** Whether an id may start a session on a connector, and the reservation the session would use. */
export interface ReservationClaim {
  allowed: boolean;
  reservationId?: number;
}

export interface ReservationsOptions {
  repo: ReservationsRepo;
  /** The physical connectors, 1..N. */
  connectorIds: readonly number[];
  /** The station's current status of connector 0 or a connector (Reserved included). */
  statusOf(connectorId: number): ConnectorStatus | undefined;
  /** ReserveConnectorZeroSupported. */
  connectorZeroSupported(): boolean;
  clock: Clock;
  /** Expiry dates are the central system's time. */
  time: Pick<OcppTime, 'nowMs'>;
  log: Logger;
}

export interface ReservationsEvents {
  /** Which connectors are reserved may have changed: the station re-derives its statuses. */
  changed: [];
}

/** The expiry timer never sleeps longer, so a clock adopted from the central system applies soon. */
const MAX_WAIT_MS = 60_000;

/**
 * Reservations (OCPP 1.6 section 5.13), kept in SQLite so they survive a restart and still expire
 * on time afterwards.
 *
 * A reservation for a connector keeps it for its id tag (or any id with the same parent id). One
 * for connector 0 reserves no connector in particular: it keeps one connector free for its id, so
 * while the free connectors are no more than such reservations, every free one is held (shown
 * Reserved) and only the holders may start there. A reservation ends when its id starts a
 * transaction (`consume`), when it expires, when it is cancelled, and when its connector (or, for
 * connector 0, the charge point) becomes Faulted or Unavailable.
 *
 * Decisions use the station's statuses. Reserved among them is read as free underneath, because
 * the station shows Reserved only for a connector with no session, no fault and in service (a
 * cable may be in it: the reserved driver's, which does not make it Preparing).
 */
export class Reservations extends EventEmitter<ReservationsEvents> {
  private readonly byId = new Map<number, Reservation>();
  /** Connectors kept free for connector-0 reservations. */
  private held = new Set<number>();
  private timer: Timer | undefined;
  private closed = false;
  private readonly log: Logger;

  constructor(private readonly opts: ReservationsOptions) {
    super();
    this.log = opts.log.child({ module: 'reservation' });
    for (const { expiryDate, ...row } of opts.repo.all()) {
      // An unreadable date cannot be waited for: it counts as past and the reservation ends now.
      this.byId.set(row.reservationId, { ...row, expiresAt: Date.parse(expiryDate) || 0 });
    }
    // Those that expired while the charger was off end now; the rest are timed again.
    this.expire();
    this.held = this.holdForConnectorZero();
  }

  /** Reservations in force. */
  all(): Reservation[] {
    return [...this.byId.values()];
  }

  /** For the station's view: reserved for an id, or held for a connector-0 reservation. */
  isReserved(connectorId: number): boolean {
    return this.reservationOn(connectorId) !== undefined || this.held.has(connectorId);
  }

  /** ReserveNow. A request with the id of a reservation in force replaces that reservation. */
  reserve(req: ReservationRequest): ReservationStatus {
    const expiresAt = Date.parse(req.expiryDate);
    const status = this.decide(req, expiresAt);
    const replaced = this.byId.get(req.reservationId);
    const fields = { reservationId: req.reservationId, connectorId: req.connectorId, idTag: req.idTag };
    if (status !== 'Accepted') {
      this.log.info({ ...fields, expiryDate: req.expiryDate, status }, 'reservation refused');
      return status;
    }
    const parent = req.parentIdTag === undefined ? {} : { parentIdTag: req.parentIdTag };
    const reservation: Reservation = { ...fields, ...parent, expiresAt };
    this.opts.repo.save({ ...fields, ...parent, expiryDate: new Date(expiresAt).toISOString() });
    this.byId.set(reservation.reservationId, reservation);
    this.log.info(
      { ...fields, expiryDate: req.expiryDate, ...(replaced ? { replacedOn: replaced.connectorId } : {}) },
      replaced ? 'reservation replaced' : 'reservation made',
    );
    this.update();
    return 'Accepted';
  }

  /** CancelReservation. */
  cancel(reservationId: number): 'Accepted' | 'Rejected' {
    if (!this.byId.has(reservationId)) {
      this.log.info({ reservationId }, 'no reservation to cancel');
      return 'Rejected';
    }
    this.end([reservationId], 'cancelled');
    return 'Accepted';
  }

  /**
   * Who may start a session on `connectorId` (a query; nothing changes). On a reserved connector
   * only the reservation's id, or an id sharing an id or parent id with it; elsewhere anyone,
   * except on a connector held for connector-0 reservations, which only their ids may take. The
   * reservationId is the one a session started now would end (StartTransaction carries it).
   */
  claim(connectorId: number, idTag: string, parentIdTag?: string): ReservationClaim {
    const specific = this.reservationOn(connectorId);
    const candidates = specific ? [specific] : this.all().filter((r) => r.connectorId === 0);
    const own = candidates.find((r) => matches(r, idTag, parentIdTag));
    if (own) return { allowed: true, reservationId: own.reservationId };
    return { allowed: this.blockers(connectorId).length === 0 };
  }

  /**
   * Before authorization, when the parent id is not known yet: false only when no answer could let
   * `idTag` start here. A reservation with a parent id needs the authorization to tell; one without
   * refuses a different card at once, without asking the central system.
   */
  couldClaim(connectorId: number, idTag: string): boolean {
    return (
      this.claim(connectorId, idTag).allowed ||
      this.blockers(connectorId).some((r) => r.parentIdTag !== undefined)
    );
  }

  /** A transaction started under this reservation: it has served its purpose. */
  consume(reservationId: number): void {
    if (this.byId.has(reservationId)) this.end([reservationId], 'used');
  }

  /**
   * Every status the station reports. Faulted or Unavailable ends the reservations of that
   * connector (connector 0: the charge point's); any change may change which connectors the
   * connector-0 reservations must hold. Handled once the station's report is over, so that every
   * listener has seen this status before a consequence of it is reported.
   */
  onStatus(snapshot: StatusSnapshot): void {
    queueMicrotask(() => {
      if (!this.closed) this.follow(snapshot);
    });
  }

  close(): void {
    this.closed = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private follow({ connectorId, status }: StatusSnapshot): void {
    if (status === 'Faulted' || status === 'Unavailable') {
      const ended = this.all()
        .filter((r) => r.connectorId === connectorId)
        .map((r) => r.reservationId);
      if (ended.length > 0) {
        this.end(ended, `connector ${status}`);
        return;
      }
    }
    const held = this.holdForConnectorZero();
    if (sameSet(held, this.held)) return;
    this.held = held;
    this.emit('changed');
  }

  private decide(req: ReservationRequest, expiresAt: number): ReservationStatus {
    const { connectorId, reservationId } = req;
    const { statusOf } = this.opts;
    if (!(expiresAt > this.opts.time.nowMs())) return 'Rejected';
    // The reservation being replaced no longer counts: its connector is as good as free.
    const others = this.all().filter((r) => r.reservationId !== reservationId);
    const free = this.freeConnectors(others);
    const forZero = others.filter((r) => r.connectorId === 0).length;
    if (connectorId === 0) {
      if (!this.opts.connectorZeroSupported()) return 'Rejected';
      const chargePoint = statusOf(0);
      if (chargePoint === 'Faulted' || chargePoint === 'Unavailable') return chargePoint;
      if (free.length > forZero) return 'Accepted';
      const statuses = this.opts.connectorIds.map(statusOf);
      if (statuses.every((s) => s === 'Faulted' || s === 'Unavailable'))
        return statuses.includes('Faulted') ? 'Faulted' : 'Unavailable';
      return 'Occupied';
    }
    if (!this.opts.connectorIds.includes(connectorId)) return 'Rejected';
    const status = statusOf(connectorId);
    if (status === 'Faulted' || status === 'Unavailable') return status;
    // Taking this connector must still leave one free for every connector-0 reservation.
    return free.includes(connectorId) && free.length - 1 >= forZero ? 'Accepted' : 'Occupied';
  }

  /** Connectors idle and in service that none of `reservations` names. */
  private freeConnectors(reservations: readonly Reservation[]): number[] {
    const taken = new Set(reservations.map((r) => r.connectorId));
    return this.opts.connectorIds.filter((id) => {
      const status = this.opts.statusOf(id);
      return !taken.has(id) && (status === 'Available' || status === 'Reserved');
    });
  }

  private holdForConnectorZero(): Set<number> {
    const all = this.all();
    const forZero = all.filter((r) => r.connectorId === 0).length;
    const free = this.freeConnectors(all);
    return new Set(forZero > 0 && free.length <= forZero ? free : []);
  }

  /** The reservations that keep a stranger from starting on `connectorId`. */
  private blockers(connectorId: number): Reservation[] {
    const specific = this.reservationOn(connectorId);
    if (specific) return [specific];
    const all = this.all();
    const forZero = all.filter((r) => r.connectorId === 0);
    const free = this.freeConnectors(all);
    return free.includes(connectorId) && free.length - 1 < forZero.length ? forZero : [];
  }

  private reservationOn(connectorId: number): Reservation | undefined {
    if (connectorId === 0) return undefined;
    return this.all().find((r) => r.connectorId === connectorId);
  }

  private end(reservationIds: readonly number[], reason: string): void {
    this.opts.repo.remove(reservationIds);
    for (const id of reservationIds) {
      const r = this.byId.get(id);
      this.byId.delete(id);
      if (r)
        this.log.info(
          { reservationId: id, connectorId: r.connectorId, idTag: r.idTag, reason },
          'reservation ended',
        );
    }
    this.update();
  }

  private expire(): void {
    const now = this.opts.time.nowMs();
    const due = this.all()
      .filter((r) => r.expiresAt <= now)
      .map((r) => r.reservationId);
    if (due.length > 0) this.end(due, 'expired');
    else this.schedule();
  }

  /** After any change to the set: the next expiry, the connectors held, and the station told. */
  private update(): void {
    this.schedule();
    this.held = this.holdForConnectorZero();
    this.emit('changed');
  }

  private schedule(): void {
    this.timer?.cancel();
    const next = Math.min(...this.all().map((r) => r.expiresAt));
    // Re-checked when it fires, as the clock may have moved to the central system's meanwhile.
    this.timer = Number.isFinite(next)
      ? this.opts.clock.setTimeout(
          () => this.expire(),
          Math.min(Math.max(0, next - this.opts.time.nowMs()), MAX_WAIT_MS),
        )
      : undefined;
  }
}

/** Either presented id (the card, its parent) equals either id of the reservation; CiString20 ignores case. */
function matches(r: Reservation, idTag: string, parentIdTag?: string): boolean {
  const presented = [idTag, parentIdTag].filter((t) => t !== undefined);
  const reserved = [r.idTag, r.parentIdTag].filter((t) => t !== undefined);
  return presented.some((a) => reserved.some((b) => a.toLowerCase() === b.toLowerCase()));
}

function sameSet(a: ReadonlySet<number>, b: ReadonlySet<number>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}
