import { describe, expect, it } from 'vitest';
import type { MessageTrigger, TriggerTarget } from '../../src/features/profile.js';
import { registerTriggerMessage } from '../../src/features/remote-trigger/trigger-message.js';
import { silentLogger } from '../../src/log.js';
import { RpcEndpoint, type Transport } from '../../src/ocpp/rpc.js';
import { FakeClock } from '../support/fake-clock.js';

/** TriggerMessage over a real RpcEndpoint, with the targets the installed profiles would give it. */
function triggerMessage(targets: ReadonlyMap<MessageTrigger, TriggerTarget>) {
  const sent: unknown[][] = [];
  const transport: Transport = { send: (text) => sent.push(JSON.parse(text) as unknown[]) > 0 };
  const rpc = new RpcEndpoint({ log: silentLogger(), clock: new FakeClock(), callTimeoutMs: 1000 });
  rpc.attach(transport);
  rpc.setGate('open');
  registerTriggerMessage({ rpc, log: silentLogger(), station: { hasConnector: (id) => id === 1 } }, targets);
  return { rpc, sent };
}

describe('TriggerMessage dispatches to the installed profiles', () => {
  it('a message no installed profile sends is NotImplemented, and nothing is sent', () => {
    const { rpc, sent } = triggerMessage(new Map());
    rpc.receive(
      JSON.stringify([2, 'm1', 'TriggerMessage', { requestedMessage: 'FirmwareStatusNotification' }]),
    );
    expect(sent).toEqual([[3, 'm1', { status: 'NotImplemented' }]]);
  });

  it("the profile's target runs after the answer left, with the connector asked for", async () => {
    const calls: Array<number | undefined> = [];
    const { rpc, sent } = triggerMessage(
      new Map<MessageTrigger, TriggerTarget>([
        [
          'MeterValues',
          async (connectorId) => {
            calls.push(connectorId);
            expect(sent).toEqual([[3, 'm2', { status: 'Accepted' }]]);
          },
        ],
      ]),
    );
    rpc.receive(
      JSON.stringify([2, 'm2', 'TriggerMessage', { requestedMessage: 'MeterValues', connectorId: 1 }]),
    );
    await Promise.resolve();
    expect(calls).toEqual([1]);
  });

  it('an unknown connector is Rejected before any target is looked up', () => {
    const { rpc, sent } = triggerMessage(new Map());
    rpc.receive(
      JSON.stringify([2, 'm3', 'TriggerMessage', { requestedMessage: 'MeterValues', connectorId: 7 }]),
    );
    expect(sent).toEqual([[3, 'm3', { status: 'Rejected' }]]);
  });
});
