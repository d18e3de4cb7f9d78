import { fileURLToPath } from 'node:url';

/**
 * The package's root folder, whether running from source (src/) or from the build (dist/, where
 * the daemon and cpctl may be bundled into dist/src/bin/), for files shipped beside the code
 * (package.json, config/boards/): the folder holding `dist/`, else the one holding `src/`.
 */
function packageRoot(moduleUrl: string): string {
  const built = moduleUrl.lastIndexOf('/dist/');
  if (built >= 0) return fileURLToPath(moduleUrl.slice(0, built + 1));
  return fileURLToPath(new URL('../', moduleUrl));
}

export const PACKAGE_ROOT: string = packageRoot(import.meta.url);
