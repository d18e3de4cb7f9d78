import fs from 'node:fs';
import { basename, dirname } from 'node:path';
import { errorMessage } from '../error-message.js';
import { writeFileDurably } from '../fs/durable-file.js';
import type { Logger } from '../log.js';

/**
 * The last persisted value of each setting that may only be raised (SecurityProfile), and of
 * marks that only rise (the last clock-aligned boundary reported), in a small file beside the
 * database. A database lost to corruption, or replaced by hand, must not bring the
 * charger back up on a weaker profile than the central system last set: the configuration
 * registry takes the higher of this floor and what it would otherwise start with.
 *
 * Written as a whole (writeFileDurably: temporary file, fsync, rename, fsync of the folder), so
 * a power cut leaves the old or the new floor, never half of one, and a rename it made is not
 * lost. A floor that cannot be read is logged and ignored: the database's value still applies.
 */
export class SettingFloors {
  private values: Record<string, string>;

  constructor(
    readonly path: string,
    private readonly log: Logger,
  ) {
    this.values = this.read();
  }

  get(key: string): string | undefined {
    return this.values[key];
  }

  /** Records the value now persisted for `key`; false (logged) when the file could not be written. */
  set(key: string, value: string): boolean {
    if (this.values[key] === value) return true;
    const next = { ...this.values, [key]: value };
    try {
      writeFileDurably(dirname(this.path), basename(this.path), `${JSON.stringify(next)}\n`, 0o600);
      this.values = next;
      return true;
    } catch (err) {
      this.log.error({ path: this.path, key, err: errorMessage(err) }, 'setting floor not written');
      return false;
    }
  }

  private read(): Record<string, string> {
    let text: string;
    try {
      text = fs.readFileSync(this.path, 'utf8');
    } catch {
      return {};
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        throw new Error('not an object');
      return Object.fromEntries(
        Object.entries(parsed).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
      );
    } catch (err) {
      this.log.warn({ path: this.path, err: errorMessage(err) }, 'setting floors unreadable, ignored');
      return {};
    }
  }
}
