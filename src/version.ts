import { readFileSync } from 'node:fs';

/** The package version doubles as the firmware version reported in BootNotification. */
export const FIRMWARE_VERSION: string = (
  JSON.parse(readFileSync(new URL(findPackageJson(), import.meta.url), 'utf8')) as { version: string }
).version;

function findPackageJson(): string {
  // Source runs from src/, the build from dist/src/: the manifest is one or two levels up.
  return import.meta.url.includes('/dist/') ? '../../package.json' : '../package.json';
}
