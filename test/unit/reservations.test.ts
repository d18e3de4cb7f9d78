import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OcppTime } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import { type ReservationRequest, Reservations } from '../../src/station/reservations.js';
import type { ConnectorStatus } from '../../src/station/types.js';
import { openStore, type Store } from '../../src/store/index.js';
import { ReservationsRepo } from '../../src/store/reservations-repo.js';
import { FakeClock } from '../support/fake-clock.js';

const T0 = Date.parse('2024-05-01T12:00:00.000Z');
const MINUTE = 60_000;
const at = (ms: number) => new Date(ms).toISOString();

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function open(dir?: string): Store {
  const stateDir = dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'cp-resv-'));
  if (!dir) cleanups.push(() => fs.rmSync(stateDir, { recursive: true, force: true }));
  const store = openStore({ dir: stateDir, log: silentLogger() });
  cleanups.push(() => store.close());
  return store;
}

/** A service for one connector that stays Available, its expiry dates read from `time`. */
function oneAvailableConnector(clock: FakeClock, time: { nowMs(): number }): Reservations {
  const service = new Reservations({
    repo: new ReservationsRepo(open().db),
    connectorIds: [1],
    statusOf: () => 'Available',
    connectorZeroSupported: () => false,
    clock,
    time,
    log: silentLogger(),
  });
  cleanups.push(() => service.close());
  return service;
}

/**
 * A charger of `connectors` whose statuses the test sets; like the station, an idle connector in
 * service reads Reserved while the service says so.
 */
class Fixture {
  readonly clock: FakeClock;
  readonly base = new Map<number, ConnectorStatus>();
  zeroSupported = false;
  changes = 0;
  service!: Reservations;

  constructor(
    readonly store: Store,
    readonly connectors: readonly number[] = [1, 2],
    clock?: FakeClock,
  ) {
    this.clock = clock ?? new FakeClock(T0);
    for (const id of [0, ...connectors]) this.base.set(id, 'Available');
    this.start();
  }

  start(): Reservations {
    this.service?.close();
    this.service = new Reservations({
      repo: new ReservationsRepo(this.store.db),
      connectorIds: this.connectors,
      statusOf: (id) => this.statusOf(id),
      connectorZeroSupported: () => this.zeroSupported,
      clock: this.clock,
      time: { nowMs: () => this.clock.now() },
      log: silentLogger(),
    });
    this.service.on('changed', () => {
      this.changes += 1;
    });
    cleanups.push(() => this.service.close());
    return this.service;
  }

  statusOf(id: number): ConnectorStatus | undefined {
    const status = this.base.get(id);
    return status === 'Available' && id !== 0 && this.service?.isReserved(id) ? 'Reserved' : status;
  }

  /** A status change as the station reports it, and the service's reaction to it. */
  async set(id: number, status: ConnectorStatus): Promise<void> {
    this.base.set(id, status);
    this.service.onStatus({ connectorId: id, status, errorCode: 'NoError', since: this.clock.now() });
    // The service reacts once the report is over: after the microtasks queued so far.
    await new Promise<void>((resolve) => queueMicrotask(resolve));
  }

  reserve(over: Partial<ReservationRequest> = {}) {
    return this.service.reserve({
      connectorId: 1,
      expiryDate: at(T0 + 10 * MINUTE),
      idTag: 'TAG-A',
      reservationId: 1,
      ...over,
    });
  }
}

