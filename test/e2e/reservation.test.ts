import { describe, expect, it } from 'vitest';
import { CP_ID, type Harness, useHarness } from '../support/harness.js';

const TAG = 'VALID01';
const TAG2 = 'VALID02';
const PARENT = 'GROUP-1';
const HOUR_MS = 3_600_000;

type Start = { connectorId: number; idTag: string; meterStart: number; reservationId?: number };

function expiry(fromNowMs = HOUR_MS): string {
  return new Date(Date.now() + fromNowMs).toISOString();
}

async function reserveNow(
  h: Harness,
  req: {
    connectorId: number;
    idTag?: string;
    parentIdTag?: string;
    reservationId?: number;
    expiryDate?: string;
  },
): Promise<string> {
  const answer = await h.csms.call<{ status: string }>(CP_ID, 'ReserveNow', {
    idTag: TAG,
    reservationId: 1,
    expiryDate: expiry(),
    ...req,
  });
  return answer.status;
}

/** The OCTT "other connectors Unavailable" preparation, for the two-connector sim board. */
async function connectorTwoUnavailable(h: Harness): Promise<void> {
  const mark = h.csms.mark();
  await h.csms.call(CP_ID, 'ChangeAvailability', { connectorId: 2, type: 'Inoperative' });
  await h.status(2, 'Unavailable', mark);
}

/** A reservation of connector 1 for TAG, answered Accepted and reported Reserved. */
async function reserved(
  h: Harness,
  req: { parentIdTag?: string; reservationId?: number } = {},
): Promise<void> {
  const mark = h.csms.mark();
  expect(await reserveNow(h, { connectorId: 1, ...req })).toBe('Accepted');
  await h.status(1, 'Reserved', mark);
}

/** Card first, then cable (the OCTT "Authorized" state, then plug): resolves with StartTransaction. */
async function startWithCard(h: Harness, idTag: string, connectorId = 1): Promise<Start> {
  const mark = h.csms.mark();
  h.board.swipe(idTag);
  await h.status(connectorId, 'Preparing', mark);
  h.board.plug(connectorId);
  const start = await h.csms.waitForCall(CP_ID, 'StartTransaction', { since: mark });
  await h.status(connectorId, 'Charging', mark);
  return start.payload as Start;
}

/** A card the charge point refuses without asking the central system (once per test and card). */
async function refusedUnasked(h: Harness, idTag: string): Promise<void> {
  const mark = h.csms.mark();
  h.board.swipe(idTag);
  await h.sink.waitFor(
    (l) => l.msg === 'card ignored: no connector free for a new session' && l.idTag === idTag,
  );
  expect(h.csms.calls(CP_ID, 'Authorize', mark)).toEqual([]);
  expect(h.csms.calls(CP_ID, 'StartTransaction', mark)).toEqual([]);
}

