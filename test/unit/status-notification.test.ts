import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SIM_SPEC, SimBoard } from '../../hal/sim/board.js';
import { OcppTime } from '../../src/clock.js';
import { ConfigurationRegistry } from '../../src/config/registry.js';
import type { FeatureContext } from '../../src/features/context.js';
import { StatusReporter } from '../../src/features/core/status-notification.js';
import { silentLogger } from '../../src/log.js';
import { RpcEndpoint, type Transport } from '../../src/ocpp/rpc.js';
import { Station } from '../../src/station/station.js';
import { FakeClock } from '../support/fake-clock.js';
import { MemoryAvailability, MemoryConfig } from '../support/memory-stores.js';

const T0 = Date.parse('2026-11-21T10:00:00.000Z');
const SECOND = 1000;

type Notification = { connectorId: number; status: string; errorCode: string; timestamp: string };

/** The central system's side of the socket: records each StatusNotification and answers it at once. */
class AnsweringTransport implements Transport {
  readonly notifications: Notification[] = [];
  rpc!: RpcEndpoint;

  send(text: string): boolean {
    const [type, id, action, payload] = JSON.parse(text) as [number, string, string, Notification];
    if (type === 2 && action === 'StatusNotification') {
      this.notifications.push(payload);
      queueMicrotask(() => this.rpc.receive(JSON.stringify([3, id, {}])));
    }
    return true;
  }

  /** What was sent since the last take, as "connector status". */
  take(): string[] {
    return this.notifications.splice(0).map((n) => `${n.connectorId} ${n.status}`);
  }
}

const stations: Station[] = [];
afterEach(() => {
  for (const station of stations.splice(0)) station.close();
});

/** A registered charge point on the simulated board, with MinimumStatusDuration as given. */
async function setup(minimumStatusDuration: number) {
  const clock = new FakeClock(T0);
  const log = silentLogger();
  const board = new SimBoard(DEFAULT_SIM_SPEC, clock);
  const station = new Station({ board, availability: new MemoryAvailability(), clock, log });
  stations.push(station);
  const config = new ConfigurationRegistry({
    store: new MemoryConfig(),
    initial: { MinimumStatusDuration: minimumStatusDuration },
    capabilities: new Set(),
    fixed: { NumberOfConnectors: '2', SupportedFeatureProfiles: 'Core' },
    log,
  });
  const rpc = new RpcEndpoint({ log, clock, callTimeoutMs: 30 * SECOND });
  const transport = new AnsweringTransport();
  transport.rpc = rpc;
  rpc.attach(transport);
  rpc.setGate('open');
  const ctx: FeatureContext = {
    rpc,
    config,
    station,
    time: new OcppTime(clock, false),
    clock,
    log,
    requestReset: () => {},
  };
  const reporter = new StatusReporter(ctx);
  reporter.enable();
  await settle();
  expect(transport.take()).toEqual(['0 Available', '1 Available', '2 Available']);
  /** Moves the clock and lets the calls it caused be sent and answered. */
  const advance = async (ms: number) => {
    clock.advance(ms);
    await settle();
  };
  return { clock, board, config, reporter, station, transport, advance };
}

/** Lets queued calls go out and their answers come back (one CALL in flight at a time). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

describe('MinimumStatusDuration', () => {
  it('0 (the default) reports every status change at once', async () => {
    const { board, transport } = await setup(0);
    board.plug(1);
    await settle();
    board.unplug(1);
    await settle();
    expect(transport.take()).toEqual(['1 Preparing', '1 Available']);
  });

  it('reports a status once it has held for MinimumStatusDuration seconds, stamped with when it began', async () => {
    const { board, transport, advance } = await setup(10);
    await advance(2 * SECOND);
    board.plug(1);
    await advance(9 * SECOND);
    expect(transport.take()).toEqual([]);
    await advance(1 * SECOND);
    expect(transport.notifications.map((n) => [n.connectorId, n.status, n.timestamp])).toEqual([
      [1, 'Preparing', new Date(T0 + 2 * SECOND).toISOString()],
    ]);
  });

  it('does not report a status that changes again before then: only the latest stable one', async () => {
    const { board, transport, advance } = await setup(10);
    board.plug(1);
    await advance(4 * SECOND);
    board.unplug(1);
    // Back to Available, which the central system already has: nothing to report at all.
    await advance(30 * SECOND);
    expect(transport.take()).toEqual([]);

    board.plug(2);
    await advance(5 * SECOND);
    board.unplug(2);
    await advance(5 * SECOND);
    board.plug(2);
    await advance(9 * SECOND);
    expect(transport.take()).toEqual([]);
    await advance(1 * SECOND);
    expect(transport.take()).toEqual(['2 Preparing']);
  });

  it('reports Faulted at once, and what follows the fault after MinimumStatusDuration', async () => {
    const { board, transport, advance } = await setup(60);
    board.plug(1);
    await advance(5 * SECOND);
    board.fault(1, 'GroundFailure');
    await advance(0);
    expect(transport.notifications.map((n) => `${n.connectorId} ${n.status} ${n.errorCode}`)).toEqual([
      '1 Faulted GroundFailure',
    ]);
    transport.take();
    board.clear(1);
    await advance(59 * SECOND);
    expect(transport.take()).toEqual([]);
    await advance(1 * SECOND);
    expect(transport.take()).toEqual(['1 Preparing']);
  });

  it('applies a change of the key live, to a status already waiting too', async () => {
    const { board, config, transport, advance } = await setup(60);
    board.plug(1);
    await advance(10 * SECOND);
    expect(config.change('MinimumStatusDuration', '15', 'csms')).toBe('Accepted');
    await advance(4 * SECOND);
    expect(transport.take()).toEqual([]);
    await advance(1 * SECOND);
    expect(transport.take()).toEqual(['1 Preparing']);

    board.plug(2);
    await advance(5 * SECOND);
    expect(config.change('MinimumStatusDuration', '0', 'csms')).toBe('Accepted');
    await advance(0);
    expect(transport.take()).toEqual(['2 Preparing']);
    board.unplug(2);
    await advance(0);
    expect(transport.take()).toEqual(['2 Available']);
  });

  it('a waiting status a TriggerMessage already reported is not sent again when a new duration re-holds it', async () => {
    const { board, config, reporter, station, transport, advance } = await setup(60);
    board.plug(1);
    await advance(10 * SECOND);
    const snapshot = station.status(1);
    if (!snapshot) throw new Error('no status for connector 1');
    await reporter.send(snapshot);
    await advance(0);
    expect(transport.take()).toEqual(['1 Preparing']);
    expect(config.change('MinimumStatusDuration', '5', 'csms')).toBe('Accepted');
    await advance(60 * SECOND);
    expect(transport.take()).toEqual([]);
  });

  it('reports every connector as it is now on (re)registration, dropping what was waiting', async () => {
    const { board, reporter, transport, advance } = await setup(10);
    board.plug(1);
    await advance(3 * SECOND);
    reporter.disable();
    reporter.enable();
    await advance(0);
    expect(transport.take()).toEqual(['0 Available', '1 Preparing', '2 Available']);
    await advance(20 * SECOND);
    expect(transport.take()).toEqual([]);
  });
});