describe('Reservations: ReserveNow for a connector', () => {
  it('Accepted on an available connector: reserved, persisted, and the station told', () => {
    const f = new Fixture(open());
    expect(f.reserve({ parentIdTag: 'GROUP' })).toBe('Accepted');
    expect(f.service.isReserved(1)).toBe(true);
    expect(f.service.isReserved(2)).toBe(false);
    expect(f.changes).toBeGreaterThan(0);
    expect(f.store.db.prepare('SELECT * FROM reservations').all()).toEqual([
      {
        reservation_id: 1,
        connector_id: 1,
        id_tag: 'TAG-A',
        parent_id_tag: 'GROUP',
        expiry_date: at(T0 + 10 * MINUTE),
      },
    ]);
  });

  it.each([
    ['Faulted', 'Faulted'],
    ['Unavailable', 'Unavailable'],
    ['Preparing', 'Occupied'],
    ['Charging', 'Occupied'],
    ['SuspendedEV', 'Occupied'],
    ['Finishing', 'Occupied'],
  ] as const)('a connector %s is answered %s and nothing is stored', async (status, answer) => {
    const f = new Fixture(open());
    await f.set(1, status);
    expect(f.reserve()).toBe(answer);
    expect(f.service.all()).toEqual([]);
    expect(f.store.db.prepare('SELECT COUNT(*) AS n FROM reservations').get()).toEqual({ n: 0 });
  });

  it('an unknown connector, an expiry already past, or an unreadable date is Rejected', () => {
    const f = new Fixture(open());
    expect(f.reserve({ connectorId: 3 })).toBe('Rejected');
    expect(f.reserve({ expiryDate: at(T0 - 1) })).toBe('Rejected');
    expect(f.reserve({ expiryDate: 'soon' })).toBe('Rejected');
    expect(f.service.all()).toEqual([]);
  });

  it('a connector reserved under another id is Occupied, for the same id tag too', () => {
    const f = new Fixture(open());
    f.reserve();
    expect(f.reserve({ reservationId: 2, idTag: 'TAG-B' })).toBe('Occupied');
    expect(f.reserve({ reservationId: 2 })).toBe('Occupied');
    expect(f.reserve({ reservationId: 2, connectorId: 2 })).toBe('Accepted');
  });

  it('the same reservationId replaces the reservation, even on another connector', () => {
    const f = new Fixture(open());
    f.reserve();
    expect(f.reserve({ idTag: 'TAG-B', expiryDate: at(T0 + 20 * MINUTE) })).toBe('Accepted');
    expect(f.service.all()).toEqual([
      { reservationId: 1, connectorId: 1, idTag: 'TAG-B', expiresAt: T0 + 20 * MINUTE },
    ]);
    expect(f.reserve({ connectorId: 2, idTag: 'TAG-B' })).toBe('Accepted');
    expect(f.service.isReserved(1)).toBe(false);
    expect(f.service.isReserved(2)).toBe(true);
    expect(f.store.db.prepare('SELECT reservation_id, connector_id FROM reservations').all()).toEqual([
      { reservation_id: 1, connector_id: 2 },
    ]);
  });

  it('a replacement that cannot be made leaves the reservation as it was', async () => {
    const f = new Fixture(open());
    f.reserve();
    await f.set(2, 'Faulted');
    expect(f.reserve({ connectorId: 2 })).toBe('Faulted');
    expect(f.service.all()).toMatchObject([{ reservationId: 1, connectorId: 1 }]);
  });
});

describe('Reservations: who may start on a reserved connector', () => {
  it('only the reserved id (any case) gets the connector, with the reservationId', () => {
    const f = new Fixture(open());
    f.reserve({ reservationId: 7 });
    expect(f.service.claim(1, 'tag-a')).toEqual({ allowed: true, reservationId: 7 });
    expect(f.service.claim(1, 'TAG-B')).toEqual({ allowed: false });
    expect(f.service.claim(2, 'TAG-B')).toEqual({ allowed: true });
    // A different card needs no authorization to be refused: the reservation has no parent id.
    expect(f.service.couldClaim(1, 'TAG-B')).toBe(false);
  });

  it('an id whose parent id matches the reservation parent id may start; others may not', () => {
    const f = new Fixture(open());
    f.reserve({ reservationId: 7, parentIdTag: 'GROUP' });
    expect(f.service.couldClaim(1, 'TAG-B')).toBe(true);
    expect(f.service.claim(1, 'TAG-B', 'group')).toEqual({ allowed: true, reservationId: 7 });
    expect(f.service.claim(1, 'TAG-B', 'OTHER')).toEqual({ allowed: false });
    expect(f.service.claim(1, 'TAG-B')).toEqual({ allowed: false });
  });

  it('consume ends the reservation once its transaction started', () => {
    const f = new Fixture(open());
    f.reserve({ reservationId: 7 });
    f.service.consume(7);
    expect(f.service.isReserved(1)).toBe(false);
    expect(f.service.claim(1, 'TAG-B')).toEqual({ allowed: true });
    expect(f.store.db.prepare('SELECT COUNT(*) AS n FROM reservations').get()).toEqual({ n: 0 });
  });
});

describe('Reservations: CancelReservation', () => {
  it('Accepted for a reservation in force, which ends; Rejected for an unknown id', () => {
    const f = new Fixture(open());
    f.reserve({ reservationId: 7 });
    expect(f.service.cancel(8)).toBe('Rejected');
    expect(f.service.isReserved(1)).toBe(true);
    const before = f.changes;
    expect(f.service.cancel(7)).toBe('Accepted');
    expect(f.changes).toBeGreaterThan(before);
    expect(f.service.isReserved(1)).toBe(false);
    expect(f.service.cancel(7)).toBe('Rejected');
  });
});

