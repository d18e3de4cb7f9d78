import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { errorMessage } from '../error-message.js';
import { MAX_SEND_LOCAL_LIST_LENGTH } from '../ocpp/frames.js';
import type { KeyType } from '../security/csr.js';
import { SIM_BOARD, whereBoardsLive } from './board-location.js';
import { validateConfigFileSchema as validate } from './generated/config-file-validator.js';
import { JsonSyntaxError, parseJson } from './json-text.js';
import { KEY_DEFINITIONS, type KeyDefinition } from './keys.js';
import { fileValueProblems } from './registry.js';
import { describeSchemaErrors } from './schema-errors.js';
import { holdsPlaceholder, isObject, templateProblems, templateSummary } from './template.js';

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
  /** The argv run at the first accepted registration, to keep a release on trial. */
  confirm?: string[];
}

/**
 * A provisioning file the daemon cannot run on; `problems` has one line per mistake, each naming
 * its field. `config` is the file as read when its shape was right (the problems are in values):
 * enough to find the board and drive its outputs safe before the daemon exits.
 */
export class ConfigFileError extends Error {
  constructor(
    readonly problems: readonly string[],
    message = `invalid configuration: ${problems.join('; ')}`,
    readonly config?: RuntimeConfig,
  ) {
    super(message);
  }
}

/** The central-system URL to use with a security profile. */
export function csmsUrlFor(csms: RuntimeConfig['csms'], profile: SecurityProfileNumber): string {
  return csms.urlBySecurityProfile?.[String(profile) as '0' | '1' | '2' | '3'] ?? csms.url;
}

/** Validates a parsed provisioning document; `baseDir` anchors relative paths. */
export function parseConfig(document: unknown, baseDir: string): RuntimeConfig {
  const checked = checkConfig(document, baseDir);
  if (!('problems' in checked)) return checked.config;
  const template = templateSummary(document);
  if (template === undefined) throw new ConfigFileError(checked.problems, undefined, checked.config);
  const others = checked.problems.length - templateProblems(document).length;
  throw new ConfigFileError(
    checked.problems,
    `invalid configuration: ${template}${others > 0 ? ` (and ${others} other problem(s))` : ''}; chargepointd --check --config <file> explains each`,
    checked.config,
  );
}

/**
 * Every problem of a provisioning document, not only the first: the schema's, the placeholders
 * of the installer's template, and the rules a schema cannot say (these only once the shape is
 * right, since they read the fields).
 */
export function checkConfig(
  document: unknown,
  baseDir: string,
): { config: RuntimeConfig } | { problems: string[]; config?: RuntimeConfig } {
  const doc = structuredClone(document);
  const template = templateProblems(doc);
  const boardName = boardNameOf(doc);
  const board = boardName === undefined ? [] : boardProblems(boardName, resolveBoard(boardName, baseDir));
  if (!validate(doc)) {
    // The ocpp values are read one by one, whatever the rest of the file's shape.
    const ocpp: unknown = isObject(doc) ? doc.ocpp : undefined;
    const values = isObject(ocpp) ? fileValueProblems(ocpp) : [];
    return { problems: [...describeSchemaErrors(validate.errors ?? []), ...template, ...board, ...values] };
  }
  const cfg = doc as unknown as RuntimeConfig;
  const abs = (p: string | undefined): string | undefined =>
    p === undefined || isAbsolute(p) ? p : resolve(baseDir, p);
  cfg.stateDir = abs(cfg.stateDir) ?? cfg.stateDir;
  cfg.cli.socket = abs(cfg.cli.socket) ?? cfg.cli.socket;
  cfg.board = resolveBoard(cfg.board, baseDir);
  cfg.csms.caFile = abs(cfg.csms.caFile);
  cfg.csms.certFile = abs(cfg.csms.certFile);
  cfg.csms.keyFile = abs(cfg.csms.keyFile);
  // Every program the file names (hooks and commands), as its other paths.
  if (cfg.firmware.install) cfg.firmware.install = resolveProgram(cfg.firmware.install, baseDir);
  if (cfg.firmware.confirm) cfg.firmware.confirm = resolveProgram(cfg.firmware.confirm, baseDir);
  if (cfg.reset.hardResetCommand)
    cfg.reset.hardResetCommand = resolveProgram(cfg.reset.hardResetCommand, baseDir);
  const problems = [
    ...template,
    ...board,
    ...cfg.ocppForced
      .filter((key) => !(key in cfg.ocpp))
      .map((key) => `ocppForced: ${key} has no value in ocpp`),
    ...securityProblems(cfg),
    ...localListProblems(cfg),
    ...fileValueProblems(cfg.ocpp),
  ];
  return problems.length > 0 ? { problems, config: cfg } : { config: cfg };
}

