import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { KEY_DEFINITIONS, type KeyDefinition } from '../../src/config/keys.js';
import { type ConfigStore, ConfigurationRegistry, type RegistryOptions } from '../../src/config/registry.js';
import { MEASURANDS } from '../../src/config/values.js';
import { silentLogger } from '../../src/log.js';

const ALL_CAPABILITIES = new Set([
  'authCache',
  'offlineUnknownId',
  'maxEnergyOnInvalidId',
  'minimumStatusDuration',
  'lighting',
  'localAuthList',
  'reservation',
  'smartCharging',
  'firmware',
  'certificates',
]);
const ALL_PROFILES =
  'Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger';
const OCTT_KEY = '4F43415F4F4354545F61646D696E5F74657374';

class MemoryStore implements ConfigStore {
  readonly data = new Map<string, string>();
  saves = 0;
  failing = false;
  constructor(entries: Record<string, string> = {}) {
    for (const [key, value] of Object.entries(entries)) this.data.set(key, value);
  }
  loadAll(): Map<string, string> {
    return new Map(this.data);
  }
  save(key: string, value: string): void {
    if (this.failing) throw new Error('disk full');
    this.saves++;
    this.data.set(key, value);
  }
}

function captureLogger(): { log: RegistryOptions['log']; lines: string[] } {
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
  return { log, lines };
}

function registry(overrides: Partial<RegistryOptions> = {}): ConfigurationRegistry {
  return new ConfigurationRegistry({
    store: new MemoryStore(),
    capabilities: ALL_CAPABILITIES,
    fixed: { NumberOfConnectors: '2', SupportedFeatureProfiles: ALL_PROFILES },
    log: silentLogger(),
    ...overrides,
  });
}

function listed(reg: ConfigurationRegistry): Map<string, { readonly: boolean; value?: string }> {
  return new Map((reg.list().configurationKey ?? []).map((entry) => [entry.key, entry]));
}

describe('GetConfiguration listing (TC_019)', () => {
  // Reference §2.4: key -> readonly expected by the OCTT ("R or RW" keys accept either).
  const required: Record<string, boolean | 'either'> = {
    AuthorizeRemoteTxRequests: 'either',
    ClockAlignedDataInterval: false,
    ConnectionTimeOut: false,
    ConnectorPhaseRotation: false,
    GetConfigurationMaxKeys: true,
    HeartbeatInterval: false,
    LocalAuthorizeOffline: false,
    LocalPreAuthorize: false,
    MeterValuesAlignedData: false,
    MeterValuesSampledData: false,
    MeterValueSampleInterval: false,
    NumberOfConnectors: true,
    ResetRetries: false,
    StopTransactionOnInvalidId: false,
    StopTxnAlignedData: false,
    StopTxnSampledData: false,
    SupportedFeatureProfiles: true,
    TransactionMessageAttempts: false,
    TransactionMessageRetryInterval: false,
    UnlockConnectorOnEVSideDisconnect: 'either',
    LocalAuthListEnabled: false,
    LocalAuthListMaxLength: true,
    SendLocalListMaxLength: true,
    ChargeProfileMaxStackLevel: true,
    ChargingScheduleAllowedChargingRateUnit: true,
    ChargingScheduleMaxPeriods: true,
    MaxChargingProfilesInstalled: true,
  };

  it('lists every required key of the supported profiles with its accessibility and a value', () => {
    const all = listed(registry());
    for (const [key, readonly] of Object.entries(required)) {
      const entry = all.get(key);
      expect(entry, key).toBeDefined();
      if (readonly !== 'either') expect(entry?.readonly, key).toBe(readonly);
      expect(typeof entry?.value, key).toBe('string');
    }
    expect(all.get('StopTransactionOnEVSideDisconnect')?.readonly).toBe(false);
    expect(all.get('NumberOfConnectors')?.value).toBe('2');
    expect(all.get('SupportedFeatureProfiles')?.value).toBe(ALL_PROFILES);
    expect(all.get('MeterValuesSampledData')?.value).toBe('Energy.Active.Import.Register');
    expect(all.get('GetConfigurationMaxKeys')?.value).toBe('100');
  });

  it('lists every defined key exactly once when all capabilities are present, within the schema limits', () => {
    const entries = registry().list().configurationKey ?? [];
    expect(entries.map((e) => e.key)).toEqual(KEY_DEFINITIONS.map((d) => d.name));
    for (const entry of entries) {
      expect(entry.key.length).toBeLessThanOrEqual(50);
      expect((entry.value ?? '').length).toBeLessThanOrEqual(500);
    }
  });

  it('answers a single-key request without unknownKey', () => {
    expect(registry().list(['SupportedFeatureProfiles'])).toEqual({
      configurationKey: [{ key: 'SupportedFeatureProfiles', readonly: true, value: ALL_PROFILES }],
    });
  });

  it('treats an empty key list like no list', () => {
    const reg = registry();
    expect(reg.list([])).toEqual(reg.list());
  });

  it('puts unknown, wrongly cased and capability-hidden keys in unknownKey, in request order, without duplicates', () => {
    const reg = registry({ capabilities: new Set() });
    expect(
      reg.list([
        'Foo',
        'HeartbeatInterval',
        'heartbeatinterval',
        'AuthorizationCacheEnabled',
        'Foo',
        'HeartbeatInterval',
      ]),
    ).toEqual({
      configurationKey: [{ key: 'HeartbeatInterval', readonly: false, value: '86400' }],
      unknownKey: ['Foo', 'heartbeatinterval', 'AuthorizationCacheEnabled'],
    });
  });

  it('reflects a change in the next full listing', () => {
    const reg = registry();
    expect(listed(reg).get('HeartbeatInterval')?.value).toBe('86400');
    expect(reg.change('HeartbeatInterval', '120', 'csms')).toBe('Accepted');
    expect(listed(reg).get('HeartbeatInterval')?.value).toBe('120');
  });
});

