import type { Logger } from '../log.js';
import type { GetConfigurationResponse } from '../ocpp/generated/messages.js';
import {
  KEY_DEFINITIONS,
  type KeyDefinition,
  type KeyName,
  type KeyNameOf,
  type StandardKeyDefinition,
} from './keys.js';
import { parseValue, splitList, type ValueContext } from './values.js';

export type ChangeStatus = 'Accepted' | 'Rejected' | 'RebootRequired' | 'NotSupported';

/**
 * A change's status and, when it is not made, why: ChangeConfiguration.conf carries the status
 * alone, cpctl shows the reason. A reason never quotes the value (it may be the AuthorizationKey).
 */
export interface ChangeOutcome {
  status: ChangeStatus;
  reason?: string;
}

/** Who asks for a change: the CSMS, a technician at the charger, or the daemon itself. */
export type ChangeOrigin = 'csms' | 'local' | 'runtime';

/** Persistence of key values (SQLite-backed in production). */
export interface ConfigStore {
  loadAll(): Map<string, string>;
  save(key: string, value: string): void;
}

/**
 * The last persisted value of each only-raise key (SecurityProfile), kept apart from the store so
 * that a lost or replaced database cannot lower it.
 */
export interface SettingFloorStore {
  get(key: string): string | undefined;
  set(key: string, value: string): boolean;
}

export interface RegistryOptions<D extends KeyDefinition = StandardKeyDefinition> {
  store: ConfigStore;
  /** Floors of the only-raise keys; without it, the store alone remembers them. */
  floors?: SettingFloorStore;
  /** Values from the provisioning file, as JSON types or OCPP strings. */
  initial?: Record<string, string | number | boolean>;
  /** Keys whose file value wins over the stored value at every start. */
  forced?: readonly string[];
  capabilities: ReadonlySet<string>;
  /** Read-only values the runtime computes, e.g. NumberOfConnectors, SupportedFeatureProfiles. */
  fixed: Record<string, string>;
  supportedMeasurands?: ReadonlySet<string>;
  log: Logger;
  /** Replaces the standard key set; for tests of rules no standard key uses. */
  definitions?: readonly D[];
}

export type ChangeListener = (value: string, previous: string | undefined) => void;

/** An extra rule from another module: returns a rejection reason, or undefined to allow. */
export type ChangeGuard = (value: string) => string | undefined;

type ConfigurationKey = NonNullable<GetConfigurationResponse['configurationKey']>[number];

/**
 * The live set of configuration keys.
 *
 * Values are held in memory and written through to the store, so reads never touch the database.
 * Precedence at start: default < provisioning file < store, except that a forced file value beats the
 * store. Read-only keys are never persisted: nothing over OCPP can change them, so the file (or the
 * runtime, via `fixed`) stays their only source and a product update takes effect.
 * A stored value that no longer passes the rules (bounds changed) is skipped with a warning, so the
 * file value, else the default, applies: a bad row must never stop the charger from starting.
 * A forced key only decides the start value; the CSMS may still change it until the next start.
 *
 * A change of a reboot-required key is stored and `get()` returns it at once, but listeners are not
 * told: modules that read such a key only at start pick the new value up after the restart.
 *
 * Key names are typed by the definitions: a misspelt key, or a typed getter of another value type
 * (`getBool` of an integer key), does not compile. Names from outside the code (ChangeConfiguration,
 * cpctl) go through `changeByName` and `list`, which check them at run time.
 */
export class ConfigurationRegistry<D extends KeyDefinition = StandardKeyDefinition> {
  private readonly definitions = new Map<string, KeyDefinition>();
  /** Every key name of the definitions, provided or hidden with its capability. */
  private readonly names: ReadonlySet<string>;
  private readonly values = new Map<string, string>();
  private readonly listeners = new Map<string, ChangeListener[]>();
  private readonly guards = new Map<string, ChangeGuard[]>();
  private readonly entries = new Map<string, ConfigurationKey>();
  private allKeys: GetConfigurationResponse | undefined;
  private readonly store: ConfigStore;
  private readonly floors: SettingFloorStore | undefined;
  private readonly log: Logger;
  private readonly context: ValueContext;

