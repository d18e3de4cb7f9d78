import { EventEmitter } from 'node:events';
import type Database from 'better-sqlite3';
import type { Clock, Timer } from '../clock.js';
import { Sqlite } from '../commonjs.js';
import { errorMessage } from '../error-message.js';
import type { Logger } from '../log.js';

/** ok: writes succeed; degraded: the disk is full or failing; read-only: the filesystem refuses writes. */
export type StoreHealthState = 'ok' | 'degraded' | 'read-only';

export interface StoreHealthSnapshot {
  state: StoreHealthState;
  /** Why it is not ok: the SQLite error of the failed write. */
  reason?: string;
  /** Epoch ms since when it is not ok. */
  since?: number;
}

export interface StoreHealthEvents {
  /** The state changed; `previous` is what it was. */
  changed: [snapshot: StoreHealthSnapshot, previous: StoreHealthSnapshot];
}

/** How often a store that is not ok tries a small write, to notice space coming back. */
export const STORE_PROBE_MS = 30_000;

const FULL_CODES = ['SQLITE_FULL', 'SQLITE_IOERR'];
const READ_ONLY_CODES = ['SQLITE_READONLY'];

/**
 * Whether the store's writes go through. A write that fails for want of space (SQLITE_FULL, or an
 * I/O error, which is how a failing SD card shows) or of write access (SQLITE_READONLY: a
 * filesystem remounted read-only after errors) is reported here by whoever tried it, which then
 * carries on from memory where it safely can; any other error is not the disk's and is left to
 * its caller. While not ok, a one-row write is tried every STORE_PROBE_MS, and the first that
 * succeeds (or any write reported as succeeding) makes the store ok again, without a restart.
 */
export class StoreHealth extends EventEmitter<StoreHealthEvents> {
  private current: StoreHealthSnapshot = { state: 'ok' };
  private probeStmt: Database.Statement<[number]> | undefined;
  private clock: Pick<Clock, 'now' | 'setTimeout'> | undefined;
  private probeTimer: Timer | undefined;

  constructor(private readonly opts: { db: Database.Database; log: Logger }) {
    super();
  }

  snapshot(): StoreHealthSnapshot {
    return { ...this.current };
  }

  get ok(): boolean {
    return this.current.state === 'ok';
  }

  /** Probing needs a clock for its timer; until one is given, only reported writes move the state. */
  useClock(clock: Pick<Clock, 'now' | 'setTimeout'>): void {
    this.clock = clock;
    if (!this.ok) this.scheduleProbe();
  }

  /**
   * A write threw `err`: true when it was the disk (then reported, and the caller goes on without
   * it), false when it was something else (the caller's to handle).
   */
  writeFailed(err: unknown, what: string): boolean {
    const state = storageFailure(err);
    if (state === undefined) return false;
    const reason = describeStoreError(err);
    if (this.current.state !== state) {
      const previous = this.current;
      this.current = { state, reason, since: this.clock?.now() ?? Date.now() };
      this.opts.log.error(
        { state, reason, what },
        state === 'read-only'
          ? 'state store is read-only: running on from memory; what is not written is lost at a restart'
          : 'state store cannot write (disk full or failing): running on from memory; what is not written is lost at a restart',
      );
      this.emit('changed', this.snapshot(), previous);
      this.scheduleProbe();
    } else {
      this.opts.log.debug({ what, reason }, 'state store write failed');
    }
    return true;
  }

  /**
   * Runs a write that may meet a full or failing disk: true when it was written (the store is then
   * known to write again), false when the disk refused it (reported, the caller goes on from
   * memory); any other error is thrown.
   */
  attempt(what: string, write: () => void): boolean {
    try {
      write();
    } catch (err) {
      if (!this.writeFailed(err, what)) throw err;
      return false;
    }
    this.writeSucceeded();
    return true;
  }

  writeSucceeded(): void {
    if (this.ok) return;
    const previous = this.current;
    this.current = { state: 'ok' };
    this.probeTimer?.cancel();
    this.probeTimer = undefined;
    this.opts.log.warn(
      { previous: previous.state, since: previous.since },
      'state store writes again: back to normal',
    );
    this.emit('changed', this.snapshot(), previous);
  }

  /** Tries a one-row write now; true when it went through. */
  probe(): boolean {
    return this.attempt('probe', () => {
      this.probeStmt ??= this.opts.db.prepare(
        `INSERT INTO store_probe (singleton, at) VALUES (1, ?)
         ON CONFLICT (singleton) DO UPDATE SET at = excluded.at`,
      );
      this.probeStmt.run(this.clock?.now() ?? Date.now());
    });
  }

  close(): void {
    this.probeTimer?.cancel();
    this.probeTimer = undefined;
  }

  private scheduleProbe(): void {
    if (!this.clock || this.probeTimer) return;
    this.probeTimer = this.clock.setTimeout(() => {
      this.probeTimer = undefined;
      if (!this.opts.db.open || this.ok) return;
      if (!this.probe()) this.scheduleProbe();
    }, STORE_PROBE_MS);
  }
}

/** The health state a failed write means, or undefined when the error is not the disk's. */
function storageFailure(err: unknown): Exclude<StoreHealthState, 'ok'> | undefined {
  if (!(err instanceof Sqlite.SqliteError)) return undefined;
  if (READ_ONLY_CODES.some((code) => err.code.startsWith(code))) return 'read-only';
  if (FULL_CODES.some((code) => err.code.startsWith(code))) return 'degraded';
  return undefined;
}

/**
 * A write through the store's health where the owner was given one (the runtime always gives it,
 * unit tests may not): true when written, false when the disk refused it (reported).
 */
export function attemptWrite(
  writes: Pick<StoreHealth, 'attempt'> | undefined,
  what: string,
  write: () => void,
): boolean {
  if (writes) return writes.attempt(what, write);
  write();
  return true;
}

/** An error of the store in a line: SQLite's code and message, or the message. */
export function describeStoreError(err: unknown): string {
  if (err instanceof Sqlite.SqliteError) return `${err.code}: ${err.message}`;
  return errorMessage(err);
}
