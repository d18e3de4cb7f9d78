import { describe, expect, it } from 'vitest';
import { charging as startCharging } from '../support/charging.js';
import { CP_ID, type Harness, useHarness } from '../support/harness.js';

const TAG = 'VALID01';
const TAG2 = 'VALID02';

type Start = { connectorId: number; idTag: string; meterStart: number; reservationId?: number };
type Stop = { transactionId: number; idTag?: string; meterStop: number; reason?: string };

/** Starts a transaction on connector 1 the OCTT way (plug, then card) and returns its id. */
const charging = (h: Harness, idTag = TAG, connectorId = 1) => startCharging(h, idTag, connectorId);

describe('Core: charging sessions', () => {
  const start = useHarness();

  it('TC_003_CS regular charging session, plug-in first', async () => {
    const h = await start();
    await h.booted();
    const mark = h.csms.mark();
    h.board.plug(1);
    await h.status(1, 'Preparing', mark);
    h.board.swipe(TAG);
    const auth = await h.csms.waitForCall(CP_ID, 'Authorize', { since: mark });
    expect(auth.payload).toEqual({ idTag: TAG });
    const startTx = await h.csms.waitForCall(CP_ID, 'StartTransaction', { since: mark });
    expect(startTx.payload).toMatchObject({ connectorId: 1, idTag: TAG, meterStart: 0 });
    await h.status(1, 'Charging', mark);
    expect(h.board.connector(1)?.devices.relay.isClosed()).toBe(true);
  });

  it('TC_004_1_CS regular charging session, identification first', async () => {
    const h = await start();
    await h.booted();
    const mark = h.csms.mark();
    h.board.swipe(TAG);
    await h.csms.waitForCall(CP_ID, 'Authorize', { since: mark });
    await h.status(1, 'Preparing', mark);
    h.board.plug(1);
    await h.csms.waitForCall(CP_ID, 'StartTransaction', {
      since: mark,
      where: (p: Start) => p.connectorId === 1,
    });
    await h.status(1, 'Charging', mark);
  });

  it('TC_004_2_CS identification first, no cable within ConnectionTimeOut: Available again', async () => {
    const h = await start({ ocpp: { ConnectionTimeOut: 1 } });
    await h.booted();
    const mark = h.csms.mark();
    h.board.swipe(TAG);
    await h.status(1, 'Preparing', mark);
    await h.status(1, 'Available', mark);
    expect(h.csms.calls(CP_ID, 'StartTransaction', mark)).toEqual([]);
  });

  it('TC_010_CS remote start, cable plugged in first (AuthorizeRemoteTxRequests false: no Authorize)', async () => {
    const h = await start();
    await h.booted();
    const mark = h.csms.mark();
    h.board.plug(1);
    await h.status(1, 'Preparing', mark);
    expect(await h.csms.call(CP_ID, 'RemoteStartTransaction', { connectorId: 1, idTag: TAG })).toEqual({
      status: 'Accepted',
    });
    await h.csms.waitForCall(CP_ID, 'StartTransaction', { since: mark });
    await h.status(1, 'Charging', mark);
    expect(h.csms.calls(CP_ID, 'Authorize', mark)).toEqual([]);
  });

  it('TC_011_1_CS remote start first, with AuthorizeRemoteTxRequests true: Authorize, Preparing, plug, Charging', async () => {
    const h = await start({ ocpp: { AuthorizeRemoteTxRequests: true } });
    await h.booted();
    const mark = h.csms.mark();
    expect(await h.csms.call(CP_ID, 'RemoteStartTransaction', { connectorId: 1, idTag: TAG })).toEqual({
      status: 'Accepted',
    });
    await h.csms.waitForCall(CP_ID, 'Authorize', { since: mark });
    await h.status(1, 'Preparing', mark);
    h.board.plug(1);
    await h.csms.waitForCall(CP_ID, 'StartTransaction', { since: mark });
    await h.status(1, 'Charging', mark);
  });

  it('TC_011_2_CS remote start, no cable within ConnectionTimeOut: Available again', async () => {
    const h = await start({ ocpp: { ConnectionTimeOut: 1 } });
    await h.booted();
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'RemoteStartTransaction', { connectorId: 1, idTag: TAG });
    await h.status(1, 'Preparing', mark);
    await h.status(1, 'Available', mark);
    expect(h.csms.calls(CP_ID, 'StartTransaction', mark)).toEqual([]);
  });

  it('TC_012_CS remote stop: StopTransaction with reason Remote, then Finishing', async () => {
    const h = await start();
    await h.booted();
    const transactionId = await charging(h);
    const mark = h.csms.mark();
    expect(await h.csms.call(CP_ID, 'RemoteStopTransaction', { transactionId })).toEqual({
      status: 'Accepted',
    });
    const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    expect(stop.payload).toMatchObject({ transactionId, reason: 'Remote' });
    await h.status(1, 'Finishing', mark);
    expect(h.board.connector(1)?.devices.relay.isClosed()).toBe(false);
    h.board.unplug(1);
    await h.status(1, 'Available', mark);
  });

  it('TC_068_CS only the starting tag stops the transaction, without an Authorize', async () => {
    const h = await start();
    await h.booted();
    // One reader serves both connectors: the other one is occupied, as the case requires.
    await h.csms.call(CP_ID, 'ChangeAvailability', { connectorId: 2, type: 'Inoperative' });
    const transactionId = await charging(h);
    const mark = h.csms.mark();
    h.board.swipe(TAG2);
    h.board.swipe(TAG);
    const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    expect(stop.payload).toMatchObject({ transactionId, idTag: TAG, reason: 'Local' });
    await h.status(1, 'Finishing', mark);
    expect(h.csms.calls(CP_ID, 'Authorize', mark)).toEqual([]);
    expect(h.csms.calls(CP_ID, 'StopTransaction', mark)).toHaveLength(1);
  });

  it('TC_069_CS a card with the same parent id stops the transaction after an Authorize', async () => {
    const h = await start({
      csms: { rules: { authorize: () => ({ status: 'Accepted', parentIdTag: 'GROUP-1' }) } },
    });
    await h.booted();
    await h.csms.call(CP_ID, 'ChangeAvailability', { connectorId: 2, type: 'Inoperative' });
    const transactionId = await charging(h);
    const mark = h.csms.mark();
    h.board.swipe(TAG2);
    const auth = await h.csms.waitForCall(CP_ID, 'Authorize', { since: mark });
    expect(auth.payload).toEqual({ idTag: TAG2 });
    const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    expect(stop.payload).toMatchObject({ transactionId, idTag: TAG2 });
    await h.status(1, 'Finishing', mark);
  });

  it('TC_023_CS an invalid id starts nothing', async () => {
    const h = await start({ csms: { rules: { authorize: () => ({ status: 'Invalid' }) } } });
    await h.booted();
    const mark = h.csms.mark();
    h.board.plug(1);
    await h.status(1, 'Preparing', mark);
    h.board.swipe('INVALID');
    await h.csms.waitForCall(CP_ID, 'Authorize', { since: mark });
    await h.sink.waitFor((l) => l.msg === 'id tag not authorized' && l.idTag === 'INVALID');
    expect(h.csms.calls(CP_ID, 'StartTransaction', mark)).toEqual([]);
    expect(h.board.connector(1)?.devices.relay.isClosed()).toBe(false);
  });

  it('TC_026_CS remote start on the busy connector is Rejected; TC_027_CS connector 0 too; TC_028_CS unknown stop', async () => {
    const h = await start();
    await h.booted();
    await charging(h);
    expect(await h.csms.call(CP_ID, 'RemoteStartTransaction', { connectorId: 1, idTag: TAG2 })).toEqual({
      status: 'Rejected',
    });
    expect(await h.csms.call(CP_ID, 'RemoteStartTransaction', { connectorId: 0, idTag: TAG2 })).toEqual({
      status: 'Rejected',
    });
    expect(await h.csms.call(CP_ID, 'RemoteStopTransaction', { transactionId: 987654 })).toEqual({
      status: 'Rejected',
    });
  });

  it('TC_060_CS remote start with a charging profile that is not a TxProfile is Rejected', async () => {
    const h = await start();
    await h.booted();
    const profile = {
      chargingProfileId: 1,
      stackLevel: 0,
      chargingProfilePurpose: 'TxDefaultProfile',
      chargingProfileKind: 'Absolute',
      chargingSchedule: { chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 6 }] },
    };
    expect(
      await h.csms.call(CP_ID, 'RemoteStartTransaction', {
        connectorId: 1,
        idTag: TAG,
        chargingProfile: profile,
      }),
    ).toEqual({ status: 'Rejected' });
  });

  it('TC_017_1_CS unlock without a session: Unlocked; TC_031_CS unknown connector: NotSupported; TC_030_CS failure', async () => {
    const h = await start();
    await h.booted();
    expect(await h.csms.call(CP_ID, 'UnlockConnector', { connectorId: 1 })).toEqual({ status: 'Unlocked' });
    expect(await h.csms.call(CP_ID, 'UnlockConnector', { connectorId: 9 })).toEqual({
      status: 'NotSupported',
    });
    h.board.lockFail(2, true);
    expect(await h.csms.call(CP_ID, 'UnlockConnector', { connectorId: 2 })).toEqual({
      status: 'UnlockFailed',
    });
  });

  it('TC_017_2_CS a tethered cable cannot be unlocked: NotSupported', async () => {
    const h = await start({ board: { connectors: [{ id: 1, fixedCable: true }] } });
    await h.booted();
    expect(await h.csms.call(CP_ID, 'UnlockConnector', { connectorId: 1 })).toEqual({
      status: 'NotSupported',
    });
  });

  it('TC_018_2_CS a tethered cable during a session: UnlockConnector is NotSupported and charging goes on', async () => {
    const h = await start({ board: { connectors: [{ id: 1, fixedCable: true }, { id: 2 }] } });
    await h.booted();
    await charging(h);
    const mark = h.csms.mark();
    expect(await h.csms.call(CP_ID, 'UnlockConnector', { connectorId: 1 })).toEqual({
      status: 'NotSupported',
    });
    expect(h.csms.calls(CP_ID, 'StopTransaction', mark)).toEqual([]);
    expect(h.board.connector(1)?.devices.relay.isClosed()).toBe(true);
  });

  it('TC_018_1_CS unlock during a session stops it with UnlockCommand; unplug makes it Available', async () => {
    const h = await start();
    await h.booted();
    const transactionId = await charging(h);
    const mark = h.csms.mark();
    expect(await h.csms.call(CP_ID, 'UnlockConnector', { connectorId: 1 })).toEqual({ status: 'Unlocked' });
    const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    expect(stop.payload).toMatchObject({ transactionId, reason: 'UnlockCommand' });
    await h.status(1, 'Finishing', mark);
    h.board.unplug(1);
    await h.status(1, 'Available', mark);
  });

  it('TC_005_1_CS EV-side disconnect stops the transaction (EVDisconnected) and unlocks', async () => {
    const h = await start({
      ocpp: { StopTransactionOnEVSideDisconnect: true, UnlockConnectorOnEVSideDisconnect: true },
    });
    await h.booted();
    const transactionId = await charging(h);
    const mark = h.csms.mark();
    h.board.unplug(1);
    const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    expect(stop.payload).toMatchObject({ transactionId, reason: 'EVDisconnected' });
    await h.status(1, 'Finishing', mark);
    await h.status(1, 'Available', mark);
    expect(h.board.connector(1)?.lock?.isLocked()).toBe(false);
    // Never Available while the transaction is open, and no Available -> Finishing (not in the 1.6 table).
    // (StatusNotification may overtake the queued StopTransaction on the wire: OCPP 1.6 section 3.7.)
    const statuses = h.csms
      .calls(CP_ID, 'StatusNotification', mark)
      .map((c) => c.payload as { connectorId: number; status: string })
      .filter((p) => p.connectorId === 1)
      .map((p) => p.status);
    expect(statuses).toEqual(['Finishing', 'Available']);
  });

  it('TC_005_3_CS with StopTransactionOnEVSideDisconnect false the transaction stays: SuspendedEV, then a remote stop', async () => {
    const h = await start({
      ocpp: { StopTransactionOnEVSideDisconnect: false, UnlockConnectorOnEVSideDisconnect: false },
    });
    await h.booted();
    const transactionId = await charging(h);
    let mark = h.csms.mark();
    h.board.unplug(1);
    const suspended = await h.status(1, 'SuspendedEV', mark);
    expect(suspended.info).toBe('EV side disconnected');
    expect(h.csms.calls(CP_ID, 'StopTransaction', mark)).toEqual([]);
    // The cable stays locked: StopTransactionOnEVSideDisconnect false has priority over unlocking.
    expect(h.board.connector(1)?.lock?.isLocked()).toBe(true);
    mark = h.csms.mark();
    await h.csms.call(CP_ID, 'RemoteStopTransaction', { transactionId });
    const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    expect(stop.payload).toMatchObject({ transactionId, reason: 'Remote' });
    await h.status(1, 'Available', mark);
  });

  it('the EV pausing shows SuspendedEV with the contactor open, and resuming Charging with it closed', async () => {
    const h = await start();
    await h.booted();
    await charging(h);
    let mark = h.csms.mark();
    h.board.ev(1, 'pause');
    await h.status(1, 'SuspendedEV', mark);
    // No energy may flow to an EV that stopped asking: the contactor opens, and closes again.
    expect(h.board.connector(1)?.devices.relay.isClosed()).toBe(false);
    mark = h.csms.mark();
    h.board.ev(1, 'charge');
    await h.status(1, 'Charging', mark);
    expect(h.board.connector(1)?.devices.relay.isClosed()).toBe(true);
  });

  it('TC_024_CS a lock failure at plug-in faults the connector (ConnectorLockFailure) and starts nothing', async () => {
    const h = await start();
    await h.booted();
    h.board.lockFail(1, true);
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'RemoteStartTransaction', { connectorId: 1, idTag: TAG });
    await h.status(1, 'Preparing', mark);
    h.board.plug(1);
    const faulted = await h.status(1, 'Faulted', mark);
    expect(faulted.errorCode).toBe('ConnectorLockFailure');
    expect(h.csms.calls(CP_ID, 'StartTransaction', mark)).toEqual([]);
  });

  it('TC_041_CS a faulted connector starts no transaction', async () => {
    const h = await start();
    await h.booted();
    await h.csms.call(CP_ID, 'ChangeAvailability', { connectorId: 2, type: 'Inoperative' });
    let mark = h.csms.mark();
    h.board.fault(1, 'GroundFailure');
    await h.status(1, 'Faulted', mark);
    mark = h.csms.mark();
    h.board.plug(1);
    h.board.swipe(TAG);
    expect(await h.csms.call(CP_ID, 'RemoteStartTransaction', { connectorId: 1, idTag: TAG })).toEqual({
      status: 'Rejected',
    });
    expect(h.csms.calls(CP_ID, 'StartTransaction', mark)).toEqual([]);
  });

  it('a fault during charging stops the transaction (Other) and opens the contactor', async () => {
    const h = await start();
    await h.booted();
    const transactionId = await charging(h);
    const mark = h.csms.mark();
    h.board.fault(1, 'OverCurrentFailure');
    const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    expect(stop.payload).toMatchObject({ transactionId, reason: 'Other' });
    expect(h.board.connector(1)?.devices.relay.isClosed()).toBe(false);
  });

  it('TC_070_CS sampled meter values every MeterValueSampleInterval, Sample.Periodic, with the transaction id', async () => {
    const h = await start({
      ocpp: {
        MeterValueSampleInterval: 1,
        MeterValuesSampledData: 'Energy.Active.Import.Register,Power.Active.Import',
      },
    });
    await h.booted();
    h.board.meter(1, 7200);
    const transactionId = await charging(h);
    const first = await h.csms.waitForCall(CP_ID, 'MeterValues', {
      where: (p: { transactionId?: number }) => p.transactionId === transactionId,
    });
    const second = await h.csms.waitForCall(CP_ID, 'MeterValues', { since: first.record.seq });
    type MV = {
      transactionId: number;
      meterValue: Array<{
        timestamp: string;
        sampledValue: Array<{ measurand: string; context: string; value: string }>;
      }>;
    };
    const a = first.payload as MV;
    const b = second.payload as MV;
    expect(b.transactionId).toBe(transactionId);
    expect(a.meterValue[0]?.sampledValue.map((v) => [v.measurand, v.context])).toEqual([
      ['Energy.Active.Import.Register', 'Sample.Periodic'],
      ['Power.Active.Import', 'Sample.Periodic'],
    ]);
    const gap = Date.parse(b.meterValue[0]!.timestamp) - Date.parse(a.meterValue[0]!.timestamp);
    expect(gap).toBeGreaterThanOrEqual(900);
    expect(Number(b.meterValue[0]!.sampledValue[0]!.value)).toBeGreaterThanOrEqual(
      Number(a.meterValue[0]!.sampledValue[0]!.value),
    );
  });

  it('meterStop is the energy delivered: the simulated EV draws through the closed contactor', async () => {
    const h = await start({ ocpp: { MeterValueSampleInterval: 1 } });
    await h.booted();
    const transactionId = await charging(h);
    // 32 A on three phases: 22 kW, so a second of charging is about 6 Wh.
    const sample = await h.csms.waitForCall(CP_ID, 'MeterValues', {
      where: (p: { transactionId?: number }) => p.transactionId === transactionId,
    });
    const sampled = Number(
      (sample.payload as { meterValue: Array<{ sampledValue: Array<{ value: string }> }> }).meterValue[0]
        ?.sampledValue[0]?.value,
    );
    expect(sampled).toBeGreaterThan(0);
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'RemoteStopTransaction', { transactionId });
    const stop = (await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark })).payload as Stop;
    expect(stop.meterStop).toBeGreaterThanOrEqual(sampled);
  });

  it('TC_015_CS hard reset with a transaction: StopTransaction HardReset before the restart', async () => {
    const h = await start();
    await h.booted();
    const transactionId = await charging(h);
    const mark = h.csms.mark();
    expect(await h.csms.call(CP_ID, 'Reset', { type: 'Hard' })).toEqual({ status: 'Accepted' });
    const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    expect(stop.payload).toMatchObject({ transactionId, reason: 'HardReset' });
    expect(await h.runtime.done).toEqual({ kind: 'reset', type: 'Hard' });
  });

  it('TC_016_CS soft reset with a transaction: StopTransaction SoftReset', async () => {
    const h = await start();
    await h.booted();
    const transactionId = await charging(h);
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'Reset', { type: 'Soft' });
    const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    expect(stop.payload).toMatchObject({ transactionId, reason: 'SoftReset' });
  });

  it('ChangeAvailability during a transaction is Scheduled and applies when it ends', async () => {
    const h = await start();
    await h.booted();
    const transactionId = await charging(h);
    expect(await h.csms.call(CP_ID, 'ChangeAvailability', { connectorId: 1, type: 'Inoperative' })).toEqual({
      status: 'Scheduled',
    });
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'RemoteStopTransaction', { transactionId });
    await h.status(1, 'Finishing', mark);
    h.board.unplug(1);
    await h.status(1, 'Unavailable', mark);
  });

  it('TC_071_CS clock-aligned meter values: Sample.Clock at the interval boundaries, with and without a transaction', async () => {
    const h = await start({ ocpp: { MeterValueSampleInterval: 0, ClockAlignedDataInterval: 2 } });
    await h.booted();
    const transactionId = await charging(h);
    type MV = {
      connectorId: number;
      transactionId?: number;
      meterValue: Array<{ timestamp: string; sampledValue: Array<{ context: string }> }>;
    };
    const inTx = (p: MV) => p.transactionId === transactionId;
    const first = (await h.csms.waitForCall(CP_ID, 'MeterValues', { where: inTx })).payload as MV;
    const next = await h.csms.waitForCall(CP_ID, 'MeterValues', {
      where: (p: MV) => inTx(p) && p.meterValue[0]?.timestamp !== first.meterValue[0]?.timestamp,
    });
    const second = next.payload as MV;
    const t1 = Date.parse(first.meterValue[0]!.timestamp);
    const t2 = Date.parse(second.meterValue[0]!.timestamp);
    expect(t1 % 2000).toBe(0);
    expect(t2 - t1).toBe(2000);
    expect(first.meterValue[0]?.sampledValue[0]?.context).toBe('Sample.Clock');
    // The idle connector reports too, without a transaction.
    const idle = (await h.csms.waitForCall(CP_ID, 'MeterValues', { where: (p: MV) => p.connectorId === 2 }))
      .payload as MV;
    expect(idle.transactionId).toBeUndefined();
    expect(Date.parse(idle.meterValue[0]!.timestamp) % 2000).toBe(0);
  });

  it('StopTransaction carries transactionData per StopTxnSampledData (Transaction.Begin and Transaction.End)', async () => {
    const h = await start({
      ocpp: { StopTxnSampledData: 'Energy.Active.Import.Register,Power.Active.Import' },
    });
    await h.booted();
    const transactionId = await charging(h);
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'RemoteStopTransaction', { transactionId });
    type Data = { transactionData: Array<{ sampledValue: Array<{ measurand: string; context: string }> }> };
    const stop = (await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark })).payload as Data;
    expect(stop.transactionData.map((d) => d.sampledValue.map((v) => `${v.context} ${v.measurand}`))).toEqual(
      [
        ['Transaction.Begin Energy.Active.Import.Register', 'Transaction.Begin Power.Active.Import'],
        ['Transaction.End Energy.Active.Import.Register', 'Transaction.End Power.Active.Import'],
      ],
    );
  });

  it('TriggerMessage(MeterValues) during a transaction carries its transaction id', async () => {
    const h = await start();
    await h.booted();
    const transactionId = await charging(h);
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'TriggerMessage', { requestedMessage: 'MeterValues', connectorId: 1 });
    const mv = await h.csms.waitForCall(CP_ID, 'MeterValues', { since: mark });
    expect(mv.payload).toMatchObject({ connectorId: 1, transactionId });
  });

  it('MaxEnergyOnInvalidId: a refused id keeps charging up to the limit, then SuspendedEVSE', async () => {
    const h = await start({
      ocpp: { StopTransactionOnInvalidId: false, MaxEnergyOnInvalidId: 3 },
      csms: {
        rules: {
          onCall: (_cp, action) =>
            action === 'StartTransaction'
              ? { transactionId: 77, idTagInfo: { status: 'Invalid' } }
              : undefined,
        },
      },
    });
    await h.booted();
    const mark = h.csms.mark();
    h.board.plug(1);
    h.board.swipe(TAG);
    await h.status(1, 'Charging', mark);
    await h.sink.waitFor((l) => l.msg === 'MaxEnergyOnInvalidId reached');
    await h.status(1, 'SuspendedEVSE', mark);
    expect(h.board.connector(1)?.devices.relay.isClosed()).toBe(false);
    expect((await h.board.connector(1)!.meter!.read()).energyImportWh).toBeGreaterThanOrEqual(3);
    expect(h.csms.calls(CP_ID, 'StopTransaction', mark)).toEqual([]);
  });

  it('a TxProfile sent with RemoteStartTransaction is kept with the transaction for smart charging', async () => {
    const h = await start();
    await h.booted();
    const profile = {
      chargingProfileId: 9,
      stackLevel: 0,
      chargingProfilePurpose: 'TxProfile',
      chargingProfileKind: 'Relative',
      chargingSchedule: { chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 16 }] },
    };
    const mark = h.csms.mark();
    h.board.plug(1);
    expect(
      await h.csms.call(CP_ID, 'RemoteStartTransaction', {
        connectorId: 1,
        idTag: TAG,
        chargingProfile: profile,
      }),
    ).toEqual({ status: 'Accepted' });
    await h.status(1, 'Charging', mark);
    expect(h.runtime.transactions.txProfileOn(1)).toEqual({
      id: 9,
      stackLevel: 0,
      purpose: 'TxProfile',
      kind: 'Relative',
      schedule: { unit: 'A', periods: [{ startPeriod: 0, limit: 16 }] },
    });
  });
});
