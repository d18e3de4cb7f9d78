import Database from 'better-sqlite3';
import { DEFAULT_SIM_SPEC, SimBoard } from '../../hal/sim/board.js';
import { systemClock } from '../../src/clock.js';
import { Runtime } from '../../src/runtime.js';
import type { Harness } from './harness.js';

/**
 * A disk that fills on command, for the store's fault-injection tests: wraps a database
 * connection so that, while full, every statement that writes (INSERT, UPDATE, DELETE, REPLACE)
 * throws SQLITE_FULL exactly as SQLite does when the filesystem returns ENOSPC. Reads go through.
 * Deterministic, and needs neither root nor a tiny filesystem.
 */
export class DiskFull {
  full = false;
  /** Writes refused so far. */
  refused = 0;

  fill(): void {
    this.full = true;
  }

  free(): void {
    this.full = false;
  }

  readonly wrap = (db: Database.Database): Database.Database => {
    return new Proxy(db, {
      get: (target, property, receiver) => {
        if (property === 'prepare') {
          return (source: string) => this.statement(target.prepare(source));
        }
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  };

  private statement(statement: Database.Statement): Database.Statement {
    if (!/^\s*(INSERT|UPDATE|DELETE|REPLACE)\b/i.test(statement.source)) return statement;
    return new Proxy(statement, {
      get: (target, property, receiver) => {
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        if (property === 'run' || property === 'get' || property === 'all' || property === 'iterate') {
          return (...args: unknown[]) => {
            if (this.full) {
              this.refused++;
              throw new Database.SqliteError('database or disk is full', 'SQLITE_FULL');
            }
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        return (value as (...a: unknown[]) => unknown).bind(target);
      },
    });
  }
}

/** The harness's runtime (started with `deferStart`), on a sim board and a store whose disk fills on command. */
export async function startOnFillingDisk(h: Harness, disk: DiskFull): Promise<Runtime> {
  h.board = new SimBoard(DEFAULT_SIM_SPEC, systemClock);
  h.runtime = await Runtime.start({ config: h.config, log: h.log, board: h.board, wrapDatabase: disk.wrap });
  return h.runtime;
}
