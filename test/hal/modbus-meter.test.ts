import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildReading, METER_MAPS, measurandsOf, planBlocks } from '../../hal/drivers/meter-maps.js';
import { ModbusBus } from '../../hal/drivers/modbus-bus.js';
import { ModbusMeter, modbusMeterOptionsSchema } from '../../hal/drivers/modbus-meter.js';
import type { DeviceHealth } from '../../hal/types.js';
import type { Clock, Timer } from '../../src/clock.js';
import { createLogger, silentLogger } from '../../src/log.js';
import {
  loadSdm120,
  loadSdm630,
  readingWhere,
  SDM120_DOCUMENTED,
  SDM120_IMPORT_WH,
  SDM630_DOCUMENTED,
  SDM630_IMPORT_WH,
} from '../support/modbus-meters.js';
import { ModbusTestServer } from '../support/modbus-server.js';
import { openPtyPair, type PtyPair } from '../support/pty.js';

const log = silentLogger();
/** Short enough that a dead device is noticed quickly, long enough for a loaded CI machine. */
const BUS = { timeoutMs: 250, retries: 1 };
const POLL_MS = 100;

/** Resolves on the first 'health' event that matches. */
function healthWhere(meter: ModbusMeter, match: (h: DeviceHealth) => boolean): Promise<DeviceHealth> {
  return new Promise((resolve) => {
    const onHealth = (h: DeviceHealth): void => {
      if (!match(h)) return;
      meter.off('health', onHealth);
      resolve(h);
    };
    meter.on('health', onHealth);
  });
}
const failed = (h: DeviceHealth): boolean => !h.ok;
const healthy = (h: DeviceHealth): boolean => h.ok;

describe('meter register maps', () => {
  it('plans each model in as few requests as the device allows, reading only documented registers', () => {
    const sdm630 = planBlocks(METER_MAPS.SDM630);
    expect(sdm630.map((b) => [b.address, b.count])).toEqual([
      [0x00, 0x0c],
      [0x34, 2],
      [0x46, 6],
    ]);
    expect(sdm630.every((b) => b.count <= 60)).toBe(true);
    expect(planBlocks(METER_MAPS.SDM120).map((b) => [b.address, b.count])).toEqual([
      [0x00, 2],
      [0x06, 2],
      [0x0c, 2],
      [0x46, 6],
    ]);
    const within = (ranges: Array<[number, number]>, b: { address: number; count: number }) =>
      Array.from({ length: b.count }, (_, i) => b.address + i).every((r) =>
        ranges.some(([first, end]) => r >= first && r < end),
      );
    expect(sdm630.every((b) => within(SDM630_DOCUMENTED, b))).toBe(true);
    expect(planBlocks(METER_MAPS.SDM120).every((b) => within(SDM120_DOCUMENTED, b))).toBe(true);
    expect(planBlocks(METER_MAPS.AcuDC243).map((b) => [b.address, b.count])).toEqual([
      [0x200, 6],
      [0x300, 4],
    ]);
  });

  it('lists the OCPP measurands each model supplies', () => {
    expect(measurandsOf(METER_MAPS.SDM630)).toEqual([
      'Energy.Active.Import.Register',
      'Energy.Active.Export.Register',
      'Power.Active.Import',
      'Current.Import',
      'Voltage',
      'Frequency',
    ]);
    expect(measurandsOf(METER_MAPS.AcuDC243)).not.toContain('Frequency');
  });

  it('refuses non-finite values and readings without import energy', () => {
    const energy = METER_MAPS.SDM120.fields.find((f) => f.quantity === 'energyImport');
    const power = METER_MAPS.SDM120.fields.find((f) => f.quantity === 'power');
    expect(() => buildReading([{ field: energy!, value: Number.NaN }], 0)).toThrow(/not a number/);
    expect(() => buildReading([{ field: power!, value: 5 }], 0)).toThrow(/no import energy/);
  });

  it('publishes a board-file schema that accepts both transports and rejects mistakes', () => {
    const validate = new Ajv({ strict: true }).compile(modbusMeterOptionsSchema);
    const rtu = {
      driver: 'modbus',
      transport: { type: 'rtu', path: '/dev/ttyUSB0', parity: 'even' },
      model: 'SDM630',
      unitId: 1,
    };
    const tcp = {
      driver: 'modbus',
      transport: { type: 'tcp', host: '10.0.0.5', port: 502 },
      model: 'AcuDC243',
      unitId: 7,
      retries: 0,
    };
    expect(validate(rtu)).toBe(true);
    expect(validate(tcp)).toBe(true);
    expect(validate({ ...rtu, unitId: 0 })).toBe(false);
    expect(validate({ ...rtu, model: 'SDM72' })).toBe(false);
    expect(validate({ ...rtu, bogus: 1 })).toBe(false);
    expect(validate({ ...tcp, transport: { type: 'tcp', host: 'x', path: '/dev/ttyUSB0' } })).toBe(false);
  });
});

