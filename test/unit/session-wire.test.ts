import { describe, expect, it } from 'vitest';
import { useSessionFixtures } from './session-fixture.js';

const TAG = 'WIRE01';
const fixture = useSessionFixtures();

/**
 * The engine's sessions through the runtime's real message path (TransactionMessages, the durable
 * outbox, the RpcEndpoint) to an in-process central system, on the fake clock: hours of charging
 * on the wire in milliseconds.
 */
describe('charging sessions on a loopback central system', () => {
  it('three hours at 60 s sampling: every MeterValues carries the transactionId, in order, and the stop bills what was sampled', async () => {
    const fx = fixture({
      centralSystem: true,
      ocpp: { MeterValueSampleInterval: 60, StopTxnSampledData: 'Energy.Active.Import.Register' },
    });
    const csms = fx.csms!;
    await fx.charging(1, TAG);
    await fx.settle();
    for (let minute = 0; minute < 180; minute++) {
      fx.clock.advance(60_000);
      await fx.settle();
    }
    await fx.engine.stopAll('Local');
    await fx.settle();

    const [start] = csms.of('StartTransaction');
    expect(start).toMatchObject({ connectorId: 1, idTag: TAG });
    const meterValues = csms.of('MeterValues');
    expect(meterValues).toHaveLength(180);
    expect(meterValues.every((m) => m.transactionId === 1)).toBe(true);
    const registers = meterValues.map((m) => {
      const [value] = (m.meterValue as Array<{ sampledValue: Array<{ value: string }> }>)[0]!.sampledValue;
      return Number(value!.value);
    });
    expect(registers).toEqual([...registers].sort((a, b) => a - b));
    const [stop] = csms.of('StopTransaction');
    expect(stop).toMatchObject({ transactionId: 1, reason: 'Local', meterStop: registers.at(-1) });
    // Begin, the 180 periodic samples and End, each with its own timestamp, in time order.
    const data = stop!.transactionData as Array<{ timestamp: string }>;
    expect(data).toHaveLength(182);
    const times = data.map((d) => Date.parse(d.timestamp));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    // Nothing left behind in the queue: every message was answered and its row deleted.
    expect(csms.calls.map((c) => c.action).filter((a) => a !== 'MeterValues')).toEqual([
      'StartTransaction',
      'StopTransaction',
    ]);
  });

  it('a RemoteStopTransaction in the same read as the StartTransaction.conf finds the transaction by its id', async () => {
    const fx = fixture({ centralSystem: true });
    const csms = fx.csms!;
    const answer = csms.callBehind('StartTransaction', 'RemoteStopTransaction', { transactionId: 1 });
    fx.board.plug(1);
    await fx.engine.presentIdTag(TAG, [1]);
    await expect(answer).resolves.toEqual({ status: 'Accepted' });
    await fx.settle();
    expect(csms.of('StopTransaction')).toMatchObject([{ transactionId: 1, reason: 'Remote' }]);
  });

  it("the StopTransaction is on the wire before the stop's listeners run (its TxProfiles removed, telemetry)", async () => {
    const fx = fixture({ centralSystem: true });
    const csms = fx.csms!;
    await fx.charging(1, TAG);
    await fx.settle();
    const sentWhenHeard: string[][] = [];
    fx.engine.on('transaction', (event) => {
      if (event.kind === 'stopped') sentWhenHeard.push(csms.calls.map((c) => c.action));
    });

    await fx.engine.stopAll('Local');
    await fx.settle();
    expect(sentWhenHeard).toHaveLength(1);
    expect(sentWhenHeard[0]).toContain('StopTransaction');
  });
});
