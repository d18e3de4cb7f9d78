/**
 * Register maps of the supported Modbus energy meters, and the pure work around them: planning
 * the fewest read requests, decoding register bytes, and turning decoded values into a
 * MeterReading. No I/O here, so every map can be checked without a device.
 */
import type { MeterReading } from '../types.js';

export type MeterModel = 'SDM630' | 'SDM120' | 'AcuDC243';
export const METER_MODELS: readonly MeterModel[] = ['SDM630', 'SDM120', 'AcuDC243'];

/** input = function 0x04, holding = function 0x03. */
export type RegisterTable = 'input' | 'holding';

export type Quantity = 'voltage' | 'current' | 'power' | 'frequency' | 'energyImport' | 'energyExport';

export interface RegisterField {
  quantity: Quantity;
  /** Index in the per-phase array (voltage, current): 0 = L1 (or the only DC channel). */
  phase?: number;
  /** Zero-based register address, as sent on the wire. */
  address: number;
  /** Both take two registers, high word first (big-endian word and byte order). */
  type: 'float32' | 'uint32';
  /** Multiplier from the device's unit to V, A, W, Hz or Wh. */
  scale: number;
}

export interface MeterMap {
  model: MeterModel;
  /** Human name, reported as the meter's type. */
  label: string;
  table: RegisterTable;
  /** Most registers the device accepts in one request. */
  maxRegistersPerRequest: number;
  /** Largest run of unwanted registers worth reading through to save a request. */
  maxGapRegisters: number;
  /**
   * The register ranges the datasheet documents, each [first, end) in wire addresses. A request
   * reads through a gap only where every register of the gap is documented: Eastron meters answer
   * a request that touches an undocumented register with exception 2 (illegal data address).
   */
  documented: ReadonlyArray<readonly [first: number, end: number]>;
  fields: readonly RegisterField[];
}

const REGISTERS_PER_VALUE = 2;
const KWH = 1000;

/**
 * Eastron SDM630 Modbus (V2), input registers, float32 (Eastron "SDM630 Modbus Protocol", parameter
 * table 30001..): 30001/3/5 phase L-N volts (0x00/02/04), 30007/9/11 phase currents (0x06/08/0A),
 * 30053 total system power (0x34), 30071 frequency (0x46), 30073 total import kWh (0x48), 30075
 * total export kWh (0x4A). Eastron limits a request to 30 parameters (60 registers). The table
 * skips parameters 23, 26, 28, 30, 33 and 35 (0x2C, 0x32, 0x36, 0x3A, 0x40, 0x44), so the gaps
 * 0x0C..0x33 and 0x36..0x45 cannot be read through: three requests.
 */
const SDM630: MeterMap = {
  model: 'SDM630',
  label: 'Eastron SDM630',
  table: 'input',
  maxRegistersPerRequest: 60,
  maxGapRegisters: 40,
  documented: [
    [0x00, 0x2c], // phase volts, currents, power, VA, var, PF, angle; average L-N volts
    [0x2e, 0x32], // average line current, sum of line currents
    [0x34, 0x36], // total system power
    [0x38, 0x3a], // total system VA
    [0x3c, 0x40], // total system var, total system power factor
    [0x42, 0x44], // total system phase angle
    [0x46, 0x4c], // frequency, import kWh, export kWh
  ],
  fields: [
    { quantity: 'voltage', phase: 0, address: 0x0000, type: 'float32', scale: 1 },
    { quantity: 'voltage', phase: 1, address: 0x0002, type: 'float32', scale: 1 },
    { quantity: 'voltage', phase: 2, address: 0x0004, type: 'float32', scale: 1 },
    { quantity: 'current', phase: 0, address: 0x0006, type: 'float32', scale: 1 },
    { quantity: 'current', phase: 1, address: 0x0008, type: 'float32', scale: 1 },
    { quantity: 'current', phase: 2, address: 0x000a, type: 'float32', scale: 1 },
    { quantity: 'power', address: 0x0034, type: 'float32', scale: 1 },
    { quantity: 'frequency', address: 0x0046, type: 'float32', scale: 1 },
    { quantity: 'energyImport', address: 0x0048, type: 'float32', scale: KWH },
    { quantity: 'energyExport', address: 0x004a, type: 'float32', scale: KWH },
  ],
};

