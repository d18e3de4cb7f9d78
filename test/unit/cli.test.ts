import { execFile } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { readFileSync } from 'node:fs';
import { link, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_SIM_SPEC, SimBoard } from '../../hal/sim/board.js';
import { HARDWARE_FAULTS, type MeterReading } from '../../hal/types.js';
import { withStandardKeys } from '../../scripts/gen-cpctl-completion.js';
import {
  type AuthReport,
  type ConfigSetReport,
  type ControlApi,
  ControlError,
  type FirmwareInstallReport,
  type FirmwareReport,
  type LimitsReport,
  type QueueReport,
  type SecurityLogReport,
  type SelfTestSummary,
  type SimControls,
  type StatusReport,
  type TransactionsReport,
} from '../../src/cli/api.js';
import { request, stream } from '../../src/cli/client.js';
import {
  COMPLETION_SCRIPT,
  classifyFailure,
  DEFAULT_SOCKET,
  resolveSocketPath,
  runCpctl,
  USAGE,
} from '../../src/cli/commands.js';
import { type ControlDeps, RELAY_TEST_MS, RuntimeControl } from '../../src/cli/control-api.js';
import { FAULT_CODES, LineSplitter, MAX_REQUEST_BYTES } from '../../src/cli/protocol.js';
import { ControlServer, DaemonAlreadyRunningError } from '../../src/cli/server.js';
import { ConfigurationRegistry } from '../../src/config/registry.js';
import type { ResetType } from '../../src/features/context.js';
import { createLogger, formatLogLine, type LogLevel, silentLogger } from '../../src/log.js';
import type { DeadLetter, OutboxEntry } from '../../src/ocpp/outbox.js';
import { FrameTrace } from '../../src/ocpp/trace.js';
import { AuthCache } from '../../src/station/auth/cache.js';
import { LocalAuthList } from '../../src/station/auth/local-list.js';
import { ChargingLimit } from '../../src/station/charging-limit.js';
import { Station } from '../../src/station/station.js';
import { AuthCacheRepo } from '../../src/store/auth-cache-repo.js';
import { migrateTo, openStore, SCHEMA_VERSION, type Store } from '../../src/store/index.js';
import { LocalListRepo } from '../../src/store/local-list-repo.js';
import { TransactionsRepo } from '../../src/store/transactions-repo.js';
import { FIRMWARE_VERSION } from '../../src/version.js';
import { FakeClock } from '../support/fake-clock.js';

const AT = Date.UTC(2025, 0, 2, 3, 4, 5);

const STATUS: StatusReport = {
  version: '9.9.9',
  chargePointId: 'CP-TEST-1',
  board: 'sim',
  link: { state: 'open', securityProfile: 1 },
  registration: 'Accepted',
  connectors: [
    {
      id: 1,
      status: 'Available',
      errorCode: 'NoError',
      availability: 'Operative',
      plugged: false,
      pilot: 'A',
      // Idle: nothing offered (IEC 61851-1 B1), though a session would get 32 A.
      currentLimitA: 0,
      offerState: 'noSession',
      compositeLimitA: 32,
      limitSource: { kind: 'profile', profileId: 7, purpose: 'TxDefaultProfile' },
      limitPaused: false,
      localLimitA: 40,
      relay: { closed: false },
      meter: { at: AT, energyImportWh: 12345, powerW: 0 },
      faults: [],
    },
    {
      id: 2,
      status: 'Faulted',
      errorCode: 'PowerSwitchFailure',
      info: 'contact welded',
      availability: 'Inoperative',
      plugged: true,
      pilot: 'B',
      currentLimitA: 0,
      offerState: 'faulted',
      compositeLimitA: 0,
      limitSource: { kind: 'local' },
      limitPaused: true,
      relay: { closed: false, feedback: true },
      meter: { error: 'meter does not answer' },
      faults: [{ device: 'relay', fault: 'PowerSwitchFailure', info: 'feedback stuck closed' }],
    },
  ],
  readers: [
    { name: 'front', connectorIds: [1, 2], health: { ok: true }, lastRead: { idTag: 'CAFE01', at: AT } },
    { name: 'back', connectorIds: [2], health: { ok: false, fault: 'ReaderFailure', info: 'no device' } },
  ],
  faultInputs: [{ kind: 'emergencyStop', active: false }],
  store: { state: 'degraded', reason: 'SQLITE_FULL: database or disk is full', since: AT },
};

/** A day on connector 1 (230 V, three phases): a TxProfile, then the local limit, a share, the outlet. */
const LIMITS: LimitsReport = {
  connectorId: 1,
  start: AT,
  durationS: 86_400,
  voltageV: 230,
  phases: 3,
  periods: [
    {
      startPeriod: 0,
      limitA: 16,
      limitW: 11040,
      numberPhases: 3,
      minChargingRateA: 8,
      source: { kind: 'profile', profileId: 3, purpose: 'TxProfile' },
    },
    { startPeriod: 3600, limitA: 10, limitW: 6900, numberPhases: 3, source: { kind: 'local' } },
    { startPeriod: 5430, limitA: 12.5, limitW: 2875, numberPhases: 1, source: { kind: 'loadSharing' } },
    { startPeriod: 90_000, limitA: 32, limitW: 22080, numberPhases: 3, source: { kind: 'hardware' } },
  ],
  inEffect: {
    amps: 16,
    state: 'offered',
    limitA: 16,
    source: { kind: 'profile', profileId: 3, purpose: 'TxProfile' },
    paused: false,
  },
};

const READING: MeterReading = {
  at: AT,
  energyImportWh: 1500,
  powerW: 7360.4,
  currentA: [16, 16, 16],
  voltageV: [230, 231, 229.5],
  frequencyHz: 50,
};

const TRANSACTIONS: TransactionsReport = {
  running: [
    {
      localId: 7,
      connectorId: 1,
      idTag: 'VALID01',
      transactionId: 4711,
      meterStart: 1000,
      startedAt: '2025-01-02T03:04:05.000Z',
      lastMeter: 3500,
      lastMeterAt: '2025-01-02T04:04:05.000Z',
      energyWh: 2500,
    },
    {
      localId: 8,
      connectorId: 2,
      idTag: 'OFFLINE2',
      meterStart: 0,
      startedAt: '2025-01-02T03:30:00.000Z',
      lastMeter: 0,
      lastMeterAt: '2025-01-02T03:30:00.000Z',
      energyWh: 0,
    },
  ],
  recent: [
    {
      localId: 6,
      connectorId: 2,
      idTag: 'CARD06',
      transactionId: 4710,
      meterStart: 200,
      startedAt: '2025-01-01T10:00:00.000Z',
      lastMeter: 12_200,
      lastMeterAt: '2025-01-01T11:00:00.000Z',
      stopReason: 'EVDisconnected',
      meterStop: 12_345,
      stoppedAt: '2025-01-01T11:02:00.000Z',
      energyWh: 12_145,
    },
    {
      localId: 5,
      connectorId: 1,
      idTag: 'CARD05',
      meterStart: 0,
      startedAt: '2025-01-01T08:00:00.000Z',
      lastMeter: 700,
      lastMeterAt: '2025-01-01T08:10:00.000Z',
      stopReason: 'PowerLoss',
      meterStop: 700,
      stoppedAt: '2025-01-01T09:00:00.000Z',
      energyWh: 700,
    },
  ],
};

const SECURITY_LOG: SecurityLogReport = {
  total: 40,
  entries: [
    {
      id: 39,
      timestamp: '2025-01-02T00:00:00.000Z',
      type: 'StartupOfTheDevice',
      techInfo: 'firmware 1.0',
      critical: true,
    },
    { id: 40, timestamp: '2025-01-02T00:01:00.000Z', type: 'InvalidMessages', critical: false },
  ],
};

const QUEUE: QueueReport = {
  pending: [
    { seq: 41, action: 'StopTransaction', localTxId: 6, attempts: 2, nextAttemptAt: AT, createdAt: 'x' },
    { seq: 42, action: 'StartTransaction', localTxId: 8, attempts: 0, nextAttemptAt: 0, createdAt: 'y' },
  ],
  pendingTotal: 2,
  deadLetters: [
    {
      seq: 17,
      action: 'MeterValues',
      localTxId: 3,
      attempts: 3,
      createdAt: '2024-12-31T00:00:00.000Z',
      lastError: 'InternalError: database locked',
      failedAt: '2025-01-01T00:00:00.000Z',
    },
  ],
  deadLetterTotal: 1,
};

const AUTH: AuthReport = {
  localList: { enabled: true, version: 3, size: 1 },
  cache: { enabled: false, size: 12 },
};

/** Records every call; each method answers from `answers` or throws `failWith` when set. */
class FakeApi implements ControlApi {
  calls: Array<[string, ...unknown[]]> = [];
  failWith: Error | undefined;
  simulated = true;
  configSetAnswer: ConfigSetReport = { status: 'Accepted', value: '60' };
  /** When set, status() waits for it: lets a test hold one request open. */
  statusGate: Promise<void> | undefined;

  private record(name: string, ...args: unknown[]): void {
    this.calls.push([name, ...args]);
    if (this.failWith) throw this.failWith;
  }

  async status(): Promise<StatusReport> {
    this.record('status');
    await this.statusGate;
    return STATUS;
  }
  configGet(keys: string[]) {
    this.record('configGet', keys);
    const all = [
      { key: 'HeartbeatInterval', readonly: false, value: '300' },
      { key: 'NumberOfConnectors', readonly: true, value: '2' },
      { key: 'AuthorizationKey', readonly: false, writeOnly: true as const, set: true },
      { key: 'CpoName', readonly: false },
    ];
    return {
      configurationKey: keys.length === 0 ? all : all.filter((e) => keys.includes(e.key)),
      unknownKey: keys.filter((k) => !all.some((e) => e.key === k)),
    };
  }
  configSet(key: string, value: string) {
    this.record('configSet', key, value);
    return this.configSetAnswer;
  }
  async halMeterRead(connectorId: number): Promise<MeterReading> {
    this.record('halMeterRead', connectorId);
    return READING;
  }
  halLastRfid() {
    this.record('halLastRfid');
    return [{ reader: 'front', idTag: 'CAFE01', at: AT }, { reader: 'back' }];
  }
  async halRelay(connectorId: number, closed: boolean): Promise<void> {
    this.record('halRelay', connectorId, closed);
  }
  /** `cpctl selftest` is tested against the real daemon (test/e2e/selftest.test.ts). */
  async selfTest(connectorId?: number): Promise<SelfTestSummary> {
    this.record('selfTest', connectorId);
    return { passed: true, connectors: [] };
  }
  async setLocalLimit(connectorId: number, amps: number | undefined) {
    this.record('setLocalLimit', connectorId, amps);
    return { connectorId, ...(amps === undefined ? {} : { localLimitA: amps }) };
  }
  limitsAnswer = LIMITS;
  limits(connectorId: number, durationS: number): LimitsReport {
    this.record('limits', connectorId, durationS);
    return this.limitsAnswer;
  }
  transactionsAnswer = TRANSACTIONS;
  transactions(recent: number): TransactionsReport {
    this.record('transactions', recent);
    return this.transactionsAnswer;
  }
  queueAnswer = QUEUE;
  queue(): QueueReport {
    this.record('queue');
    return this.queueAnswer;
  }
  securityLogAnswer = SECURITY_LOG;
  securityLog(limit: number, clear: boolean): SecurityLogReport {
    this.record('securityLog', limit, clear);
    return clear ? { total: 1, entries: [SECURITY_LOG.entries.at(-1)!], cleared: 2 } : this.securityLogAnswer;
  }
  firmware(): FirmwareReport {
    this.record('firmware');
    return { status: 'Idle', busy: false, installHook: false, requireSigned: false };
  }
  firmwareInstall(file: string, signature?: string, certificate?: string): FirmwareInstallReport {
    this.record('firmwareInstall', file, signature, certificate);
    return { status: 'Accepted' };
  }
  queueRetry(): { requeued: number } {
    this.record('queueRetry');
    return { requeued: this.queueAnswer.deadLetterTotal };
  }
  auth(idTag?: string): AuthReport {
    this.record('auth', idTag);
    if (idTag === undefined) return AUTH;
    // Listed under its upper-case spelling, cached with an expiry and a parent.
    return {
      ...AUTH,
      lookup: {
        idTag,
        ...(idTag.toUpperCase() === 'LISTED' ? { localList: { status: 'Accepted' } } : {}),
        ...(idTag === 'CACHED'
          ? { cache: { status: 'Expired', expiryDate: '2025-01-01T00:00:00.000Z', parentIdTag: 'FLEET' } }
          : {}),
      },
    };
  }

