import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HardwareBoard } from '../../hal/hardware-board.js';
import { SimBoard } from '../../hal/sim/board.js';
import {
  BoardFileError,
  buildBoard,
  loadBoard,
  parseBoardFile,
  smartChargingKeys,
} from '../../src/config/board-file.js';
import { BOARD_FILE_SCHEMA } from '../../src/config/hardware-board-schema.js';
import { ConfigurationRegistry } from '../../src/config/registry.js';
import { silentLogger } from '../../src/log.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeGpio } from '../support/fake-gpio.js';
import { FakePwmSysfs } from '../support/fake-pwm.js';

const boards = new URL('../../config/boards/', import.meta.url);
const read = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(new URL(name, boards), 'utf8')) as Record<string, unknown>;

/** A sysfs tree with the Raspberry Pi 4 controller at base 512, as kernels >= 6.6 number it. */
function fakeSysfs(dir: string): string {
  const chip = join(dir, 'class', 'gpio', 'gpiochip512');
  mkdirSync(chip, { recursive: true });
  writeFileSync(join(chip, 'label'), 'pinctrl-bcm2711\n');
  writeFileSync(join(chip, 'base'), '512\n');
  writeFileSync(join(chip, 'ngpio'), '58\n');
  return dir;
}

/** The Raspberry Pi's PWM controller (dtoverlay=pwm) with channel 0 already exported. */
function fakePwm(dir: string): FakePwmSysfs {
  return new FakePwmSysfs(dir).chip(0, 2).exported(0, 0);
}