  constructor(opts: RegistryOptions<D>) {
    this.store = opts.store;
    this.floors = opts.floors;
    this.log = opts.log.child({ module: 'config' });
    this.context = { valueOf: (key) => this.values.get(key), supportedMeasurands: opts.supportedMeasurands };
    const all: readonly KeyDefinition[] = opts.definitions ?? KEY_DEFINITIONS;
    for (const def of all) {
      if (def.capability === undefined || opts.capabilities.has(def.capability))
        this.definitions.set(def.name, def);
    }
    this.names = new Set(all.map((def) => def.name));
    const file = this.fileValues(opts.initial ?? {}, opts.fixed, this.names);
    const forced = new Set(opts.forced ?? []);
    for (const key of forced) {
      if (!file.has(key)) throw configError(key, 'forced but not given a value');
    }
    const stored = this.store.loadAll();
    // Lists are bounded by integer keys, so integers must be settled first.
    const ordered = [...this.definitions.values()].sort(
      (a, b) => Number(a.type === 'csl') - Number(b.type === 'csl'),
    );
    for (const def of ordered) this.resolve(def, opts.fixed[def.name], file.get(def.name), forced, stored);
  }

  /** True when the charge point provides the key's function (a key of a missing capability is hidden). */
  has(key: KeyName<D>): boolean {
    return this.definitions.has(key);
  }

  /** The value as an OCPP string; undefined for a hidden key or one that has no value yet. */
  get(key: KeyName<D>): string | undefined {
    return this.values.get(key);
  }

  getInt(key: KeyNameOf<'integer', D>): number {
    return Number(this.typed(key, 'integer'));
  }

  getBool(key: KeyNameOf<'boolean', D>): boolean {
    return this.typed(key, 'boolean') === 'true';
  }

  getList(key: KeyNameOf<'csl', D>): string[] {
    return splitList(this.typed(key, 'csl'));
  }

  /** GetConfiguration.conf for the requested keys; none or an empty list means every key. */
  list(keys?: readonly string[]): GetConfigurationResponse {
    if (keys === undefined || keys.length === 0) {
      this.allKeys ??= Object.freeze({
        configurationKey: Object.freeze(
          [...this.definitions.keys()].map((key) => this.entry(key)),
        ) as ConfigurationKey[],
      });
      return this.allKeys;
    }
    const configurationKey: ConfigurationKey[] = [];
    const unknownKey: string[] = [];
    const seen = new Set<string>();
    for (const key of keys) {
      if (seen.has(key)) continue;
      seen.add(key);
      if (this.has(key)) configurationKey.push(this.entry(key));
      else unknownKey.push(key);
    }
    return unknownKey.length > 0 ? { configurationKey, unknownKey } : { configurationKey };
  }

  change(key: KeyName<D>, value: string, origin: ChangeOrigin): ChangeStatus {
    return this.changeByName(key, value, origin);
  }

  /**
   * A change asked for by a name from outside the code (ChangeConfiguration, cpctl), which may be
   * no key at all: NotSupported then, as for a key hidden with its function.
   */
  changeByName(key: string, value: string, origin: ChangeOrigin): ChangeStatus {
    return this.changeWithReason(key, value, origin).status;
  }

  /** `changeByName`, with the reason of a change not made (what cpctl tells the technician). */
  changeWithReason(key: string, value: string, origin: ChangeOrigin): ChangeOutcome {
    const def = this.definitions.get(key);
    if (def === undefined) {
      this.log.info({ key, origin }, 'configuration change of an unsupported key');
      return {
        status: 'NotSupported',
        reason: this.names.has(key)
          ? 'not provided by this charge point'
          : `not a configuration key${caseHint(key, this.names)}`,
      };
    }
    const reject = (reason: string): ChangeOutcome => {
      const shown = isSecret(def) ? {} : { value };
      this.log.warn({ key, ...shown, origin, reason }, 'configuration change rejected');
      return { status: 'Rejected', reason };
    };
    if (def.access === 'R') return reject('read-only');
    const parsed = parseValue(def, value, this.context);
    if (!parsed.ok) return reject(parsed.reason);
    const previous = this.values.get(key);
    // Lowering is kept for the runtime alone: it falls back when the new security profile fails to connect.
    if (def.onlyRaise && origin !== 'runtime' && Number(parsed.value) <= Number(previous ?? def.min ?? 0)) {
      return reject(`may only be raised: it is ${previous ?? def.min ?? 0} now`);
    }
    if (parsed.value === previous) return { status: 'Accepted' };
    for (const guard of this.guards.get(key) ?? []) {
      const reason = this.runGuard(key, guard, parsed.value);
      if (reason !== undefined) return reject(reason);
    }
    try {
      this.store.save(key, parsed.value);
    } catch (err) {
      this.log.error({ key, origin, err }, 'configuration change not stored');
      return { status: 'Rejected', reason: 'the state store refused the write' };
    }
    if (def.onlyRaise) this.floors?.set(key, parsed.value);
    this.set(key, parsed.value);
    const shown = isSecret(def) ? {} : { value: parsed.value, previous };
    this.log.info({ key, ...shown, origin }, 'configuration changed');
    if (def.rebootRequired) return { status: 'RebootRequired' };
    this.notify(key, parsed.value, previous);
    return { status: 'Accepted' };
  }