describe('AuthorizationKey (write-only)', () => {
  it('is never disclosed by a listing, neither in the full list nor by name', () => {
    const reg = registry({ initial: { AuthorizationKey: OCTT_KEY } });
    expect(reg.get('AuthorizationKey')).toBe(OCTT_KEY);
    const entry = listed(reg).get('AuthorizationKey');
    expect(entry).toEqual({ key: 'AuthorizationKey', readonly: false });
    expect(reg.list(['AuthorizationKey'])).toEqual({
      configurationKey: [{ key: 'AuthorizationKey', readonly: false }],
    });
    expect(JSON.stringify(reg.list())).not.toContain(OCTT_KEY);
  });

  it('accepts the OCTT hex key as sent and rejects keys outside 16..20 bytes (text, or 32..40 hex digits)', () => {
    const reg = registry();
    expect(reg.change('AuthorizationKey', OCTT_KEY, 'csms')).toBe('Accepted');
    expect(reg.get('AuthorizationKey')).toBe(OCTT_KEY);
    expect(reg.change('AuthorizationKey', 'x'.repeat(15), 'csms')).toBe('Rejected');
    expect(reg.change('AuthorizationKey', 'x'.repeat(21), 'csms')).toBe('Rejected');
    expect(reg.change('AuthorizationKey', 'a'.repeat(30), 'csms')).toBe('Rejected');
    expect(reg.change('AuthorizationKey', 'a'.repeat(42), 'csms')).toBe('Rejected');
    expect(reg.change('AuthorizationKey', `${'x'.repeat(16)}\u00e9`, 'csms')).toBe('Rejected');
    expect(reg.change('AuthorizationKey', `${'x'.repeat(16)}\n`, 'csms')).toBe('Rejected');
    expect(reg.change('AuthorizationKey', 'x'.repeat(16), 'csms')).toBe('Accepted');
    expect(reg.get('AuthorizationKey')).toBe('x'.repeat(16));
    expect(reg.change('AuthorizationKey', 'a'.repeat(40), 'csms')).toBe('Accepted');
  });

  it('never writes the key to the log, whether the change is accepted, rejected or the stored value is bad', () => {
    const { log, lines } = captureLogger();
    const secretBad = 'SECRETSECRETSECRET\u00e9';
    const store = new MemoryStore({ AuthorizationKey: secretBad });
    const reg = registry({ store, log });
    expect(reg.change('AuthorizationKey', OCTT_KEY, 'csms')).toBe('Accepted');
    expect(reg.change('AuthorizationKey', 'SHORTSECRET', 'local')).toBe('Rejected');
    const text = lines.join('\n');
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(text).toContain('AuthorizationKey');
    expect(text).not.toContain(OCTT_KEY);
    expect(text).not.toContain('SHORTSECRET');
    expect(text).not.toContain('SECRETSECRET');
  });

  it('names the key but not the value when the file value is invalid', () => {
    expect(() => registry({ initial: { AuthorizationKey: 'short-secret' } })).toThrow(
      /^config: ocpp\.AuthorizationKey: (?!.*short-secret)/,
    );
  });
});

