import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GpioLineFactory } from '../../hal/drivers/gpio-adapter.js';
import type { PwmChannelFactory } from '../../hal/drivers/pwm-pilot.js';
import { SimBoard, type SimBoardSpec } from '../../hal/sim/board.js';
import type { Board, SmartChargingCapabilities } from '../../hal/types.js';
import type { Clock } from '../clock.js';
import { errorMessage } from '../error-message.js';
import type { Logger } from '../log.js';
import { SHIPPED_BOARDS_DIR, SIM_BOARD } from './board-location.js';
import { validateSimBoardSchema as validateSim } from './generated/sim-board-validator.js';
import type { HardwareBoardFile } from './hardware-board-file.js';
import { parseJson } from './json-text.js';
import type { KeyName } from './keys.js';
import { describeSchemaErrors } from './schema-errors.js';

export class BoardFileError extends Error {}

export interface BoardDeps {
  log: Logger;
  clock: Clock;
  /** How GPIO lines are opened; by default the sysfs tree under the board's sysfsRoot. */
  gpioLines?: GpioLineFactory;
  /** How PWM channels are opened; by default the sysfs tree under the board's sysfsRoot. */
  pwmChannels?: PwmChannelFactory;
  /** The runtime's state directory: the simulated meters keep their registers there. */
  stateDir?: string;
}

/** The file under the state directory that keeps the simulated meters' registers. */
const SIM_REGISTER_FILE = 'sim-meters.json';

export interface ConnectorBase {
  id: number;
  fixedCable?: boolean;
  maxCurrentA?: number;
  phases?: 1 | 3;
  /** The supply line a 1-phase outlet is wired to (load sharing). */
  phase?: 1 | 2 | 3;
  nominalVoltageV?: number;
}

/** What every board file may say about the board as a whole. */
export interface BoardBase {
  name: string;
  supplyMaxCurrentA?: number;
  smartCharging?: SmartChargingCapabilities;
}

export interface SimBoardFile extends BoardBase {
  kind: 'sim';
  connectors: Array<ConnectorBase & { dc?: boolean }>;
  readers?: Array<{ name: string; connectors: number[] }>;
}

export type BoardFile = SimBoardFile | HardwareBoardFile;

/** Where `board: "sim"` points: the simulated board shipped with the package. */
export const BUNDLED_SIM_BOARD = join(SHIPPED_BOARDS_DIR, 'sim.json');

/** Schema validation plus the rules a schema cannot say (connector ids 1..N, readers' connectors exist). */
export async function parseBoardFile(document: unknown, source: string): Promise<BoardFile> {
  const problems = await boardFileProblems(document);
  if (problems.length > 0) throw new BoardFileError(`board file ${source}: ${problems.join('; ')}`);
  return document as BoardFile;
}

/** Every problem of a board document, not only the first; none means it is a BoardFile. */
export async function boardFileProblems(document: unknown): Promise<string[]> {
  const kind = (document as { kind?: unknown } | null)?.kind;
  // The hardware validator is large: a simulated board never loads it.
  const validate =
    kind === 'hardware'
      ? (await import('./generated/hardware-board-validator.js')).validateHardwareBoardSchema
      : kind === 'sim'
        ? validateSim
        : undefined;
  if (!validate) return ['kind: must be "sim" or "hardware"'];
  if (!validate(document)) return describeSchemaErrors(validate.errors ?? []);
  const board = document as BoardFile;
  const problems: string[] = [];
  const ids = board.connectors.map((c) => c.id);
  const expected = ids.map((_, i) => i + 1);
  if ([...ids].sort((a, b) => a - b).join() !== expected.join()) {
    problems.push(`connectors: ids must be 1..${ids.length}, each once (got ${ids.join(', ')})`);
  }
  for (const [i, reader] of (board.readers ?? []).entries()) {
    const unknown = reader.connectors.filter((id) => !ids.includes(id));
    if (unknown.length > 0) problems.push(`readers.${i}.connectors: no connector ${unknown.join(', ')}`);
  }
  return problems;
}

/** Builds the board a board file describes. */
export async function buildBoard(file: BoardFile, deps: BoardDeps): Promise<Board> {
  if (file.kind === 'hardware')
    return (await import('./hardware-board-file.js')).buildHardwareBoard(file, deps);
  const spec: SimBoardSpec = {
    name: file.name,
    connectors: file.connectors,
    ...(file.readers ? { readers: file.readers } : {}),
    ...(file.supplyMaxCurrentA === undefined ? {} : { supplyMaxCurrentA: file.supplyMaxCurrentA }),
    ...(file.smartCharging ? { smartCharging: file.smartCharging } : {}),
  };
  return new SimBoard(spec, deps.clock, {
    log: deps.log,
    ...(deps.stateDir === undefined ? {} : { registerFile: join(deps.stateDir, SIM_REGISTER_FILE) }),
  });
}

/** `board` from the provisioning file: "sim" or the path of a board file. */
export async function loadBoard(board: string, deps: BoardDeps): Promise<Board> {
  const path = boardPath(board);
  const file = await parseBoardFile(readBoardDocument(path), path);
  deps.log.info({ board: file.name, kind: file.kind, connectors: file.connectors.length }, 'board loaded');
  return buildBoard(file, deps);
}

/** The board file `board` names. */
export function boardPath(board: string): string {
  return board === SIM_BOARD ? BUNDLED_SIM_BOARD : board;
}

/** The JSON document of a board file; a syntax error names its line and column. */
export function readBoardDocument(path: string): unknown {
  try {
    return parseJson(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new BoardFileError(`board file ${path}: ${errorMessage(error)}`);
  }
}

/**
 * The read-only smart charging keys a board's capabilities fix (for the registry's `fixed`); a
 * capability the board file leaves out keeps the key's default.
 */
export function smartChargingKeys(
  caps: SmartChargingCapabilities | undefined,
): Partial<Record<KeyName, string>> {
  if (!caps) return {};
  const keys: Partial<Record<KeyName, string>> = {};
  if (caps.maxStackLevel !== undefined) keys.ChargeProfileMaxStackLevel = String(caps.maxStackLevel);
  if (caps.maxPeriods !== undefined) keys.ChargingScheduleMaxPeriods = String(caps.maxPeriods);
  if (caps.maxProfiles !== undefined) keys.MaxChargingProfilesInstalled = String(caps.maxProfiles);
  if (caps.rateUnits !== undefined)
    keys.ChargingScheduleAllowedChargingRateUnit = caps.rateUnits
      .map((unit) => (unit === 'A' ? 'Current' : 'Power'))
      .join(',');
  return keys;
}
