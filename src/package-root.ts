import { fileURLToPath } from 'node:url';

/**
 * The package's root folder, whether running from source (src/) or from the build (dist/src/),
 * for files shipped beside the code (package.json, config/boards/).
 */
export const PACKAGE_ROOT: string = fileURLToPath(
  new URL(import.meta.url.includes('/dist/src/') ? '../../' : '../', import.meta.url),
);
