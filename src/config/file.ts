import { accessSync, constants, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { MAX_SEND_LOCAL_LIST_LENGTH } from '../ocpp/frames.js';
import type { KeyType } from '../security/csr.js';
import { validateConfigFileSchema as validate } from './generated/config-file-validator.js';
import { KEY_DEFINITIONS, type KeyDefinition } from './keys.js';
import { describeSchemaError } from './schema-errors.js';

export type SecurityProfileNumber = 0 | 1 | 2 | 3;

/** The provisioning file after validation, with paths resolved against the file's folder. */
export interface RuntimeConfig {
  chargePointId: string;
  identity: {
    vendor: string;
    model: string;
    chargePointSerialNumber?: string;
    chargeBoxSerialNumber?: string;
    iccid?: string;
    imsi?: string;
  };
  csms: {
    url: string;
    /** Overrides of `url` for some security profiles (a central system may use a port per profile). */
    urlBySecurityProfile?: Partial<Record<'0' | '1' | '2' | '3', string>>;
    securityProfile: SecurityProfileNumber;
    caFile?: string;
    certFile?: string;
    keyFile?: string;
    callTimeoutSeconds: number;
    connectTimeoutSeconds: number;
    reconnect: { initialSeconds: number; maxSeconds: number };
    /** Retry delay when a BootNotification gets no answer at all. */
    bootRetrySeconds: number;
  };
  stateDir: string;
  board: string;
  cli: { socket: string };
  mqtt?: { url: string; prefix?: string };
  /** Initial values of OCPP configuration keys. */
  ocpp: Record<string, string | number | boolean>;
  /** OCPP keys whose file value always wins over a value the central system stored. */
  ocppForced: string[];
  clock: { ntpSynchronized: boolean };
  reset: { hardResetCommand?: string[] };
  /** Newest OCPP frames kept for `cpctl trace`; 0 records nothing. */
  trace: { maxFrames: number };
  /** The charge point certificate's key pair (security extension A02/A03). */
  security: { keyType: KeyType };
  log: { level: string };
  /** Firmware updates: the install hook (DESIGN.md item 9) and what follows it. */
  firmware: FirmwareConfig;
}

export interface FirmwareConfig {
  /** argv of the install hook; the image path is appended. Without it an install fails cleanly. */
  install?: string[];
  /** After exit 0 of the hook: stop like a hard reset (exit 11) or a soft one (exit 10). */
  afterInstall: 'reboot' | 'restart';
  /** Refuse unsigned images: UpdateFirmware is answered NotSupported (white paper L01.FR.20). */
  requireSigned: boolean;
  /** How long a new release has to be accepted before it is rolled back (the release hooks). */
  confirmTimeoutSeconds: number;
}

export class ConfigFileError extends Error {}

/** The central-system URL to use with a security profile. */
export function csmsUrlFor(csms: RuntimeConfig['csms'], profile: SecurityProfileNumber): string {
  return csms.urlBySecurityProfile?.[String(profile) as '0' | '1' | '2' | '3'] ?? csms.url;
}

/** Validates a parsed provisioning document; `baseDir` anchors relative paths. */
export function parseConfig(document: unknown, baseDir: string): RuntimeConfig {
  const doc = structuredClone(document);
  if (!validate(doc)) {
    const first = validate.errors?.[0];
    throw new ConfigFileError(
      `invalid configuration: ${first ? describeSchemaError(first) : 'unknown error'}`,
    );
  }
  const cfg = doc as unknown as RuntimeConfig;
  const abs = (p: string | undefined): string | undefined =>
    p === undefined || isAbsolute(p) ? p : resolve(baseDir, p);
  cfg.stateDir = abs(cfg.stateDir) ?? cfg.stateDir;
  cfg.cli.socket = abs(cfg.cli.socket) ?? cfg.cli.socket;
  if (cfg.board !== 'sim') cfg.board = abs(cfg.board) ?? cfg.board;
  cfg.csms.caFile = abs(cfg.csms.caFile);
  cfg.csms.certFile = abs(cfg.csms.certFile);
  cfg.csms.keyFile = abs(cfg.csms.keyFile);
  for (const key of cfg.ocppForced) {
    if (!(key in cfg.ocpp))
      throw new ConfigFileError(`invalid configuration: ocppForced: ${key} has no value in ocpp`);
  }
  const impossible = securityProblem(cfg) ?? localListProblem(cfg);
  if (impossible) throw new ConfigFileError(`invalid configuration: ${impossible}`);
  return cfg;
}

/**
 * SendLocalListMaxLength is a promise to the central system: a list that long, of the largest
 * entries the schema admits, must fit in one frame (else the charger would refuse the frame or
 * drop the connection with 1009), and must fit in the list (LocalAuthListMaxLength). Both keys are
 * read-only, so the file is the only place they are set.
 */
function localListProblem(cfg: RuntimeConfig): string | undefined {
  const perRequest = intKey(cfg, 'SendLocalListMaxLength');
  if (perRequest > MAX_SEND_LOCAL_LIST_LENGTH)
    return `ocpp.SendLocalListMaxLength: at most ${MAX_SEND_LOCAL_LIST_LENGTH} entries fit in one frame`;
  const listMax = intKey(cfg, 'LocalAuthListMaxLength');
  if (perRequest > listMax)
    return `ocpp.SendLocalListMaxLength: must not exceed LocalAuthListMaxLength (${listMax})`;
  return undefined;
}

/** An integer key as the file sets it, else its default (the registry validates its syntax later). */
function intKey(cfg: RuntimeConfig, name: 'SendLocalListMaxLength' | 'LocalAuthListMaxLength'): number {
  const definition: KeyDefinition | undefined = KEY_DEFINITIONS.find((key) => key.name === name);
  const value = Number(cfg.ocpp[name] ?? definition?.defaultValue);
  return Number.isFinite(value) ? value : 0;
}

/**
 * What makes the initial security profile impossible to connect with, naming the field. The schema
 * cannot say it (the rules span several fields and the file system), and a daemon that started
 * anyway would only retry a connection that can never succeed, looking healthy to systemd.
 */
function securityProblem(cfg: RuntimeConfig): string | undefined {
  const { csms } = cfg;
  for (const field of ['caFile', 'certFile', 'keyFile'] as const) {
    const path = csms[field];
    if (path === undefined) continue;
    try {
      accessSync(path, constants.R_OK);
    } catch (error) {
      return `csms.${field}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`;
    }
  }
  for (const [profile, url] of Object.entries(csms.urlBySecurityProfile ?? {})) {
    if (Number(profile) >= 2 && !url.startsWith('wss://'))
      return `csms.urlBySecurityProfile.${profile}: security profile ${profile} needs a wss:// URL`;
  }
  const profile = csms.securityProfile;
  const key = cfg.ocpp.AuthorizationKey;
  if ((profile === 1 || profile === 2) && (key === undefined || key === ''))
    return `ocpp.AuthorizationKey: security profile ${profile} needs a password`;
  if (profile >= 2) {
    if (!csmsUrlFor(csms, profile).startsWith('wss://'))
      return `csms.url: security profile ${profile} needs a wss:// URL`;
    if (csms.caFile === undefined) return `csms.caFile: security profile ${profile} needs a CA bundle`;
  }
  if (profile === 3) {
    if (csms.certFile === undefined) return 'csms.certFile: security profile 3 needs a client certificate';
    if (csms.keyFile === undefined) return 'csms.keyFile: security profile 3 needs a client key';
  }
  return undefined;
}

export function loadConfigFile(path: string): RuntimeConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigFileError(`cannot read configuration file ${path}: ${(error as Error).message}`);
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new ConfigFileError(`configuration file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  return parseConfig(document, dirname(resolve(path)));
}