describe('ModbusMeter against a pymodbus device over Modbus TCP', () => {
  let server: ModbusTestServer;
  let bus: ModbusBus;
  const meters: ModbusMeter[] = [];

  beforeAll(async () => {
    server = await ModbusTestServer.start({ type: 'tcp' }, [1, 2, 3, 4]);
    bus = new ModbusBus({ transport: { type: 'tcp', host: '127.0.0.1', port: server.port! }, ...BUS, log });
  });
  afterEach(async () => {
    await Promise.all(meters.splice(0).map((m) => m.stop()));
    // A failed test must not leave a silenced device behind for the next one.
    for (const unit of [1, 2, 3, 4]) await server.setMode(unit, { mode: 'normal' });
  });
  afterAll(async () => {
    await bus.close();
    await server.stop();
  });

  function meter(model: 'SDM630' | 'SDM120' | 'AcuDC243', unitId: number, extra: { clock?: Clock } = {}) {
    const m = new ModbusMeter({
      model,
      unitId,
      bus,
      pollIntervalMs: POLL_MS,
      log,
      serialNumber: 'SN-1',
      ...extra,
    });
    meters.push(m);
    return m;
  }

  it('decodes an SDM630 (three phases, kWh to exact Wh) that refuses undocumented registers', async () => {
    await loadSdm630(server, 1);
    const m = meter('SDM630', 1);
    await m.start();
    const r = await m.read();
    expect(m.health()).toEqual({ ok: true });
    expect(r.energyImportWh).toBe(SDM630_IMPORT_WH);
    expect(Number.isInteger(r.energyImportWh)).toBe(false);
    expect(r.energyExportWh).toBe(Math.fround(2.3456) * 1000);
    expect(r.voltageV).toHaveLength(3);
    expect(r.voltageV![0]).toBeCloseTo(230.1, 3);
    expect(r.voltageV![2]).toBeCloseTo(229.3, 3);
    expect(r.currentA).toEqual([10.5, 11.25, 12]);
    expect(r.powerW).toBe(7400.5);
    expect(r.frequencyHz).toBeCloseTo(50.02, 3);
    expect(m.type).toBe('Eastron SDM630');
    expect(m.serialNumber).toBe('SN-1');
  });

  it('decodes an SDM120 (single phase) that refuses undocumented registers', async () => {
    await loadSdm120(server, 2);
    const m = meter('SDM120', 2);
    await m.start();
    const r = await m.read();
    expect(m.health()).toEqual({ ok: true });
    expect(r.energyImportWh).toBe(SDM120_IMPORT_WH);
    expect(r.energyExportWh).toBe(250);
    expect(r.voltageV).toHaveLength(1);
    expect(r.voltageV![0]).toBeCloseTo(229.9, 3);
    expect(r.currentA).toEqual([15.75]);
    expect(r.powerW).toBe(3620);
    expect(r.frequencyHz).toBeCloseTo(49.98, 3);
  });

  it('decodes an AcuDC 243 (holding registers, kW and 0.01 kWh counts)', async () => {
    await server.setFloat(3, 'holding', 0x200, 401.5);
    await server.setFloat(3, 'holding', 0x202, 125.25);
    await server.setFloat(3, 'holding', 0x204, 50.25);
    await server.setUint32(3, 'holding', 0x300, 123_456);
    await server.setUint32(3, 'holding', 0x302, 7);
    const m = meter('AcuDC243', 3);
    await m.start();
    const r = await m.read();
    expect(r).toMatchObject({
      energyImportWh: 1_234_560,
      energyExportWh: 70,
      powerW: 50_250,
      voltageV: [401.5],
      currentA: [125.25],
    });
    expect(r.frequencyHz).toBeUndefined();
    expect(m.measurands).toContain('Energy.Active.Import.Register');
  });

  it('reports a device that stops answering, rejects reads, and recovers', async () => {
    await loadSdm630(server, 4);
    const sink: string[] = [];
    const m = new ModbusMeter({
      model: 'SDM630',
      unitId: 4,
      bus,
      pollIntervalMs: POLL_MS,
      log: createLogger({ level: 'warn', destination: { write: (line: string) => sink.push(line) } }),
    });
    meters.push(m);
    await m.start();
    expect(m.health().ok).toBe(true);

    const down = healthWhere(m, failed);
    await server.setMode(4, { mode: 'silent' });
    expect(await down).toMatchObject({
      ok: false,
      fault: 'PowerMeterFailure',
      info: expect.stringMatching(/no answer/),
    });
    await expect(m.read()).rejects.toThrow(/no answer/);
    expect(m.health().ok).toBe(false);

    const up = healthWhere(m, healthy);
    await server.setMode(4, { mode: 'normal' });
    await up;
    expect((await m.read()).energyImportWh).toBe(SDM630_IMPORT_WH);
    // Several failed polls, one structured line.
    const failures = sink
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'meter failed');
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ fault: 'PowerMeterFailure', unitId: 4, meter: 'SDM630' });
  });

  it('reports a Modbus exception answer with the exception in info', async () => {
    await loadSdm120(server, 2);
    const m = meter('SDM120', 2);
    await m.start();
    const down = healthWhere(m, failed);
    await server.setMode(2, { mode: 'exception', code: 2 });
    const h = await down;
    expect(h).toMatchObject({ ok: false, fault: 'PowerMeterFailure' });
    expect(!h.ok && h.info).toMatch(
      /unit 2, input registers 0x0000\+2: Modbus exception 2 \(illegal data address\)/,
    );
    await expect(m.read()).rejects.toThrow(/exception 2/);
    const up = healthWhere(m, healthy);
    await server.setMode(2, { mode: 'normal' });
    await up;
  });

  it('fails when the energy register goes backwards, and recovers once it is past the highest value', async () => {
    await loadSdm630(server, 1, 1000);
    const m = meter('SDM630', 1);
    await m.start();
    expect((await m.read()).energyImportWh).toBe(1_000_000);
    const down = healthWhere(m, failed);
    await server.setFloat(1, 'input', 0x48, 999);
    expect(await down).toMatchObject({
      fault: 'PowerMeterFailure',
      info: expect.stringMatching(/went backwards/),
    });
    await expect(m.read()).rejects.toThrow(/backwards/);
    const up = healthWhere(m, healthy);
    await server.setFloat(1, 'input', 0x48, 1000.5);
    await up;
    expect((await m.read()).energyImportWh).toBe(1_000_500);
  });

  it('fails on a non-finite value (NaN in a register)', async () => {
    await loadSdm120(server, 2);
    const m = meter('SDM120', 2);
    await m.start();
    const down = healthWhere(m, failed);
    await server.setWords(2, 'input', 0x0c, [0x7fc0, 0x0000]);
    expect(await down).toMatchObject({ info: expect.stringMatching(/power at 0x000c is not a number/) });
    await expect(m.read()).rejects.toThrow(/not a number/);
    await server.setFloat(2, 'input', 0x0c, 100);
  });

  it('reconnects after the TCP connection is dropped', async () => {
    await loadSdm120(server, 2);
    const m = meter('SDM120', 2);
    await m.start();
    expect(m.health().ok).toBe(true);
    const after = readingWhere(m, (r) => r.energyImportWh === 50_000);
    await server.dropConnections();
    await server.setFloat(2, 'input', 0x48, 50);
    expect((await after).energyImportWh).toBe(50_000);
  });

  it('serves a fresh cached reading and asks the device once it is stale', async () => {
    const clock = new ManualClock();
    await loadSdm120(server, 2);
    const m = meter('SDM120', 2, { clock });
    await m.start();
    expect((await m.read()).energyImportWh).toBe(SDM120_IMPORT_WH);
    await server.setFloat(2, 'input', 0x48, 43);
    clock.advanceMonotonic(POLL_MS);
    expect((await m.read()).energyImportWh).toBe(SDM120_IMPORT_WH);
    clock.advanceMonotonic(POLL_MS);
    expect((await m.read()).energyImportWh).toBe(43_000);
  });
});

