import { describe, expect, it } from 'vitest';
import type { DevCsms, FrameRecord } from '../csms/server.js';
import type { StartReq } from '../support/charging.js';
import { CP_ID, useHarness } from '../support/harness.js';

const TAG = 'VALID01';

type Status = { connectorId: number; status: string };

/** The recorded frame of the charge point's answer (CALLRESULT or CALLERROR) to the central system's CALL `id`. */
function answerFrame(csms: DevCsms, id: string): Promise<FrameRecord> {
  return csms.waitForFrame(
    CP_ID,
    (f) =>
      f.direction === 'in' &&
      (f.message?.type === 'result' || f.message?.type === 'error') &&
      f.message.id === id,
    { what: `the answer to ${id}` },
  );
}

/** The id of the last CALL `action` the central system sent after `since`. */
function sentCallId(csms: DevCsms, action: string, since: number): string {
  const frame = csms.frames.findLast(
    (f) =>
      f.seq > since && f.direction === 'out' && f.message?.type === 'call' && f.message.action === action,
  );
  if (frame?.message?.type !== 'call') throw new Error(`no ${action} sent after ${since}`);
  return frame.message.id;
}

describe('OCPP-J order on the wire', () => {
  const start = useHarness();

  it('a RemoteStopTransaction in the same TCP write as the StartTransaction.conf finds the transaction', async () => {
    const h = await start({
      csms: {
        rules: { onCall: (_cp, action) => (action === 'StartTransaction' ? 'ignore' : undefined) },
      },
    });
    await h.booted();
    const mark = h.csms.mark();
    h.board.plug(1);
    await h.status(1, 'Preparing', mark);
    h.board.swipe(TAG);
    const startTx = await h.csms.waitForCall(CP_ID, 'StartTransaction', {
      since: mark,
      where: (p: StartReq) => p.connectorId === 1,
    });
    h.csms.sendRawBatch(CP_ID, [
      JSON.stringify([3, startTx.id, { transactionId: 4711, idTagInfo: { status: 'Accepted' } }]),
      JSON.stringify([2, 'stop-1', 'RemoteStopTransaction', { transactionId: 4711 }]),
    ]);
    const answer = await answerFrame(h.csms, 'stop-1');
    expect(answer.message).toEqual({ type: 'result', id: 'stop-1', payload: { status: 'Accepted' } });
    const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    expect(stop.payload).toMatchObject({ transactionId: 4711, reason: 'Remote' });
  });

  it('ChangeAvailability is answered before the StatusNotification it causes', async () => {
    const h = await start();
    await h.booted();
    const mark = h.csms.mark();
    expect(await h.csms.call(CP_ID, 'ChangeAvailability', { connectorId: 2, type: 'Inoperative' })).toEqual({
      status: 'Accepted',
    });
    const answer = await answerFrame(h.csms, sentCallId(h.csms, 'ChangeAvailability', mark));
    const status = await h.csms.waitForCall(CP_ID, 'StatusNotification', {
      since: mark,
      where: (p: Status) => p.connectorId === 2 && p.status === 'Unavailable',
    });
    expect(status.record.seq).toBeGreaterThan(answer.seq);
  });

  it('RemoteStartTransaction with AuthorizeRemoteTxRequests is answered before its Authorize', async () => {
    const h = await start({ ocpp: { AuthorizeRemoteTxRequests: true } });
    await h.booted();
    const mark = h.csms.mark();
    expect(await h.csms.call(CP_ID, 'RemoteStartTransaction', { connectorId: 1, idTag: TAG })).toEqual({
      status: 'Accepted',
    });
    const answer = await answerFrame(h.csms, sentCallId(h.csms, 'RemoteStartTransaction', mark));
    const authorize = await h.csms.waitForCall(CP_ID, 'Authorize', { since: mark });
    expect(authorize.payload).toEqual({ idTag: TAG });
    expect(authorize.record.seq).toBeGreaterThan(answer.seq);
  });

  it('TriggerMessage is answered before the message it triggers', async () => {
    const h = await start();
    await h.booted();
    const mark = h.csms.mark();
    expect(
      await h.csms.call(CP_ID, 'TriggerMessage', { requestedMessage: 'StatusNotification', connectorId: 1 }),
    ).toEqual({ status: 'Accepted' });
    const answer = await answerFrame(h.csms, sentCallId(h.csms, 'TriggerMessage', mark));
    const status = await h.csms.waitForCall(CP_ID, 'StatusNotification', { since: mark });
    expect(status.payload).toMatchObject({ connectorId: 1, status: 'Available' });
    expect(status.record.seq).toBeGreaterThan(answer.seq);
  });
});
