/**
 * The simulated week's machinery: the runtime in process on the sim board with the fake clock,
 * MeterValues every second while charging, a session every few minutes alternating between the
 * connectors, against a central system on a local WebSocket that answers at once and keeps nothing; and the
 * measurements taken at the end of each simulated day.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import Database from 'better-sqlite3';
import { DEFAULT_SIM_SPEC, SimBoard } from '../../hal/sim/board.js';
import { parseConfig } from '../../src/config/file.js';
import { createLogger } from '../../src/log.js';
import type { FrameEvent } from '../../src/ocpp/rpc.js';
import { Runtime } from '../../src/runtime.js';
import { CountingCsms } from '../support/counting-csms.js';
import { FakeClock } from '../support/fake-clock.js';
import { fastTempRoot } from '../support/fast-temp.js';
import { Rng } from '../support/prng.js';

export const DAY_SECONDS = 86_400;

// A full collection before each measurement, so heap used is what is held, not garbage.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Keeps the first error-level log lines; a week writes too many lines of other levels to keep. */
class ErrorLines extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    for (const text of chunk.toString().split('\n'))
      if (text.trim() && this.lines.length < 20) this.lines.push(text);
    done();
  }
}

export interface DaySample {
  day: number;
  heapMiB: number;
  rssMiB: number;
  /** Bytes in pages that hold data (page_count - freelist_count). */
  dbUsedKiB: number;
  /** The database file on disk (its WAL apart: see walKiB). */
  dbFileKiB: number;
  /** The WAL file on disk: its high-water mark since the last checkpoint that cut it back. */
  walKiB: number;
  /** Pages of the transactions table and its indexes: it grows with every session until retention prunes it. */
  transactionsKiB: number;
  /** Rows in the transactions table. */
  transactions: number;
  sessions: number;
}

export class WeekSimulation {
  readonly clock = new FakeClock(Date.UTC(2026, 0, 5));
  readonly csms = new CountingCsms(() => this.clock.now());
  readonly board = new SimBoard(DEFAULT_SIM_SPEC, this.clock);
  readonly errors = new ErrorLines();
  sessions = 0;
  private runtime!: Runtime;
  private dir = '';
  /** Our CALLs written and their answers read: equal when nothing is in flight. */
  private callsOut = 0;
  private answersIn = 0;
  private connectorId = 1;
  /** Seconds until the next step of the session plan. */
  private next: number;
  private phase: 'idle' | 'plugged' | 'charging' = 'idle';

  private constructor(private readonly rng: Rng) {
    this.next = rng.int(60, 240);
  }

  static async start(seed: number): Promise<WeekSimulation> {
    const sim = new WeekSimulation(new Rng(seed));
    await sim.boot();
    return sim;
  }

  private async boot(): Promise<void> {
    this.dir = mkdtempSync(join(fastTempRoot(), 'cp-week-'));
    const url = await this.csms.start();
    const config = parseConfig(
      {
        chargePointId: 'CP-FAULT-WEEK',
        identity: { vendor: 'V', model: 'M' },
        csms: { url, callTimeoutSeconds: 30, reconnect: { initialSeconds: 1, maxSeconds: 10 } },
        stateDir: this.dir,
        board: 'sim',
        cli: { socket: join(this.dir, 'cpctl.sock') },
        ocpp: {
          MeterValueSampleInterval: 1,
          ClockAlignedDataInterval: 900,
          HeartbeatInterval: 3600,
          WebSocketPingInterval: 0,
        },
      },
      this.dir,
    );
    this.runtime = await Runtime.start({
      config,
      log: createLogger({ level: 'error', destination: this.errors }),
      clock: this.clock,
      board: this.board,
    });
    this.runtime.rpc.on('frame', ({ direction, text }: FrameEvent) => {
      if (direction === 'out' && text.startsWith('[2,')) this.callsOut += 1;
      if (direction === 'in' && (text.startsWith('[3,') || text.startsWith('[4,'))) this.answersIn += 1;
    });
    // Connecting is real I/O; the boot and the first statuses may wait on timers of the fake clock.
    for (let second = 0; this.csms.count('StatusNotification') < 3; second++) {
      if (second > 120) throw new Error(`not booted: ${JSON.stringify(Object.fromEntries(this.csms.calls))}`);
      await this.settled(() => this.runtime.link.isOpen, 'the connection');
      this.clock.advance(1000);
    }
  }

  async stop(): Promise<void> {
    await this.runtime?.stop();
    await this.csms.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Runs `seconds` of simulated time, one second at a time, each settled before the next. */
  async run(seconds: number): Promise<void> {
    for (let second = 0; second < seconds; second++) {
      if (--this.next <= 0) this.step();
      this.clock.advance(1000);
      await this.settled();
    }
  }

  /** The next step of the session plan: plug, card, and one to three minutes later unplug. */
  private step(): void {
    if (this.phase === 'idle') {
      this.sessions += 1;
      this.connectorId = this.connectorId === 1 ? 2 : 1;
      this.board.plug(this.connectorId);
      this.phase = 'plugged';
      this.next = 2;
    } else if (this.phase === 'plugged') {
      this.board.swipe(`WEEK-${this.sessions % 50}`);
      this.phase = 'charging';
      this.next = this.rng.int(60, 180);
    } else {
      this.board.unplug(this.connectorId);
      this.phase = 'idle';
      this.next = this.rng.int(60, 240);
    }
  }

  /** Lets real I/O run until the runtime has nothing in flight or queued (and `also` holds). */
  private async settled(also: () => boolean = () => true, what = 'the runtime to settle'): Promise<void> {
    const deadline = Date.now() + 10_000;
    // Always one turn of the event loop first: the RPC releases its next CALL on a setImmediate.
    do {
      await new Promise<void>((resolve) => setImmediate(resolve));
      // A queue that may not deliver yet (before the boot is accepted) waits on the fake clock, not on I/O.
      const delivered = this.runtime.outbox.size() === 0 || !this.runtime.outbox.resumed;
      if (this.callsOut === this.answersIn && delivered && also()) return;
    } while (Date.now() < deadline);
    throw new Error(`timed out waiting for ${what} at ${new Date(this.clock.now()).toISOString()}`);
  }

  measure(day: number): DaySample {
    gc();
    const file = join(this.dir, 'chargepoint.db');
    const db = new Database(file, { readonly: true });
    const pragma = (name: string) => Number(db.pragma(name, { simple: true }));
    const used = (pragma('page_count') - pragma('freelist_count')) * pragma('page_size');
    // dbstat names tables and indexes; sqlite_schema says which table an index belongs to.
    const history = db
      .prepare(
        `SELECT COALESCE(SUM(d.pgsize), 0) AS bytes FROM dbstat d
         JOIN sqlite_schema s ON s.name = d.name WHERE s.tbl_name = 'transactions'`,
      )
      .get() as { bytes: number };
    const rows = db.prepare('SELECT COUNT(*) AS n FROM transactions').get() as { n: number };
    db.close();
    const wal = statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0;
    const memory = process.memoryUsage();
    return {
      day,
      heapMiB: round(memory.heapUsed / 2 ** 20),
      rssMiB: round(memory.rss / 2 ** 20),
      dbUsedKiB: round(used / 1024),
      dbFileKiB: round(statSync(file).size / 1024),
      walKiB: round(wal / 1024),
      transactionsKiB: round(history.bytes / 1024),
      transactions: rows.n,
      sessions: this.sessions,
    };
  }
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
