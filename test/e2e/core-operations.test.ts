import { describe, expect, it } from 'vitest';
import { CP_ID, useHarness } from '../support/harness.js';

describe('Core operations without transactions, and Remote Trigger', () => {
  const start = useHarness();

  it('TC_062_CS DataTransfer to the charge point: unknown vendor, then a registered vendor', async () => {
    const h = await start();
    await h.booted();
    expect(
      await h.csms.call(CP_ID, 'DataTransfer', {
        vendorId: 'com.example.unknown',
        messageId: 'x',
        data: '1',
      }),
    ).toEqual({
      status: 'UnknownVendorId',
    });
    h.runtime.vendors.register('com.example.echo', (req) =>
      req.messageId === 'echo'
        ? { status: 'Accepted', data: req.data ?? '' }
        : { status: 'UnknownMessageId' },
    );
    expect(
      await h.csms.call(CP_ID, 'DataTransfer', {
        vendorId: 'com.example.echo',
        messageId: 'echo',
        data: 'hi',
      }),
    ).toEqual({
      status: 'Accepted',
      data: 'hi',
    });
    expect(
      await h.csms.call(CP_ID, 'DataTransfer', { vendorId: 'com.example.echo', messageId: 'other' }),
    ).toEqual({
      status: 'UnknownMessageId',
    });
  });

  it('DataTransfer from the charge point: sent with the vendor extensions, answered by the central system', async () => {
    const h = await start({
      csms: {
        rules: {
          onCall: (_cp, action, payload) =>
            action === 'DataTransfer'
              ? { status: 'Accepted', data: `got ${(payload as { data?: string }).data}` }
              : undefined,
        },
      },
    });
    await h.booted();
    const mark = h.csms.mark();
    await expect(
      h.runtime.vendors.send({ vendorId: 'com.example.meter', messageId: 'calibration', data: '42' }),
    ).resolves.toEqual({ status: 'Accepted', data: 'got 42' });
    expect(h.csms.calls(CP_ID, 'DataTransfer', mark).map((c) => c.payload)).toEqual([
      { vendorId: 'com.example.meter', messageId: 'calibration', data: '42' },
    ]);
  });

  it('ChangeAvailability of an unknown connector is Rejected; a connector goes Unavailable and back', async () => {
    const h = await start();
    await h.booted();
    expect(await h.csms.call(CP_ID, 'ChangeAvailability', { connectorId: 7, type: 'Inoperative' })).toEqual({
      status: 'Rejected',
    });
    let mark = h.csms.mark();
    expect(await h.csms.call(CP_ID, 'ChangeAvailability', { connectorId: 2, type: 'Inoperative' })).toEqual({
      status: 'Accepted',
    });
    await h.csms.waitForCall(CP_ID, 'StatusNotification', {
      since: mark,
      where: (p: { connectorId: number; status: string }) =>
        p.connectorId === 2 && p.status === 'Unavailable',
    });
    mark = h.csms.mark();
    expect(await h.csms.call(CP_ID, 'ChangeAvailability', { connectorId: 2, type: 'Operative' })).toEqual({
      status: 'Accepted',
    });
    await h.csms.waitForCall(CP_ID, 'StatusNotification', {
      since: mark,
      where: (p: { connectorId: number; status: string }) => p.connectorId === 2 && p.status === 'Available',
    });
  });

  it('a plugged cable and a hardware fault show in StatusNotification', async () => {
    const h = await start();
    await h.booted();
    const mark = h.csms.mark();
    h.board.plug(1);
    await h.csms.waitForCall(CP_ID, 'StatusNotification', {
      since: mark,
      where: (p: { connectorId: number; status: string }) => p.connectorId === 1 && p.status === 'Preparing',
    });
    h.board.fault(2, 'GroundFailure');
    await h.csms.waitForCall(CP_ID, 'StatusNotification', {
      since: mark,
      where: (p: { connectorId: number; status: string; errorCode: string }) =>
        p.connectorId === 2 && p.status === 'Faulted' && p.errorCode === 'GroundFailure',
    });
  });

  it('TC_054_CS TriggerMessage: MeterValues, Heartbeat, StatusNotification, Diagnostics and Firmware status', async () => {
    const h = await start();
    await h.booted();
    const { csms } = h;
    const trigger = (requestedMessage: string, connectorId?: number) =>
      csms.call(CP_ID, 'TriggerMessage', {
        requestedMessage,
        ...(connectorId === undefined ? {} : { connectorId }),
      });

    let mark = csms.mark();
    expect(await trigger('MeterValues', 1)).toEqual({ status: 'Accepted' });
    const mv = await csms.waitForCall(CP_ID, 'MeterValues', { since: mark });
    expect(mv.payload).toMatchObject({
      connectorId: 1,
      meterValue: [
        { sampledValue: [{ measurand: 'Energy.Active.Import.Register', context: 'Trigger', unit: 'Wh' }] },
      ],
    });

    mark = csms.mark();
    expect(await trigger('Heartbeat')).toEqual({ status: 'Accepted' });
    await csms.waitForCall(CP_ID, 'Heartbeat', { since: mark });

    mark = csms.mark();
    expect(await trigger('StatusNotification', 2)).toEqual({ status: 'Accepted' });
    const sn = await csms.waitForCall(CP_ID, 'StatusNotification', { since: mark });
    expect(sn.payload).toMatchObject({ connectorId: 2, status: 'Available' });

    mark = csms.mark();
    expect(await trigger('DiagnosticsStatusNotification')).toEqual({ status: 'Accepted' });
    expect((await csms.waitForCall(CP_ID, 'DiagnosticsStatusNotification', { since: mark })).payload).toEqual(
      {
        status: 'Idle',
      },
    );

    mark = csms.mark();
    expect(await trigger('FirmwareStatusNotification')).toEqual({ status: 'Accepted' });
    expect((await csms.waitForCall(CP_ID, 'FirmwareStatusNotification', { since: mark })).payload).toEqual({
      status: 'Idle',
    });

    mark = csms.mark();
    expect(await trigger('BootNotification')).toEqual({ status: 'Accepted' });
    await csms.waitForCall(CP_ID, 'BootNotification', { since: mark });
  });

  it('TC_055_CS TriggerMessage for a connector that does not exist is Rejected and sends nothing', async () => {
    const h = await start();
    await h.booted();
    const mark = h.csms.mark();
    expect(
      await h.csms.call(CP_ID, 'TriggerMessage', { requestedMessage: 'MeterValues', connectorId: 3 }),
    ).toEqual({
      status: 'Rejected',
    });
    // A later trigger's message arrives, and nothing came before it: the rejected one really sent nothing.
    await h.csms.call(CP_ID, 'TriggerMessage', { requestedMessage: 'Heartbeat' });
    await h.csms.waitForCall(CP_ID, 'Heartbeat', { since: mark });
    expect(h.csms.calls(CP_ID, 'MeterValues', mark)).toEqual([]);
  });
});