describe('Reservations: expiry', () => {
  it('ends at expiryDate and not before', () => {
    const f = new Fixture(open());
    f.reserve({ expiryDate: at(T0 + 5 * MINUTE) });
    f.clock.advance(5 * MINUTE - 1);
    expect(f.service.isReserved(1)).toBe(true);
    const before = f.changes;
    f.clock.advance(1);
    expect(f.service.isReserved(1)).toBe(false);
    expect(f.changes).toBeGreaterThan(before);
    expect(f.store.db.prepare('SELECT COUNT(*) AS n FROM reservations').get()).toEqual({ n: 0 });
  });

  it('a replacement with a later expiryDate keeps the reservation past the first date', () => {
    const f = new Fixture(open());
    f.reserve({ expiryDate: at(T0 + MINUTE) });
    f.reserve({ expiryDate: at(T0 + 3 * MINUTE) });
    f.clock.advance(2 * MINUTE);
    expect(f.service.isReserved(1)).toBe(true);
    f.clock.advance(MINUTE);
    expect(f.service.isReserved(1)).toBe(false);
  });

  it('follows the central-system time, which may move after the reservation was made', () => {
    const clock = new FakeClock(T0);
    let offset = 0;
    const service = oneAvailableConnector(clock, { nowMs: () => clock.now() + offset });
    service.reserve({ connectorId: 1, expiryDate: at(T0 + 60 * MINUTE), idTag: 'TAG-A', reservationId: 1 });
    // The charger learns that its clock was 50 minutes behind the central system's.
    offset = 50 * MINUTE;
    clock.advance(11 * MINUTE);
    expect(service.isReserved(1)).toBe(false);
  });

  it('does not expire early when the system clock steps forward once the central-system time is known', () => {
    const clock = new FakeClock(0);
    const time = new OcppTime(clock, true);
    time.syncTo(at(T0));
    const service = oneAvailableConnector(clock, time);
    service.reserve({ connectorId: 1, expiryDate: at(T0 + 30 * MINUTE), idTag: 'TAG-A', reservationId: 1 });
    clock.stepWall(2 * 60 * MINUTE);
    clock.advance(30 * MINUTE - 1);
    expect(service.isReserved(1)).toBe(true);
    clock.advance(1);
    expect(service.isReserved(1)).toBe(false);
  });

  it('a restart keeps the reservation, which still expires on time afterwards', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cp-resv-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const first = new Fixture(open(dir));
    first.reserve({ reservationId: 3, parentIdTag: 'GROUP', expiryDate: at(T0 + 30 * MINUTE) });
    first.reserve({ reservationId: 4, connectorId: 2, expiryDate: at(T0 + 5 * MINUTE) });
    first.service.close();
    first.store.close();

    // Back after 10 minutes off: reservation 4 expired meanwhile, reservation 3 is still in force.
    const second = new Fixture(open(dir), [1, 2], new FakeClock(T0 + 10 * MINUTE));
    expect(second.service.all()).toEqual([
      { reservationId: 3, connectorId: 1, idTag: 'TAG-A', parentIdTag: 'GROUP', expiresAt: T0 + 30 * MINUTE },
    ]);
    expect(second.service.isReserved(1)).toBe(true);
    expect(second.service.isReserved(2)).toBe(false);
    second.clock.advance(20 * MINUTE - 1);
    expect(second.service.isReserved(1)).toBe(true);
    second.clock.advance(1);
    expect(second.service.isReserved(1)).toBe(false);
  });
});

describe('Reservations: the connector leaves service', () => {
  it.each(['Faulted', 'Unavailable'] as const)(
    '%s ends the reservation of that connector only',
    async (status) => {
      const f = new Fixture(open());
      f.reserve({ reservationId: 1 });
      f.reserve({ reservationId: 2, connectorId: 2 });
      await f.set(1, status);
      expect(f.service.all().map((r) => r.reservationId)).toEqual([2]);
      await f.set(1, 'Available');
      expect(f.service.isReserved(1)).toBe(false);
    },
  );

  it('the charge point Unavailable ends a connector-0 reservation', async () => {
    const f = new Fixture(open());
    f.zeroSupported = true;
    f.reserve({ connectorId: 0 });
    await f.set(0, 'Unavailable');
    expect(f.service.all()).toEqual([]);
  });
});