/** `board` as the file gives it ("sim" when it leaves it out), if it is a name at all. */
export function boardNameOf(document: unknown): string | undefined {
  const board: unknown =
    typeof document === 'object' && document !== null ? Reflect.get(document, 'board') : undefined;
  if (board === undefined) return SIM_BOARD;
  return typeof board === 'string' && board !== '' ? board : undefined;
}

/** `board` with a relative path resolved against the configuration's folder. */
export function resolveBoard(board: string, baseDir: string): string {
  return board === SIM_BOARD || isAbsolute(board) ? board : resolve(baseDir, board);
}

/**
 * An argv whose program is given as a relative path (it holds a `/`) with that path resolved
 * against the configuration's folder, as the other paths of the file are; a bare name is left for
 * PATH to find when it runs, as execvp does. The arguments are the program's to read.
 */
export function resolveProgram(argv: readonly string[], baseDir: string): string[] {
  const [program, ...args] = argv;
  if (program === undefined || !program.includes('/') || isAbsolute(program)) return [...argv];
  return [resolve(baseDir, program), ...args];
}

/**
 * A board that is neither "sim" nor a file: a bare name (`phoenix-ac-2`) was most likely meant as
 * one of the shipped boards, which are not looked up by name, so the line says where they are.
 */
function boardProblems(name: string, path: string): string[] {
  // The template's placeholder path is told as such by templateProblems, not as a missing file.
  if (name === SIM_BOARD || holdsPlaceholder(name) || existsSync(path)) return [];
  const hint = name.includes('/') ? '' : `; ${whereBoardsLive(name)}`;
  return [`board: no board file ${path} (board is "sim" or the path of a board file)${hint}`];
}

/**
 * SendLocalListMaxLength is a promise to the central system: a list that long, of the largest
 * entries the schema admits, must fit in one frame (else the charger would refuse the frame or
 * drop the connection with 1009), and must fit in the list (LocalAuthListMaxLength). Both keys are
 * read-only, so the file is the only place they are set.
 */
function localListProblems(cfg: RuntimeConfig): string[] {
  const perRequest = intKey(cfg, 'SendLocalListMaxLength');
  if (perRequest > MAX_SEND_LOCAL_LIST_LENGTH)
    return [`ocpp.SendLocalListMaxLength: at most ${MAX_SEND_LOCAL_LIST_LENGTH} entries fit in one frame`];
  const listMax = intKey(cfg, 'LocalAuthListMaxLength');
  if (perRequest > listMax)
    return [`ocpp.SendLocalListMaxLength: must not exceed LocalAuthListMaxLength (${listMax})`];
  return [];
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
function securityProblems(cfg: RuntimeConfig): string[] {
  const { csms } = cfg;
  const problems: string[] = [];
  for (const field of ['caFile', 'certFile', 'keyFile'] as const) {
    const path = csms[field];
    if (path === undefined) continue;
    try {
      accessSync(path, constants.R_OK);
    } catch (error) {
      problems.push(
        `csms.${field}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
  }
  for (const [profile, url] of Object.entries(csms.urlBySecurityProfile ?? {})) {
    if (Number(profile) >= 2 && !url.startsWith('wss://'))
      problems.push(`csms.urlBySecurityProfile.${profile}: security profile ${profile} needs a wss:// URL`);
  }
  const profile = csms.securityProfile;
  const key = cfg.ocpp.AuthorizationKey;
  if ((profile === 1 || profile === 2) && (key === undefined || key === ''))
    problems.push(`ocpp.AuthorizationKey: security profile ${profile} needs a password`);
  if (profile >= 2) {
    if (!csmsUrlFor(csms, profile).startsWith('wss://'))
      problems.push(`csms.url: security profile ${profile} needs a wss:// URL`);
    if (csms.caFile === undefined)
      problems.push(`csms.caFile: security profile ${profile} needs a CA bundle`);
  }
  if (profile === 3) {
    if (csms.certFile === undefined)
      problems.push('csms.certFile: security profile 3 needs a client certificate');
    if (csms.keyFile === undefined) problems.push('csms.keyFile: security profile 3 needs a client key');
  }
  return problems;
}

export function loadConfigFile(path: string): RuntimeConfig {
  return parseConfig(readConfigDocument(path), dirname(resolve(path)));
}

/** The provisioning file's JSON document. */
export function readConfigDocument(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = errorMessage(error);
    throw new ConfigFileError([reason], `cannot read configuration file ${path}: ${reason}`);
  }
  try {
    return parseJson(text);
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    throw new ConfigFileError(
      [error.message],
      `configuration file ${path} is not valid JSON: ${error.message}`,
    );
  }
}
