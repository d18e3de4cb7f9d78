import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { MeterReading } from '../../hal/types.js';
import { ConfigurationRegistry } from '../../src/config/registry.js';
import { TransactionMessages } from '../../src/features/core/transaction-messages.js';
import { silentLogger } from '../../src/log.js';
import { Outbox, type OutboxEntry } from '../../src/ocpp/outbox.js';
import { RpcEndpoint } from '../../src/ocpp/rpc.js';
import { openStore, type Store } from '../../src/store/index.js';
import { OutboxRepo } from '../../src/store/outbox-repo.js';
import {
  MAX_SAMPLES_PER_TRANSACTION,
  TransactionSamplesRepo,
} from '../../src/store/transaction-samples-repo.js';
import { type TransactionRow, TransactionsRepo } from '../../src/store/transactions-repo.js';
import { FakeClock } from '../support/fake-clock.js';

const T0 = Date.parse('2026-11-21T10:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

type MeterValue = {
  timestamp: string;
  sampledValue: Array<{ value: string; context?: string; measurand?: string }>;
};
type StopPayload = { reason?: string; meterStop: number; transactionData?: MeterValue[] };

/**
 * The sink as the runtime wires it, over a real SQLite file: the engine's calls are made by the
 * test, each inside one SQL transaction as the engine makes them. The outbox is never resumed, so
 * what it holds is what would be sent.
 */
class Fixture {
  readonly clock = new FakeClock(T0);
  store!: Store;
  transactions!: TransactionsRepo;
  samples!: TransactionSamplesRepo;
  outbox!: Outbox;
  messages!: TransactionMessages;

  constructor(
    readonly dir: string,
    private readonly ocpp: Record<string, string | number>,
  ) {
    this.open();
  }

  /** (Re)opens the store, as a restart after a power cut does. */
  open(): void {
    this.store = openStore({ dir: this.dir, log: silentLogger(), clock: this.clock });
    const store = this.store;
    cleanups.push(() => store.close());
    const config = new ConfigurationRegistry({
      store: this.store.config,
      initial: this.ocpp,
      capabilities: new Set(),
      fixed: { NumberOfConnectors: '1', SupportedFeatureProfiles: 'Core' },
      log: silentLogger(),
    });
    this.transactions = new TransactionsRepo(this.store.db);
    this.samples = new TransactionSamplesRepo(this.store.db);
    this.outbox = new Outbox({
      repo: new OutboxRepo(this.store.db),
      rpc: new RpcEndpoint({ log: silentLogger(), clock: this.clock, callTimeoutMs: 1000 }),
      config,
      clock: this.clock,
      log: silentLogger(),
    });
    this.messages = new TransactionMessages(
      () => this.outbox,
      config,
      () => {},
      this.samples,
    );
  }

  start(reading: MeterReading | undefined): TransactionRow {
    return this.store.db.transaction(() => {
      const row = this.transactions.insert({
        connectorId: 1,
        idTag: 'TAG',
        meterStart: reading?.energyImportWh ?? 0,
        startedAt: iso(this.clock.now()),
      });
      this.messages.started(row, this.clock.now(), reading);
      return row;
    })();
  }

  sample(
    row: TransactionRow,
    reading: MeterReading,
    context: 'Sample.Periodic' | 'Sample.Clock',
    at: number,
  ) {
    this.store.db.transaction(() => this.messages.sampled(row, reading, context, at))();
  }

  stop(row: TransactionRow, reason: 'Remote' | 'PowerLoss', reading?: MeterReading): StopPayload {
    this.store.db.transaction(() =>
      this.messages.stopped(row, {
        reason,
        meterStop: reading?.energyImportWh ?? row.lastMeter,
        timestampMs: this.clock.now(),
        ...(reading ? { reading } : {}),
      }),
    )();
    return this.payloads('StopTransaction').at(-1) as StopPayload;
  }

  payloads(action: OutboxEntry['action']): Array<Record<string, unknown>> {
    return this.outbox
      .pending()
      .filter((e) => e.action === action)
      .map((e) => e.payload);
  }

  entry(action: OutboxEntry['action']): OutboxEntry {
    const found = this.outbox.pending().find((e) => e.action === action);
    if (!found) throw new Error(`no ${action} queued`);
    return found;
  }

  storedRows(): number {
    const row = this.store.db.prepare('SELECT COUNT(*) AS n FROM transaction_samples').get() as { n: number };
    return row.n;
  }
}

function fixture(ocpp: Record<string, string | number>): Fixture {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cp-txdata-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return new Fixture(dir, ocpp);
}

const reading = (energyImportWh: number, powerW: number): MeterReading => ({
  at: 0,
  energyImportWh,
  powerW,
  voltageV: [230, 231, 229],
});

/** Each meterValue as "context measurand=value ..." with its timestamp. */
const described = (data: MeterValue[] | undefined) =>
  (data ?? []).map((mv) => ({
    at: mv.timestamp,
    values: mv.sampledValue.map((v) => `${v.context} ${v.measurand}=${v.value}`),
  }));

/** A described meterValue of the two StopTxnSampledData measurands, as `described` gives it. */
const sampled = (atMs: number, context: string, energyWh: number, powerW: number) => ({
  at: iso(atMs),
  values: [
    `${context} Energy.Active.Import.Register=${energyWh}`,
    `${context} Power.Active.Import=${powerW}`,
  ],
});

const STOP_TXN_ONLY = {
  StopTxnSampledData: 'Energy.Active.Import.Register,Power.Active.Import',
  StopTxnAlignedData: 'Energy.Active.Import.Register',
  MeterValuesSampledData: '',
  MeterValuesAlignedData: '',
};

describe('StopTransaction transactionData (StopTxnSampledData, StopTxnAlignedData)', () => {
  it('carries Transaction.Begin, every periodic and clock-aligned sample and Transaction.End, in time order', () => {
    const f = fixture(STOP_TXN_ONLY);
    const row = f.start(reading(1000, 7000));
    f.clock.advance(30_000);
    f.sample(row, reading(1050, 7100), 'Sample.Periodic', T0 + 30_000);
    // Clock-aligned readings are stamped with their boundary, which may precede a periodic one taken later.
    f.clock.advance(35_000);
    f.sample(row, reading(1120, 7200), 'Sample.Periodic', T0 + 65_000);
    f.sample(row, reading(1110, 7150), 'Sample.Clock', T0 + 60_000);
    f.clock.advance(10_000);
    const stop = f.stop(row, 'Remote', reading(1140, 7300));

    expect(described(stop.transactionData)).toEqual([
      sampled(T0, 'Transaction.Begin', 1000, 7000),
      sampled(T0 + 30_000, 'Sample.Periodic', 1050, 7100),
      { at: iso(T0 + 60_000), values: ['Sample.Clock Energy.Active.Import.Register=1110'] },
      sampled(T0 + 65_000, 'Sample.Periodic', 1120, 7200),
      sampled(T0 + 75_000, 'Transaction.End', 1140, 7300),
    ]);
    // MeterValuesSampledData and MeterValuesAlignedData are empty: no MeterValues of their own.
    expect(f.payloads('MeterValues')).toEqual([]);
  });

  it('sends MeterValues per MeterValues*Data and keeps nothing when StopTxn*Data are empty', () => {
    const f = fixture({ MeterValuesSampledData: 'Power.Active.Import', MeterValuesAlignedData: 'Voltage' });
    const row = f.start(reading(1000, 7000));
    f.sample(row, reading(1050, 7100), 'Sample.Periodic', T0 + 30_000);
    f.sample(row, reading(1110, 7150), 'Sample.Clock', T0 + 60_000);
    const stop = f.stop(row, 'Remote', reading(1140, 7300));

    expect(f.payloads('MeterValues').map((p) => described(p.meterValue as MeterValue[]))).toEqual([
      [{ at: iso(T0 + 30_000), values: ['Sample.Periodic Power.Active.Import=7100'] }],
      [
        {
          at: iso(T0 + 60_000),
          values: ['Sample.Clock Voltage=230', 'Sample.Clock Voltage=231', 'Sample.Clock Voltage=229'],
        },
      ],
    ]);
    expect(stop.transactionData).toBeUndefined();
    expect(f.storedRows()).toBe(0);
  });

  it('does not take a clock-aligned boundary from before the start as one of the transaction', () => {
    const f = fixture(STOP_TXN_ONLY);
    const row = f.start(reading(1000, 7000));
    f.sample(row, reading(1000, 7000), 'Sample.Clock', T0 - 1);
    const stop = f.stop(row, 'Remote');
    expect(described(stop.transactionData).map((d) => d.values[0])).toEqual([
      'Transaction.Begin Energy.Active.Import.Register=1000',
    ]);
  });

  it('survives a power cut: the PowerLoss stop after the restart carries what was recorded', () => {
    const f = fixture(STOP_TXN_ONLY);
    const started = f.start(reading(1000, 7000));
    f.sample(started, reading(1050, 7100), 'Sample.Periodic', T0 + 30_000);
    f.store.close();

    f.open();
    const [row] = f.transactions.running();
    expect(row?.localId).toBe(started.localId);
    f.clock.advance(60_000);
    const stop = f.stop(row as TransactionRow, 'PowerLoss');
    expect(stop.reason).toBe('PowerLoss');
    // No Transaction.End: the meter was not read when the power went.
    expect(described(stop.transactionData)).toEqual([
      sampled(T0, 'Transaction.Begin', 1000, 7000),
      sampled(T0 + 30_000, 'Sample.Periodic', 1050, 7100),
    ]);
  });

  it('deletes the samples when the StopTransaction is delivered, or dead-lettered', () => {
    const f = fixture(STOP_TXN_ONLY);
    const delivered = f.start(reading(1000, 7000));
    f.sample(delivered, reading(1050, 7100), 'Sample.Periodic', T0 + 30_000);
    f.stop(delivered, 'Remote', reading(1100, 7000));
    const other = f.start(reading(2000, 7000));
    f.sample(other, reading(2050, 7100), 'Sample.Periodic', T0 + 30_000);
    expect(f.storedRows()).toBe(4);

    f.messages.onDelivered(f.entry('StopTransaction'), {});
    expect(f.samples.forTransaction(delivered.localId)).toEqual([]);
    expect(f.samples.forTransaction(other.localId)).toHaveLength(2);

    f.stop(other, 'Remote');
    const stopOfOther = f.outbox.pending().filter((e) => e.action === 'StopTransaction')[1] as OutboxEntry;
    f.messages.onDeadLettered(stopOfOther);
    expect(f.storedRows()).toBe(0);
  });

  it(`keeps Transaction.Begin and the newest ${MAX_SAMPLES_PER_TRANSACTION} samples of a long transaction`, () => {
    const f = fixture(STOP_TXN_ONLY);
    const row = f.start(reading(0, 7000));
    const total = MAX_SAMPLES_PER_TRANSACTION + 10;
    for (let i = 1; i <= total; i++) f.sample(row, reading(i, 7000), 'Sample.Periodic', T0 + i * 60_000);
    const stop = f.stop(row, 'Remote');

    const data = stop.transactionData ?? [];
    expect(data).toHaveLength(MAX_SAMPLES_PER_TRANSACTION + 1);
    expect(data[0]?.sampledValue[0]?.context).toBe('Transaction.Begin');
    expect(data[1]?.timestamp).toBe(iso(T0 + 11 * 60_000));
    expect(data.at(-1)?.timestamp).toBe(iso(T0 + total * 60_000));
  });
});
