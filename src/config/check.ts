/**
 * `chargepointd --check --config FILE`: the provisioning file and its board file as the daemon
 * would read them, every problem of both, without opening the store, the control socket or a
 * connection. Loaded only for --check, so the daemon's boot does not pay for it.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
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
  const problems =
    'problems' in checked ? checked.problems.map((problem) => `${configPath}: ${problem}`) : [];
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
