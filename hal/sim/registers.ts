/**
 * The energy registers of the simulated meters. A real meter's register never restarts at 0 and
 * never goes back, so the simulated one is kept in a small file (under the runtime's state
 * directory) and survives a restart. The file is replaced atomically (writeFileDurably), and
 * only when energy stops flowing, at most every SAVE_INTERVAL_MS while it flows, and at stop: an
 * SD card is not worn by a write per reading. A power cut loses at most that interval's energy.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Clock } from '../../src/clock.js';
import { errorMessage } from '../../src/error-message.js';
import { writeFileDurably } from '../../src/fs/durable-file.js';
import type { Logger } from '../../src/log.js';

/**
 * Where a new simulated meter starts, Wh. Deliberately not a whole number: an Eastron's kWh float
 * times 1000 rarely is (1234.567 kWh reads as 1234567.0117 Wh), and the runtime must round such a
 * register itself. Below half a Wh, so a fresh simulated charger still bills from 0.
 */
export const SIM_REGISTER_START_WH = 0.25;

/** Longest time energy may flow before the register is written again, ms. */
export const SAVE_INTERVAL_MS = 10 * 60_000;

const FORMAT_VERSION = 1;

interface RegisterFileContent {
  version: typeof FORMAT_VERSION;
  /** Connector id -> Energy.Active.Import.Register, Wh. */
  registersWh: Record<string, number>;
}

export interface SimRegistersOptions {
  /** The file that keeps the registers; without one they live in memory only (tests). */
  file?: string;
  clock: Clock;
  log?: Logger;
}

export class SimRegisters {
  private readonly values = new Map<number, number>();
  private dirty = false;
  private flushPending = false;
  private savedAt: number;

  constructor(private readonly options: SimRegistersOptions) {
    this.savedAt = options.clock.monotonic();
    if (options.file) this.load(options.file);
  }

  /** The register of a connector's meter, Wh. */
  get(connectorId: number): number {
    return this.values.get(connectorId) ?? SIM_REGISTER_START_WH;
  }

  /**
   * A meter's register moved; written when `settled` (energy stopped flowing) or when due, on the
   * next turn of the event loop: the write's fsync must not delay what the relay change set off
   * (a stop's StopTransaction), as a real meter's own storage would not.
   */
  set(connectorId: number, wh: number, settled: boolean): void {
    this.values.set(connectorId, wh);
    this.dirty = true;
    if (settled || this.options.clock.monotonic() - this.savedAt >= SAVE_INTERVAL_MS) this.flushSoon();
  }

  private flushSoon(): void {
    if (this.flushPending) return;
    this.flushPending = true;
    setImmediate(() => {
      this.flushPending = false;
      this.flush();
    });
  }

  /** Writes the registers if they moved since the last write. Never throws: the sim keeps running. */
  flush(): void {
    const { file, clock, log } = this.options;
    if (!this.dirty || !file) return;
    const content: RegisterFileContent = {
      version: FORMAT_VERSION,
      registersWh: Object.fromEntries([...this.values].map(([id, wh]) => [String(id), wh])),
    };
    try {
      writeFileDurably(dirname(file), basename(file), `${JSON.stringify(content)}\n`, 0o644);
      this.dirty = false;
      this.savedAt = clock.monotonic();
    } catch (error) {
      log?.error({ file, err: errorMessage(error) }, 'simulated meter registers not saved');
    }
  }

  /** A missing file is a new board; an unreadable one is logged and replaced at the next write. */
  private load(file: string): void {
    try {
      const content: unknown = JSON.parse(readFileSync(file, 'utf8'));
      if (!isRegisterFile(content)) throw new Error('not a register file');
      for (const [id, wh] of Object.entries(content.registersWh)) this.values.set(Number(id), wh);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      this.options.log?.error(
        { file, err: errorMessage(error) },
        'simulated meter registers unreadable; the meters start over',
      );
    }
  }
}

function isRegisterFile(value: unknown): value is RegisterFileContent {
  if (typeof value !== 'object' || value === null || !('version' in value) || !('registersWh' in value))
    return false;
  const { version, registersWh } = value;
  return (
    version === FORMAT_VERSION &&
    typeof registersWh === 'object' &&
    registersWh !== null &&
    Object.entries(registersWh).every(
      ([id, wh]) => /^\d+$/.test(id) && typeof wh === 'number' && Number.isFinite(wh) && wh >= 0,
    )
  );
}