describe('board files', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cp-board-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('the shipped board files are valid, and the published schema matches the loader', async () => {
    for (const name of ['sim.json', 'sim-dc.json', 'rpi-ac-1.json', 'dc-2.json', 'phoenix-ac-2.json']) {
      const parsed = await parseBoardFile(read(name), name);
      expect(parsed.connectors.length, name).toBe(
        (read(name) as { connectors: unknown[] }).connectors.length,
      );
    }
    const published = JSON.parse(readFileSync(new URL('../board.schema.json', boards), 'utf8'));
    expect(published).toEqual(JSON.parse(JSON.stringify(BOARD_FILE_SCHEMA)));
  });

  it('"sim" loads the bundled simulated board with two connectors and one reader', async () => {
    const board = await loadBoard('sim', { log: silentLogger(), clock: new FakeClock() });
    expect(board).toBeInstanceOf(SimBoard);
    expect(board.connectors.map((c) => c.id)).toEqual([1, 2]);
    expect(board.readers[0]?.connectorIds).toEqual([1, 2]);
  });

  it.each([
    [{ name: 'x', connectors: [{ id: 1 }] }, /kind: must be "sim" or "hardware"/],
    [{ name: 'x', kind: 'sim', connectors: [{ id: 2 }] }, /connectors: ids must be 1\.\.1/],
    [{ name: 'x', kind: 'sim', connectors: [{ id: 1 }, { id: 1 }] }, /ids must be 1\.\.2, each once/],
    [{ name: 'x', kind: 'sim', connectors: [{ id: 1, phases: 2 }] }, /connectors\.0\.phases/],
    [
      { name: 'x', kind: 'sim', connectors: [{ id: 1 }], readers: [{ name: 'r', connectors: [3] }] },
      /readers\.0\.connectors: no connector 3/,
    ],
    [{ name: 'x', kind: 'sim', connectors: [{ id: 1 }], bogus: true }, /bogus: is not a known setting/],
  ])('names what is wrong (%#)', async (doc, message) => {
    await expect(parseBoardFile(doc, 'test.json')).rejects.toThrow(BoardFileError);
    await expect(parseBoardFile(doc, 'test.json')).rejects.toThrow(message);
  });

  it('a hardware board names the missing part of a device', async () => {
    const doc = read('rpi-ac-1.json');
    const connector = (doc.connectors as Array<Record<string, unknown>>)[0]!;
    delete (connector.relay as Record<string, unknown>).line;
    await expect(parseBoardFile(doc, 'rpi.json')).rejects.toThrow(/connectors\.0\.relay\.line: is required/);
  });

  it('builds the Raspberry Pi AC board on GPIO numbers shifted by the chip base', async () => {
    const file = await parseBoardFile(
      { ...read('rpi-ac-1.json'), sysfsRoot: fakeSysfs(dir) },
      'rpi-ac-1.json',
    );
    const pwm = fakePwm(dir);
    const gpio = new FakeGpio();
    const board = await buildBoard(file, {
      log: silentLogger(),
      clock: new FakeClock(),
      gpioLines: gpio.factory,
    });
    expect(board).toBeInstanceOf(HardwareBoard);
    expect(board.connectors).toHaveLength(1);
    expect(board.faultInputs.map((f) => f.kind)).toEqual(['emergencyStop']);
    // The serial reader and the Modbus line are absent here: the board still starts, the devices report it.
    await board.start();
    try {
      expect([...gpio.lines.keys()].sort((a, b) => a - b)).toEqual([517, 518, 529, 534, 535, 536, 538, 539]);
      expect(board.readers[0]?.reader.health()).toMatchObject({ ok: false, fault: 'ReaderFailure' });
      // The pilot offers the outlet's 32 A on its PWM until told otherwise.
      expect(pwm.channel(0, 0)).toEqual({ period: 1_000_000, duty: 533_333, enable: 1 });
    } finally {
      await board.stop();
    }
    expect([...gpio.lines.values()].every((l) => l.closed)).toBe(true);
    expect(pwm.written(0, 'unexport')).toBe('0');
  });

  it('an unknown gpiochip label is a board-file error naming it', async () => {
    const file = await parseBoardFile(
      {
        ...read('dc-2.json'),
        sysfsRoot: fakeSysfs(dir),
        faultInputs: [{ driver: 'gpio', kind: 'tamper', line: { chip: 'pinctrl-rp1', offset: 3 } }],
      },
      'dc-2.json',
    );
    await expect(
      buildBoard(file, { log: silentLogger(), clock: new FakeClock(), gpioLines: new FakeGpio().factory }),
    ).rejects.toThrow(/pinctrl-rp1/);
  });

  it('carries the smart charging facts: nominal voltage, DC outlets, supply limit, profile capacity', async () => {
    const file = await parseBoardFile(
      {
        name: 'depot',
        kind: 'sim',
        supplyMaxCurrentA: 63,
        smartCharging: { maxStackLevel: 5, maxPeriods: 24, maxProfiles: 10, rateUnits: ['A'] },
        connectors: [
          { id: 1, maxCurrentA: 32, phases: 3, nominalVoltageV: 240 },
          { id: 2, maxCurrentA: 125, nominalVoltageV: 500, dc: true },
          { id: 3, maxCurrentA: 16, phases: 1, phase: 2 },
        ],
      },
      'depot.json',
    );
    const board = await buildBoard(file, { log: silentLogger(), clock: new FakeClock() });
    expect(board.supplyMaxCurrentA).toBe(63);
    expect(board.smartCharging).toEqual({
      maxStackLevel: 5,
      maxPeriods: 24,
      maxProfiles: 10,
      rateUnits: ['A'],
    });
    const [ac, dc, onL2] = board.connectors.map((c) => c.devices);
    expect([ac?.nominalVoltageV, ac?.powerSetpoint, ac?.phase]).toEqual([240, undefined, undefined]);
    expect([onL2?.phases, onL2?.phase]).toEqual([1, 2]);
    expect([dc?.nominalVoltageV, dc?.phases, dc?.powerSetpoint?.powerLimit()]).toEqual([500, 1, 62_500]);
  });

  it('a hardware board file carries them too', async () => {
    const doc = read('rpi-ac-1.json');
    const file = await parseBoardFile(
      {
        ...doc,
        sysfsRoot: fakeSysfs(dir),
        supplyMaxCurrentA: 25,
        smartCharging: { rateUnits: ['A', 'W'] },
        connectors: (doc.connectors as Array<Record<string, unknown>>).map((c) => ({
          ...c,
          nominalVoltageV: 220,
          phase: 3,
        })),
      },
      'rpi-ac-1.json',
    );
    const board = await buildBoard(file, {
      log: silentLogger(),
      clock: new FakeClock(),
      gpioLines: new FakeGpio().factory,
    });
    expect([board.supplyMaxCurrentA, board.smartCharging]).toEqual([25, { rateUnits: ['A', 'W'] }]);
    expect(board.connectors[0]?.devices.nominalVoltageV).toBe(220);
    expect(board.connectors[0]?.devices.phase).toBe(3);
  });

  it.each([
    [{ supplyMaxCurrentA: 0 }, /supplyMaxCurrentA/],
    [{ smartCharging: { maxPeriods: 0 } }, /smartCharging\.maxPeriods/],
    [{ smartCharging: { rateUnits: ['kW'] } }, /smartCharging\.rateUnits\.0/],
    [{ smartCharging: { rateUnits: [] } }, /smartCharging\.rateUnits/],
    [{ connectors: [{ id: 1, nominalVoltageV: -230 }] }, /connectors\.0\.nominalVoltageV/],
    [{ connectors: [{ id: 1, phases: 1, phase: 4 }] }, /connectors\.0\.phase/],
  ])('refuses impossible smart charging facts (%#)', async (extra, message) => {
    const doc = { name: 'x', kind: 'sim', connectors: [{ id: 1 }], ...extra };
    await expect(parseBoardFile(doc, 'test.json')).rejects.toThrow(message);
  });

  it("the board's profile capacity becomes the read-only smart charging keys; the rest keep their defaults", () => {
    expect(smartChargingKeys(undefined)).toEqual({});
    const fixed = smartChargingKeys({ maxStackLevel: 3, maxProfiles: 8, rateUnits: ['W', 'A'] });
    expect(fixed).toEqual({
      ChargeProfileMaxStackLevel: '3',
      MaxChargingProfilesInstalled: '8',
      ChargingScheduleAllowedChargingRateUnit: 'Power,Current',
    });
    const registry = new ConfigurationRegistry({
      store: { loadAll: () => new Map(), save: () => undefined },
      capabilities: new Set(['smartCharging']),
      fixed: { NumberOfConnectors: '1', SupportedFeatureProfiles: 'Core,SmartCharging', ...fixed },
      log: silentLogger(),
    });
    expect(registry.getInt('ChargeProfileMaxStackLevel')).toBe(3);
    expect(registry.getInt('MaxChargingProfilesInstalled')).toBe(8);
    expect(registry.getInt('ChargingScheduleMaxPeriods')).toBe(100);
    expect(registry.getList('ChargingScheduleAllowedChargingRateUnit')).toEqual(['Power', 'Current']);
  });
});
