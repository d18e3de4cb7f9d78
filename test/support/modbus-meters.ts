/**
 * Modbus meters in tests: Eastron meters as the test devices (test/support/modbus-server.ts) hold
 * them, with the registers their datasheets document and plausible values in them; and waits on
 * what the driver's meter reports.
 */
import type { ModbusMeter } from '../../hal/drivers/modbus-meter.js';
import type { MeterReading } from '../../hal/types.js';
import type { ModbusTestServer } from './modbus-server.js';

/** Total import kWh (input registers 0x48/0x49, float32) on the SDM630 and the SDM120 alike. */
export const IMPORT_KWH_REGISTER = 0x48;

/**
 * The input registers the Eastron datasheets document, [first, end): a real meter answers a read
 * touching any other with exception 2, so the test devices do too.
 */
export const SDM630_DOCUMENTED: Array<[number, number]> = [
  [0x00, 0x2c],
  [0x2e, 0x32],
  [0x34, 0x36],
  [0x38, 0x3a],
  [0x3c, 0x40],
  [0x42, 0x44],
  [0x46, 0x4c],
];
export const SDM120_DOCUMENTED: Array<[number, number]> = [
  [0x00, 0x02],
  [0x06, 0x08],
  [0x0c, 0x0e],
  [0x12, 0x14],
  [0x18, 0x1a],
  [0x1e, 0x20],
  [0x24, 0x26],
  [0x46, 0x50],
];

/**
 * Registers as an Eastron holds them: kWh floats that are not a whole number of Wh once multiplied
 * by 1000 (1234.567 kWh is 1234567.0166... Wh as a float32), which the reading keeps exactly.
 */
export const SDM630_IMPORT_KWH = 1234.567;
export const SDM630_IMPORT_WH = Math.fround(SDM630_IMPORT_KWH) * 1000;
const SDM120_IMPORT_KWH = 42.1237;
export const SDM120_IMPORT_WH = Math.fround(SDM120_IMPORT_KWH) * 1000;

/** SDM630 values as the meter holds them (kWh, V, A, W, Hz); only documented registers are readable. */
export async function loadSdm630(
  server: ModbusTestServer,
  unit: number,
  importKwh = SDM630_IMPORT_KWH,
): Promise<void> {
  await server.setDocumented(unit, 'input', SDM630_DOCUMENTED);
  const values: Array<[number, number]> = [
    [0x00, 230.1],
    [0x02, 231.2],
    [0x04, 229.3],
    [0x06, 10.5],
    [0x08, 11.25],
    [0x0a, 12],
    [0x34, 7400.5],
    [0x46, 50.02],
    [IMPORT_KWH_REGISTER, importKwh],
    [0x4a, 2.3456],
  ];
  for (const [address, value] of values) await server.setFloat(unit, 'input', address, value);
}

/** SDM120 (single phase) values as the meter holds them; only documented registers are readable. */
export async function loadSdm120(server: ModbusTestServer, unit: number): Promise<void> {
  await server.setDocumented(unit, 'input', SDM120_DOCUMENTED);
  const values: Array<[number, number]> = [
    [0x00, 229.9],
    [0x06, 15.75],
    [0x0c, 3620],
    [0x46, 49.98],
    [IMPORT_KWH_REGISTER, SDM120_IMPORT_KWH],
    [0x4a, 0.25],
  ];
  for (const [address, value] of values) await server.setFloat(unit, 'input', address, value);
}

/** Resolves on the meter's first good polled reading that matches. */
export function readingWhere(meter: ModbusMeter, match: (r: MeterReading) => boolean): Promise<MeterReading> {
  return new Promise((resolve) => {
    const onReading = (r: MeterReading): void => {
      if (!match(r)) return;
      meter.readings.off('reading', onReading);
      resolve(r);
    };
    meter.readings.on('reading', onReading);
  });
}
