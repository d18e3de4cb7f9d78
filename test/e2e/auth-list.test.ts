import { describe, expect, it } from 'vitest';
import { CP_ID, useHarness } from '../support/harness.js';

type Entry = { idTag: string; idTagInfo?: { status: 'Accepted' | 'Blocked' | 'Invalid' } };

const accepted = (...tags: string[]): Entry[] =>
  tags.map((idTag) => ({ idTag, idTagInfo: { status: 'Accepted' } }));

describe('Local Auth List Management', () => {
  const start = useHarness();

  async function version(h: Awaited<ReturnType<typeof start>>): Promise<number> {
    const { listVersion } = (await h.csms.call(CP_ID, 'GetLocalListVersion', {})) as { listVersion: number };
    return listVersion;
  }

  it('TC_042_1_CS / TC_043_1_CS GetLocalListVersion is -1 while LocalAuthListEnabled is false; SendLocalList NotSupported', async () => {
    const h = await start();
    await h.booted();
    expect(
      await h.csms.call(CP_ID, 'ChangeConfiguration', { key: 'LocalAuthListEnabled', value: 'false' }),
    ).toEqual({ status: 'Accepted' });
    expect(await version(h)).toBe(-1);
    expect(
      await h.csms.call(CP_ID, 'SendLocalList', {
        listVersion: 1,
        updateType: 'Full',
        localAuthorizationList: accepted('CARD-1'),
      }),
    ).toEqual({ status: 'NotSupported' });
    expect(h.runtime.localList.get('CARD-1')).toBeUndefined();
  });

  it('TC_042_2_CS an empty Full list is Accepted and reported as version 0', async () => {
    const h = await start();
    await h.booted();
    expect(await version(h)).toBe(0);
    expect(await h.csms.call(CP_ID, 'SendLocalList', { listVersion: 1, updateType: 'Full' })).toEqual({
      status: 'Accepted',
    });
    expect(await version(h)).toBe(0);
  });

  it('TC_043_CS Full then Differential; ids on the list are then authorized locally', async () => {
    const h = await start({
      csms: { rules: { authorize: (idTag) => ({ status: idTag === 'CARD-B' ? 'Invalid' : 'Accepted' }) } },
    });
    await h.booted();
    expect(
      await h.csms.call(CP_ID, 'SendLocalList', {
        listVersion: 1,
        updateType: 'Full',
        localAuthorizationList: accepted('CARD-A', 'CARD-B'),
      }),
    ).toEqual({ status: 'Accepted' });
    expect(
      await h.csms.call(CP_ID, 'SendLocalList', {
        listVersion: 2,
        updateType: 'Differential',
        localAuthorizationList: [...accepted('CARD-C'), { idTag: 'CARD-B' }],
      }),
    ).toEqual({ status: 'Accepted' });
    expect(await version(h)).toBe(2);
    expect(
      await h.csms.call(CP_ID, 'ChangeConfiguration', { key: 'LocalPreAuthorize', value: 'true' }),
    ).toEqual({ status: 'Accepted' });

    const mark = h.csms.mark();
    expect(await h.runtime.authorizer.authorize('card-a')).toMatchObject({
      info: { status: 'Accepted' },
      source: 'localList',
    });
    expect(await h.runtime.authorizer.authorize('CARD-C')).toMatchObject({
      info: { status: 'Accepted' },
      source: 'localList',
    });
    // Removed by the Differential update: only the central system can answer for it now.
    expect(await h.runtime.authorizer.authorize('CARD-B')).toMatchObject({
      info: { status: 'Invalid' },
      source: 'central',
    });
    expect(h.csms.calls(CP_ID, 'Authorize', mark).map((c) => c.payload)).toEqual([{ idTag: 'CARD-B' }]);
  });

  it('TC_043_2_CS a Differential update older than the list is a VersionMismatch', async () => {
    const h = await start();
    await h.booted();
    const send = (listVersion: number, updateType: 'Full' | 'Differential', tag: string) =>
      h.csms.call(CP_ID, 'SendLocalList', { listVersion, updateType, localAuthorizationList: accepted(tag) });
    expect(await send(2, 'Full', 'CARD-1')).toEqual({ status: 'Accepted' });
    expect(await version(h)).toBe(2);
    expect(await send(5, 'Differential', 'CARD-2')).toEqual({ status: 'Accepted' });
    expect(await version(h)).toBe(5);
    expect(await send(4, 'Differential', 'CARD-3')).toEqual({ status: 'VersionMismatch' });
    expect(await version(h)).toBe(5);
    expect(h.runtime.localList.get('CARD-3')).toBeUndefined();
  });

  it('TC_043_3_CS SendLocalList that cannot be stored (over SendLocalListMaxLength or LocalAuthListMaxLength) is Failed', async () => {
    const h = await start({ ocpp: { SendLocalListMaxLength: 2, LocalAuthListMaxLength: 3 } });
    await h.booted();
    expect(
      await h.csms.call(CP_ID, 'SendLocalList', {
        listVersion: 1,
        updateType: 'Full',
        localAuthorizationList: accepted('CARD-1', 'CARD-2', 'CARD-3'),
      }),
    ).toEqual({ status: 'Failed' });
    expect(await version(h)).toBe(0);
    expect(
      await h.csms.call(CP_ID, 'SendLocalList', {
        listVersion: 1,
        updateType: 'Full',
        localAuthorizationList: accepted('CARD-1', 'CARD-2'),
      }),
    ).toEqual({ status: 'Accepted' });
    expect(
      await h.csms.call(CP_ID, 'SendLocalList', {
        listVersion: 2,
        updateType: 'Differential',
        localAuthorizationList: accepted('CARD-3', 'CARD-4'),
      }),
    ).toEqual({ status: 'Failed' });
    expect([await version(h), h.runtime.localList.size(), h.runtime.localList.get('CARD-3')]).toEqual([
      1,
      2,
      undefined,
    ]);
  });

  it('a Full update with an entry lacking idTagInfo is refused with OccurenceConstraintViolation; the list stays', async () => {
    const h = await start();
    await h.booted();
    expect(
      await h.csms.call(CP_ID, 'SendLocalList', {
        listVersion: 1,
        updateType: 'Full',
        localAuthorizationList: accepted('CARD-1'),
      }),
    ).toEqual({ status: 'Accepted' });
    await expect(
      h.csms.call(CP_ID, 'SendLocalList', {
        listVersion: 2,
        updateType: 'Full',
        localAuthorizationList: [...accepted('CARD-2'), { idTag: 'CARD-3' }],
      }),
    ).rejects.toMatchObject({ code: 'OccurenceConstraintViolation' });
    expect(await version(h)).toBe(1);
    expect([
      h.runtime.localList.size(),
      h.runtime.localList.get('CARD-1'),
      h.runtime.localList.get('CARD-2'),
    ]).toEqual([1, { status: 'Accepted' }, undefined]);
  });

  it('the list and its version survive a restart', async () => {
    const h = await start();
    await h.booted();
    expect(
      await h.csms.call(CP_ID, 'SendLocalList', {
        listVersion: 3,
        updateType: 'Full',
        localAuthorizationList: [
          ...accepted('CARD-1'),
          { idTag: 'CARD-2', idTagInfo: { status: 'Blocked' } },
        ],
      }),
    ).toEqual({ status: 'Accepted' });
    await h.runtime.stop();
    const mark = h.csms.mark();
    await h.startRuntime();
    await h.booted(mark);
    expect(await version(h)).toBe(3);
    expect([h.runtime.localList.get('card-1'), h.runtime.localList.get('CARD-2')]).toEqual([
      { status: 'Accepted' },
      { status: 'Blocked' },
    ]);
  });

  it('TC_061_CS ClearCache empties the authorization cache, so the next card is asked about again', async () => {
    const h = await start();
    await h.booted();
    expect(
      await h.csms.call(CP_ID, 'ChangeConfiguration', { key: 'LocalPreAuthorize', value: 'true' }),
    ).toEqual({ status: 'Accepted' });
    let mark = h.csms.mark();
    expect(await h.runtime.authorizer.authorize('CARD-1')).toMatchObject({ source: 'central' });
    expect(await h.runtime.authorizer.authorize('CARD-1')).toMatchObject({ source: 'cache' });
    expect(h.csms.calls(CP_ID, 'Authorize', mark)).toHaveLength(1);

    expect(await h.csms.call(CP_ID, 'ClearCache', {})).toEqual({ status: 'Accepted' });
    expect(h.runtime.authCache.size()).toBe(0);
    mark = h.csms.mark();
    expect(await h.runtime.authorizer.authorize('CARD-1')).toMatchObject({ source: 'central' });
    expect(h.csms.calls(CP_ID, 'Authorize', mark).map((c) => c.payload)).toEqual([{ idTag: 'CARD-1' }]);
  });

  it('TC_008_CS remote start with an id on the local list: no Authorize, StartTransaction, Charging', async () => {
    const h = await start({
      ocpp: { LocalPreAuthorize: true, AuthorizationCacheEnabled: false, AuthorizeRemoteTxRequests: true },
    });
    await h.booted();
    expect(await version(h)).toBe(0);
    expect(
      await h.csms.call(CP_ID, 'SendLocalList', {
        listVersion: 1,
        updateType: 'Full',
        localAuthorizationList: accepted('LISTED-1'),
      }),
    ).toEqual({ status: 'Accepted' });
    const mark = h.csms.mark();
    h.board.plug(1);
    await h.status(1, 'Preparing', mark);
    expect(await h.csms.call(CP_ID, 'RemoteStartTransaction', { connectorId: 1, idTag: 'LISTED-1' })).toEqual(
      {
        status: 'Accepted',
      },
    );
    await h.csms.waitForCall(CP_ID, 'StartTransaction', { since: mark });
    await h.status(1, 'Charging', mark);
    expect(h.csms.calls(CP_ID, 'Authorize', mark)).toEqual([]);
  });

  it('a list entry the central system contradicts is reported: StatusNotification(0, LocalListConflict)', async () => {
    const h = await start({
      ocpp: { LocalPreAuthorize: false },
      csms: { rules: { authorize: () => ({ status: 'Blocked' }) } },
    });
    await h.booted();
    await h.csms.call(CP_ID, 'SendLocalList', {
      listVersion: 1,
      updateType: 'Full',
      localAuthorizationList: accepted('LISTED-2'),
    });
    const mark = h.csms.mark();
    h.board.swipe('LISTED-2');
    const conflict = await h.csms.waitForCall(CP_ID, 'StatusNotification', {
      since: mark,
      where: (p: { connectorId: number; errorCode: string }) =>
        p.connectorId === 0 && p.errorCode === 'LocalListConflict',
    });
    expect(conflict.payload).toMatchObject({ info: 'LISTED-2' });
  });

  it('a conflict is reported once per id, then connector 0 reports NoError again', async () => {
    const h = await start({ ocpp: { LocalPreAuthorize: false } });
    await h.booted();
    await h.csms.call(CP_ID, 'SendLocalList', {
      listVersion: 1,
      updateType: 'Full',
      localAuthorizationList: [{ idTag: 'LISTED-3', idTagInfo: { status: 'Blocked' } }],
    });
    const mark = h.csms.mark();
    // The central system accepts the id: Authorize.conf and then StartTransaction.conf contradict the list.
    h.board.swipe('LISTED-3');
    await h.csms.waitForCall(CP_ID, 'Authorize', { since: mark });
    h.board.plug(1);
    await h.csms.waitForCall(CP_ID, 'StartTransaction', { since: mark });
    // Queued after whatever StartTransaction.conf led to: once it is sent, every report is in.
    expect(await h.csms.call(CP_ID, 'TriggerMessage', { requestedMessage: 'Heartbeat' })).toEqual({
      status: 'Accepted',
    });
    await h.csms.waitForCall(CP_ID, 'Heartbeat', { since: mark });

    const connectorZero = h.csms
      .calls(CP_ID, 'StatusNotification', mark)
      .map((c) => c.payload as { connectorId: number; errorCode: string; info?: string })
      .filter((p) => p.connectorId === 0);
    expect(connectorZero.map((p) => [p.errorCode, p.info])).toEqual([
      ['LocalListConflict', 'LISTED-3'],
      ['NoError', undefined],
    ]);

    // A new list that still contradicts the central system is a new conflict.
    await h.csms.call(CP_ID, 'SendLocalList', {
      listVersion: 2,
      updateType: 'Differential',
      localAuthorizationList: [{ idTag: 'LISTED-3', idTagInfo: { status: 'Invalid' } }],
    });
    const again = h.csms.mark();
    await h.runtime.authorizer.authorize('LISTED-3');
    await h.csms.waitForCall(CP_ID, 'StatusNotification', {
      since: again,
      where: (p: { connectorId: number; errorCode: string }) =>
        p.connectorId === 0 && p.errorCode === 'LocalListConflict',
    });
  });
});