describe('ChangeConfiguration', () => {
  it('answers NotSupported for an unknown key (TC_040_1)', () => {
    expect(registry().changeByName('Testing', 'true', 'csms')).toBe('NotSupported');
  });

  it('takes a key name from outside the code like a typed one', () => {
    const reg = registry();
    expect(reg.changeByName('HeartbeatInterval', '120', 'csms')).toBe('Accepted');
    expect(reg.getInt('HeartbeatInterval')).toBe(120);
    expect(reg.changeByName('HeartbeatInterval', 'soon', 'local')).toBe('Rejected');
  });

  it('rejects a negative MeterValueSampleInterval (TC_040_2) and keeps the old value', () => {
    const store = new MemoryStore();
    const reg = registry({ store });
    expect(reg.change('MeterValueSampleInterval', '-1', 'csms')).toBe('Rejected');
    expect(reg.getInt('MeterValueSampleInterval')).toBe(60);
    expect(store.data.has('MeterValueSampleInterval')).toBe(false);
  });

  it('rejects changes of read-only keys whatever the origin', () => {
    const reg = registry();
    expect(reg.change('NumberOfConnectors', '3', 'csms')).toBe('Rejected');
    expect(reg.change('GetConfigurationMaxKeys', '100', 'local')).toBe('Rejected');
    expect(reg.change('ChargeProfileMaxStackLevel', '5', 'runtime')).toBe('Rejected');
    expect(reg.get('NumberOfConnectors')).toBe('2');
  });

  it('rejects a negative WebSocketPingInterval and accepts 0 (client ping off)', () => {
    const reg = registry();
    expect(reg.change('WebSocketPingInterval', '-10', 'csms')).toBe('Rejected');
    expect(reg.change('WebSocketPingInterval', '0', 'csms')).toBe('Accepted');
    expect(reg.getInt('WebSocketPingInterval')).toBe(0);
  });

  it('accepts only plain decimal integers within bounds', () => {
    const reg = registry();
    for (const bad of ['1.5', ' 5', '5 ', '1e3', '0x10', '', '+5', '99999999999999999999', '604801']) {
      expect(reg.change('HeartbeatInterval', bad, 'csms'), bad).toBe('Rejected');
    }
    expect(reg.change('HeartbeatInterval', '0300', 'csms')).toBe('Accepted');
    expect(reg.get('HeartbeatInterval')).toBe('300');
    expect(reg.change('HeartbeatInterval', '604800', 'csms')).toBe('Accepted');
  });

  it('accepts booleans in any case, stores them lower case, and rejects anything else', () => {
    const store = new MemoryStore();
    const reg = registry({ store });
    expect(reg.change('LocalPreAuthorize', 'TRUE', 'csms')).toBe('Accepted');
    expect(reg.get('LocalPreAuthorize')).toBe('true');
    expect(store.data.get('LocalPreAuthorize')).toBe('true');
    expect(reg.getBool('LocalPreAuthorize')).toBe(true);
    for (const bad of ['yes', '1', '', ' true'])
      expect(reg.change('LocalPreAuthorize', bad, 'csms'), bad).toBe('Rejected');
    expect(reg.change('LocalPreAuthorize', 'False', 'csms')).toBe('Accepted');
    expect(reg.getBool('LocalPreAuthorize')).toBe(false);
  });

  it('limits string keys to their length', () => {
    const reg = registry();
    expect(reg.change('CpoName', 'x'.repeat(65), 'csms')).toBe('Rejected');
    expect(reg.change('CpoName', 'x'.repeat(64), 'csms')).toBe('Accepted');
  });

  it('answers Rejected and keeps the value when the store cannot save', () => {
    const store = new MemoryStore();
    const reg = registry({ store });
    store.failing = true;
    expect(reg.change('HeartbeatInterval', '100', 'csms')).toBe('Rejected');
    expect(reg.get('HeartbeatInterval')).toBe('86400');
  });
});

