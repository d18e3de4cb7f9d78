import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GpioLineFactory } from '../../hal/drivers/gpio-adapter.js';
import type { PwmChannelFactory } from '../../hal/drivers/pwm-pilot.js';
import { SimBoard, type SimBoardSpec } from '../../hal/sim/board.js';
import type { Board, SmartChargingCapabilities } from '../../hal/types.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { PACKAGE_ROOT } from '../package-root.js';
import { validateSimBoardSchema as validateSim } from './generated/sim-board-validator.js';
import type { HardwareBoardFile } from './hardware-board-file.js';
import type { KeyName } from './keys.js';
import { describeSchemaError } from './schema-errors.js';

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
export const BUNDLED_SIM_BOARD = join(PACKAGE_ROOT, 'config', 'boards', 'sim.json');

/** Schema validation plus the rules a schema cannot say (connector ids 1..N, readers' connectors exist). */
export async function parseBoardFile(document: unknown, source: string): Promise<BoardFile> {
  const kind = (document as { kind?: unknown } | null)?.kind;
  let board: BoardFile;
  if (kind === 'hardware') {
    board = (await import('./hardware-board-file.js')).validateHardwareBoard(document, source);
  } else if (kind === 'sim') {
    if (!validateSim(document)) {
      const first = validateSim.errors?.[0];
      throw new BoardFileError(`board file ${source}: ${first ? describeSchemaError(first) : 'invalid'}`);
    }
    board = document as unknown as SimBoardFile;
  } else {
    throw new BoardFileError(`board file ${source}: kind: must be "sim" or "hardware"`);
  }
  const ids = board.connectors.map((c) => c.id);
  const expected = ids.map((_, i) => i + 1);
  if ([...ids].sort((a, b) => a - b).join() !== expected.join()) {
    throw new BoardFileError(
      `board file ${source}: connectors: ids must be 1..${ids.length}, each once (got ${ids.join(', ')})`,
    );
  }
  for (const [i, reader] of (board.readers ?? []).entries()) {
    const unknown = reader.connectors.filter((id) => !ids.includes(id));
    if (unknown.length > 0) {
      throw new BoardFileError(
        `board file ${source}: readers.${i}.connectors: no connector ${unknown.join(', ')}`,
      );
    }
  }
  return board;
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
  const path = board === 'sim' ? BUNDLED_SIM_BOARD : board;
  let document: unknown;
  try {
    document = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new BoardFileError(`board file ${path}: ${(error as Error).message}`);
  }
  const file = await parseBoardFile(document, path);
  deps.log.info({ board: file.name, kind: file.kind, connectors: file.connectors.length }, 'board loaded');
  return buildBoard(file, deps);
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