  // Operator commands and the trace: see the tests at the end of this file.
  reconnect(): void {
    this.record('reconnect');
  }
  reset(type: ResetType): 'Accepted' {
    this.record('reset', type);
    return 'Accepted';
  }
  availabilityAnswer: ReturnType<ControlApi['availability']> = 'Accepted';
  availability(connectorId: number, type: 'Operative' | 'Inoperative') {
    this.record('availability', connectorId, type);
    return this.availabilityAnswer;
  }
  unlockAnswer: Awaited<ReturnType<ControlApi['unlock']>> = 'Unlocked';
  async unlock(connectorId: number) {
    this.record('unlock', connectorId);
    return this.unlockAnswer;
  }
  setLogLevel(level: LogLevel): string {
    this.record('setLogLevel', level);
    return 'info';
  }
  readonly traceLog = memoryTrace();
  traceWindow(limit: number, action?: string) {
    return this.traceLog.window(limit, action);
  }
  traceAfter(afterSeq: number, max: number, action?: string) {
    return this.traceLog.after(afterSeq, max, action);
  }
  onTraceEntry(listener: () => void) {
    this.traceLog.on('entry', listener);
    return () => this.traceLog.off('entry', listener);
  }
  readonly changes = new EventEmitter<{ change: [] }>();
  onChange(listener: () => void) {
    this.changes.on('change', listener);
    return () => this.changes.off('change', listener);
  }
  /** `cpctl diagnostics` is tested against the real daemon (test/e2e/diagnostics.test.ts). */
  async diagnosticsBundle(): Promise<{ path: string; fileName: string; bytes: number }> {
    this.record('diagnosticsBundle');
    throw new ControlError('no bundle in this test');
  }

  private readonly simControls: SimControls = {
    plug: (c) => this.record('sim.plug', c),
    unplug: (c) => this.record('sim.unplug', c),
    ev: (c, mode) => this.record('sim.ev', c, mode),
    swipe: (idTag, reader) => this.record('sim.swipe', idTag, reader),
    fault: (c, code) => this.record('sim.fault', c, code),
    clear: (c) => this.record('sim.clear', c),
    lockFail: (c, failing) => this.record('sim.lockFail', c, failing),
    tamper: (active) => this.record('sim.tamper', active),
    meter: (c, powerW) => this.record('sim.meter', c, powerW),
  };
  get sim(): SimControls | undefined {
    return this.simulated ? this.simControls : undefined;
  }
}

let dir: string;
let socketPath: string;
let api: FakeApi;
const servers: ControlServer[] = [];
const sockets: Socket[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cpctl-'));
  socketPath = join(dir, 'run', 'cpctl.sock');
  api = new FakeApi();
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await s.stop();
  await rm(dir, { recursive: true, force: true });
});

async function startServer(opts: { path?: string; log?: ReturnType<typeof silentLogger> } = {}) {
  const server = new ControlServer({
    path: opts.path ?? socketPath,
    api,
    log: opts.log ?? silentLogger(),
    version: '9.9.9',
  });
  servers.push(server);
  await server.start();
  return server;
}

async function cpctl(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCpctl(['--socket', socketPath, ...argv], {
    stdout: (s) => {
      stdout += s;
    },
    stderr: (s) => {
      stderr += s;
    },
    env: {},
  });
  return { code, stdout, stderr };
}

/** A bare socket session: write raw bytes, read answers line by line. */
async function rawSession(path = socketPath) {
  const socket = connect(path);
  sockets.push(socket);
  await once(socket, 'connect');
  const lines = createInterface({ input: socket })[Symbol.asyncIterator]();
  return {
    socket,
    send: (text: string) => socket.write(text),
    next: async () => {
      const { value, done } = await lines.next();
      if (done) throw new Error('connection closed');
      return JSON.parse(value as string) as { id: unknown; result?: unknown; error?: { message: string } };
    },
  };
}

/** Sends every line at once, then expects one error answer per line, in order, with its id and message. */
/** A logger whose lines land in `sink`. */
function capturingLogger() {
  const sink: string[] = [];
  const log = createLogger({
    destination: new Writable({
      write(chunk, _enc, done) {
        sink.push(String(chunk));
        done();
      },
    }),
  });
  return { sink, log };
}

async function expectRefusals(
  s: Awaited<ReturnType<typeof rawSession>>,
  cases: ReadonlyArray<readonly [line: string, id: unknown, message: string]>,
): Promise<void> {
  for (const [line] of cases) s.send(`${line}\n`);
  for (const [, id, message] of cases) {
    const answer = await s.next();
    expect(answer.id).toBe(id);
    expect(answer.error?.message).toContain(message);
  }
}

/** Lines of a table: the column of `header` starts where each row's value starts. */
function expectAligned(text: string, header: string, values: string[]) {
  const lines = text.split('\n');
  const headerLine = lines.find((l) => l.includes(header))!;
  const column = headerLine.indexOf(header);
  for (const value of values) {
    const row = lines.find((l) => l !== headerLine && l.includes(value))!;
    expect(row, `row with ${value}`).toBeDefined();
    expect(row.indexOf(value), `${value} under ${header}`).toBe(column);
  }
}