describe('Reservation profile', () => {
  const start = useHarness();

  it('reports the Reservation profile and ReserveConnectorZeroSupported (read-only)', async () => {
    const h = await start();
    await h.booted();
    const conf = await h.csms.call<{
      configurationKey: Array<{ key: string; readonly: boolean; value?: string }>;
    }>(CP_ID, 'GetConfiguration', { key: ['SupportedFeatureProfiles', 'ReserveConnectorZeroSupported'] });
    const byKey = new Map(conf.configurationKey.map((k) => [k.key, k]));
    expect(byKey.get('SupportedFeatureProfiles')?.value?.split(',')).toContain('Reservation');
    expect(byKey.get('ReserveConnectorZeroSupported')).toEqual({
      key: 'ReserveConnectorZeroSupported',
      readonly: true,
      value: 'false',
    });
  });

  it('TC_046_1_CS reserved connector, local start: another card is refused unasked, the reserved id starts with the reservationId', async () => {
    const h = await start();
    await h.booted();
    await connectorTwoUnavailable(h);
    await reserved(h, { reservationId: 46 });
    await refusedUnasked(h, TAG2);
    const startTx = await startWithCard(h, TAG);
    expect(startTx).toMatchObject({ connectorId: 1, idTag: TAG, reservationId: 46 });
  });

  it('TC_046_2_CS reserved connector, remote start: the cable leaves it Reserved, the start carries the reservationId', async () => {
    const h = await start();
    await h.booted();
    await reserved(h, { reservationId: 462 });
    const mark = h.csms.mark();
    h.board.plug(1);
    // A stranger's remote start is refused: the connector is kept for TAG.
    expect(await h.csms.call(CP_ID, 'RemoteStartTransaction', { connectorId: 1, idTag: TAG2 })).toEqual({
      status: 'Rejected',
    });
    // That answer came after anything the cable caused: the connector stayed Reserved, no Preparing.
    expect(h.csms.calls(CP_ID, 'StatusNotification', mark)).toEqual([]);
    expect(await h.csms.call(CP_ID, 'RemoteStartTransaction', { connectorId: 1, idTag: TAG })).toEqual({
      status: 'Accepted',
    });
    const startTx = await h.csms.waitForCall(CP_ID, 'StartTransaction', { since: mark });
    expect(startTx.payload).toMatchObject({ connectorId: 1, idTag: TAG, reservationId: 462 });
    await h.status(1, 'Charging', mark);
  });

  it('TC_047_CS an unused reservation expires: Available, then another id charges without a reservationId', async () => {
    const h = await start();
    await h.booted();
    await connectorTwoUnavailable(h);
    const mark = h.csms.mark();
    expect(await reserveNow(h, { connectorId: 1, reservationId: 47, expiryDate: expiry(1500) })).toBe(
      'Accepted',
    );
    await h.status(1, 'Reserved', mark);
    await h.status(1, 'Available', mark);
    const startTx = await startWithCard(h, TAG2);
    expect(startTx).toMatchObject({ connectorId: 1, idTag: TAG2 });
    expect(startTx).not.toHaveProperty('reservationId');
  });

  it('TC_048_1_CS a Faulted connector is answered Faulted', async () => {
    const h = await start();
    await h.booted();
    const mark = h.csms.mark();
    h.board.fault(1, 'GroundFailure');
    await h.status(1, 'Faulted', mark);
    expect(await reserveNow(h, { connectorId: 1 })).toBe('Faulted');
  });

  it('TC_048_2_CS an occupied (Preparing) connector is answered Occupied', async () => {
    const h = await start();
    await h.booted();
    const mark = h.csms.mark();
    h.board.plug(1);
    await h.status(1, 'Preparing', mark);
    expect(await reserveNow(h, { connectorId: 1 })).toBe('Occupied');
  });

  it('TC_048_3_CS an Unavailable connector is answered Unavailable', async () => {
    const h = await start();
    await h.booted();
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'ChangeAvailability', { connectorId: 1, type: 'Inoperative' });
    await h.status(1, 'Unavailable', mark);
    expect(await reserveNow(h, { connectorId: 1 })).toBe('Unavailable');
  });

  it('connector 0 is Rejected while ReserveConnectorZeroSupported is false (OCPP 1.6 section 5.13)', async () => {
    const h = await start();
    await h.booted();
    expect(await reserveNow(h, { connectorId: 0 })).toBe('Rejected');
  });

  it('TC_049_CS reservation of the charge point: the one free connector is Reserved, only the id starts, with the reservationId', async () => {
    const h = await start({ ocpp: { ReserveConnectorZeroSupported: true } });
    await h.booted();
    await connectorTwoUnavailable(h);
    const mark = h.csms.mark();
    expect(await reserveNow(h, { connectorId: 0, reservationId: 49 })).toBe('Accepted');
    await h.status(1, 'Reserved', mark);
    await refusedUnasked(h, TAG2);
    const startTx = await startWithCard(h, TAG);
    expect(startTx).toMatchObject({ connectorId: 1, idTag: TAG, reservationId: 49 });
  });

  it('a charge-point reservation keeps the last free connector Reserved, whenever it becomes the last one', async () => {
    const h = await start({ ocpp: { ReserveConnectorZeroSupported: true } });
    await h.booted();
    expect(await reserveNow(h, { connectorId: 0, reservationId: 70 })).toBe('Accepted');
    let mark = h.csms.mark();
    // Two free connectors for one reservation: a stranger may take one, and the other is then kept.
    const startTx = await startWithCard(h, TAG2);
    expect(startTx).toMatchObject({ connectorId: 1, idTag: TAG2 });
    expect(startTx).not.toHaveProperty('reservationId');
    await h.status(2, 'Reserved', mark);
    await refusedUnasked(h, 'VALID03');
    mark = h.csms.mark();
    h.board.fault(2, 'GroundFailure');
    await h.status(2, 'Faulted', mark);
    h.board.clear(2);
    await h.status(2, 'Reserved', mark);
    // A round trip after it: every StatusNotification caused by the clear has arrived.
    await h.csms.call(CP_ID, 'GetConfiguration', { key: ['HeartbeatInterval'] });
    const last = h.csms
      .calls(CP_ID, 'StatusNotification', mark)
      .map((c) => c.payload as { connectorId: number; status: string })
      .filter((p) => p.connectorId === 2)
      .at(-1);
    expect(last?.status).toBe('Reserved');
    // The reserved id may still start there, and the start ends the reservation.
    mark = h.csms.mark();
    const own = await startWithCard(h, TAG, 2);
    expect(own).toMatchObject({ connectorId: 2, idTag: TAG, reservationId: 70 });
  });

  it('TC_050_1_CS reservation of a Faulted charge point is answered Faulted', async () => {
    const h = await start({ ocpp: { ReserveConnectorZeroSupported: true } });
    await h.booted();
    const mark = h.csms.mark();
    h.board.fault(1, 'GroundFailure');
    h.board.fault(2, 'GroundFailure');
    await h.status(1, 'Faulted', mark);
    await h.status(2, 'Faulted', mark);
    expect(await reserveNow(h, { connectorId: 0 })).toBe('Faulted');
  });

  it('TC_050_2_CS reservation of a charge point whose connectors are all occupied is answered Occupied', async () => {
    const h = await start({ ocpp: { ReserveConnectorZeroSupported: true } });
    await h.booted();
    const mark = h.csms.mark();
    h.board.plug(1);
    h.board.plug(2);
    await h.status(1, 'Preparing', mark);
    await h.status(2, 'Preparing', mark);
    expect(await reserveNow(h, { connectorId: 0 })).toBe('Occupied');
  });

  it('TC_050_3_CS reservation of an Unavailable charge point is answered Unavailable', async () => {
    const h = await start({ ocpp: { ReserveConnectorZeroSupported: true } });
    await h.booted();
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'ChangeAvailability', { connectorId: 0, type: 'Inoperative' });
    await h.status(0, 'Unavailable', mark);
    expect(await reserveNow(h, { connectorId: 0 })).toBe('Unavailable');
  });

  it('TC_051_CS CancelReservation: Accepted, Available again, and the next transaction has no reservationId', async () => {
    const h = await start();
    await h.booted();
    await connectorTwoUnavailable(h);
    await reserved(h, { reservationId: 51 });
    const mark = h.csms.mark();
    expect(await h.csms.call(CP_ID, 'CancelReservation', { reservationId: 51 })).toEqual({
      status: 'Accepted',
    });
    await h.status(1, 'Available', mark);
    const startTx = await startWithCard(h, TAG2);
    expect(startTx).toMatchObject({ connectorId: 1, idTag: TAG2 });
    expect(startTx).not.toHaveProperty('reservationId');
  });

  it('TC_052_CS CancelReservation of an unknown id: Rejected, and the reservation still holds', async () => {
    const h = await start();
    await h.booted();
    await connectorTwoUnavailable(h);
    await reserved(h, { reservationId: 52 });
    expect(await h.csms.call(CP_ID, 'CancelReservation', { reservationId: 53 })).toEqual({
      status: 'Rejected',
    });
    await refusedUnasked(h, TAG2);
    const startTx = await startWithCard(h, TAG);
    expect(startTx).toMatchObject({ idTag: TAG, reservationId: 52 });
  });

  it('TC_053_CS a card with the reservation parentIdTag uses the reserved connector', async () => {
    const h = await start({
      csms: { rules: { authorize: () => ({ status: 'Accepted', parentIdTag: PARENT }) } },
    });
    await h.booted();
    await connectorTwoUnavailable(h);
    await reserved(h, { reservationId: 53, parentIdTag: PARENT });
    const mark = h.csms.mark();
    const startTx = await startWithCard(h, TAG2);
    expect(startTx).toMatchObject({ connectorId: 1, idTag: TAG2, reservationId: 53 });
    const auth = await h.csms.waitForCall(CP_ID, 'Authorize', { since: mark });
    expect(auth.payload).toEqual({ idTag: TAG2 });
  });

  it('a card whose parent id differs from the reservation is refused after its Authorize', async () => {
    const h = await start({
      csms: { rules: { authorize: () => ({ status: 'Accepted', parentIdTag: 'OTHER-GROUP' }) } },
    });
    await h.booted();
    await connectorTwoUnavailable(h);
    await reserved(h, { reservationId: 54, parentIdTag: PARENT });
    const mark = h.csms.mark();
    h.board.swipe(TAG2);
    await h.sink.waitFor((l) => l.msg === 'connector reserved for another id' && l.idTag === TAG2);
    expect(h.csms.calls(CP_ID, 'Authorize', mark)).toHaveLength(1);
    expect(h.csms.calls(CP_ID, 'StatusNotification', mark)).toEqual([]);
  });

  it('a ReserveNow with the id of a reservation in force replaces it (here: moves it to connector 2)', async () => {
    const h = await start();
    await h.booted();
    await reserved(h, { reservationId: 60 });
    const mark = h.csms.mark();
    expect(await reserveNow(h, { connectorId: 2, reservationId: 60 })).toBe('Accepted');
    await h.status(1, 'Available', mark);
    await h.status(2, 'Reserved', mark);
  });

  it('a reservation survives a restart and expires on time afterwards', async () => {
    const h = await start();
    await h.booted();
    const first = h.csms.mark();
    expect(await reserveNow(h, { connectorId: 1, reservationId: 61, expiryDate: expiry(3000) })).toBe(
      'Accepted',
    );
    await h.status(1, 'Reserved', first);
    await h.runtime.stop();
    const mark = h.csms.mark();
    await h.startRuntime();
    await h.booted(mark);
    await h.status(1, 'Reserved', mark);
    await h.status(1, 'Available', mark);
  });

  it('a fault on the reserved connector ends the reservation (OCPP 1.6 section 5.13)', async () => {
    const h = await start();
    await h.booted();
    await connectorTwoUnavailable(h);
    await reserved(h, { reservationId: 62 });
    const mark = h.csms.mark();
    h.board.fault(1, 'GroundFailure');
    await h.status(1, 'Faulted', mark);
    h.board.clear(1);
    await h.status(1, 'Available', mark);
    expect(await h.csms.call(CP_ID, 'CancelReservation', { reservationId: 62 })).toEqual({
      status: 'Rejected',
    });
  });
});
