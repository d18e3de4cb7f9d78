import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach } from 'vitest';
import { DEFAULT_SIM_SPEC, SimBoard, type SimBoardSpec } from '../../hal/sim/board.js';
import { systemClock } from '../../src/clock.js';
import { parseConfig, type RuntimeConfig } from '../../src/config/file.js';
import { createLogger, type Logger, logRingDirectory } from '../../src/log.js';
import { Runtime } from '../../src/runtime.js';
import type { MemoryReader } from '../../src/station/memory-watch.js';
import { type CsmsOptions, DevCsms } from '../csms/server.js';

export const CP_ID = 'CP-TEST-01';

/** A log line as the daemon wrote it. */
export type LogLine = { level: string; msg: string } & Record<string, unknown>;

/** Collects the runtime's structured log lines so tests can assert that a problem was logged. */
export class LogSink extends Writable {
  readonly lines: LogLine[] = [];

  private readonly waiters: Array<{ pred: (line: LogLine) => boolean; resolve: (line: LogLine) => void }> =
    [];

  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    for (const text of chunk.toString().split('\n')) {
      if (!text.trim()) continue;
      const line = JSON.parse(text) as LogLine;
      this.lines.push(line);
      for (const waiter of [...this.waiters]) {
        if (!waiter.pred(line)) continue;
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
    done();
  }

  /** Resolves with the first line (already written or coming) that matches. */
  waitFor(pred: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
    const found = this.lines.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('log line not seen in time')), timeoutMs);
      this.waiters.push({
        pred,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
    });
  }

  count(pred: (line: LogLine) => boolean): number {
    return this.lines.filter(pred).length;
  }

  find(pred: (line: LogLine) => boolean): LogLine | undefined {
    return this.lines.find(pred);
  }
}

export interface HarnessOptions {
  csms?: CsmsOptions;
  /** Extra provisioning-file fields, merged over the test defaults. */
  config?: (url: string) => Record<string, unknown>;
  ocpp?: Record<string, string | number | boolean>;
  stateDir?: string;
  /** Do not start the runtime (tests that start it themselves). */
  deferStart?: boolean;
  /** A simulated board other than the default two detachable-cable connectors. */
  board?: SimBoardSpec;
  /** Also write the log to the state directory's log ring, as the daemon does. */
  logRing?: boolean;
  /**
   * What the runtime's memory watch reads (a memory running short on demand). Default: plenty left,
   * so that a test host short of RAM does not add a MemoryExhaustion to tests that count events
   * (the real reader has its own unit test; daemon-process tests use it).
   */
  memory?: MemoryReader;
}

const PLENTY = { availableBytes: 1, totalBytes: 1 };
const plentyOfMemory: MemoryReader = () => ({ heap: PLENTY, system: PLENTY });

export class Harness {
  csms: DevCsms;
  readonly sink = new LogSink();
  readonly log: Logger;
  runtime!: Runtime;
  board!: SimBoard;
  config!: RuntimeConfig;
  url = '';

  private constructor(
    csms: DevCsms,
    readonly stateDir: string,
    private readonly opts: HarnessOptions,
  ) {
    this.csms = csms;
    this.log = createLogger({
      level: 'debug',
      destination: this.sink,
      ...(opts.logRing ? { ringDir: logRingDirectory(stateDir) } : {}),
    });
  }

  /** Replaces the central system with a fresh one on the same port (a central-system restart). */
  async restartCsms(options: CsmsOptions = this.opts.csms ?? {}): Promise<DevCsms> {
    const port = Number(new URL(this.url).port);
    await this.csms.stop();
    this.csms = new DevCsms({ ...options, port });
    await this.csms.start();
    return this.csms;
  }

  static async create(opts: HarnessOptions = {}): Promise<Harness> {
    const csms = new DevCsms(opts.csms);
    const stateDir = opts.stateDir ?? mkdtempSync(join(tmpdir(), 'cp-e2e-'));
    const harness = new Harness(csms, stateDir, opts);
    const { url } = await csms.start();
    harness.url = url;
    harness.config = harness.buildConfig();
    if (!opts.deferStart) await harness.startRuntime();
    return harness;
  }

  buildConfig(): RuntimeConfig {
    const extra = this.opts.config?.(this.url) ?? {};
    const base: Record<string, unknown> = {
      chargePointId: CP_ID,
      identity: { vendor: 'TestVendor', model: 'TestModel', chargePointSerialNumber: 'SN-TEST-01' },
      csms: {
        url: this.url,
        securityProfile: 0,
        callTimeoutSeconds: 5,
        bootRetrySeconds: 1,
        reconnect: { initialSeconds: 0.05, maxSeconds: 0.4 },
        ...((extra.csms as object | undefined) ?? {}),
      },
      stateDir: this.stateDir,
      board: 'sim',
      cli: { socket: join(this.stateDir, 'cpctl.sock') },
      ocpp: { HeartbeatInterval: 3600, WebSocketPingInterval: 0, ...(this.opts.ocpp ?? {}) },
    };
    const { csms: _csms, ...rest } = extra;
    return parseConfig({ ...base, ...rest }, this.stateDir);
  }

  /** Starts (or restarts, after a stop or reset) the charge point on the same state directory. */
  async startRuntime(): Promise<Runtime> {
    this.board = new SimBoard(this.opts.board ?? DEFAULT_SIM_SPEC, systemClock);
    this.runtime = await Runtime.start({
      config: this.config,
      log: this.log,
      board: this.board,
      memory: this.opts.memory ?? plentyOfMemory,
    });
    return this.runtime;
  }

  /** Waits for the charge point to be registered and to have reported every connector. */
  /** Waits for the next StatusNotification of `connectorId` with `status` after `since`. */
  async status(
    connectorId: number,
    status: string,
    since: number,
  ): Promise<{ errorCode: string; info?: string }> {
    const call = await this.csms.waitForCall(CP_ID, 'StatusNotification', {
      since,
      where: (p: { connectorId: number; status: string }) =>
        p.connectorId === connectorId && p.status === status,
    });
    return call.payload as { errorCode: string; info?: string };
  }

  async booted(since = 0): Promise<void> {
    await this.csms.waitForCall(CP_ID, 'BootNotification', { since });
    const connectors = [0, ...this.board.connectors.map((c) => c.id)];
    for (const connectorId of connectors) {
      await this.csms.waitForCall(CP_ID, 'StatusNotification', {
        since,
        where: (p: { connectorId: number }) => p.connectorId === connectorId,
      });
    }
  }

  async stop(): Promise<void> {
    await this.runtime?.stop();
    await this.csms.stop();
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

/**
 * One harness per test, stopped after it whatever the outcome: call in a describe block, then
 * `const h = await start({...})` inside each test.
 */
export function useHarness(): (opts?: HarnessOptions) => Promise<Harness> {
  let current: Harness | undefined;
  afterEach(async () => {
    await current?.stop();
    current = undefined;
  });
  return async (opts) => {
    current = await Harness.create(opts);
    return current;
  };
}
