import type { FeatureProfile } from '../ocpp/actions.js';
import { authorizationKeyProblem } from '../ocpp/basic-auth.js';
import type { MeterValuesRequest } from '../ocpp/generated/messages.js';
import type { ItemRule, KeyDefinition } from './keys.js';

type SampledValue = MeterValuesRequest['meterValue'][number]['sampledValue'][number];
export type Measurand = NonNullable<SampledValue['measurand']>;
export type Phase = NonNullable<SampledValue['phase']>;

// Records keyed by the generated unions: the compiler flags a missing or extra name when the schema changes.
const MEASURAND_NAMES: Record<Measurand, true> = {
  'Energy.Active.Export.Register': true,
  'Energy.Active.Import.Register': true,
  'Energy.Reactive.Export.Register': true,
  'Energy.Reactive.Import.Register': true,
  'Energy.Active.Export.Interval': true,
  'Energy.Active.Import.Interval': true,
  'Energy.Reactive.Export.Interval': true,
  'Energy.Reactive.Import.Interval': true,
  'Power.Active.Export': true,
  'Power.Active.Import': true,
  'Power.Offered': true,
  'Power.Reactive.Export': true,
  'Power.Reactive.Import': true,
  'Power.Factor': true,
  'Current.Import': true,
  'Current.Export': true,
  'Current.Offered': true,
  Voltage: true,
  Frequency: true,
  Temperature: true,
  SoC: true,
  RPM: true,
};
const PHASE_NAMES: Record<Phase, true> = {
  L1: true,
  L2: true,
  L3: true,
  N: true,
  'L1-N': true,
  'L2-N': true,
  'L3-N': true,
  'L1-L2': true,
  'L2-L3': true,
  'L3-L1': true,
};
const FEATURE_PROFILE_NAMES: Record<FeatureProfile, true> = {
  Core: true,
  FirmwareManagement: true,
  LocalAuthListManagement: true,
  Reservation: true,
  SmartCharging: true,
  RemoteTrigger: true,
};

export const MEASURANDS: ReadonlySet<string> = new Set(Object.keys(MEASURAND_NAMES));
export const PHASES: ReadonlySet<string> = new Set(Object.keys(PHASE_NAMES));
const PHASE_ROTATIONS: ReadonlySet<string> = new Set([
  'NotApplicable',
  'Unknown',
  'RST',
  'RTS',
  'SRT',
  'STR',
  'TRS',
  'TSR',
]);
const FEATURE_PROFILES: ReadonlySet<string> = new Set(Object.keys(FEATURE_PROFILE_NAMES));
const CHARGING_RATE_UNITS: ReadonlySet<string> = new Set(['Current', 'Power']);
const FILE_TRANSFER_PROTOCOLS: ReadonlySet<string> = new Set(['FTP', 'FTPS', 'HTTP', 'HTTPS']);

/** ChangeConfiguration.req and GetConfiguration.conf both cap a value at this many characters. */
const MAX_VALUE_LENGTH = 500;

export type ParseResult = { ok: true; value: string } | { ok: false; reason: string };

export interface ValueContext {
  /** The current value of another key (a *MaxLength key, NumberOfConnectors); undefined when absent. */
  valueOf(key: string): string | undefined;
  /** Measurands the meter can deliver, bare (`Voltage`) or per phase (`Voltage.L1`); undefined = no limit. */
  supportedMeasurands?: ReadonlySet<string> | undefined;
}

const INTEGER = /^-?\d+$/;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** Checks an OCPP string value against its key's rules and returns it in canonical form. */
export function parseValue(def: KeyDefinition, raw: string, ctx: ValueContext): ParseResult {
  if (raw.length > MAX_VALUE_LENGTH) return fail(`longer than ${MAX_VALUE_LENGTH} characters`);
  switch (def.type) {
    case 'integer':
      return parseInteger(def, raw);
    case 'boolean':
      return parseBoolean(raw);
    case 'string':
      return parseString(def, raw);
    case 'csl':
      return parseList(def, raw, ctx);
  }
}

/** Items of a value already in canonical form. */
export function splitList(value: string): string[] {
  return value === '' ? [] : value.split(',');
}

// Each reason names what is allowed, so the technician (cpctl) can put it right at once.
function parseInteger(def: KeyDefinition, raw: string): ParseResult {
  const range = `between ${def.min ?? Number.MIN_SAFE_INTEGER} and ${def.max ?? Number.MAX_SAFE_INTEGER}`;
  if (!INTEGER.test(raw)) return fail(`not an integer: must be ${range}`);
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) return fail(`integer out of range: must be ${range}`);
  if ((def.min !== undefined && n < def.min) || (def.max !== undefined && n > def.max)) {
    return fail(`must be ${range}`);
  }
  return ok(String(n));
}