/**
 * Eastron SDM120 Modbus, input registers, float32 (Eastron SDM120 protocol): 30001 voltage (0x00),
 * 30007 current (0x06), 30013 active power (0x0C), 30071 frequency (0x46), 30073 import active
 * energy kWh (0x48), 30075 export active energy kWh (0x4A). Its table has a parameter only every
 * third register pair (0x02..0x05 and 0x08..0x0B are undocumented), so voltage, current and power
 * are one request each; frequency and the two energies are contiguous.
 */
const SDM120: MeterMap = {
  model: 'SDM120',
  label: 'Eastron SDM120',
  table: 'input',
  maxRegistersPerRequest: 60,
  maxGapRegisters: 40,
  documented: [
    [0x00, 0x02], // voltage
    [0x06, 0x08], // current
    [0x0c, 0x0e], // active power
    [0x12, 0x14], // apparent power
    [0x18, 0x1a], // reactive power
    [0x1e, 0x20], // power factor
    [0x24, 0x26], // phase angle
    [0x46, 0x50], // frequency, import/export active energy, import/export reactive energy
  ],
  fields: [
    { quantity: 'voltage', phase: 0, address: 0x0000, type: 'float32', scale: 1 },
    { quantity: 'current', phase: 0, address: 0x0006, type: 'float32', scale: 1 },
    { quantity: 'power', address: 0x000c, type: 'float32', scale: 1 },
    { quantity: 'frequency', address: 0x0046, type: 'float32', scale: 1 },
    { quantity: 'energyImport', address: 0x0048, type: 'float32', scale: KWH },
    { quantity: 'energyExport', address: 0x004a, type: 'float32', scale: KWH },
  ],
};

/**
 * Accuenergy AcuDC 243 (AcuDC 240 series) DC meter, holding registers read with function 0x03
 * (Accuenergy "AcuDC 240 Series Modbus Map", accuenergy.com/support/acudc-240-series-modbus-map,
 * and the AcuDC 240 user manual appendix B.3): 0x0200 voltage (float, V), 0x0202 current (float, A),
 * 0x0204 power (float, kW), 0x0300 import energy and 0x0302 export energy (32-bit integers,
 * real = Rx / 100 kWh, so 1 count = 10 Wh). The registers between 0x0206 and 0x02FF (analog
 * outputs, pulse counts, clock) are not read through.
 */
const ACUDC243: MeterMap = {
  model: 'AcuDC243',
  label: 'Accuenergy AcuDC 243',
  table: 'holding',
  maxRegistersPerRequest: 100,
  maxGapRegisters: 0,
  documented: [
    [0x200, 0x206], // voltage, current, power
    [0x300, 0x304], // import and export energy
  ],
  fields: [
    { quantity: 'voltage', phase: 0, address: 0x0200, type: 'float32', scale: 1 },
    { quantity: 'current', phase: 0, address: 0x0202, type: 'float32', scale: 1 },
    { quantity: 'power', address: 0x0204, type: 'float32', scale: 1000 },
    { quantity: 'energyImport', address: 0x0300, type: 'uint32', scale: 10 },
    { quantity: 'energyExport', address: 0x0302, type: 'uint32', scale: 10 },
  ],
};

export const METER_MAPS: Readonly<Record<MeterModel, MeterMap>> = {
  SDM630,
  SDM120,
  AcuDC243: ACUDC243,
};

const MEASURAND: Record<Quantity, string> = {
  energyImport: 'Energy.Active.Import.Register',
  energyExport: 'Energy.Active.Export.Register',
  power: 'Power.Active.Import',
  current: 'Current.Import',
  voltage: 'Voltage',
  frequency: 'Frequency',
};

