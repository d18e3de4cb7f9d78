import type { ProfileOrSecurity } from '../ocpp/actions.js';

export type KeyType = 'boolean' | 'integer' | 'string' | 'csl';

/** R = read-only, RW = read-write, W = write-only (readable by nobody over OCPP). */
export type Accessibility = 'R' | 'RW' | 'W';

export type ItemRule =
  | 'measurand'
  | 'phaseRotation'
  | 'featureProfile'
  | 'chargingRateUnit'
  | 'fileTransferProtocol';

export interface KeyDefinition {
  name: string;
  profile: ProfileOrSecurity;
  type: KeyType;
  access: Accessibility;
  /** As the OCPP string value. Absent = the key has no value until someone sets one. */
  defaultValue?: string;
  /** Integer bounds. */
  min?: number;
  max?: number;
  /** String length bounds (characters). */
  minLength?: number;
  maxLength?: number;
  /** String restricted to printable ASCII (0x20-0x7E). */
  printableAscii?: boolean;
  /** A Basic-auth password: 16 to 20 bytes, as text or as hex digits (src/ocpp/basic-auth.ts). */
  basicAuthPassword?: boolean;
  /** A change is stored but only takes effect after a restart: answered RebootRequired. */
  rebootRequired?: boolean;
  /** Syntax of each item of a comma-separated list. */
  itemRule?: ItemRule;
  /** A list that must hold at least one item. */
  nonEmpty?: boolean;
  /** Integer key bounding the number of items of this list. */
  maxItemsKey?: string;
  /** The key exists only while the runtime provides this function. */
  capability?: string;
  /** Integer that may only be raised by the CSMS or a technician (lowering is the runtime's fallback alone). */
  onlyRaise?: boolean;
}

const WEEK = 7 * 24 * 3600;
const DAY = 24 * 3600;
const ENERGY_REGISTER = 'Energy.Active.Import.Register';

/**
 * Every standard key of the six OCPP 1.6 profiles plus the security extension's keys.
 * NumberOfConnectors and SupportedFeatureProfiles have no default: the runtime computes them.
 */