describe('comma-separated lists', () => {
  it('accepts measurands with optional phases, trimmed, and stores them normalised', () => {
    const reg = registry();
    expect(reg.change('MeterValuesSampledData', ' Voltage.L1-N , Current.Import.L2,SoC ', 'csms')).toBe(
      'Accepted',
    );
    expect(reg.get('MeterValuesSampledData')).toBe('Voltage.L1-N,Current.Import.L2,SoC');
    expect(reg.getList('MeterValuesSampledData')).toEqual(['Voltage.L1-N', 'Current.Import.L2', 'SoC']);
    expect(reg.change('StopTxnSampledData', 'Energy.Active.Import.Register.L3-L1', 'csms')).toBe('Accepted');
  });

  it('knows the 22 measurands of OCPP 1.6', () => {
    expect(MEASURANDS.size).toBe(22);
    const reg = registry({ initial: { MeterValuesSampledDataMaxLength: 22 } });
    expect(reg.change('MeterValuesSampledData', [...MEASURANDS].join(','), 'csms')).toBe('Accepted');
  });

  it('rejects bad measurand items', () => {
    const reg = registry();
    const bad = [
      'Voltage.L4',
      'Energy',
      'voltage',
      'Energy.Active.Import',
      'Voltage.',
      'Voltage.L1.L2',
      'Voltage,,SoC',
      'Voltage,',
      'SoC,SoC',
      'Voltage L1',
    ];
    for (const value of bad)
      expect(reg.change('MeterValuesSampledData', value, 'csms'), value).toBe('Rejected');
    expect(reg.get('MeterValuesSampledData')).toBe('Energy.Active.Import.Register');
  });

  it('accepts an empty list, which means no measurands', () => {
    const reg = registry();
    expect(reg.change('MeterValuesAlignedData', '', 'csms')).toBe('Accepted');
    expect(reg.getList('MeterValuesAlignedData')).toEqual([]);
  });

  it('rejects measurands the meter does not provide', () => {
    const supportedMeasurands = new Set(['Energy.Active.Import.Register', 'Voltage', 'Current.Import.L1']);
    const reg = registry({ supportedMeasurands });
    expect(reg.change('MeterValuesSampledData', 'SoC', 'csms')).toBe('Rejected');
    expect(reg.change('MeterValuesSampledData', 'Current.Import.L2', 'csms')).toBe('Rejected');
    expect(reg.change('MeterValuesSampledData', 'Voltage.L2,Current.Import.L1,Voltage', 'csms')).toBe(
      'Accepted',
    );
  });

  it('rejects more items than the MaxLength key allows', () => {
    const reg = registry({ initial: { MeterValuesSampledDataMaxLength: 2 } });
    expect(reg.change('MeterValuesSampledData', 'Voltage,SoC,RPM', 'csms')).toBe('Rejected');
    expect(reg.change('MeterValuesSampledData', 'Voltage,SoC', 'csms')).toBe('Accepted');
  });

  it('checks phase rotation syntax, connector range and uniqueness', () => {
    const reg = registry();
    expect(reg.change('ConnectorPhaseRotation', '0.RST, 1.RTS, 2.NotApplicable', 'csms')).toBe('Accepted');
    expect(reg.get('ConnectorPhaseRotation')).toBe('0.RST,1.RTS,2.NotApplicable');
    for (const bad of [
      '3.RST',
      '1.RST,1.TSR',
      '1.XYZ',
      'RST',
      '1-RST',
      '-1.RST',
      '1.rst',
      'a.RST',
      '1.RST,01.STR',
    ]) {
      expect(reg.change('ConnectorPhaseRotation', bad, 'csms'), bad).toBe('Rejected');
    }
  });

  it('requires at least one item where the list must not be empty', () => {
    expect(() => registry({ fixed: { NumberOfConnectors: '1', SupportedFeatureProfiles: '' } })).toThrow(
      'config: ocpp.SupportedFeatureProfiles: needs at least one item',
    );
    expect(() =>
      registry({ fixed: { NumberOfConnectors: '1', SupportedFeatureProfiles: 'Core,Billing' } }),
    ).toThrow(/SupportedFeatureProfiles: 'Billing'/);
  });
});

