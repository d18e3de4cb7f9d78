import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { answered, charging, energyOf, type MeterValuesReq, whenOutbox } from '../support/charging.js';
import { chargeOnConnector1, cutPowerAndRestart, useDaemonEnv } from '../support/daemon-process.js';
import { CP_ID, useHarness } from '../support/harness.js';

type MeterValue = MeterValuesReq['meterValue'][number];
type StopWithData = { transactionId: number; reason?: string; transactionData?: MeterValue[] };

const contexts = (mv: MeterValue) => [...new Set(mv.sampledValue.map((v) => v.context))];
const measurands = (mv: MeterValue) => mv.sampledValue.map((v) => v.measurand);
const times = (data: MeterValue[]) => data.map((mv) => Date.parse(mv.timestamp));

/**
 * Resolves when `pred` holds, checked now and after every row the runtime's own connection inserts
 * into transaction_samples (a TEMP trigger calling back into the test): the engine announces no
 * event per sample.
 */
function whenStored(db: Database.Database, pred: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (pred()) resolve();
    };
    // Called inside the SQL transaction that inserts: look once it has committed.
    db.function('transaction_sample_stored', () => {
      queueMicrotask(check);
      return null;
    });
    db.exec(`CREATE TEMP TRIGGER IF NOT EXISTS transaction_sample_stored AFTER INSERT ON transaction_samples
      BEGIN SELECT transaction_sample_stored(); END`);
    check();
  });
}

describe('StopTransaction transactionData on the wire (StopTxnSampledData, StopTxnAlignedData)', () => {
  const start = useHarness();

  it('carries Transaction.Begin, the periodic and clock-aligned samples and Transaction.End; the stored samples go once it is delivered', async () => {
    const h = await start({
      ocpp: {
        StopTxnSampledData: 'Energy.Active.Import.Register,Power.Active.Import',
        StopTxnAlignedData: 'Energy.Active.Import.Register',
        MeterValueSampleInterval: 1,
        ClockAlignedDataInterval: 1,
      },
    });
    await h.booted();
    h.board.meter(1, 7200);
    const transactionId = await charging(h, 'VALID01');
    const inTx = (context: string) => (p: MeterValuesReq) =>
      p.transactionId === transactionId && p.meterValue[0]?.sampledValue[0]?.context === context;
    // Each sample is kept in the SQL transaction that queues its MeterValues: once one arrives, it is stored.
    const periodic = (await h.csms.waitForCall(CP_ID, 'MeterValues', { where: inTx('Sample.Periodic') }))
      .payload as MeterValuesReq;
    const clock = (await h.csms.waitForCall(CP_ID, 'MeterValues', { where: inTx('Sample.Clock') }))
      .payload as MeterValuesReq;
    const samples = () =>
      (h.runtime.store.db.prepare('SELECT COUNT(*) AS n FROM transaction_samples').get() as { n: number }).n;
    expect(samples()).toBeGreaterThanOrEqual(3);
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'RemoteStopTransaction', { transactionId });
    const stopCall = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    const data = (stopCall.payload as StopWithData).transactionData ?? [];

    const first = data[0] as MeterValue;
    const last = data.at(-1) as MeterValue;
    expect(contexts(first)).toEqual(['Transaction.Begin']);
    expect(measurands(first)).toEqual(['Energy.Active.Import.Register', 'Power.Active.Import']);
    expect(contexts(last)).toEqual(['Transaction.End']);
    expect(measurands(last)).toEqual(['Energy.Active.Import.Register', 'Power.Active.Import']);
    const at = (mv: MeterValuesReq) => mv.meterValue[0]?.timestamp;
    const periodicKept = data.find(
      (mv) => mv.timestamp === at(periodic) && contexts(mv)[0] === 'Sample.Periodic',
    );
    expect(periodicKept && measurands(periodicKept)).toEqual([
      'Energy.Active.Import.Register',
      'Power.Active.Import',
    ]);
    const clockKept = data.find((mv) => mv.timestamp === at(clock) && contexts(mv)[0] === 'Sample.Clock');
    expect(clockKept && measurands(clockKept)).toEqual(['Energy.Active.Import.Register']);
    expect(Date.parse(clockKept?.timestamp ?? '') % 1000).toBe(0);
    expect(times(data)).toEqual([...times(data)].sort((a, b) => a - b));

    await whenOutbox(h, () => samples() === 0, 'the StopTransaction delivered and its samples gone');
  });

  it('takes the samples StopTxn*Data ask for when MeterValues*Data are empty, sending no MeterValues at all', async () => {
    const h = await start({
      ocpp: {
        StopTxnSampledData: 'Energy.Active.Import.Register',
        StopTxnAlignedData: 'Energy.Active.Import.Register',
        MeterValuesSampledData: '',
        MeterValuesAlignedData: '',
        MeterValueSampleInterval: 1,
        ClockAlignedDataInterval: 1,
      },
    });
    await h.booted();
    const transactionId = await charging(h, 'VALID01');
    const stored = (context: string) =>
      (
        h.runtime.store.db
          .prepare('SELECT COUNT(*) AS n FROM transaction_samples WHERE context = ?')
          .get(context) as { n: number }
      ).n;
    // Two clock-aligned boundaries: the idle connector 2 was read at the first one.
    await whenStored(h.runtime.store.db, () => stored('Sample.Periodic') > 0 && stored('Sample.Clock') > 1);
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'RemoteStopTransaction', { transactionId });
    const stop = (await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark }))
      .payload as StopWithData;
    const kept = (stop.transactionData ?? []).map((mv) => contexts(mv)[0]);
    expect(kept).toContain('Sample.Periodic');
    expect(kept).toContain('Sample.Clock');
    expect(h.csms.calls(CP_ID, 'MeterValues')).toEqual([]);
  });
});