  /** True for a write-only key: a secret, never listed with its value nor logged. */
  isWriteOnly(key: string): boolean {
    const def = this.definitions.get(key);
    return def !== undefined && isSecret(def);
  }

  /** Whether a key has a value, without giving it: what cpctl says of a write-only key. */
  hasValue(key: string): boolean {
    return this.definitions.has(key) && this.values.get(key) !== undefined;
  }

  /** Adds a rule a new value of `key` must pass; every guard of a key must agree. */
  guard(key: KeyName<D>, rule: ChangeGuard): void {
    this.known(key);
    this.guards.set(key, [...(this.guards.get(key) ?? []), rule]);
  }

  /** Calls `listener` after each stored change of `key`; returns the unsubscribe function. */
  onChange(key: KeyName<D>, listener: ChangeListener): () => void {
    this.known(key);
    this.listeners.set(key, [...(this.listeners.get(key) ?? []), listener]);
    return () => {
      this.listeners.set(
        key,
        (this.listeners.get(key) ?? []).filter((l) => l !== listener),
      );
    };
  }

  private fileValues(
    initial: Record<string, unknown>,
    fixed: Record<string, string>,
    known: ReadonlySet<string>,
  ): Map<string, string> {
    for (const key of Object.keys(fixed)) {
      const def = this.definitions.get(key);
      if (def === undefined || def.access !== 'R')
        throw new ConfigurationError(`config: ${key} cannot be a runtime-computed key`);
    }
    const out = new Map<string, string>();
    for (const [key, raw] of Object.entries(initial)) {
      if (!known.has(key)) throw configError(key, unknownKeyReason(key, known));
      if (!this.definitions.has(key)) throw configError(key, 'not provided by this charge point');
      if (Object.hasOwn(fixed, key))
        throw configError(key, 'computed by the runtime, cannot be set in the file');
      const text = fileValueText(raw);
      if (text === undefined) throw configError(key, 'must be a string, number or boolean');
      out.set(key, text);
    }
    return out;
  }

  private resolve(
    def: KeyDefinition,
    fixedValue: string | undefined,
    fileValue: string | undefined,
    forced: ReadonlySet<string>,
    stored: ReadonlyMap<string, string>,
  ): void {
    const key = def.name;
    const parse = (raw: string): string => {
      const parsed = parseValue(def, raw, this.context);
      if (!parsed.ok) throw configError(key, parsed.reason);
      return parsed.value;
    };
    if (fixedValue !== undefined) {
      this.values.set(key, parse(fixedValue));
      return;
    }
    const fromFile = fileValue === undefined ? undefined : parse(fileValue);
    let value = fromFile;
    let persistFile = fromFile !== undefined && def.access !== 'R';
    const storedValue = stored.get(key);
    if (def.access !== 'R' && storedValue !== undefined && !forced.has(key)) {
      const parsed = parseValue(def, storedValue, this.context);
      if (parsed.ok) {
        value = parsed.value;
        persistFile = false;
      } else {
        const shown = isSecret(def) ? {} : { value: storedValue };
        this.log.warn(
          { key, ...shown, reason: parsed.reason },
          'stored configuration value invalid, ignored',
        );
      }
    }
    if (persistFile && fromFile !== undefined && fromFile !== storedValue) this.store.save(key, fromFile);
    value ??= def.defaultValue === undefined ? undefined : parse(def.defaultValue);
    if (def.onlyRaise && value !== undefined) value = this.notBelowFloor(def, value);
    if (value !== undefined) this.values.set(key, value);
    else if (def.access === 'R') throw configError(key, 'has no value; the runtime must provide it');
  }

  /**
   * An only-raise key starts no lower than its floor: the database that held the higher value may
   * have been lost (moved aside as corrupt) or replaced. The floor follows the value it settles on.
   */
  private notBelowFloor(def: KeyDefinition, value: string): string {
    const key = def.name;
    const floor = this.floors?.get(key);
    const parsed = floor === undefined ? undefined : parseValue(def, floor, this.context);
    if (parsed?.ok && Number(parsed.value) > Number(value)) {
      this.log.warn(
        { key, value: parsed.value, wouldBe: value },
        'only-raise setting restored from its floor: never below the last persisted value',
      );
      try {
        this.store.save(key, parsed.value);
      } catch (err) {
        this.log.error({ key, err }, 'restored setting not stored; its floor still holds it');
      }
      return parsed.value;
    }
    this.floors?.set(key, value);
    return value;
  }