/** The OCPP measurands a map supplies, energy import first. */
export function measurandsOf(map: MeterMap): string[] {
  const quantities = new Set(map.fields.map((f) => f.quantity));
  return (Object.keys(MEASURAND) as Quantity[]).filter((q) => quantities.has(q)).map((q) => MEASURAND[q]);
}

export interface ReadBlock {
  address: number;
  count: number;
  fields: readonly RegisterField[];
}

/** True when every register in [first, end) lies in a documented range of the map. */
function isDocumented(map: MeterMap, first: number, end: number): boolean {
  for (let register = first; register < end; register++) {
    if (!map.documented.some(([from, to]) => register >= from && register < to)) return false;
  }
  return true;
}

/**
 * Groups the fields into the fewest requests the device allows (fields sorted by address): a
 * request reads through a gap only when it is short enough and wholly documented.
 */
export function planBlocks(map: MeterMap): ReadBlock[] {
  const sorted = [...map.fields].sort((a, b) => a.address - b.address);
  const blocks: Array<{ address: number; end: number; fields: RegisterField[] }> = [];
  for (const field of sorted) {
    const end = field.address + REGISTERS_PER_VALUE;
    const last = blocks.at(-1);
    if (
      last &&
      field.address - last.end <= map.maxGapRegisters &&
      end - last.address <= map.maxRegistersPerRequest &&
      isDocumented(map, last.end, field.address)
    ) {
      last.end = Math.max(last.end, end);
      last.fields.push(field);
    } else {
      blocks.push({ address: field.address, end, fields: [field] });
    }
  }
  return blocks.map((b) => ({ address: b.address, count: b.end - b.address, fields: b.fields }));
}

export interface DecodedValue {
  field: RegisterField;
  /** In V, A, W, Hz or Wh. */
  value: number;
}

/** Decodes one block's register bytes (2 bytes per register, as received). */
export function decodeBlock(block: ReadBlock, bytes: Buffer): DecodedValue[] {
  if (bytes.length < block.count * 2) {
    throw new MeterDataError(`short answer: ${bytes.length} bytes for ${block.count} registers`);
  }
  return block.fields.map((field) => {
    const offset = (field.address - block.address) * 2;
    const raw = field.type === 'float32' ? bytes.readFloatBE(offset) : bytes.readUInt32BE(offset);
    return { field, value: raw * field.scale };
  });
}

/** Values that cannot be a real measurement (the meter's fault, not the line's). */
export class MeterDataError extends Error {
  override readonly name = 'MeterDataError';
}

/**
 * Builds the reading from all decoded values. Throws MeterDataError for a value that is not a
 * finite number or a negative energy register: a meter that says so is broken, and a broken meter
 * must never be read as some number.
 */
export function buildReading(values: readonly DecodedValue[], at: number): MeterReading {
  const reading: Partial<MeterReading> & { at: number } = { at };
  for (const { field, value } of values) {
    if (!Number.isFinite(value)) {
      throw new MeterDataError(`${field.quantity} at 0x${hex(field.address)} is not a number (${value})`);
    }
    switch (field.quantity) {
      case 'energyImport':
      case 'energyExport':
        if (value < 0) throw new MeterDataError(`${field.quantity} at 0x${hex(field.address)} is negative`);
        reading[field.quantity === 'energyImport' ? 'energyImportWh' : 'energyExportWh'] = value;
        break;
      case 'power':
        reading.powerW = value;
        break;
      case 'frequency':
        reading.frequencyHz = value;
        break;
      case 'voltage':
        reading.voltageV = withPhase(reading.voltageV, field.phase ?? 0, value);
        break;
      case 'current':
        reading.currentA = withPhase(reading.currentA, field.phase ?? 0, value);
        break;
    }
  }
  if (reading.energyImportWh === undefined) throw new MeterDataError('no import energy register read');
  return reading as MeterReading;
}

function withPhase(values: number[] | undefined, phase: number, value: number): number[] {
  const next = values ?? [];
  next[phase] = value;
  return next;
}

export function hex(n: number): string {
  return n.toString(16).padStart(4, '0');
}