describe('transactionData after a power cut', () => {
  const CP = 'CP-TXDATA-01';
  const env = useDaemonEnv('cp-txdata-', CP);
  const config = () =>
    env().daemonConfig({
      ocpp: {
        MeterValueSampleInterval: 1,
        StopTxnSampledData: 'Energy.Active.Import.Register',
        HeartbeatInterval: 3600,
        WebSocketPingInterval: 0,
      },
    });

  it('SIGKILL while charging: the PowerLoss StopTransaction after the restart carries the samples recorded before', async () => {
    const { csms, stateDir } = env();
    const first = env().spawn(config());
    const { start, transactionId, sample } = await chargeOnConnector1(env(), 'POWERTAG');

    const { daemon, mark } = await cutPowerAndRestart(env(), first, config());
    const stop = await csms.waitForCall(CP, 'StopTransaction', { since: mark });
    const req = stop.payload as StopWithData;
    expect(req).toMatchObject({ transactionId, reason: 'PowerLoss' });
    const data = req.transactionData ?? [];
    expect(data[0]?.sampledValue).toMatchObject([
      {
        context: 'Transaction.Begin',
        measurand: 'Energy.Active.Import.Register',
        value: String(start.payload.meterStart),
      },
    ]);
    const kept = data.find((mv) => mv.timestamp === sample.meterValue[0]?.timestamp);
    expect(kept?.sampledValue).toMatchObject([
      {
        context: 'Sample.Periodic',
        measurand: 'Energy.Active.Import.Register',
        value: String(energyOf(sample)),
      },
    ]);
    // The power went before the meter could be read at the end.
    expect(data.map((mv) => mv.sampledValue[0]?.context)).not.toContain('Transaction.End');

    // Delivered: its samples are gone from the store (checked once the daemon has stopped).
    await answered(csms, stop.id, CP);
    daemon.child.kill('SIGTERM');
    expect(await daemon.exitCode()).toBe(0);
    const db = new Database(join(stateDir, 'chargepoint.db'), { readonly: true });
    try {
      expect(db.prepare('SELECT COUNT(*) AS n FROM transaction_samples').get()).toEqual({ n: 0 });
    } finally {
      db.close();
    }
  });
});