describe('ModbusMeter over Modbus RTU (socat pty pair)', () => {
  let dir: string;
  let pty: PtyPair;
  let server: ModbusTestServer;
  let bus: ModbusBus;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'modbus-rtu-'));
    pty = await openPtyPair(dir);
    server = await ModbusTestServer.start({ type: 'rtu', path: pty.b }, [1, 2]);
    bus = new ModbusBus({ transport: { type: 'rtu', path: pty.a, baudRate: 9600 }, ...BUS, log });
  });
  afterAll(async () => {
    await bus.close();
    await server.stop();
    await pty.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves two meters with different unit ids on one line, and one dead meter does not fail the other', async () => {
    await loadSdm630(server, 1);
    await loadSdm120(server, 2);
    const three = new ModbusMeter({ model: 'SDM630', unitId: 1, bus, pollIntervalMs: POLL_MS, log });
    const single = new ModbusMeter({ model: 'SDM120', unitId: 2, bus, pollIntervalMs: POLL_MS, log });
    try {
      await Promise.all([three.start(), single.start()]);
      const [a, b] = await Promise.all([three.read(), single.read()]);
      expect(a.energyImportWh).toBe(SDM630_IMPORT_WH);
      expect(a.currentA).toEqual([10.5, 11.25, 12]);
      expect(b.energyImportWh).toBe(SDM120_IMPORT_WH);
      expect(b.currentA).toEqual([15.75]);

      const down = healthWhere(single, failed);
      await server.setMode(2, { mode: 'silent' });
      await down;
      // The live meter keeps being polled while its neighbour times out.
      const next = readingWhere(three, (r) => r.energyImportWh === 1_300_000);
      await server.setFloat(1, 'input', 0x48, 1300);
      await next;
      expect(three.health().ok).toBe(true);

      const up = healthWhere(single, healthy);
      await server.setMode(2, { mode: 'normal' });
      await up;
    } finally {
      await Promise.all([three.stop(), single.stop()]);
    }
  });

  it('reports a vanished serial port and reopens it when the port is back', async () => {
    await loadSdm120(server, 2);
    const m = new ModbusMeter({ model: 'SDM120', unitId: 2, bus, pollIntervalMs: POLL_MS, log });
    try {
      await m.start();
      expect(m.health().ok).toBe(true);
      // The device goes first (no answer), then the port itself (cannot open).
      const gone = healthWhere(m, (h) => !h.ok && /cannot open/.test(h.info ?? ''));
      await server.stop();
      await pty.close();
      expect(await gone).toMatchObject({ fault: 'PowerMeterFailure' });
      await expect(m.read()).rejects.toThrow(/cannot open/);

      const up = healthWhere(m, healthy);
      pty = await openPtyPair(dir);
      server = await ModbusTestServer.start({ type: 'rtu', path: pty.b }, [1, 2]);
      await loadSdm120(server, 2);
      await up;
      expect((await m.read()).energyImportWh).toBe(SDM120_IMPORT_WH);
    } finally {
      await m.stop();
    }
  });
});

/** A clock whose monotonic time only moves when the test says so; timers never fire by themselves. */
class ManualClock implements Clock {
  private mono = 0;
  now(): number {
    return Date.now();
  }
  monotonic(): number {
    return this.mono;
  }
  setTimeout(_fn: () => void, _ms: number): Timer {
    return { cancel: () => undefined };
  }
  advanceMonotonic(ms: number): void {
    this.mono += ms;
  }
}