describe('value precedence', () => {
  it('uses the definition default when nothing else is given', () => {
    expect(registry().getInt('MeterValueSampleInterval')).toBe(60);
  });

  it('takes the file value over the default and saves it so later starts keep it', () => {
    const store = new MemoryStore();
    const reg = registry({ store, initial: { MeterValueSampleInterval: 30, LocalPreAuthorize: true } });
    expect(reg.get('MeterValueSampleInterval')).toBe('30');
    expect(reg.get('LocalPreAuthorize')).toBe('true');
    expect(store.data.get('MeterValueSampleInterval')).toBe('30');
  });

  it('takes the stored value over the file value', () => {
    const store = new MemoryStore({ MeterValueSampleInterval: '15' });
    const reg = registry({ store, initial: { MeterValueSampleInterval: '30' } });
    expect(reg.get('MeterValueSampleInterval')).toBe('15');
    expect(store.data.get('MeterValueSampleInterval')).toBe('15');
  });

  it('lets a forced file value win over the store and rewrites the store', () => {
    const store = new MemoryStore({ MeterValueSampleInterval: '15', HeartbeatInterval: '50' });
    const reg = registry({
      store,
      initial: { MeterValueSampleInterval: 30, HeartbeatInterval: 40 },
      forced: ['MeterValueSampleInterval'],
    });
    expect(reg.get('MeterValueSampleInterval')).toBe('30');
    expect(store.data.get('MeterValueSampleInterval')).toBe('30');
    expect(reg.get('HeartbeatInterval')).toBe('50');
  });

  it('keeps a CSMS change across a restart', () => {
    const store = new MemoryStore();
    registry({ store, initial: { HeartbeatInterval: 40 } }).change('HeartbeatInterval', '70', 'csms');
    expect(registry({ store, initial: { HeartbeatInterval: 40 } }).get('HeartbeatInterval')).toBe('70');
  });

  it('takes read-only keys from the file at every start, never from the store', () => {
    const store = new MemoryStore({ GetConfigurationMaxKeys: '5' });
    const reg = registry({ store, initial: { GetConfigurationMaxKeys: 20 } });
    expect(reg.get('GetConfigurationMaxKeys')).toBe('20');
    expect(store.data.has('GetConfigurationMaxKeys')).toBe(true);
    expect(store.data.get('GetConfigurationMaxKeys')).toBe('5');
  });

  it('falls back from an invalid stored value to the file value, else the default, with a warning', () => {
    const { log, lines } = captureLogger();
    const store = new MemoryStore({ HeartbeatInterval: '-4', MeterValueSampleInterval: 'abc' });
    const reg = registry({ store, log, initial: { HeartbeatInterval: 90 } });
    expect(reg.get('HeartbeatInterval')).toBe('90');
    expect(reg.get('MeterValueSampleInterval')).toBe('60');
    const warnings = lines.map((line) => JSON.parse(line)).filter((l) => l.level === 40);
    expect(warnings.map((w) => w.key).sort()).toEqual(['HeartbeatInterval', 'MeterValueSampleInterval']);
  });

  it('checks stored and file lists against the limits given in the same file', () => {
    const store = new MemoryStore({ MeterValuesSampledData: 'Voltage,SoC,RPM' });
    const reg = registry({ store, initial: { MeterValuesSampledDataMaxLength: 2 } });
    expect(reg.get('MeterValuesSampledData')).toBe('Energy.Active.Import.Register');
    expect(() => registry({ initial: { ConnectorPhaseRotation: '0.RST,3.RST' } })).toThrow(
      'config: ocpp.ConnectorPhaseRotation:',
    );
  });

  it('ignores stored values of capability-hidden keys without failing', () => {
    const store = new MemoryStore({ AuthorizationCacheEnabled: 'false' });
    const reg = registry({ store, capabilities: new Set() });
    expect(reg.has('AuthorizationCacheEnabled')).toBe(false);
    expect(reg.get('AuthorizationCacheEnabled')).toBeUndefined();
  });
});

