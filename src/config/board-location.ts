import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../package-root.js';

/** `board` naming the simulated board shipped with the package. */
export const SIM_BOARD = 'sim';

/** The board files shipped with the package (config/boards/ of the source tree and of a release). */
export const SHIPPED_BOARDS_DIR = join(PACKAGE_ROOT, 'config', 'boards');

/** PREFIX of scripts/install.sh when none is given. */
const DEFAULT_PREFIX = '/opt/chargepoint';

/**
 * Where the shipped board files are, for a board named without a path. In an installation the
 * package is PREFIX/releases/<version>/, which a firmware update replaces: a configuration should
 * name the board through PREFIX/current, which follows the running release.
 */
export function whereBoardsLive(name: string): string {
  const prefix = /^(.*)\/releases\/[^/]+\/?$/.exec(PACKAGE_ROOT)?.[1];
  const dir = prefix === undefined ? SHIPPED_BOARDS_DIR : join(prefix, 'current', 'config', 'boards');
  const where =
    prefix === undefined
      ? `${dir}/ here, and PREFIX/current/config/boards/ once installed (${DEFAULT_PREFIX}/current/config/boards/ by default)`
      : `${dir}/`;
  let shipped: string[];
  try {
    shipped = readdirSync(SHIPPED_BOARDS_DIR).filter((file) => file.endsWith('.json'));
  } catch {
    shipped = [];
  }
  const file = name.endsWith('.json') ? name : `${name}.json`;
  const example = join(dir, shipped.includes(file) ? file : (shipped[0] ?? file));
  return `board files live in ${where}: ${shipped.join(', ')}; give the path, e.g. "${example}"`;
}