export const KEY_DEFINITIONS = [
  // Core
  {
    name: 'AllowOfflineTxForUnknownId',
    profile: 'Core',
    type: 'boolean',
    access: 'RW',
    defaultValue: 'false',
    capability: 'offlineUnknownId',
  },
  {
    name: 'AuthorizationCacheEnabled',
    profile: 'Core',
    type: 'boolean',
    access: 'RW',
    defaultValue: 'true',
    capability: 'authCache',
  },
  {
    name: 'AuthorizeRemoteTxRequests',
    profile: 'Core',
    type: 'boolean',
    access: 'RW',
    defaultValue: 'false',
  },
  {
    name: 'BlinkRepeat',
    profile: 'Core',
    type: 'integer',
    access: 'RW',
    defaultValue: '3',
    min: 0,
    max: 1000,
    capability: 'lighting',
  },
  // Aligned to midnight, so an interval longer than a day never recurs.
  {
    name: 'ClockAlignedDataInterval',
    profile: 'Core',
    type: 'integer',
    access: 'RW',
    defaultValue: '0',
    min: 0,
    max: DAY,
  },
  {
    name: 'ConnectionTimeOut',
    profile: 'Core',
    type: 'integer',
    access: 'RW',
    defaultValue: '60',
    min: 1,
    max: WEEK,
  },
  // Connector 0 always exists, so this default holds whatever the connector count.
  {
    name: 'ConnectorPhaseRotation',
    profile: 'Core',
    type: 'csl',
    access: 'RW',
    defaultValue: '0.Unknown',
    itemRule: 'phaseRotation',
    maxItemsKey: 'ConnectorPhaseRotationMaxLength',
  },
  {
    name: 'ConnectorPhaseRotationMaxLength',
    profile: 'Core',
    type: 'integer',
    access: 'R',
    defaultValue: '10',
    min: 1,
    max: 100,
  },
  {
    name: 'GetConfigurationMaxKeys',
    profile: 'Core',
    type: 'integer',
    access: 'R',
    defaultValue: '100',
    min: 1,
    max: 1000,
  },
  {
    name: 'HeartbeatInterval',
    profile: 'Core',
    type: 'integer',
    access: 'RW',
    defaultValue: '86400',
    min: 1,
    max: WEEK,
  },
  {
    name: 'LightIntensity',
    profile: 'Core',
    type: 'integer',
    access: 'RW',
    defaultValue: '100',
    min: 0,
    max: 100,
    capability: 'lighting',
  },
  { name: 'LocalAuthorizeOffline', profile: 'Core', type: 'boolean', access: 'RW', defaultValue: 'true' },
  { name: 'LocalPreAuthorize', profile: 'Core', type: 'boolean', access: 'RW', defaultValue: 'false' },
  {
    name: 'MaxEnergyOnInvalidId',
    profile: 'Core',
    type: 'integer',
    access: 'RW',
    defaultValue: '0',
    min: 0,
    max: 1_000_000,
    capability: 'maxEnergyOnInvalidId',
  },
  {
    name: 'MeterValuesAlignedData',
    profile: 'Core',
    type: 'csl',
    access: 'RW',
    defaultValue: ENERGY_REGISTER,
    itemRule: 'measurand',
    maxItemsKey: 'MeterValuesAlignedDataMaxLength',
  },
  {
    name: 'MeterValuesAlignedDataMaxLength',
    profile: 'Core',
    type: 'integer',
    access: 'R',
    defaultValue: '10',
    min: 1,
    max: 100,
  },
  {
    name: 'MeterValuesSampledData',
    profile: 'Core',
    type: 'csl',
    access: 'RW',
    defaultValue: ENERGY_REGISTER,
    itemRule: 'measurand',
    maxItemsKey: 'MeterValuesSampledDataMaxLength',
  },
  {
    name: 'MeterValuesSampledDataMaxLength',
    profile: 'Core',
    type: 'integer',
    access: 'R',
    defaultValue: '10',
    min: 1,
    max: 100,
  },
  {
    name: 'MeterValueSampleInterval',
    profile: 'Core',
    type: 'integer',
    access: 'RW',
    defaultValue: '60',
    min: 0,
    max: WEEK,
  },
  {
    name: 'MinimumStatusDuration',
    profile: 'Core',
    type: 'integer',
    access: 'RW',
    defaultValue: '0',
    min: 0,
    max: WEEK,
  },
  { name: 'NumberOfConnectors', profile: 'Core', type: 'integer', access: 'R', min: 1, max: 100 },
  {
    name: 'ResetRetries',
    profile: 'Core',
    type: 'integer',
    access: 'RW',
    defaultValue: '3',
    min: 0,
    max: 100,
  },
  {
    name: 'StopTransactionOnEVSideDisconnect',
    profile: 'Core',
    type: 'boolean',
    access: 'RW',
    defaultValue: 'true',
  },
  {
    name: 'StopTransactionOnInvalidId',
    profile: 'Core',
    type: 'boolean',
    access: 'RW',
    defaultValue: 'true',
  },
  {
    name: 'StopTxnAlignedData',
    profile: 'Core',
    type: 'csl',
    access: 'RW',
    defaultValue: '',
    itemRule: 'measurand',
    maxItemsKey: 'StopTxnAlignedDataMaxLength',
  },
  {
    name: 'StopTxnAlignedDataMaxLength',
    profile: 'Core',
    type: 'integer',
    access: 'R',
    defaultValue: '10',
    min: 1,
    max: 100,
  },
  {
    name: 'StopTxnSampledData',
    profile: 'Core',
    type: 'csl',
    access: 'RW',
    defaultValue: '',
    itemRule: 'measurand',
    maxItemsKey: 'StopTxnSampledDataMaxLength',
  },
  {
    name: 'StopTxnSampledDataMaxLength',
    profile: 'Core',
    type: 'integer',
    access: 'R',
    defaultValue: '10',
    min: 1,
    max: 100,
  },
  {
    name: 'SupportedFeatureProfiles',
    profile: 'Core',
    type: 'csl',
    access: 'R',
    itemRule: 'featureProfile',
    nonEmpty: true,
    maxItemsKey: 'SupportedFeatureProfilesMaxLength',
  },
  {
    name: 'SupportedFeatureProfilesMaxLength',
    profile: 'Core',
    type: 'integer',
    access: 'R',
    defaultValue: '6',
    min: 1,
    max: 6,
  },
  // Zero attempts would drop a transaction message without ever sending it.
  {
    name: 'TransactionMessageAttempts',
    profile: 'Core',
    type: 'integer',
    access: 'RW',
    defaultValue: '3',
    min: 1,
    max: 100,
  },
  {
    name: 'TransactionMessageRetryInterval',
    profile: 'Core',
    type: 'integer',
    access: 'RW',
    defaultValue: '60',
    min: 1,
    max: WEEK,
  },
  {
    name: 'UnlockConnectorOnEVSideDisconnect',
    profile: 'Core',
    type: 'boolean',
    access: 'RW',
    defaultValue: 'true',
  },
  {
    name: 'WebSocketPingInterval',
    profile: 'Core',
    type: 'integer',
    access: 'RW',
    defaultValue: '60',
    min: 0,
    max: WEEK,
  },

  // Local Auth List Management
  {
    name: 'LocalAuthListEnabled',
    profile: 'LocalAuthListManagement',
    type: 'boolean',
    access: 'RW',
    defaultValue: 'true',
    capability: 'localAuthList',
  },
  {
    name: 'LocalAuthListMaxLength',
    profile: 'LocalAuthListManagement',
    type: 'integer',
    access: 'R',
    defaultValue: '1000',
    min: 0,
    max: 100_000,
    capability: 'localAuthList',
  },
  {
    name: 'SendLocalListMaxLength',
    profile: 'LocalAuthListManagement',
    type: 'integer',
    access: 'R',
    defaultValue: '100',
    min: 0,
    max: 100_000,
    capability: 'localAuthList',
  },

  // Reservation
  {
    name: 'ReserveConnectorZeroSupported',
    profile: 'Reservation',
    type: 'boolean',
    access: 'R',
    defaultValue: 'false',
    capability: 'reservation',
  },

  // Smart Charging
  {
    name: 'ChargeProfileMaxStackLevel',
    profile: 'SmartCharging',
    type: 'integer',
    access: 'R',
    defaultValue: '10',
    min: 0,
    max: 1000,
    capability: 'smartCharging',
  },
  {
    name: 'ChargingScheduleAllowedChargingRateUnit',
    profile: 'SmartCharging',
    type: 'csl',
    access: 'R',
    defaultValue: 'Current,Power',
    itemRule: 'chargingRateUnit',
    nonEmpty: true,
    capability: 'smartCharging',
  },
  {
    name: 'ChargingScheduleMaxPeriods',
    profile: 'SmartCharging',
    type: 'integer',
    access: 'R',
    defaultValue: '100',
    min: 1,
    max: 10_000,
    capability: 'smartCharging',
  },
  {
    name: 'ConnectorSwitch3to1PhaseSupported',
    profile: 'SmartCharging',
    type: 'boolean',
    access: 'R',
    defaultValue: 'false',
    capability: 'smartCharging',
  },
  {
    name: 'MaxChargingProfilesInstalled',
    profile: 'SmartCharging',
    type: 'integer',
    access: 'R',
    defaultValue: '50',
    min: 1,
    max: 10_000,
    capability: 'smartCharging',
  },

  // Firmware Management (not in the spec's key list, but the file-transfer chapter and the OCTT rely on it)
  {
    name: 'SupportedFileTransferProtocols',
    profile: 'FirmwareManagement',
    type: 'csl',
    access: 'R',
    // Exactly what src/transfer speaks (supportedFileTransferProtocols()).
    defaultValue: 'FTP,FTPS,HTTP,HTTPS',
    itemRule: 'fileTransferProtocol',
    nonEmpty: true,
    capability: 'firmware',
  },

  // Security extension
  {
    name: 'SecurityProfile',
    profile: 'Security',
    type: 'integer',
    access: 'RW',
    defaultValue: '0',
    min: 0,
    max: 3,
    onlyRaise: true,
  },
  // Write-only so a CSMS reading every key never gets the password back; the CSMS sends it as hex text
  // (src/ocpp/basic-auth.ts: what the value means and its length rules).
  {
    name: 'AuthorizationKey',
    profile: 'Security',
    type: 'string',
    access: 'W',
    minLength: 16,
    maxLength: 40,
    printableAscii: true,
    basicAuthPassword: true,
  },
  {
    name: 'CpoName',
    profile: 'Security',
    type: 'string',
    access: 'RW',
    minLength: 1,
    maxLength: 64,
    capability: 'certificates',
  },
  {
    name: 'CertificateStoreMaxLength',
    profile: 'Security',
    type: 'integer',
    access: 'R',
    defaultValue: '10',
    min: 1,
    max: 1000,
    capability: 'certificates',
  },
  {
    name: 'AdditionalRootCertificateCheck',
    profile: 'Security',
    type: 'boolean',
    access: 'R',
    defaultValue: 'false',
    capability: 'certificates',
  },
  // CertificateSigned.req carries at most 10000 characters of chain.
  {
    name: 'CertificateSignedMaxChainSize',
    profile: 'Security',
    type: 'integer',
    access: 'R',
    defaultValue: '10000',
    min: 1,
    max: 10_000,
    capability: 'certificates',
  },
] as const satisfies readonly KeyDefinition[];

/** A standard key's definition, its name and type as literal types. */
export type StandardKeyDefinition = (typeof KEY_DEFINITIONS)[number];

/** The name of a key of the definitions `D` (by default a standard key). */
export type KeyName<D extends KeyDefinition = StandardKeyDefinition> = D['name'];

/** The names of the keys of `D` whose values are of type `T`. */
export type KeyNameOf<T extends KeyType, D extends KeyDefinition = StandardKeyDefinition> = D extends unknown
  ? T extends D['type']
    ? D['name']
    : never
  : never;