describe('provisioning file errors', () => {
  it('throws naming the key when a file value is invalid', () => {
    expect(() => registry({ initial: { HeartbeatInterval: -1 } })).toThrow(
      'config: ocpp.HeartbeatInterval: must be between 1 and 604800',
    );
    expect(() => registry({ initial: { HeartbeatInterval: 1.5 } })).toThrow(
      'config: ocpp.HeartbeatInterval:',
    );
    expect(() => registry({ initial: { HeartbeatInterval: true } })).toThrow(
      'config: ocpp.HeartbeatInterval:',
    );
    expect(() => registry({ initial: { LocalPreAuthorize: 1 } })).toThrow('config: ocpp.LocalPreAuthorize:');
    expect(() => registry({ initial: { MeterValuesSampledData: 'Voltage.L9' } })).toThrow(
      'config: ocpp.MeterValuesSampledData:',
    );
  });

  it('throws for a key that is not a standard key, with a hint when only the case differs', () => {
    expect(() => registry({ initial: { Testing: 'true' } })).toThrow(
      'config: ocpp.Testing: not a standard configuration key',
    );
    expect(() => registry({ initial: { heartbeatInterval: 60 } })).toThrow(/did you mean HeartbeatInterval/);
  });

  it('throws for a key whose function the charge point lacks', () => {
    expect(() => registry({ capabilities: new Set(), initial: { LocalAuthListEnabled: true } })).toThrow(
      'config: ocpp.LocalAuthListEnabled: not provided by this charge point',
    );
  });

  it('throws for a runtime-computed key set in the file, and for a missing runtime value', () => {
    expect(() => registry({ initial: { NumberOfConnectors: 4 } })).toThrow(
      'config: ocpp.NumberOfConnectors:',
    );
    expect(() => registry({ fixed: { SupportedFeatureProfiles: 'Core' } })).toThrow(
      'config: ocpp.NumberOfConnectors: has no value',
    );
  });

  it('throws for a forced key without a file value', () => {
    expect(() => registry({ forced: ['HeartbeatInterval'] })).toThrow(
      'config: ocpp.HeartbeatInterval: forced',
    );
  });
});

describe('capabilities', () => {
  it('hides keys whose function is missing from listing and change', () => {
    const reg = registry({ capabilities: new Set(['lighting']) });
    for (const key of [
      'AuthorizationCacheEnabled',
      'LocalAuthListEnabled',
      'ChargeProfileMaxStackLevel',
      'CpoName',
    ] as const) {
      expect(reg.has(key), key).toBe(false);
      expect(reg.change(key, 'true', 'csms'), key).toBe('NotSupported');
      expect(reg.changeByName(key, 'true', 'csms'), key).toBe('NotSupported');
    }
    const keys = [...listed(reg).keys()];
    expect(keys).toContain('BlinkRepeat');
    expect(keys).toContain('LightIntensity');
    expect(keys).toContain('SecurityProfile');
    expect(keys).toContain('AuthorizationKey');
    expect(keys).not.toContain('AllowOfflineTxForUnknownId');
    expect(keys).not.toContain('ReserveConnectorZeroSupported');
    expect(keys).not.toContain('SupportedFileTransferProtocols');
    expect(keys).not.toContain('ConnectorSwitch3to1PhaseSupported');
    expect(keys).not.toContain('CertificateSignedMaxChainSize');
  });

  it('shows a key once its capability is present', () => {
    const reg = registry({ capabilities: new Set(['authCache']) });
    expect(reg.has('AuthorizationCacheEnabled')).toBe(true);
    expect(reg.change('AuthorizationCacheEnabled', 'false', 'csms')).toBe('Accepted');
  });
});

