/**
 * `chargepointd --check --config FILE`: the provisioning file and its board file as the daemon
 * would read them, every problem of both (and an install hook program that cannot run), without
 * opening the store, the control socket or a connection. Loaded only for --check, so the daemon's
 * boot does not pay for it.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { BoardFileError, boardFileProblems, boardPath, readBoardDocument } from './board-file.js';
import { boardNameOf, ConfigFileError, checkConfig, readConfigDocument, resolveBoard } from './file.js';

export interface CheckResult {
  /** One line each, naming the file and the field. */
  problems: string[];
  /** The board file that was checked, when the configuration names one that exists. */
  boardFile?: string;
}

export async function checkConfigFiles(configPath: string): Promise<CheckResult> {
  let document: unknown;
  try {
    document = readConfigDocument(configPath);
  } catch (error) {
    if (!(error instanceof ConfigFileError)) throw error;
    return { problems: [error.message] };
  }
  const baseDir = dirname(resolve(configPath));
  const checked = checkConfig(document, baseDir);
  const problems = [
    ...('problems' in checked ? checked.problems : []),
    ...installHookProblems(checked.config?.firmware.install?.[0]),
  ].map((problem) => `${configPath}: ${problem}`);
  // Even a configuration with mistakes names its board: its problems are listed too, in one go.
  const name = boardNameOf(document);
  const board = name === undefined ? undefined : resolveBoard(name, baseDir);
  const boardFile = board === undefined ? undefined : boardPath(board);
  if (boardFile === undefined || !existsSync(boardFile)) return { problems };
  try {
    const boardProblems = await boardFileProblems(readBoardDocument(boardFile));
    problems.push(...boardProblems.map((problem) => `board file ${boardFile}: ${problem}`));
  } catch (error) {
    if (!(error instanceof BoardFileError)) throw error;
    problems.push(error.message);
  }
  return { problems, boardFile };
}

/**
 * The install hook's program, when the file names it by path (already resolved against the
 * configuration's folder): a file that is missing or cannot be run would fail every firmware
 * install, which only a central system's InstallationFailed would tell. Told here, not at start: a
 * charger without a working hook still charges. A bare name is looked up on the daemon's PATH when
 * the hook runs, which need not be this shell's.
 */
function installHookProblems(program: string | undefined): string[] {
  if (program === undefined || !isAbsolute(program)) return [];
  try {
    if (!statSync(program).isFile()) return [`firmware.install: ${program} is not a file`];
  } catch {
    return [`firmware.install: no file ${program}`];
  }
  try {
    accessSync(program, constants.X_OK);
    return [];
  } catch {
    return [`firmware.install: ${program} is not executable`];
  }
}