function parseBoolean(raw: string): ParseResult {
  const lower = raw.toLowerCase();
  return lower === 'true' || lower === 'false' ? ok(lower) : fail('must be true or false');
}

// Reasons never quote the value: a string key may be a secret.
function parseString(def: KeyDefinition, raw: string): ParseResult {
  const min = def.minLength ?? 0;
  const max = def.maxLength ?? MAX_VALUE_LENGTH;
  if (raw.length < min || raw.length > max)
    return fail(`length must be between ${min} and ${max} characters`);
  if (def.printableAscii && !PRINTABLE_ASCII.test(raw)) return fail('must be printable ASCII');
  const passwordProblem = def.basicAuthPassword ? authorizationKeyProblem(raw) : undefined;
  return passwordProblem ? fail(passwordProblem) : ok(raw);
}

function parseList(def: KeyDefinition, raw: string, ctx: ValueContext): ParseResult {
  const trimmed = raw.trim();
  const items = trimmed === '' ? [] : trimmed.split(',').map((item) => item.trim());
  if (items.length === 0 && def.nonEmpty) return fail('needs at least one item');
  const seen = new Set<string>();
  for (const item of items) {
    if (item === '') return fail('empty item');
    if (seen.has(item)) return fail(`duplicate item '${item}'`);
    seen.add(item);
  }
  if (def.maxItemsKey !== undefined) {
    const limit = ctx.valueOf(def.maxItemsKey);
    if (limit !== undefined && items.length > Number(limit)) {
      return fail(`${items.length} items, more than ${def.maxItemsKey} (${limit})`);
    }
  }
  if (def.itemRule !== undefined) {
    const check = ITEM_CHECKS[def.itemRule];
    for (const item of items) {
      const reason = check(item, ctx);
      if (reason !== undefined) return fail(reason);
    }
    if (def.itemRule === 'phaseRotation') {
      const reason = checkConnectorsUnique(items);
      if (reason !== undefined) return fail(reason);
    }
  }
  return ok(items.join(','));
}

type ItemCheck = (item: string, ctx: ValueContext) => string | undefined;

const ITEM_CHECKS: Record<ItemRule, ItemCheck> = {
  measurand: checkMeasurand,
  phaseRotation: checkPhaseRotation,
  featureProfile: (item) => oneOf(item, FEATURE_PROFILES, 'feature profile'),
  chargingRateUnit: (item) => oneOf(item, CHARGING_RATE_UNITS, 'charging rate unit'),
  fileTransferProtocol: (item) => oneOf(item, FILE_TRANSFER_PROTOCOLS, 'file transfer protocol'),
};

function oneOf(item: string, allowed: ReadonlySet<string>, what: string): string | undefined {
  return allowed.has(item) ? undefined : `'${item}' is not a ${what} (one of: ${[...allowed].join(', ')})`;
}

function checkMeasurand(item: string, ctx: ValueContext): string | undefined {
  let base = item;
  if (!MEASURANDS.has(item)) {
    // Measurand names contain dots themselves, so the phase is whatever follows the last one.
    const dot = item.lastIndexOf('.');
    base = item.slice(0, dot);
    if (dot < 0 || !MEASURANDS.has(base) || !PHASES.has(item.slice(dot + 1))) {
      return `'${item}' is not a measurand (optionally with a phase)`;
    }
  }
  const supported = ctx.supportedMeasurands;
  if (supported !== undefined && !supported.has(item) && !supported.has(base)) {
    return `'${item}' is not measured by this charge point (it measures: ${[...supported].join(', ')})`;
  }
  return undefined;
}

function checkPhaseRotation(item: string, ctx: ValueContext): string | undefined {
  const dot = item.indexOf('.');
  const connector = item.slice(0, dot);
  if (dot < 0 || !/^\d+$/.test(connector) || !PHASE_ROTATIONS.has(item.slice(dot + 1))) {
    return `'${item}' is not <connectorId>.<rotation> (rotations: ${[...PHASE_ROTATIONS].join(', ')})`;
  }
  const count = ctx.valueOf('NumberOfConnectors');
  if (count !== undefined && Number(connector) > Number(count)) {
    return `'${item}' names a connector above NumberOfConnectors (${count})`;
  }
  return undefined;
}

function checkConnectorsUnique(items: readonly string[]): string | undefined {
  const connectors = new Set<number>();
  for (const item of items) {
    // Compared as numbers so that "01" and "1" count as the same connector.
    const id = Number(item.slice(0, item.indexOf('.')));
    if (connectors.has(id)) return `connector ${id} listed twice`;
    connectors.add(id);
  }
  return undefined;
}

function ok(value: string): ParseResult {
  return { ok: true, value };
}

function fail(reason: string): ParseResult {
  return { ok: false, reason };
}