describe('SecurityProfile', () => {
  it('may only be raised by the CSMS, within 0..3', () => {
    const reg = registry({ initial: { SecurityProfile: 1 } });
    expect(reg.change('SecurityProfile', '0', 'csms')).toBe('Rejected');
    expect(reg.change('SecurityProfile', '1', 'csms')).toBe('Rejected');
    expect(reg.change('SecurityProfile', '4', 'csms')).toBe('Rejected');
    expect(reg.change('SecurityProfile', '2', 'csms')).toBe('Accepted');
    expect(reg.getInt('SecurityProfile')).toBe(2);
    expect(reg.change('SecurityProfile', '1', 'local')).toBe('Rejected');
  });

  it('rejects 0 from the default profile 0', () => {
    expect(registry().change('SecurityProfile', '0', 'csms')).toBe('Rejected');
  });

  it('lets the runtime fall back to the previous profile', () => {
    const reg = registry({ initial: { SecurityProfile: 1 } });
    expect(reg.change('SecurityProfile', '2', 'csms')).toBe('Accepted');
    expect(reg.change('SecurityProfile', '1', 'runtime')).toBe('Accepted');
    expect(reg.getInt('SecurityProfile')).toBe(1);
  });

  it('applies guards registered by other modules', () => {
    const store = new MemoryStore();
    const reg = registry({ store });
    reg.guard('SecurityProfile', (value) => (value === '3' ? 'no charge point certificate' : undefined));
    reg.guard('SecurityProfile', (value) =>
      value === '2' ? 'no central system root certificate' : undefined,
    );
    expect(reg.change('SecurityProfile', '3', 'csms')).toBe('Rejected');
    expect(reg.change('SecurityProfile', '2', 'csms')).toBe('Rejected');
    expect(reg.get('SecurityProfile')).toBe('0');
    expect(store.data.has('SecurityProfile')).toBe(false);
    expect(reg.change('SecurityProfile', '1', 'csms')).toBe('Accepted');
  });
});

describe('listeners and guards', () => {
  it('notifies once per change, after saving, and not when the value stays the same', () => {
    const store = new MemoryStore();
    const reg = registry({ store });
    const calls: [string, string | undefined, string | undefined][] = [];
    reg.onChange('HeartbeatInterval', (value, previous) =>
      calls.push([value, previous, store.data.get('HeartbeatInterval')]),
    );
    expect(reg.change('HeartbeatInterval', '120', 'runtime')).toBe('Accepted');
    expect(reg.change('HeartbeatInterval', '120', 'csms')).toBe('Accepted');
    expect(reg.change('HeartbeatInterval', '0120', 'csms')).toBe('Accepted');
    expect(calls).toEqual([['120', '86400', '120']]);
    expect(store.saves).toBe(1);
  });

  it('stops notifying after unsubscribe', () => {
    const reg = registry();
    let count = 0;
    const off = reg.onChange('ResetRetries', () => count++);
    reg.change('ResetRetries', '5', 'csms');
    off();
    reg.change('ResetRetries', '6', 'csms');
    expect(count).toBe(1);
  });

  it('logs a failing listener and still accepts the change and calls the other listeners', () => {
    const { log, lines } = captureLogger();
    const reg = registry({ log });
    let called = false;
    reg.onChange('ResetRetries', () => {
      throw new Error('boom');
    });
    reg.onChange('ResetRetries', () => {
      called = true;
    });
    expect(reg.change('ResetRetries', '5', 'csms')).toBe('Accepted');
    expect(called).toBe(true);
    expect(reg.get('ResetRetries')).toBe('5');
    expect(lines.some((line) => line.includes('boom'))).toBe(true);
  });

  it('rejects when a guard rejects and does not notify', () => {
    const reg = registry();
    let count = 0;
    reg.onChange('HeartbeatInterval', () => count++);
    reg.guard('HeartbeatInterval', (value) => (Number(value) < 30 ? 'too chatty' : undefined));
    expect(reg.change('HeartbeatInterval', '10', 'csms')).toBe('Rejected');
    expect(reg.get('HeartbeatInterval')).toBe('86400');
    expect(count).toBe(0);
    expect(reg.change('HeartbeatInterval', '30', 'csms')).toBe('Accepted');
    expect(count).toBe(1);
  });

  it('treats a throwing guard as a rejection', () => {
    const reg = registry();
    reg.guard('HeartbeatInterval', () => {
      throw new Error('guard bug');
    });
    expect(reg.change('HeartbeatInterval', '30', 'csms')).toBe('Rejected');
  });

  it('refuses listeners and guards on keys the charge point does not have', () => {
    const reg = registry({ capabilities: new Set() });
    expect(() => reg.onChange('LocalAuthListEnabled', () => {})).toThrow(/LocalAuthListEnabled/);
    // @ts-expect-error: no such key; the run-time check stays for callers that get around the types.
    expect(() => reg.guard('Testing', () => undefined)).toThrow(/Testing/);
  });

  it('logs the origin of a change', () => {
    const { log, lines } = captureLogger();
    registry({ log }).change('ResetRetries', '4', 'local');
    const changed = lines.map((line) => JSON.parse(line)).find((l) => l.msg === 'configuration changed');
    expect(changed).toMatchObject({ key: 'ResetRetries', value: '4', previous: '3', origin: 'local' });
  });
});