  private set(key: string, value: string): void {
    this.values.set(key, value);
    this.entries.delete(key);
    this.allKeys = undefined;
  }

  private notify(key: string, value: string, previous: string | undefined): void {
    for (const listener of this.listeners.get(key) ?? []) {
      try {
        listener(value, previous);
      } catch (err) {
        this.log.error({ key, err }, 'configuration change listener failed');
      }
    }
  }

  private runGuard(key: string, guard: ChangeGuard, value: string): string | undefined {
    try {
      return guard(value);
    } catch (err) {
      this.log.error({ key, err }, 'configuration guard failed');
      return 'guard failed';
    }
  }

  private entry(key: string): ConfigurationKey {
    let entry = this.entries.get(key);
    if (entry === undefined) {
      const def = this.known(key);
      const value = isSecret(def) ? undefined : this.values.get(key);
      entry = Object.freeze(
        value === undefined
          ? { key, readonly: def.access === 'R' }
          : { key, readonly: def.access === 'R', value },
      );
      this.entries.set(key, entry);
    }
    return entry;
  }

  private known(key: string): KeyDefinition {
    const def = this.definitions.get(key);
    if (def === undefined)
      throw new ConfigurationError(`config: ${key} is not a configuration key of this charge point`);
    return def;
  }

  private typed(key: string, type: KeyDefinition['type']): string {
    const def = this.known(key);
    const value = this.values.get(key);
    if (def.type !== type || value === undefined)
      throw new ConfigurationError(`config: ${key} has no ${type} value`);
    return value;
  }
}

/**
 * The provisioned OCPP keys cannot make a valid configuration (a bad value, an unknown key, a
 * key the runtime computes): the daemon exits with the configuration-error code, not a crash.
 */
export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
}

/** Write-only keys are secrets: never shown in a listing nor in a log line. */
function isSecret(def: KeyDefinition): boolean {
  return def.access === 'W';
}

/**
 * Every problem of the provisioning file's `ocpp` values that can be told without the board, one
 * line each (`ocpp.<key>: <reason>`): an unknown key, a value its key's rules refuse. A value of a
 * JSON type no key takes is the file schema's to tell, and skipped here. `chargepointd --check` and
 * a start list them all; the registry, built on the board, then checks what depends on it (the
 * keys it computes, the measurands its meters deliver).
 */
export function fileValueProblems(initial: Readonly<Record<string, unknown>>): string[] {
  const definitions = new Map<string, KeyDefinition>(KEY_DEFINITIONS.map((def) => [def.name, def]));
  const known: ReadonlySet<string> = new Set(definitions.keys());
  const texts = new Map<string, string>();
  const problems: string[] = [];
  for (const [key, raw] of Object.entries(initial)) {
    const text = fileValueText(raw);
    if (!known.has(key)) problems.push(`ocpp.${key}: ${unknownKeyReason(key, known)}`);
    else if (text !== undefined) texts.set(key, text);
  }
  // A list's bound is the file's value of its *MaxLength key, else that key's default.
  const context: ValueContext = {
    valueOf: (key) => texts.get(key) ?? definitions.get(key)?.defaultValue,
  };
  for (const [key, text] of texts) {
    const def = definitions.get(key);
    const parsed = def === undefined ? undefined : parseValue(def, text, context);
    if (parsed?.ok === false) problems.push(`ocpp.${key}: ${parsed.reason}`);
  }
  return problems;
}

/** A file value as the OCPP string it stands for; undefined for a JSON type no key takes. */
function fileValueText(raw: unknown): string | undefined {
  if (typeof raw === 'string') return raw;
  if ((typeof raw === 'number' && Number.isFinite(raw)) || typeof raw === 'boolean') return String(raw);
  return undefined;
}

function unknownKeyReason(key: string, known: ReadonlySet<string>): string {
  return `not a standard configuration key${caseHint(key, known)}`;
}

function configError(key: string, reason: string): ConfigurationError {
  return new ConfigurationError(`config: ocpp.${key}: ${reason}`);
}

function caseHint(key: string, known: ReadonlySet<string>): string {
  const lower = key.toLowerCase();
  const match = [...known].find((name) => name.toLowerCase() === lower);
  return match === undefined ? '' : ` (names are case-sensitive: did you mean ${match}?)`;
}