describe('Reservations: connector 0 (ReserveConnectorZeroSupported)', () => {
  it('Rejected while ReserveConnectorZeroSupported is false', () => {
    const f = new Fixture(open());
    expect(f.reserve({ connectorId: 0 })).toBe('Rejected');
    expect(f.service.all()).toEqual([]);
  });

  it('with two free connectors neither is held; a stranger may take one, and then the last is held', async () => {
    const f = new Fixture(open());
    f.zeroSupported = true;
    expect(f.reserve({ connectorId: 0, reservationId: 9 })).toBe('Accepted');
    expect(f.service.isReserved(1)).toBe(false);
    expect(f.service.isReserved(2)).toBe(false);
    expect(f.service.claim(1, 'TAG-B')).toEqual({ allowed: true });
    const before = f.changes;
    await f.set(1, 'Preparing');
    expect(f.changes).toBeGreaterThan(before);
    expect(f.service.isReserved(2)).toBe(true);
    expect(f.service.claim(2, 'TAG-B')).toEqual({ allowed: false });
    expect(f.service.couldClaim(2, 'TAG-B')).toBe(false);
    expect(f.service.claim(2, 'TAG-A')).toEqual({ allowed: true, reservationId: 9 });
    // The stranger on connector 1 is not affected by the reservation.
    expect(f.service.claim(1, 'TAG-B')).toEqual({ allowed: true });
    await f.set(1, 'Available');
    expect(f.service.isReserved(2)).toBe(false);
  });

  it('reacts to a status once the station has finished reporting it, and not after close', async () => {
    const f = new Fixture(open());
    f.zeroSupported = true;
    f.reserve({ connectorId: 0 });
    const before = f.changes;
    const reported = f.set(1, 'Preparing');
    // Still inside the report: the other listeners have not all seen Preparing yet.
    expect(f.changes).toBe(before);
    await reported;
    expect(f.changes).toBe(before + 1);
    f.service.close();
    await f.set(1, 'Available');
    expect(f.changes).toBe(before + 1);
  });

  it('the id may start on any connector and gets the reservationId there', () => {
    const f = new Fixture(open());
    f.zeroSupported = true;
    f.reserve({ connectorId: 0, reservationId: 9 });
    expect(f.service.claim(2, 'TAG-A')).toEqual({ allowed: true, reservationId: 9 });
    f.service.consume(9);
    expect(f.service.all()).toEqual([]);
  });

  it('one free connector: held at once (Reserved), and refused to a second connector-0 reservation', async () => {
    const f = new Fixture(open());
    f.zeroSupported = true;
    await f.set(2, 'Unavailable');
    expect(f.reserve({ connectorId: 0, reservationId: 9 })).toBe('Accepted');
    expect(f.service.isReserved(1)).toBe(true);
    expect(f.reserve({ connectorId: 0, reservationId: 10, idTag: 'TAG-B' })).toBe('Occupied');
    // A connector reservation may not take the connector kept for connector 0 either.
    expect(f.reserve({ connectorId: 1, reservationId: 11, idTag: 'TAG-B' })).toBe('Occupied');
  });

  it('replacing a connector-0 reservation counts its held connector as free', async () => {
    const f = new Fixture(open());
    f.zeroSupported = true;
    await f.set(2, 'Unavailable');
    f.reserve({ connectorId: 0, reservationId: 9 });
    expect(f.reserve({ connectorId: 0, reservationId: 9, idTag: 'TAG-B' })).toBe('Accepted');
    expect(f.reserve({ connectorId: 1, reservationId: 9, idTag: 'TAG-B' })).toBe('Accepted');
    expect(f.service.all()).toMatchObject([{ reservationId: 9, connectorId: 1 }]);
  });

  it('a connector reserved for an id is not counted as free for connector 0', () => {
    const f = new Fixture(open());
    f.zeroSupported = true;
    f.reserve({ connectorId: 1, reservationId: 1 });
    f.reserve({ connectorId: 2, reservationId: 2, idTag: 'TAG-B' });
    expect(f.reserve({ connectorId: 0, reservationId: 3, idTag: 'TAG-C' })).toBe('Occupied');
  });

  it.each([
    ['every connector Faulted', ['Faulted', 'Faulted'], 'Available', 'Faulted'],
    ['every connector occupied', ['Preparing', 'Charging'], 'Available', 'Occupied'],
    ['the charge point Unavailable', ['Unavailable', 'Unavailable'], 'Unavailable', 'Unavailable'],
    ['some Faulted, the others occupied', ['Faulted', 'Finishing'], 'Available', 'Occupied'],
  ] as const)('%s: %s', (_name, connectors, chargePoint, answer) => {
    const f = new Fixture(open());
    f.zeroSupported = true;
    f.base.set(0, chargePoint);
    connectors.forEach((status, i) => {
      f.base.set(i + 1, status);
    });
    expect(f.reserve({ connectorId: 0 })).toBe(answer);
  });
});
