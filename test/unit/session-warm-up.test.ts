import { describe, expect, it, vi } from 'vitest';
import { validateRequest } from '../../src/ocpp/validator.js';
import { REHEARSAL_ID_TAG } from '../../src/station/transactions.js';
import { useSessionFixtures } from './session-fixture.js';

const TAG = 'WARM01';
const fixture = useSessionFixtures();

/**
 * TransactionEngine.warmUp: the start and stop of a session rehearsed after the boot, so the first
 * real session does not pay for cold pages, statements and code; rolled back, so it leaves nothing.
 */
describe('the transaction warm-up', () => {
  it('records a start and a stop through the real messages and outbox, then leaves no trace of them', async () => {
    const fx = fixture({
      centralSystem: true,
      ocpp: { StopTxnSampledData: 'Energy.Active.Import.Register' },
    });
    const csms = fx.csms!;
    fx.engine.warmUp();
    await fx.settle();

    // The sink saw the rehearsal: the path to the queued StartTransaction and StopTransaction ran.
    expect(fx.starts().map((h) => h.tx.idTag)).toEqual([REHEARSAL_ID_TAG, REHEARSAL_ID_TAG]);
    expect(fx.stops().map((h) => h.tx.idTag)).toEqual([REHEARSAL_ID_TAG]);
    // ...and none of it was kept or sent.
    expect(fx.repo.recent(10)).toEqual([]);
    expect(csms.calls).toEqual([]);
    expect(fx.statusOf(1)).toBe('Available');

    // The first real session gets the rehearsal's local id: its samples must not carry over.
    const row = await fx.charging(1, TAG);
    expect(row.localId).toBe(1);
    await fx.engine.stopAll('Local');
    await fx.settle();
    expect(csms.calls.map((c) => c.action).filter((a) => a !== 'StatusNotification')).toEqual([
      'StartTransaction',
      'StopTransaction',
    ]);
    expect(csms.of('StartTransaction')).toMatchObject([{ idTag: TAG }]);
    const [stop] = csms.of('StopTransaction');
    expect(stop?.transactionData).toMatchObject([
      { sampledValue: [{ context: 'Transaction.Begin' }] },
      { sampledValue: [{ context: 'Transaction.End' }] },
    ]);
  });

  it('also runs the remote start and stop moves the rehearsal skips, by calls that change nothing', async () => {
    const fx = fixture({ centralSystem: true });
    await fx.settle();
    const remoteStart = vi.spyOn(fx.engine, 'remoteStart');
    const remoteStop = vi.spyOn(fx.engine, 'remoteStop');
    const events: unknown[] = [];
    fx.engine.on('changed', (id) => events.push(['changed', id]));
    fx.engine.on('transaction', (event) => events.push(event));
    const timers = fx.clock.pending;
    const timeline = fx.timeline.length;

    fx.engine.warmUp();
    await fx.settle();

    // They ran (V8 compiled them) and were refused: no connector, no transaction of theirs...
    expect(remoteStart).toHaveReturnedWith('Rejected');
    expect(remoteStop).toHaveReturnedWith('Rejected');
    // ...so no session moved, no status changed, no ConnectionTimeOut waits, nothing was sent.
    expect(events).toEqual([]);
    expect(fx.timeline.slice(timeline).filter((h) => h.kind === 'status')).toEqual([]);
    expect(fx.clock.pending).toBe(timers);
    expect(fx.csms!.calls).toEqual([]);
    expect(fx.statusOf(1)).toBe('Available');

    // The connectors serve the next remote start as if nothing had happened.
    const row = await fx.charging(1, TAG);
    expect(row.localId).toBe(1);
  });

  it("takes a stop's way to the contactor on an idle connector: its open contactor is commanded open again", async () => {
    const fx = fixture();
    await fx.settle();
    const relay = fx.board.connector(1)!.devices.relay;
    const set = vi.spyOn(relay, 'set');

    fx.engine.warmUp();
    await fx.settle();
    expect(set.mock.calls).toEqual([[false]]);
    expect(relay.isClosed()).toBe(false);
    expect(fx.statusOf(1)).toBe('Available');
  });

  it('leaves alone the contactor of a connector a session charges on', async () => {
    const fx = fixture();
    await fx.charging(1, TAG);
    const relay = fx.board.connector(1)!.devices.relay;
    expect(relay.isClosed()).toBe(true);
    const set = vi.spyOn(relay, 'set');

    fx.engine.warmUp();
    await fx.settle();
    expect(set).not.toHaveBeenCalledWith(false);
    expect(relay.isClosed()).toBe(true);
    expect(fx.statusOf(1)).toBe('Charging');
  });

  it("leaves alone the contactor of a connector a self-test holds: its commands are the test's", async () => {
    const fx = fixture();
    await fx.settle();
    const release = fx.engine.hold(1);
    expect(release).toBeTypeOf('function');
    const set = vi.spyOn(fx.board.connector(1)!.devices.relay, 'set');

    fx.engine.warmUp();
    await fx.settle();
    expect(set).not.toHaveBeenCalled();
    release?.();
  });

  it("rehearses the stop's write through the store's health, except when that would call a failing store healthy", async () => {
    const attempts = (ok: boolean) => {
      const seen: string[] = [];
      const writes = {
        ok,
        attempt: (what: string, write: () => void) => {
          seen.push(what);
          write();
          return true;
        },
      };
      return { seen, writes };
    };
    const healthy = attempts(true);
    const fx = fixture({ writes: healthy.writes });
    fx.engine.warmUp();
    await fx.settle();
    expect(healthy.seen).toEqual(['transaction stop']);
    expect(fx.repo.recent(10)).toEqual([]);

    // A store the health reports failing: a rolled-back write that goes through proves nothing.
    const failing = attempts(false);
    const again = fixture({ writes: failing.writes });
    again.engine.warmUp();
    await again.settle();
    expect(failing.seen).toEqual([]);
    expect(again.stops().map((s) => s.tx.idTag)).toEqual([REHEARSAL_ID_TAG]);
  });

  it('rehearses with an id tag no central system can reserve for or list, so no reservation is used up', () => {
    const reserve = {
      connectorId: 1,
      expiryDate: '2024-05-01T13:00:00.000Z',
      idTag: REHEARSAL_ID_TAG,
      reservationId: 1,
    };
    expect(validateRequest('ReserveNow', reserve)?.code).toBe('PropertyConstraintViolation');
    expect(
      validateRequest('SendLocalList', {
        listVersion: 1,
        updateType: 'Full',
        localAuthorizationList: [{ idTag: REHEARSAL_ID_TAG, idTagInfo: { status: 'Accepted' } }],
      })?.code,
    ).toBe('PropertyConstraintViolation');
  });

  it('runs once, and not at all on an engine closed before its turn', async () => {
    const fx = fixture();
    fx.engine.warmUp();
    fx.engine.warmUp();
    await fx.settle();
    fx.engine.warmUp();
    await fx.settle();
    expect(fx.stops()).toHaveLength(1);

    const closed = fixture();
    closed.engine.warmUp();
    closed.engine.close();
    await closed.settle();
    expect(closed.starts()).toEqual([]);
  });
});