describe('reboot-required keys', () => {
  const vendorMode = {
    name: 'VendorMode',
    profile: 'Core',
    type: 'integer',
    access: 'RW',
    defaultValue: '1',
    min: 0,
    max: 5,
    rebootRequired: true,
  } as const satisfies KeyDefinition;
  const definitions = [...KEY_DEFINITIONS, vendorMode];

  it('stores the value, answers RebootRequired and does not notify', () => {
    const store = new MemoryStore();
    const reg = new ConfigurationRegistry({
      store,
      definitions,
      capabilities: ALL_CAPABILITIES,
      fixed: { NumberOfConnectors: '2', SupportedFeatureProfiles: ALL_PROFILES },
      log: silentLogger(),
    });
    expect(reg.getInt('VendorMode')).toBe(1);
    let count = 0;
    reg.onChange('VendorMode', () => count++);
    expect(reg.change('VendorMode', '2', 'csms')).toBe('RebootRequired');
    expect(store.data.get('VendorMode')).toBe('2');
    expect(reg.get('VendorMode')).toBe('2');
    expect(count).toBe(0);
    expect(reg.change('VendorMode', '9', 'csms')).toBe('Rejected');
  });
});

describe('runtime-computed keys and typed reads', () => {
  it('refuses runtime-computed values that break the key rules or name a writable key', () => {
    expect(() =>
      registry({ fixed: { NumberOfConnectors: '0', SupportedFeatureProfiles: ALL_PROFILES } }),
    ).toThrow('config: ocpp.NumberOfConnectors:');
    expect(() =>
      registry({
        fixed: { NumberOfConnectors: '2', SupportedFeatureProfiles: ALL_PROFILES, HeartbeatInterval: '10' },
      }),
    ).toThrow(/HeartbeatInterval/);
  });

  it('typed getters throw on a wrong type or an absent key', () => {
    const reg = registry({ capabilities: new Set() });
    // The types refuse a getter of another value type (see config-keys.types.test.ts); the run-time
    // check stays for callers that get around them.
    // @ts-expect-error: a boolean key
    expect(() => reg.getInt('LocalPreAuthorize')).toThrow();
    // @ts-expect-error: an integer key
    expect(() => reg.getBool('HeartbeatInterval')).toThrow();
    // @ts-expect-error: a string key
    expect(() => reg.getList('AuthorizationKey')).toThrow();
    expect(() => reg.getBool('AuthorizationCacheEnabled')).toThrow();
    // @ts-expect-error: a string key
    expect(() => reg.getInt('AuthorizationKey')).toThrow();
    expect(reg.getList('SupportedFeatureProfiles')).toEqual(ALL_PROFILES.split(','));
  });
});

describe('listing cost', () => {
  it('reads the store only once, at start', () => {
    const store = new MemoryStore();
    let loads = 0;
    const loadAll = store.loadAll.bind(store);
    store.loadAll = () => {
      loads++;
      return loadAll();
    };
    const reg = registry({ store });
    for (let i = 0; i < 1000; i++) reg.list();
    reg.change('HeartbeatInterval', '100', 'csms');
    reg.list(['HeartbeatInterval']);
    expect(loads).toBe(1);
  });

  it('hands out an immutable full listing', () => {
    const reg = registry();
    const all = reg.list();
    expect(() => {
      all.configurationKey?.push({ key: 'X', readonly: true });
    }).toThrow();
    const first = all.configurationKey?.[0];
    expect(() => {
      if (first) first.value = 'tampered';
    }).toThrow();
  });
});
