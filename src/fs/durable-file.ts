import * as fs from 'node:fs';
import { join } from 'node:path';

/** Makes a rename or unlink in `dir` survive a power cut. */
function syncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Writes `dir/name` so that after a power cut it is either absent or whole: a temporary file,
 * fsync, rename over the name, fsync of the directory. A leftover `.tmp` is the caller's to sweep;
 * one found here is overwritten, and its mode with it (open() keeps an existing file's mode).
 */
export function writeFileDurably(dir: string, name: string, text: string, mode: number): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const temporary = join(dir, `${name}.tmp`);
  const fd = fs.openSync(temporary, 'w', mode);
  try {
    fs.fchmodSync(fd, mode);
    fs.writeFileSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temporary, join(dir, name));
  syncDirectory(dir);
}

/** Removes `dir/name` durably; a file already gone is no error. */
export function removeFileDurably(dir: string, name: string): void {
  fs.rmSync(join(dir, name), { force: true });
  syncDirectory(dir);
}

/** Renames `dir/from` over `dir/to` durably. */
export function renameFileDurably(dir: string, from: string, to: string): void {
  fs.renameSync(join(dir, from), join(dir, to));
  syncDirectory(dir);
}