describe('ControlServer lifecycle', () => {
  it('creates the parent directory and listens with mode 0660', async () => {
    await startServer();
    expect((await stat(socketPath)).mode & 0o777).toBe(0o660);
    expect(await request(socketPath, 'version', {})).toEqual({ version: '9.9.9' });
  });

  it('replaces a stale socket left by a dead daemon', async () => {
    // A second name for a socket outlives its server: nobody listens on it any more.
    const first = await startServer();
    const stale = join(dir, 'stale.sock');
    await link(socketPath, stale);
    await first.stop();
    expect((await stat(stale)).isSocket()).toBe(true);

    await startServer({ path: stale });
    expect(await request(stale, 'version', {})).toEqual({ version: '9.9.9' });
  });

  it('refuses to start when another daemon answers on the path, and the first keeps serving', async () => {
    await startServer();
    const second = new ControlServer({ path: socketPath, api, log: silentLogger(), version: 'x' });
    const refused = second.start();
    await expect(refused).rejects.toBeInstanceOf(DaemonAlreadyRunningError);
    await expect(refused).rejects.toThrow(`another chargepointd is running on ${socketPath}`);
    expect(await request(socketPath, 'version', {})).toEqual({ version: '9.9.9' });
  });

  it('refuses to replace a file that is not a socket', async () => {
    await mkdir(join(dir, 'run'));
    await writeFile(socketPath, 'precious');
    const server = new ControlServer({ path: socketPath, api, log: silentLogger(), version: 'x' });
    await expect(server.start()).rejects.toThrow('is not a socket');
  });

  it('stop() closes connected clients and removes the socket', async () => {
    const server = await startServer();
    const session = await rawSession();
    const closed = once(session.socket, 'close');
    await server.stop();
    await closed;
    await expect(stat(socketPath)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('wire protocol', () => {
  it('answers garbage and bad params with an error naming the problem, and keeps serving', async () => {
    const { sink, log } = capturingLogger();
    await startServer({ log });
    const s = await rawSession();
    const cases: Array<[string, unknown, string]> = [
      ['not json at all', null, 'invalid JSON'],
      ['[1,2]', null, 'JSON object'],
      ['{"method":"status"}', null, '"id"'],
      ['{"id":1,"method":"reboot"}', 1, 'unknown method "reboot"'],
      ['{"id":2,"method":"sim.plug","params":{"connectorId":"1"}}', 2, '"connectorId" must be an integer'],
      ['{"id":3,"method":"sim.plug","params":{"connectorId":1.5}}', 3, '"connectorId" must be an integer'],
      [
        '{"id":4,"method":"sim.plug","params":{"connectorId":-1}}',
        4,
        '"connectorId" must be an integer >= 0',
      ],
      ['{"id":5,"method":"sim.plug","params":{}}', 5, 'missing parameter "connectorId"'],
      ['{"id":6,"method":"sim.plug","params":{"connectorId":1,"x":0}}', 6, 'unknown parameter "x"'],
      [
        '{"id":7,"method":"hal.relay","params":{"connectorId":1,"closed":"yes"}}',
        7,
        '"closed" must be true or false',
      ],
      [
        '{"id":8,"method":"sim.fault","params":{"connectorId":1,"errorCode":"NoError"}}',
        8,
        '"errorCode" must be one of',
      ],
      [
        '{"id":9,"method":"sim.ev","params":{"connectorId":1,"mode":"fast"}}',
        9,
        '"mode" must be one of charge, pause',
      ],
      ['{"id":10,"method":"config.get","params":{"keys":[1]}}', 10, '"keys" must be an array of strings'],
      [
        '{"id":11,"method":"sim.swipe","params":{"idTag":"123456789012345678901"}}',
        11,
        '"idTag" must be 1 to 20',
      ],
      [
        '{"id":12,"method":"sim.meter","params":{"connectorId":1,"powerW":-3}}',
        12,
        '"powerW" must be a number >= 0',
      ],
      ['{"id":13,"method":"status","params":[]}', 13, 'params must be an object'],
      [
        '{"id":14,"method":"sim.fault","params":{"connectorId":1,"errorCode":"LocalListConflict"}}',
        14,
        '"errorCode" must be one of',
      ],
      ['\u00ff\u0000\u0001', null, 'invalid JSON'],
    ];
    await expectRefusals(s, cases);
    expect(api.calls).toEqual([]);
    s.send('{"id":"last","method":"version"}\n');
    expect(await s.next()).toEqual({ id: 'last', result: { version: '9.9.9' } });
    expect(sink.filter((l) => l.includes('bad request'))).toHaveLength(cases.length);
  });

  it('logs a bad request by its method and parameter names, never their values (a secret sent by hand)', async () => {
    const { sink, log } = capturingLogger();
    await startServer({ log });
    const s = await rawSession();
    await expectRefusals(s, [
      [
        '{"id":1,"method":"config.set","params":{"key":"AuthorizationKey","value":"s3cr3t-by-hand","x":1}}',
        1,
        '',
      ],
    ]);
    const logged = sink.filter((l) => l.includes('bad request'));
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain('config.set(key,value,x)');
    expect(logged[0]).not.toContain('s3cr3t');
  });

  it('answers an oversized line with an error and closes only that connection', async () => {
    await startServer();
    const other = await rawSession();
    const s = await rawSession();
    const closed = once(s.socket, 'close');
    s.send('{"id":1,"method":"version"}\n');
    s.send(`{"id":2,"method":"status","pad":"${'x'.repeat(MAX_REQUEST_BYTES)}"}\n`);
    expect(await s.next()).toEqual({ id: 1, result: { version: '9.9.9' } });
    expect((await s.next()).error?.message).toContain(`exceeds ${MAX_REQUEST_BYTES} bytes`);
    await closed;

    other.send('{"id":3,"method":"version"}\n');
    expect(await other.next()).toEqual({ id: 3, result: { version: '9.9.9' } });
  });

  it('answers requests on one connection in order, even when the first is slow', async () => {
    await startServer();
    let release!: () => void;
    api.statusGate = new Promise((r) => {
      release = r;
    });
    const s = await rawSession();
    s.send('{"id":1,"method":"status"}\n{"id":2,"method":"version"}\n');
    const first = s.next();
    // The version request waits behind the status one; prove status has started before releasing.
    await expect.poll(() => api.calls.length).toBe(1);
    release();
    expect((await first).id).toBe(1);
    expect((await s.next()).id).toBe(2);
  });

  it('answers a burst of requests far beyond the per-connection backlog, all in order', async () => {
    await startServer();
    const s = await rawSession();
    // Enough bytes for several socket reads, so reading must pause and resume between them.
    const ids = Array.from({ length: 5000 }, (_, i) => i);
    s.send(ids.map((id) => `{"id":${id},"method":"version"}\n`).join(''));
    for (const id of ids) expect((await s.next()).id).toBe(id);
  });

  it('serves several clients at once: a held request does not block another client', async () => {
    await startServer();
    let release!: () => void;
    api.statusGate = new Promise((r) => {
      release = r;
    });
    const slow = request(socketPath, 'status', {});
    await expect.poll(() => api.calls.length).toBe(1);
    const others = await Promise.all(
      [1, 2, 3].map(() => request(socketPath, 'hal.meter', { connectorId: 1 })),
    );
    expect(others).toEqual([READING, READING, READING]);
    release();
    expect((await slow).chargePointId).toBe('CP-TEST-1');
  });

  it('still answers a client that half-closes right after its request (netcat style)', async () => {
    await startServer();
    let release!: () => void;
    api.statusGate = new Promise((r) => {
      release = r;
    });
    const s = await rawSession();
    const ended = once(s.socket, 'end');
    s.socket.end('{"id":1,"method":"status"}\n{"id":2,"method":"version"}\n');
    await expect.poll(() => api.calls.length).toBe(1);
    release();
    expect((await s.next()).id).toBe(1);
    expect(await s.next()).toEqual({ id: 2, result: { version: '9.9.9' } });
    // Once it has answered everything, the server ends its side too.
    await ended;
  });

  it('reports an unexpected exception as "internal error" and logs it', async () => {
    const { sink, log } = capturingLogger();
    await startServer({ log });
    api.failWith = new TypeError('boom');
    await expect(request(socketPath, 'hal.rfid', {})).rejects.toThrow(/^internal error$/);
    expect(sink.some((l) => l.includes('"level":"error"') && l.includes('boom'))).toBe(true);
  });

  it('splits lines on bytes, so a character cut between chunks survives', () => {
    const splitter = new LineSplitter(16);
    const bytes = Buffer.from('é€\n', 'utf8');
    expect(splitter.push(bytes.subarray(0, 3))).toEqual({ lines: [], overflow: false });
    expect(splitter.push(bytes.subarray(3))).toEqual({ lines: ['é€'], overflow: false });
    expect(splitter.push(Buffer.from('x'.repeat(17)))).toEqual({ lines: [], overflow: true });
  });
});

describe('cpctl commands', () => {
  beforeEach(async () => {
    await startServer();
  });

  it('status: header, one aligned row per connector, details and readers', async () => {
    const { code, stdout, stderr } = await cpctl('status');
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toMatch(/charge point\s+CP-TEST-1 \(board sim, firmware 9\.9\.9\)/);
    expect(stdout).toMatch(/link\s+open, security profile 1/);
    expect(stdout).toMatch(/registration\s+Accepted/);
    expectAligned(stdout, 'STATUS', ['Available', 'Faulted']);
    expectAligned(stdout, 'ERROR', ['NoError ', 'PowerSwitchFailure ']);
    expectAligned(stdout, 'AVAILABILITY', ['Operative ', 'Inoperative']);
    expectAligned(stdout, 'RELAY', ['open (feedback closed)']);
    expectAligned(stdout, 'METER', ['12.345 kWh']);
    expectAligned(stdout, 'LIMIT', [
      '0 A: no session; limit 32 A (TxDefaultProfile #7)',
      '0 A: faulted; limit 0 A (local limit), below the minimum',
    ]);
    expect(stdout).toContain('local limit: 40 A');
    expect(stdout).toContain('info: contact welded');
    expect(stdout).toContain('meter: meter does not answer');
    expect(stdout).toContain('fault: relay PowerSwitchFailure (feedback stuck closed)');
    expectAligned(stdout, 'HEALTH', ['ok ', 'ReaderFailure (no device)']);
    expect(stdout).toContain(`CAFE01 at ${new Date(AT).toISOString()}`);
    expect(stdout).toMatch(/emergencyStop\s+inactive/);
    expect(stdout).toMatch(
      new RegExp(
        `store\\s+degraded since ${new Date(AT).toISOString()}: SQLITE_FULL: database or disk is full`,
      ),
    );
    expect(api.calls).toEqual([['status']]);
  });

  it('status --json prints the raw report', async () => {
    const { code, stdout } = await cpctl('status', '--json');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual(STATUS);
  });

  it('config get: aligned key, value and access columns', async () => {
    const { code, stdout } = await cpctl('config', 'get');
    expect(code).toBe(0);
    expect(api.calls).toEqual([['configGet', []]]);
    expectAligned(stdout, 'VALUE', ['300', '2 ', '(set, not shown)', '(no value)']);
    expectAligned(stdout, 'ACCESS', ['read-write', 'read-only', 'write-only']);
  });

  it('config get with keys passes them and fails on an unknown one', async () => {
    const { code, stdout, stderr } = await cpctl('config', 'get', 'HeartbeatInterval', 'Nope');
    expect(api.calls).toEqual([['configGet', ['HeartbeatInterval', 'Nope']]]);
    expect(stdout).toContain('HeartbeatInterval');
    expect(stderr).toBe('cpctl: unknown configuration key: Nope\n');
    expect(code).toBe(1);
  });

  it('config get --json prints the raw answer', async () => {
    const { stdout } = await cpctl('config', 'get', 'NumberOfConnectors', '--json');
    expect(JSON.parse(stdout)).toEqual({
      configurationKey: [{ key: 'NumberOfConnectors', readonly: true, value: '2' }],
      unknownKey: [],
    });
  });

  it.each([
    [{ status: 'Accepted', value: '60' }, 0, 'HeartbeatInterval = 60: Accepted\n', ''],
    [
      { status: 'RebootRequired', value: '60' },
      0,
      'HeartbeatInterval = 60: RebootRequired (applies after a restart)\n',
      '',
    ],
    // A write-only key's value does not come back, and is not shown.
    [{ status: 'Accepted' }, 0, 'HeartbeatInterval: Accepted\n', ''],
    [
      { status: 'Rejected', reason: 'must be between 1 and 604800' },
      1,
      '',
      'cpctl: HeartbeatInterval: Rejected (must be between 1 and 604800)\n',
    ],
    [
      { status: 'NotSupported', reason: 'not a configuration key' },
      1,
      '',
      'cpctl: HeartbeatInterval: NotSupported (not a configuration key)\n',
    ],
    [{ status: 'Rejected' }, 1, '', 'cpctl: HeartbeatInterval: Rejected\n'],
  ] as const)('config set answered %j exits %i', async (answer, exitCode, out, err) => {
    api.configSetAnswer = answer;
    const { code, stdout, stderr } = await cpctl('config', 'set', 'HeartbeatInterval', '60');
    expect(api.calls).toEqual([['configSet', 'HeartbeatInterval', '60']]);
    expect({ code, stdout, stderr }).toEqual({ code: exitCode, stdout: out, stderr: err });
    // --json prints the bare status, as it always has; the reason is on stderr.
    const json = await cpctl('config', 'set', 'HeartbeatInterval', '60', '--json');
    expect(JSON.parse(json.stdout)).toBe(answer.status);
    expect({ code: json.code, stderr: json.stderr }).toEqual({ code: exitCode, stderr: err });
  });

  it('hal meter: reading as aligned key/value lines', async () => {
    const { code, stdout } = await cpctl('hal', 'meter', '2');
    expect(code).toBe(0);
    expect(api.calls).toEqual([['halMeterRead', 2]]);
    expect(stdout).toMatch(/energy import\s+1\.500 kWh/);
    expect(stdout).toMatch(/power\s+7360 W/);
    expect(stdout).toMatch(/voltage\s+230\.0 V \/ 231\.0 V \/ 229\.5 V/);
    expectAligned(stdout, '1.500 kWh', ['7360 W', '50 Hz']);
    expect(JSON.parse((await cpctl('hal', 'meter', '2', '--json')).stdout)).toEqual(READING);
  });

  it('hal rfid: last card per reader', async () => {
    const { code, stdout } = await cpctl('hal', 'rfid');
    expect(code).toBe(0);
    const [header, front, back] = stdout.trimEnd().split('\n');
    expect(front!.indexOf('CAFE01')).toBe(header!.indexOf('LAST CARD'));
    expect(back).toMatch(/^back +- +-$/);
    expect(back!.indexOf('-')).toBe(header!.indexOf('LAST CARD'));
    expect(stdout).toContain(new Date(AT).toISOString());
  });

  it.each([
    ['close', true],
    ['open', false],
  ])('hal relay 1 %s', async (word, closed) => {
    const { code, stdout } = await cpctl('hal', 'relay', '1', word);
    expect(code).toBe(0);
    expect(api.calls).toEqual([['halRelay', 1, closed]]);
    expect(stdout).toBe(`connector 1: relay ${closed ? 'closed' : 'open'}\n`);
  });

  it.each([
    [['10'], 10, 'connector 1: local limit 10 A'],
    [['7.5'], 7.5, 'connector 1: local limit 7.5 A'],
    [['0'], 0, 'connector 1: local limit 0 A'],
    [['none'], undefined, 'connector 1: no local limit'],
  ])('limit 1 %j sets the local limit', async (args, amps, out) => {
    const { code, stdout } = await cpctl('limit', '1', ...args);
    expect(code).toBe(0);
    expect(api.calls).toEqual([['setLocalLimit', 1, amps]]);
    expect(stdout).toBe(`${out}\n`);
  });

  it.each([
    [['sim', 'plug', '1'], ['sim.plug', 1], 'connector 1: cable plugged in'],
    [['sim', 'unplug', '2'], ['sim.unplug', 2], 'connector 2: cable unplugged'],
    [['sim', 'ev', '1', 'charge'], ['sim.ev', 1, 'charge'], 'EV asks for energy'],
    [['sim', 'ev', '1', 'pause'], ['sim.ev', 1, 'pause'], 'EV pauses'],
    [['sim', 'swipe', 'CAFE01'], ['sim.swipe', 'CAFE01', undefined], 'card CAFE01 presented'],
    [['sim', 'swipe', 'CAFE01', '--reader', '2'], ['sim.swipe', 'CAFE01', 2], 'presented on reader 2'],
    [['sim', 'fault', '1', 'GroundFailure'], ['sim.fault', 1, 'GroundFailure'], 'GroundFailure raised'],
    [['sim', 'clear', '1'], ['sim.clear', 1], 'faults cleared'],
    [['sim', 'lock-fail', '1', 'on'], ['sim.lockFail', 1, true], 'lock fails'],
    [['sim', 'lock-fail', '1', 'off'], ['sim.lockFail', 1, false], 'lock works again'],
    [['sim', 'tamper', 'on'], ['sim.tamper', true], 'tamper input active'],
    [['sim', 'tamper', 'off'], ['sim.tamper', false], 'tamper input cleared'],
    [['sim', 'meter', '1', '--power', '7400'], ['sim.meter', 1, 7400], 'EV draws 7400 W'],
  ])('%j', async (argv, call, text) => {
    const { code, stdout, stderr } = await cpctl(...argv);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(api.calls).toEqual([call]);
    expect(stdout).toContain(text);
    const json = await cpctl(...argv, '--json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toBeNull();
  });

  it('limits: the schedule from now, each period from now and on the local clock, in A and W, and its source', async () => {
    const zone = process.env.TZ;
    process.env.TZ = 'Europe/Berlin';
    try {
      const { code, stdout, stderr } = await cpctl('limits', '1');
      expect(stderr).toBe('');
      expect(code).toBe(0);
      expect(api.calls).toEqual([['limits', 1, 86_400]]);
      const [title, now, blank, header, ...rows] = stdout.trimEnd().split('\n');
      expect(title).toBe(
        'connector 1: composite schedule for 24:00:00 from 2025-01-02 04:04:05 +01:00 (230 V, 3 phases)',
      );
      expect(now).toBe('in effect now: 16 A (TxProfile #3)');
      expect(blank).toBe('');
      expect(header?.split(/ {2,}/)).toEqual(['START', 'AT', 'LIMIT', 'POWER', 'PHASES', 'FROM']);
      expect(rows.map((row) => row.split(/ {2,}/))).toEqual([
        [
          '+0:00:00',
          '2025-01-02 04:04:05 +01:00',
          '16.0 A',
          '11040 W',
          '3',
          'TxProfile #3 (minChargingRate 8 A)',
        ],
        ['+1:00:00', '2025-01-02 05:04:05 +01:00', '10.0 A', '6900 W', '3', 'local limit'],
        ['+1:30:30', '2025-01-02 05:34:35 +01:00', '12.5 A', '2875 W', '1', 'load sharing'],
        ['+25:00:00', '2025-01-03 05:04:05 +01:00', '32.0 A', '22080 W', '3', 'hardware'],
      ]);
      expectAligned(stdout, 'FROM', ['TxProfile #3 (', 'local limit', 'load sharing', 'hardware']);
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });

  it('limits 0 --duration: the charge point for that span; a connector offering nothing says why; --json prints the raw report', async () => {
    api.limitsAnswer = {
      ...LIMITS,
      connectorId: 0,
      durationS: 3600,
      phases: 1,
      periods: [{ startPeriod: 0, limitA: 64, limitW: 14720, numberPhases: 1, source: { kind: 'hardware' } }],
    };
    const { inEffect: _none, ...chargePoint } = api.limitsAnswer;
    api.limitsAnswer = chargePoint;
    const whole = await cpctl('limits', '0', '--duration', '3600');
    expect(whole.code).toBe(0);
    expect(api.calls).toEqual([['limits', 0, 3600]]);
    expect(whole.stdout).toMatch(
      /^charge point: composite schedule for 1:00:00 from .* \(230 V, 1 phase\)\n\nSTART /,
    );
    expect(JSON.parse((await cpctl('limits', '0', '--duration', '3600', '--json')).stdout)).toEqual(
      chargePoint,
    );

    api.limitsAnswer = {
      ...LIMITS,
      inEffect: { amps: 0, state: 'belowMinimum', limitA: 5, source: { kind: 'local' }, paused: true },
    };
    expect((await cpctl('limits', '2')).stdout).toContain(
      'in effect now: 0 A: paused; limit 5 A (local limit), below the minimum\n',
    );
    api.limitsAnswer = {
      ...LIMITS,
      inEffect: { ...LIMITS.inEffect!, amps: 0, state: 'energyWithheld' },
    };
    expect((await cpctl('limits', '1')).stdout).toContain(
      'in effect now: 0 A: energy withheld (id refused); limit 16 A (TxProfile #3)\n',
    );
  });

  it('version prints both versions, and only cpctl when the daemon is down', async () => {
    expect((await cpctl('version')).stdout).toBe(`cpctl ${FIRMWARE_VERSION}\nchargepointd 9.9.9\n`);
    expect(JSON.parse((await cpctl('version', '--json')).stdout)).toEqual({
      cpctl: FIRMWARE_VERSION,
      chargepointd: '9.9.9',
    });
    socketPath = join(dir, 'absent.sock');
    const down = await cpctl('version');
    expect(down.code).toBe(0);
    expect(down.stdout).toContain('chargepointd (not running)');
  });

  it('help prints the usage with every command', async () => {
    const { code, stdout } = await cpctl('help');
    expect(code).toBe(0);
    for (const c of [
      'status',
      'config set <key> <value>',
      'sim lock-fail <connector> on|off',
      '--power <W>',
    ]) {
      expect(stdout).toContain(c);
    }
  });

  it('each command has its own help: --help, -h and help <command> print the same', async () => {
    const help = await cpctl('sim', 'meter', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout.split('\n').slice(0, 5)).toEqual([
      'usage: cpctl sim meter <connector> --power <W>',
      'what the EV draws while charging',
      '',
      'options:',
      expect.stringMatching(/^ {2}--power <W> +watts the EV draws$/),
    ]);
    expect((await cpctl('sim', 'meter', '1', '-h')).stdout).toBe(help.stdout);
    expect((await cpctl('help', 'sim', 'meter')).stdout).toBe(help.stdout);
    // A command that is also the head of others names them.
    expect((await cpctl('queue', '--help')).stdout).toMatch(
      /commands:\n {2}queue retry +put the dead letters back/,
    );
    expect(api.calls).toEqual([]);
  });

  it.each([
    [[], 'no command given'],
    [['reboot'], 'unknown command "reboot"'],
    [['sim', 'explode', '1'], 'unknown command "sim explode"'],
    [['sim'], 'sim needs one of: plug, unplug'],
    [['sim', 'plug', 'x'], 'connector must be a number, got "x"'],
    [['sim', 'plug', '1.5'], 'connector must be a number'],
    [['sim', 'plug'], 'usage: cpctl sim plug <connector>'],
    [['sim', 'plug', '1', '2'], 'usage: cpctl sim plug <connector>'],
    [['config', 'set', 'HeartbeatInterval'], 'usage: cpctl config set <key> <value>'],
    [['hal', 'relay', '1', 'shut'], 'expected close or open, got "shut"'],
    [
      ['sim', 'fault', '1', 'Meltdown'],
      '"Meltdown" is not a hardware fault code; one of: ConnectorLockFailure',
    ],
    [['sim', 'fault', '1', 'NoError'], '"NoError" is not a hardware fault code'],
    [['sim', 'fault', '1', 'LocalListConflict'], '"LocalListConflict" is not a hardware fault code'],
    [['sim', 'meter', '1'], 'sim meter needs --power <W>'],
    [['sim', 'meter', '1', '--power', 'lots'], '--power must be a number of watts >= 0, got "lots"'],
    [['sim', 'swipe', 'A', '--reader', 'front'], '--reader must be a number, got "front"'],
    [['sim', 'swipe', '123456789012345678901'], '"idTag" must be 1 to 20 characters'],
    [['sim', 'plug', '1', '--power', '3'], '--power does not apply to sim plug'],
    [['status', '--verbose'], "Unknown option '--verbose'"],
    [['version', 'now'], 'usage: cpctl version'],
    [['limit', '1', 'lots'], 'amps must be a number or none, got "lots"'],
    [['limit', '1', '1e3'], 'amps must be a number or none, got "1e3"'],
    [['limits'], 'usage: cpctl limits <connector> [--duration <s>]'],
    [['limits', '1', '--duration', 'day'], '--duration must be a number, got "day"'],
    [['limits', '1', '--duration', '0'], '"durationS" must be an integer from 1 to 604800'],
    [['limits', '1', '--duration', '604801'], '"durationS" must be an integer from 1 to 604800'],
    [['status', '--duration', '60'], '--duration does not apply to status'],
  ])('usage error %j exits 64 with one line', async (argv, message) => {
    const { code, stdout, stderr } = await cpctl(...argv);
    expect(code).toBe(64);
    expect(stdout).toBe('');
    expect(stderr.split('\n')).toHaveLength(2);
    expect(stderr).toMatch(/^cpctl: /);
    expect(stderr).toContain(message);
    expect(api.calls).toEqual([]);
  });

  it('a ControlError from the daemon: its message, exit 1', async () => {
    api.failWith = new ControlError('connector 3 does not exist');
    const { code, stderr } = await cpctl('sim', 'plug', '3');
    expect(code).toBe(1);
    expect(stderr).toBe('cpctl: connector 3 does not exist\n');
  });

  it('sim commands on a real board: "not a simulated board", exit 1', async () => {
    api.simulated = false;
    const { code, stderr } = await cpctl('sim', 'clear', '1');
    expect(code).toBe(1);
    expect(stderr).toBe('cpctl: not a simulated board\n');
  });
});

describe('cpctl without a daemon', () => {
  it('exits 69 with a clear message when there is no socket', async () => {
    socketPath = join(dir, 'nothing-here.sock');
    const { code, stdout, stderr } = await cpctl('status');
    expect(code).toBe(69);
    expect(stdout).toBe('');
    expect(stderr).toBe(`cpctl: chargepointd is not running (no control socket at ${socketPath})\n`);
  });

  it('exits 69 on a stale socket nobody listens on', async () => {
    const server = await startServer();
    const stale = join(dir, 'stale.sock');
    await link(socketPath, stale);
    await server.stop();
    socketPath = stale;
    const { code, stderr } = await cpctl('sim', 'plug', '1');
    expect(code).toBe(69);
    expect(stderr).toContain('chargepointd is not running');
  });

  it('finds the socket from CPCTL_SOCKET, else the default path', async () => {
    await startServer();
    let out = '';
    const code = await runCpctl(['version'], {
      stdout: (s) => {
        out += s;
      },
      stderr: () => {},
      env: { CPCTL_SOCKET: socketPath },
    });
    expect(code).toBe(0);
    expect(out).toContain('chargepointd 9.9.9');
    expect(resolveSocketPath(undefined, {})).toBe(DEFAULT_SOCKET);
    expect(resolveSocketPath('/x.sock', { CPCTL_SOCKET: '/y.sock' })).toBe('/x.sock');
  });

  it('exits 76 when something else answers on the socket with nonsense', async () => {
    await mkdir(join(dir, 'run'));
    const impostor = createServer((socket) => socket.end('hello\n'));
    await new Promise<void>((resolve) => impostor.listen(socketPath, resolve));
    try {
      const { code, stderr } = await cpctl('status');
      expect(code).toBe(76);
      expect(stderr).toBe('cpctl: the daemon sent an answer that is not JSON\n');
    } finally {
      impostor.close();
    }
  });

  it('gives up on a daemon that does not answer', async () => {
    await startServer();
    api.statusGate = new Promise(() => {});
    const err = await request(socketPath, 'status', {}, { timeoutMs: 50 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ETIMEDOUT' });
    expect(classifyFailure(err, socketPath)).toEqual({
      code: 75,
      message: `no answer from chargepointd on ${socketPath}`,
    });
  });

  it('a failure without an errno code is a bug of cpctl: exit 70, one line', () => {
    expect(
      classifyFailure(new TypeError("Cannot read properties of null (reading 'x')"), socketPath),
    ).toEqual({
      code: 70,
      message: "internal error: TypeError: Cannot read properties of null (reading 'x')",
    });
  });

  it('says so on a permission problem, exit 77', () => {
    // Tests run as root, where a socket's mode cannot refuse us: check the mapping itself.
    const err = Object.assign(new Error('connect EACCES'), { code: 'EACCES' });
    const failure = classifyFailure(err, '/run/chargepoint/cpctl.sock');
    expect(failure.code).toBe(77);
    expect(failure.message).toContain('permission denied on the control socket /run/chargepoint/cpctl.sock');
  });
});

it('offers exactly the hardware fault codes the simulated board accepts', () => {
  expect(FAULT_CODES).toEqual(HARDWARE_FAULTS);
  for (const runtimeOnly of ['NoError', 'LocalListConflict', 'ResetFailure'])
    expect(FAULT_CODES).not.toContain(runtimeOnly);
});

describe('cpctl security-log', () => {
  beforeEach(async () => {
    await startServer();
  });

  it('lists the newest entries, oldest first, aligned; --limit asks for that many', async () => {
    const { code, stdout } = await cpctl('security-log');
    expect(code).toBe(0);
    expect(api.calls).toEqual([['securityLog', 20, false]]);
    expect(stdout.split('\n')).toEqual([
      'security log: 40 entries (the newest 2 shown)',
      'ID  TIME                      TYPE                CRITICAL  TECH INFO',
      '39  2025-01-02T00:00:00.000Z  StartupOfTheDevice  yes       firmware 1.0',
      '40  2025-01-02T00:01:00.000Z  InvalidMessages     no        -',
      '',
    ]);
    await cpctl('security-log', '--limit', '5');
    expect(api.calls.at(-1)).toEqual(['securityLog', 5, false]);
  });

  it('--json prints the report; --clear clears and says how many went', async () => {
    const json = await cpctl('security-log', '--json');
    expect(JSON.parse(json.stdout)).toEqual(SECURITY_LOG);
    const cleared = await cpctl('security-log', '--clear');
    expect(cleared.code).toBe(0);
    expect(api.calls.at(-1)).toEqual(['securityLog', 20, true]);
    expect(cleared.stdout.split('\n')[0]).toBe('security log cleared: 2 entries removed');
    api.securityLogAnswer = { total: 0, entries: [] };
    expect((await cpctl('security-log')).stdout).toBe('security log: empty\n');
  });

  it.each([
    [['security-log', 'now'], 'usage: cpctl security-log [--limit <n>]'],
    [['security-log', '--limit', '10001'], '"limit" must be an integer from 0 to 10000'],
    [['status', '--clear'], '--clear does not apply to status'],
  ])('usage error %j exits 64 and asks nothing', async (argv, message) => {
    const { code, stderr } = await cpctl(...argv);
    expect(code).toBe(64);
    expect(stderr).toContain(message);
    expect(api.calls).toEqual([]);
  });
});

/** The table under the line `caption` (up to the next blank line). */
function section(text: string, caption: string): string {
  const block = text.split('\n\n').find((b) => b.startsWith(caption));
  expect(block, `section "${caption}"`).toBeDefined();
  return block as string;
}

describe('cpctl transactions, queue and auth', () => {
  beforeEach(async () => {
    await startServer();
  });

  it('transactions: running ones with "pending" for an unconfirmed id, then the finished ones, aligned', async () => {
    const { code, stdout, stderr } = await cpctl('transactions');
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(api.calls).toEqual([['transactions', 10]]);
    const running = section(stdout, 'running transactions');
    expectAligned(running, 'TRANSACTION', ['4711', 'pending']);
    expectAligned(running, 'ID TAG', ['VALID01', 'OFFLINE2']);
    expectAligned(running, 'METER START', ['1.000 kWh', '0.000 kWh  ']);
    expectAligned(running, 'LAST METER', ['3.500 kWh']);
    expectAligned(running, 'READ AT', ['2025-01-02T04:04:05.000Z']);
    expectAligned(running, 'ENERGY', ['2.500 kWh']);
    const finished = section(stdout, 'finished transactions, newest first (at most 10)');
    expectAligned(finished, 'TRANSACTION', ['4710', 'pending']);
    expectAligned(finished, 'STOPPED', ['2025-01-01T11:02:00.000Z', '2025-01-01T09:00:00.000Z']);
    expectAligned(finished, 'REASON', ['EVDisconnected', 'PowerLoss']);
    expectAligned(finished, 'METER STOP', ['12.345 kWh', '0.700 kWh  ']);
    expectAligned(finished, 'ENERGY', ['12.145 kWh']);
  });

  it('transactions --limit N asks for N finished ones; --json prints the raw report', async () => {
    const { code, stdout } = await cpctl('transactions', '--limit', '3', '--json');
    expect(code).toBe(0);
    expect(api.calls).toEqual([['transactions', 3]]);
    expect(JSON.parse(stdout)).toEqual(TRANSACTIONS);
    expect((await cpctl('transactions', '--limit', '3')).stdout).toContain('(at most 3)');
  });

  it('transactions says so when there is none; --limit 0 leaves the finished ones out', async () => {
    api.transactionsAnswer = { running: [], recent: [] };
    expect((await cpctl('transactions')).stdout).toBe('no transaction running\n\nno finished transaction\n');
    expect((await cpctl('transactions', '--limit', '0')).stdout).toBe('no transaction running\n');
    expect(api.calls).toEqual([
      ['transactions', 10],
      ['transactions', 0],
    ]);
  });

  it('queue: pending messages in delivery order and the dead letters with their last error', async () => {
    const { code, stdout } = await cpctl('queue');
    expect(code).toBe(0);
    expect(api.calls).toEqual([['queue']]);
    const pending = section(stdout, 'pending messages: 2\n');
    expectAligned(pending, 'ACTION', ['StopTransaction', 'StartTransaction']);
    expectAligned(pending, 'LOCAL TX', ['6 ', '8 ']);
    expectAligned(pending, 'NEXT ATTEMPT', [new Date(AT).toISOString(), 'no wait']);
    expect(pending.indexOf('41')).toBeLessThan(pending.indexOf('42'));
    const dead = section(stdout, 'dead letters: 1\n');
    expectAligned(dead, 'ACTION', ['MeterValues']);
    expectAligned(dead, 'FAILED AT', ['2025-01-01T00:00:00.000Z']);
    expectAligned(dead, 'LAST ERROR', ['InternalError: database locked']);
    expect(JSON.parse((await cpctl('queue', '--json')).stdout)).toEqual(QUEUE);
  });

  it('queue retry: asks the daemon to put the dead letters back and says how many went', async () => {
    const { code, stdout } = await cpctl('queue', 'retry');
    expect(code).toBe(0);
    expect(api.calls).toEqual([['queueRetry']]);
    expect(stdout).toBe('1 dead letter queued again\n');
    expect(JSON.parse((await cpctl('queue', 'retry', '--json')).stdout)).toEqual({ requeued: 1 });
    expect((await cpctl('queue', 'retry', 'now')).code).toBe(64);
  });

  it('queue: "none" for an empty list, and says when a list is cut short', async () => {
    api.queueAnswer = { pending: [], pendingTotal: 0, deadLetters: [], deadLetterTotal: 0 };
    expect((await cpctl('queue')).stdout).toBe('pending messages: none\n\ndead letters: none\n');
    api.queueAnswer = { ...QUEUE, pendingTotal: 900, deadLetterTotal: 600 };
    const { stdout } = await cpctl('queue');
    expect(stdout).toContain('pending messages: 900 (the first 2 shown)\n');
    expect(stdout).toContain('dead letters: 600 (the newest 1 shown)\n');
  });

  it('auth without an id: list version and sizes, and a source that is switched off', async () => {
    const { code, stdout } = await cpctl('auth');
    expect(code).toBe(0);
    expect(api.calls).toEqual([['auth', undefined]]);
    expect(stdout).toBe(
      'local list  version 3, 1 entry\ncache       12 entries (not used: AuthorizationCacheEnabled is false)\n',
    );
    expect(JSON.parse((await cpctl('auth', '--json')).stdout)).toEqual(AUTH);
  });

  it('auth <idTag>: what the list and the cache each say, aligned', async () => {
    const listed = await cpctl('auth', 'listed');
    expect(listed.code).toBe(0);
    const rows = section(listed.stdout, 'ID TAG');
    expectAligned(rows, 'STATUS', ['Accepted', 'not known']);
    expect(rows).toMatch(/^listed {2}local list {2}Accepted +- +-$/m);
    expect(rows).toMatch(/^listed {2}cache {7}not known$/m);
    const cached = await cpctl('auth', 'CACHED');
    expectAligned(section(cached.stdout, 'ID TAG'), 'EXPIRY', ['2025-01-01T00:00:00.000Z']);
    expectAligned(section(cached.stdout, 'ID TAG'), 'PARENT', ['FLEET']);
    expect(api.calls).toEqual([
      ['auth', 'listed'],
      ['auth', 'CACHED'],
    ]);
    expect(JSON.parse((await cpctl('auth', 'CACHED', '--json')).stdout).lookup).toEqual({
      idTag: 'CACHED',
      cache: { status: 'Expired', expiryDate: '2025-01-01T00:00:00.000Z', parentIdTag: 'FLEET' },
    });
  });

  it('help lists the three commands', async () => {
    const { stdout } = await cpctl('help');
    for (const c of ['transactions [--limit <n>]', 'queue ', 'auth [idTag]']) expect(stdout).toContain(c);
  });

  it.each([
    [['transactions', '--limit', 'x'], '--limit must be a number, got "x"'],
    [['transactions', '--limit', '1001'], '"limit" must be an integer from 0 to 1000'],
    [['transactions', 'all'], 'usage: cpctl transactions [--limit <n>]'],
    [['queue', '--limit', '3'], '--limit does not apply to queue'],
    [['queue', 'now'], 'usage: cpctl queue'],
    [['auth', 'A', 'B'], 'usage: cpctl auth [idTag]'],
    [['auth', '123456789012345678901'], '"idTag" must be 1 to 20 characters'],
    [['status', '--limit', '1'], '--limit does not apply to status'],
  ])('usage error %j exits 64', async (argv, message) => {
    const { code, stdout, stderr } = await cpctl(...argv);
    expect(code).toBe(64);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^cpctl: [^\n]+\n$/);
    expect(stderr).toContain(message);
    expect(api.calls).toEqual([]);
  });

  it('the socket checks their params too, and applies the default limit', async () => {
    const s = await rawSession();
    const cases: Array<[string, string]> = [
      ['{"id":1,"method":"transactions","params":{"limit":-1}}', '"limit" must be an integer from 0 to 1000'],
      ['{"id":2,"method":"transactions","params":{"limit":2.5}}', '"limit" must be an integer'],
      ['{"id":3,"method":"transactions","params":{"limit":"5"}}', '"limit" must be an integer'],
      ['{"id":4,"method":"transactions","params":{"recent":5}}', 'unknown parameter "recent"'],
      ['{"id":5,"method":"queue","params":{"all":true}}', 'unknown parameter "all"'],
      ['{"id":6,"method":"auth","params":{"idTag":""}}', '"idTag" must be 1 to 20 characters'],
      ['{"id":7,"method":"auth","params":{"idTag":7}}', '"idTag" must be 1 to 20 characters'],
    ];
    await expectRefusals(
      s,
      cases.map(([line, message], i) => [line, i + 1, message] as const),
    );
    expect(api.calls).toEqual([]);
    s.send('{"id":8,"method":"transactions"}\n');
    expect(await s.next()).toEqual({ id: 8, result: TRANSACTIONS });
    expect(api.calls).toEqual([['transactions', 10]]);
  });
});

/** A RuntimeControl with only `deps`: every other dependency is one the test must not reach. */
function runtimeControl(deps: Partial<ControlDeps>): RuntimeControl {
  const unused = undefined as never;
  return new RuntimeControl({
    chargePointId: 'CP-TEST-1',
    board: unused,
    station: unused,
    link: unused,
    registration: unused,
    authorizations: unused,
    startedAtMonotonic: 0,
    changes: unused,
    log: silentLogger(),
    config: unused,
    transactionLog: unused,
    outbox: unused,
    localList: unused,
    securityEvents: unused,
    authCache: unused,
    transactions: unused,
    limit: unused,
    chargingProfiles: unused,
    time: unused,
    requestReset: unused,
    trace: unused,
    clock: unused,
    store: unused,
    diagnosticsBundle: unused,
    firmware: unused,
    installHook: false,
    ...deps,
  });
}

describe('RuntimeControl: transactions, queue and auth from the store', () => {
  const T0 = Date.parse('2025-01-02T00:00:00.000Z');
  const iso = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString();
  const noOutbox: ControlDeps['outbox'] = {
    firstPending: () => [],
    size: () => 0,
    newestDeadLetters: () => [],
    deadLetterCount: () => 0,
    retryDeadLetters: () => 0,
  };
  let store: Store;

  beforeEach(() => {
    store = openStore({ dir, log: silentLogger() });
  });
  afterEach(() => store.close());

  function control(deps: Partial<ControlDeps> = {}): RuntimeControl {
    return runtimeControl({
      config: registry(),
      transactionLog: new TransactionsRepo(store.db),
      outbox: noOutbox,
      localList: new LocalAuthList(new LocalListRepo(store.db)),
      authCache: new AuthCache({ repo: new AuthCacheRepo(store.db), time: { nowMs: () => T0 } }),
      ...deps,
    });
  }

  function registry(initial: Record<string, boolean> = {}): ConfigurationRegistry {
    return new ConfigurationRegistry({
      store: store.config,
      initial,
      capabilities: new Set(['localAuthList', 'authCache']),
      fixed: { NumberOfConnectors: '2', SupportedFeatureProfiles: 'Core,LocalAuthListManagement' },
      log: silentLogger(),
    });
  }

  it('config: a refusal comes with its reason, a write-only key never with its value; the listing is sorted', () => {
    const api = control();
    expect(api.configSet('HeartbeatInterval', '0')).toEqual({
      status: 'Rejected',
      reason: 'must be between 1 and 604800',
    });
    expect(api.configSet('NumberOfConnectors', '3')).toEqual({ status: 'Rejected', reason: 'read-only' });
    expect(api.configSet('LocalPreAuthorize', 'TRUE')).toEqual({ status: 'Accepted', value: 'true' });
    expect(api.configSet('Nope', '1')).toEqual({ status: 'NotSupported', reason: 'not a configuration key' });
    // Hidden with its capability (no reservation here): a key, but not of this charge point.
    expect(api.configSet('ReserveConnectorZeroSupported', 'true')).toEqual({
      status: 'NotSupported',
      reason: 'not provided by this charge point',
    });
    expect(api.configGet(['AuthorizationKey']).configurationKey).toEqual([
      { key: 'AuthorizationKey', readonly: false, writeOnly: true, set: false },
    ]);
    expect(api.configSet('AuthorizationKey', 'Swordfish-Lantern-9')).toEqual({ status: 'Accepted' });
    expect(api.configGet(['AuthorizationKey']).configurationKey).toEqual([
      { key: 'AuthorizationKey', readonly: false, writeOnly: true, set: true },
    ]);
    const keys = api.configGet([]).configurationKey.map((e) => e.key);
    expect(keys).toEqual([...keys].sort());
    expect(
      api.configGet(['LocalPreAuthorize', 'AuthorizationKey']).configurationKey.map((e) => e.key),
    ).toEqual(['LocalPreAuthorize', 'AuthorizationKey']);
  });

  it('lists the running transactions and the newest finished ones, however they interleave', () => {
    const repo = new TransactionsRepo(store.db);
    const start = (connectorId: number, idTag: string, minutes: number, meterStart: number) =>
      repo.insert({ connectorId, idTag, meterStart, startedAt: iso(minutes) }).localId;
    const longRunning = start(1, 'LONG', 0, 100);
    for (const [i, tag] of ['A', 'B', 'C'].entries()) {
      const id = start(2, tag, 10 + i, 1000 * i);
      repo.stop(id, { stopReason: 'Local', meterStop: 1000 * i + 250, stoppedAt: iso(11 + i) });
    }
    const newest = start(2, 'NEW', 20, 5000);
    repo.setTransactionId(newest, 99);
    repo.recordMeter(longRunning, 2100, iso(30));

    const report = control().transactions(2);
    expect(report.running.map((t) => t.idTag)).toEqual(['LONG', 'NEW']);
    expect(report.running[0]).toMatchObject({ lastMeter: 2100, lastMeterAt: iso(30), energyWh: 2000 });
    expect(report.running[0]).not.toHaveProperty('transactionId');
    expect(report.running[1]).toMatchObject({ transactionId: 99, energyWh: 0 });
    // The two newest rows are running: the finished ones still fill the limit.
    expect(report.recent.map((t) => t.idTag)).toEqual(['C', 'B']);
    expect(report.recent[0]).toMatchObject({ stopReason: 'Local', meterStop: 2250, energyWh: 250 });
    expect(control().transactions(0).recent).toEqual([]);
  });

  it('lists queued messages without their payloads, the head first and at most 500 of each', () => {
    const entry = (seq: number): OutboxEntry => ({
      seq,
      kind: 'transaction',
      action: 'MeterValues',
      localTxId: 1,
      payload: { connectorId: 1, meterValue: [] },
      attempts: 0,
      nextAttemptAt: 0,
      createdAt: iso(0),
    });
    const dead = (seq: number): DeadLetter => ({
      ...entry(seq),
      attempts: 3,
      lastError: `error ${seq}`,
      failedAt: iso(1),
    });
    const seqs = (n: number, from = 1) => Array.from({ length: n }, (_, i) => from + i);
    const report = control({
      outbox: {
        ...noOutbox,
        firstPending: (limit) => seqs(Math.min(limit, 501)).map(entry),
        size: () => 501,
        newestDeadLetters: (limit) => seqs(Math.min(limit, 502), 503 - Math.min(limit, 502)).map(dead),
        deadLetterCount: () => 502,
      },
    }).queue();
    expect(report.pendingTotal).toBe(501);
    expect(report.pending.map((m) => m.seq)).toEqual(seqs(500));
    expect(report.pending[0]).toEqual({
      seq: 1,
      action: 'MeterValues',
      localTxId: 1,
      attempts: 0,
      nextAttemptAt: 0,
      createdAt: iso(0),
    });
    expect(report.deadLetterTotal).toBe(502);
    expect(report.deadLetters.map((m) => m.seq)).toEqual(seqs(500, 3));
    expect(report.deadLetters[0]).toEqual({
      seq: 3,
      action: 'MeterValues',
      localTxId: 1,
      attempts: 3,
      createdAt: iso(0),
      lastError: 'error 3',
      failedAt: iso(1),
    });
  });

  it('looks an id up in the list and the cache, and reports a source that is switched off', () => {
    const localList = new LocalAuthList(new LocalListRepo(store.db));
    const authCache = new AuthCache({ repo: new AuthCacheRepo(store.db), time: { nowMs: () => T0 } });
    localList.apply(
      {
        listVersion: 4,
        updateType: 'Full',
        entries: [{ idTag: 'LISTED', idTagInfo: { status: 'Blocked' } }],
      },
      100,
    );
    authCache.put('CACHED', { status: 'Accepted', expiryDate: iso(-1), parentIdTag: 'FLEET' });
    authCache.put('OTHER', { status: 'Accepted' });
    const api = control({ localList, authCache, config: registry({ LocalAuthListEnabled: false }) });

    expect(api.auth()).toEqual({
      localList: { enabled: false, version: 4, size: 1 },
      cache: { enabled: true, size: 2 },
    });
    expect(api.auth('listed').lookup).toEqual({ idTag: 'listed', localList: { status: 'Blocked' } });
    expect(api.auth('CACHED').lookup).toEqual({
      idTag: 'CACHED',
      cache: { status: 'Expired', expiryDate: iso(-1), parentIdTag: 'FLEET' },
    });
    expect(api.auth('NOBODY').lookup).toEqual({ idTag: 'NOBODY' });
  });
});

/** A real frame trace over an in-memory database, so the server streams what the daemon would. */
function memoryTrace(): FrameTrace {
  const db = new Database(':memory:');
  migrateTo(db, SCHEMA_VERSION);
  let at = AT;
  return new FrameTrace({
    store: { db, path: ':memory:' },
    maxFrames: 1000,
    // Above the default byte cap: the follower test leaves 8 MB of frames in the store.
    maxBytes: 16 * 1024 * 1024,
    clock: { now: () => at++ },
    log: silentLogger(),
  });
}

const heartbeat = (id: string) => JSON.stringify([2, id, 'Heartbeat', {}]);

describe('cpctl operator commands', () => {
  beforeEach(async () => {
    await startServer();
  });

  it('reconnect, reset, availability, unlock and log-level reach the daemon with their params', async () => {
    const runs: Array<[string[], string]> = [
      [['reconnect'], 'reconnecting to the central system'],
      [['reset', 'soft'], 'soft reset accepted'],
      [['reset', 'hard'], 'hard reset accepted'],
      [['availability', '2', 'inoperative'], 'connector 2: Inoperative'],
      [['availability', '0', 'operative'], 'charge point: Operative'],
      [['unlock', '1'], 'connector 1: Unlocked'],
      [['log-level', 'debug'], 'log level debug (was info)'],
    ];
    for (const [argv, out] of runs) {
      const { code, stdout, stderr } = await cpctl(...argv);
      expect({ argv, code, stderr }).toEqual({ argv, code: 0, stderr: '' });
      expect(stdout).toBe(`${out}${stdout.slice(out.length, -1)}\n`);
    }
    expect(api.calls).toEqual([
      ['reconnect'],
      ['reset', 'Soft'],
      ['reset', 'Hard'],
      ['availability', 2, 'Inoperative'],
      ['availability', 0, 'Operative'],
      ['unlock', 1],
      ['setLogLevel', 'debug'],
    ]);
  });

  it('Scheduled is said as such; Rejected, UnlockFailed and NotSupported fail with exit 1', async () => {
    api.availabilityAnswer = 'Scheduled';
    const scheduled = await cpctl('availability', '1', 'inoperative');
    expect(scheduled).toMatchObject({
      code: 0,
      stdout: 'connector 1: Inoperative once its transaction ends (Scheduled)\n',
    });
    api.availabilityAnswer = 'Rejected';
    expect(await cpctl('availability', '1', 'inoperative')).toMatchObject({
      code: 1,
      stderr: 'cpctl: connector 1: availability change Rejected\n',
    });
    for (const answer of ['UnlockFailed', 'NotSupported'] as const) {
      api.unlockAnswer = answer;
      expect(await cpctl('unlock', '2')).toMatchObject({
        code: 1,
        stderr: `cpctl: connector 2: ${answer}\n`,
      });
    }
    expect(JSON.parse((await cpctl('unlock', '2', '--json')).stdout)).toBe('NotSupported');
  });

  it.each([
    [['reset'], 'usage: cpctl reset soft|hard'],
    [['reset', 'warm'], 'expected hard or soft, got "warm"'],
    [['availability', '1'], 'usage: cpctl availability <connector> operative|inoperative'],
    [['availability', 'one', 'operative'], 'connector must be a number'],
    [['availability', '1', 'broken'], 'expected operative or inoperative, got "broken"'],
    [['unlock'], 'usage: cpctl unlock <connector>'],
    [['log-level', 'loud'], 'unknown log level "loud"; one of: fatal, error, warn, info, debug, trace'],
    [['reconnect', 'now'], 'usage: cpctl reconnect'],
    [['trace', 'all'], 'usage: cpctl trace [--action <name>] [--limit <n>] [--follow]'],
    [['trace', '--limit', 'many'], '--limit must be a number, got "many"'],
    [['trace', '--action', 'Heart beat'], 'parameter "action" must be an action name'],
    [['status', '--follow'], '--follow does not apply to status'],
    [['queue', '--action', 'Heartbeat'], '--action does not apply to queue'],
    [['completion', 'zsh'], 'usage: cpctl completion bash'],
  ])('usage error for %j: %s, exit 64, nothing sent', async (argv, message) => {
    const { code, stderr } = await cpctl(...argv);
    expect(code).toBe(64);
    expect(stderr).toContain(message);
    expect(api.calls).toEqual([]);
  });

  it('the socket checks the params of the new methods too', async () => {
    const s = await rawSession();
    const cases: Array<[string, string]> = [
      ['{"id":1,"method":"reset","params":{"type":"Warm"}}', '"type" must be one of Soft, Hard'],
      [
        '{"id":2,"method":"availability","params":{"connectorId":1,"type":"Off"}}',
        'must be one of Operative',
      ],
      ['{"id":3,"method":"unlock","params":{"connectorId":-2}}', '"connectorId" must be an integer >= 0'],
      ['{"id":4,"method":"log.level","params":{"level":"silent"}}', '"level" must be one of fatal'],
      ['{"id":5,"method":"trace","params":{"limit":-1}}', '"limit" must be an integer from 0'],
      ['{"id":6,"method":"trace","params":{"follow":"yes"}}', '"follow" must be true or false'],
    ];
    await expectRefusals(
      s,
      cases.map(([line, message], i) => [line, i + 1, message] as const),
    );
    expect(api.calls).toEqual([]);
  });

  it('help lists the new commands', async () => {
    const { stdout } = await cpctl('help');
    for (const c of [
      'reconnect',
      'reset soft|hard',
      'availability <connector> operative|inoperative',
      'unlock <connector>',
      'log-level fatal|error|warn|info|debug|trace',
      'trace [--action <name>] [--limit <n>] [--follow]',
      'completion bash',
    ]) {
      expect(stdout).toContain(c);
    }
  });
});

describe('cpctl trace', () => {
  beforeEach(async () => {
    await startServer();
  });

  it('one line per frame: time, arrow, kind, action, id and the frame cut to a line; oldest first', async () => {
    api.traceLog.record({ direction: 'out', text: heartbeat('h1') });
    api.traceLog.record({ direction: 'in', text: '[3,"h1",{"currentTime":"2025-01-02T03:04:05Z"}]' });
    const long = JSON.stringify([2, 'd1', 'DataTransfer', { vendorId: 'v', data: 'y'.repeat(500) }]);
    api.traceLog.record({ direction: 'in', text: long });
    const { code, stdout } = await cpctl('trace');
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(
      /^2025-01-02T03:04:05\.000Z -> CALL +Heartbeat +h1 \[2,"h1","Heartbeat",\{\}\]$/,
    );
    expect(lines[1]).toMatch(/^2025-01-02T03:04:05\.001Z <- RESULT +Heartbeat +h1 \[3,"h1",/);
    expect(lines[2]).toMatch(/<- CALL +DataTransfer +d1 .*y\.\.\.$/);
    expect(lines[2]!.length).toBeLessThan(long.length);
  });

  it('--json: one JSON object per frame and line, untruncated; --action and --limit choose the frames', async () => {
    for (let i = 1; i <= 5; i++) {
      api.traceLog.record({ direction: 'out', text: heartbeat(`h${i}`) });
      api.traceLog.record({ direction: 'out', text: JSON.stringify([2, `s${i}`, 'StatusNotification', {}]) });
    }
    const { stdout } = await cpctl('trace', '--action', 'heartbeat', '--limit', '2', '--json');
    const entries = stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(entries.map((e) => [e.action, e.messageId, e.direction, e.text])).toEqual([
      ['Heartbeat', 'h4', 'out', heartbeat('h4')],
      ['Heartbeat', 'h5', 'out', heartbeat('h5')],
    ]);
  });

  it('says so when there is nothing to show', async () => {
    expect(await cpctl('trace')).toMatchObject({ code: 0, stdout: 'no frames in the trace\n' });
    api.traceLog.record({ direction: 'out', text: heartbeat('h1') });
    expect((await cpctl('trace', '--action', 'Reset')).stdout).toBe('no frames of Reset in the trace\n');
    expect((await cpctl('trace', '--json', '--action', 'Reset')).stdout).toBe('');
  });

  it('streams a trace longer than a page, in order, and ends with the count', async () => {
    for (let i = 1; i <= 250; i++) api.traceLog.record({ direction: 'out', text: heartbeat(`h${i}`) });
    const ids: string[] = [];
    const result = await stream(socketPath, 'trace', { limit: 240 }, (e) => ids.push(e.messageId!));
    expect(result).toEqual({ frames: 240 });
    expect(ids).toEqual(Array.from({ length: 240 }, (_, i) => `h${i + 11}`));
  });

  it('--follow: the last frames, then every new one, until cpctl stops; the daemon then lets go', async () => {
    for (let i = 1; i <= 12; i++) api.traceLog.record({ direction: 'out', text: heartbeat(`h${i}`) });
    const stop = new AbortController();
    const seen: string[] = [];
    let notify: () => void = () => {};
    const io = {
      stdout: (s: string) => {
        seen.push(s);
        notify();
      },
      stderr: (s: string) => seen.push(`stderr: ${s}`),
      env: {},
      signal: stop.signal,
    };
    const until = (n: number) =>
      new Promise<void>((resolve) => {
        notify = () => seen.length >= n && resolve();
        notify();
      });
    const running = runCpctl(
      ['--socket', socketPath, 'trace', '--follow', '--json', '--action', 'Heartbeat'],
      io,
    );
    await until(10);
    expect(api.traceLog.listenerCount('entry')).toBe(1);
    api.traceLog.record({ direction: 'out', text: JSON.stringify([2, 'x', 'StatusNotification', {}]) });
    api.traceLog.record({ direction: 'in', text: heartbeat('h13') });
    await until(11);
    stop.abort();
    expect(await running).toBe(0);
    expect(seen.map((l) => JSON.parse(l).messageId)).toEqual([
      'h3',
      'h4',
      'h5',
      'h6',
      'h7',
      'h8',
      'h9',
      'h10',
      'h11',
      'h12',
      'h13',
    ]);
    // The daemon forgets the follower once its connection is gone.
    await new Promise<void>((resolve) => {
      const check = () => (api.traceLog.listenerCount('entry') === 0 ? resolve() : setImmediate(check));
      check();
    });
  });

  it('a follower that stops reading is not fed: frames wait in the store, not in the daemon', async () => {
    const big = (i: number) =>
      JSON.stringify([2, `b${i}`, 'DataTransfer', { vendorId: 'v', data: 'z'.repeat(8000) }]);
    api.traceLog.record({ direction: 'in', text: big(0) });
    const client = connect(socketPath);
    sockets.push(client);
    await once(client, 'connect');
    const splitter = new LineSplitter(1024 * 1024);
    const ids: string[] = [];
    let onLine = () => {};
    client.on('data', (chunk: Buffer) => {
      for (const line of splitter.push(chunk).lines) ids.push(JSON.parse(line).event.messageId);
      onLine();
    });
    const received = (n: number) =>
      new Promise<void>((resolve) => {
        onLine = () => ids.length >= n && resolve();
        onLine();
      });
    client.write('{"id":1,"method":"trace","params":{"follow":true,"limit":1}}\n');
    // The backlog frame arrived: the daemon follows from here on.
    await received(1);
    client.pause();
    // 8 MB of frames for a reader that takes none of them.
    for (let i = 1; i <= 1000; i++) api.traceLog.record({ direction: 'in', text: big(i) });
    const [daemonSide] = [...(servers[0] as unknown as { clients: Set<Socket> }).clients];
    await new Promise<void>((resolve) => {
      const check = () => (daemonSide!.writableNeedDrain ? resolve() : setImmediate(check));
      check();
    });
    expect(daemonSide!.writableLength).toBeLessThan(1024 * 1024);
    client.resume();
    await received(1001);
    expect(ids).toEqual(Array.from({ length: 1001 }, (_, i) => `b${i}`));
  });
});

describe('cpctl completion bash', () => {
  it('prints the shipped script', async () => {
    const { code, stdout } = await cpctl('completion', 'bash');
    expect(code).toBe(0);
    expect(stdout).toContain('complete -F _cpctl cpctl');
    expect(COMPLETION_SCRIPT.endsWith('scripts/cpctl-completion.bash')).toBe(true);
  });

  /** What bash offers after `cpctl <words> <cur>`, with the real script; `path` is searched first for cpctl. */
  function complete(words: string[], cur = '', path?: string): Promise<string[]> {
    const line = ['cpctl', ...words, cur].map((w) => `'${w}'`).join(' ');
    const script = `source '${COMPLETION_SCRIPT}'; COMP_WORDS=(${line}); COMP_CWORD=${words.length + 1}; _cpctl; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const env = path === undefined ? process.env : { ...process.env, PATH: `${path}:${process.env.PATH}` };
    return new Promise((resolve, reject) => {
      execFile('bash', ['-c', script], { env }, (error, stdout) =>
        error ? reject(error) : resolve(stdout.split('\n').filter(Boolean)),
      );
    });
  }

  it('its standard keys are in step with the key definitions (npx tsx scripts/gen-cpctl-completion.ts)', () => {
    const script = readFileSync(COMPLETION_SCRIPT, 'utf8');
    expect(withStandardKeys(script)).toBe(script);
  });

  it('offers the standard keys for config get / set when no daemon answers (set: only writable ones)', async () => {
    const noDaemon = ['--socket', join(dir, 'absent.sock'), 'config'];
    expect(await complete([...noDaemon, 'get'], 'Heart')).toEqual(['HeartbeatInterval']);
    expect(await complete([...noDaemon, 'get', 'HeartbeatInterval'], 'NumberOf')).toEqual([
      'NumberOfConnectors',
    ]);
    expect(await complete([...noDaemon, 'set'], 'NumberOf')).toEqual([]);
    expect(await complete([...noDaemon, 'set'], 'Auth')).toEqual([
      'AuthorizationCacheEnabled',
      'AuthorizationKey',
      'AuthorizeRemoteTxRequests',
    ]);
    expect(await complete([...noDaemon, 'set', 'HeartbeatInterval'], 'Heart')).toEqual([]);
    expect(await complete([...noDaemon, 'set'], '--y')).toEqual(['--yes']);
  });

  it("offers the running daemon's keys for config get / set (set: not the read-only ones)", async () => {
    await startServer();
    const bin = join(dir, 'bin');
    await mkdir(bin);
    const cli = join(fileURLToPath(new URL('../..', import.meta.url)), 'src/bin/cpctl.ts');
    await writeFile(
      join(bin, 'cpctl'),
      `#!/bin/sh\nexec '${process.execPath}' --import tsx '${cli}' "$@"\n`,
      {
        mode: 0o755,
      },
    );
    const daemon = ['--socket', socketPath, 'config'];
    expect(await complete([...daemon, 'get'], '', bin)).toEqual([
      'HeartbeatInterval',
      'NumberOfConnectors',
      'AuthorizationKey',
      'CpoName',
    ]);
    expect(await complete([...daemon, 'set'], '', bin)).toEqual([
      'HeartbeatInterval',
      'AuthorizationKey',
      'CpoName',
    ]);
  });

  it('offers every command of the usage, and the words each one takes', async () => {
    const top = await complete([]);
    const commands = USAGE.split('\n')
      .filter((l) => /^ {2}[a-z]/.test(l))
      .map((l) => l.trim().split(' ')[0]!);
    expect(new Set(commands).size).toBeGreaterThan(10);
    for (const c of commands) expect(top).toContain(c);
    expect(await complete(['sim'])).toEqual([
      'plug',
      'unplug',
      'ev',
      'swipe',
      'fault',
      'clear',
      'lock-fail',
      'tamper',
      'meter',
    ]);
    expect(await complete(['sim', 'tamper'])).toEqual(['on', 'off']);
    expect(await complete([], 'secu')).toEqual(['security-log']);
    expect(await complete(['security-log'], '--')).toEqual(expect.arrayContaining(['--limit', '--clear']));
    expect(await complete(['sim', 'fault', '1'])).toEqual(FAULT_CODES);
    expect(await complete(['reset'])).toEqual(['soft', 'hard']);
    expect(await complete(['availability', '1'], 'in')).toEqual(['inoperative']);
    expect(await complete(['log-level'], 'd')).toEqual(['debug']);
    expect(await complete(['--socket', '/tmp/x.sock', 'trace'], '--f')).toEqual(['--follow']);
    expect(await complete(['status'], '--w')).toEqual(['--watch']);
    expect(await complete(['transactions'], '--w')).toEqual(['--watch']);
    expect(await complete(['limits', '1'], '--d')).toEqual(['--duration']);
    expect(await complete(['limits', '1', '--duration'])).toEqual([]);
    expect(await complete(['firmware'])).toEqual(['install']);
    expect(await complete(['firmware', 'install'], '--si')).toEqual(['--signature']);
    expect(await complete(['firmware', 'install'], COMPLETION_SCRIPT.slice(0, -3))).toEqual([
      COMPLETION_SCRIPT,
    ]);
  });
});

describe('RuntimeControl: operator commands', () => {
  it('log-level changes the root and every child logger made before or after', () => {
    const log = createLogger({ destination: new Writable({ write: (_c, _e, done) => done() }) });
    const child = log.child({ module: 'link' });
    const previous = runtimeControl({ log }).setLogLevel('debug');
    expect(previous).toBe('info');
    expect([log.level, child.level, log.child({}).level]).toEqual(['debug', 'debug', 'debug']);
    expect(child.isLevelEnabled('debug')).toBe(true);
  });

  it('reset answers first and resets right after, as OCPP Reset does', async () => {
    const resets: ResetType[] = [];
    const api = runtimeControl({ requestReset: (type) => resets.push(type) });
    expect(api.reset('Hard')).toBe('Accepted');
    expect(resets).toEqual([]);
    await new Promise(setImmediate);
    expect(resets).toEqual(['Hard']);
  });

  it('reconnect asks the link; availability and unlock refuse an unknown connector', async () => {
    const reasons: string[] = [];
    const station = {
      connector: (id: number) => (id === 1 ? {} : undefined),
      connectorIds: () => [1],
      changeAvailability: (id: number, type: string) =>
        id === 0 && type === 'Inoperative' ? 'Scheduled' : 'Accepted',
    } as unknown as ControlDeps['station'];
    const api = runtimeControl({
      link: {
        state: 'open',
        reconnect: (reason: string) => reasons.push(reason),
        condition: () => ({ state: 'open', since: 0 }),
      },
      station,
      transactions: { unlock: async () => 'Unlocked', hold: () => undefined },
    });
    api.reconnect();
    expect(reasons).toEqual(['technician request']);
    expect(api.availability(0, 'Inoperative')).toBe('Scheduled');
    expect(api.availability(1, 'Operative')).toBe('Accepted');
    expect(() => api.availability(7, 'Operative')).toThrow(ControlError);
    expect(() => api.availability(7, 'Operative')).toThrow('no connector 7 (connectors: 1)');
    expect(await api.unlock(1)).toBe('Unlocked');
    await expect(api.unlock(3)).rejects.toThrow('no connector 3');
  });
});

describe('RuntimeControl: hal relay, a technician test that never outlives idle', () => {
  let store: Store;
  let clock: FakeClock;
  let board: SimBoard;
  let api: RuntimeControl;
  const relay = (id: number) => board.connector(id)?.devices.relay.isClosed();

  beforeEach(() => {
    store = openStore({ dir, log: silentLogger() });
    clock = new FakeClock();
    board = new SimBoard(DEFAULT_SIM_SPEC, clock);
    const station = new Station({ board, availability: store.availability, clock, log: silentLogger() });
    // The owner of the contactors, not started: a relay test is all that moves them here.
    const limit = new ChargingLimit({
      board,
      station,
      composites: {
        limitNow: () => ({ startPeriod: 0, limitA: 32, numberPhases: 3, source: { kind: 'hardware' } }),
        limitNowAndNextChange: () => ({
          period: { startPeriod: 0, limitA: 32, numberPhases: 3, source: { kind: 'hardware' } },
          nextChangeMs: undefined,
        }),
      },
      localLimits: { all: () => new Map(), set: () => {}, remove: () => {} },
      clock,
      time: { nowMs: () => clock.now() },
      log: silentLogger(),
    });
    api = runtimeControl({ board, station, clock, limit });
  });
  afterEach(() => store.close());

  it('refuses to close the relay of a faulted connector; open is always allowed', async () => {
    board.fault(1, 'GroundFailure');
    await expect(api.halRelay(1, true)).rejects.toThrow('connector 1 is faulted (GroundFailure)');
    expect(relay(1)).toBe(false);
    board.plug(2);
    await board.connector(2)?.devices.relay.set(true);
    await api.halRelay(2, false);
    await api.halRelay(1, false);
    expect([relay(1), relay(2)]).toEqual([false, false]);
  });

  it('opens the contactor as soon as a cable is plugged', async () => {
    await api.halRelay(1, true);
    expect(relay(1)).toBe(true);
    board.plug(1);
    expect(relay(1)).toBe(false);
    expect(clock.pending).toBe(0);
  });

  it('opens the contactor when a fault appears during the test', async () => {
    await api.halRelay(1, true);
    board.fault(1, 'OverCurrentFailure');
    expect(relay(1)).toBe(false);
  });

  it('close() (the runtime stops) ends a running test: contactor open, no timer left', async () => {
    await api.halRelay(1, true);
    api.close();
    await new Promise(setImmediate);
    expect(relay(1)).toBe(false);
    expect(clock.pending).toBe(0);
  });

  it(`opens the contactor after ${RELAY_TEST_MS} ms, and a new close starts a new period`, async () => {
    await api.halRelay(1, true);
    clock.advance(RELAY_TEST_MS - 1);
    await api.halRelay(1, true);
    clock.advance(RELAY_TEST_MS - 1);
    expect(relay(1)).toBe(true);
    clock.advance(1);
    expect(relay(1)).toBe(false);
    // An open ends the test: nothing is left to fire.
    await api.halRelay(2, true);
    await api.halRelay(2, false);
    expect(clock.pending).toBe(0);
  });
});

describe('log lines for a terminal', () => {
  it('time, level, message and the fields as key=value; anything not JSON passes through', () => {
    const json = JSON.stringify({
      level: 'warn',
      time: '2025-01-02T03:04:05.678Z',
      chargePointId: 'CP1',
      connectorId: 2,
      err: { code: 'E' },
      msg: 'relay stuck',
    });
    expect(formatLogLine(json)).toBe(
      '03:04:05.678 WARN  relay stuck  chargePointId=CP1 connectorId=2 err={"code":"E"}\n',
    );
    expect(formatLogLine(json, true)).toContain('\x1b[33mWARN \x1b[0m relay stuck');
    expect(formatLogLine('plain text')).toBe('plain text\n');
  });

  it('a pretty logger writes those lines to its destination', () => {
    const out: string[] = [];
    const log = createLogger({
      pretty: true,
      destination: new Writable({
        write(chunk, _enc, done) {
          out.push(String(chunk));
          done();
        },
      }),
    });
    log.info({ connectorId: 1 }, 'hello');
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}hello {2}connectorId=1\n$/);
  });
});
