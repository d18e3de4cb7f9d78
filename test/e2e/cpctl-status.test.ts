import { type EventEmitter, once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { beforeAll, describe, expect, it } from 'vitest';
import { GpioLock, GpioPilot, GpioRelay } from '../../hal/drivers/gpio-devices.js';
import { HardwareBoard } from '../../hal/hardware-board.js';
import type { StatusReport, TransactionsReport } from '../../src/cli/api.js';
import { systemClock } from '../../src/clock.js';
import { Runtime } from '../../src/runtime.js';
import { createCa, createServerCert, type Pem, writePemFiles } from '../csms/certs.js';
import { answered, energyOf, listed, type MeterValuesReq, transactionIdOf } from '../support/charging.js';
import { cpctl, onTerminal, spawnCpctl } from '../support/cpctl-process.js';
import { FakeGpio, testLine } from '../support/fake-gpio.js';
import { CP_ID, type Harness, useHarness } from '../support/harness.js';

const PASSWORD = 'OCA_OCTT_admin_test';

/** A TCP port on 127.0.0.1 that nothing listens on (it was just given up). */
async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  server.close();
  await once(server, 'close');
  return address.port;
}

async function status(h: Harness): Promise<{ report: StatusReport; human: string }> {
  const socket = h.config.cli.socket;
  const json = await cpctl(socket, 'status', '--json');
  expect(json.code).toBe(0);
  const human = await cpctl(socket, 'status');
  expect(human.code).toBe(0);
  return { report: JSON.parse(json.stdout) as StatusReport, human: human.stdout };
}

/** The value on a `label  value` line of the human status. */
function line(human: string, label: string): string {
  const found = human.split('\n').find((l) => l.startsWith(`${label}  `));
  if (found === undefined) throw new Error(`no "${label}" line in:\n${human}`);
  return found.slice(label.length).trim();
}

/** Waits until the link has failed an attempt and scheduled the next one. */
function retryScheduled(h: Harness): Promise<unknown> {
  return h.sink.waitFor((l) => l.msg === 'will retry connecting');
}

/** Some report of a `--watch --json` output (one a line) satisfies `pred`. */
function someReport<R>(out: string, pred: (report: R) => boolean): boolean {
  return out
    .trim()
    .split('\n')
    .some((l) => pred(JSON.parse(l) as R));
}

/** A `status.watch` on its own connection, as a cpctl --watch holds one. */
function watcher(socket: string): {
  sees(pred: (report: StatusReport) => boolean): Promise<void>;
  close(): void;
} {
  const reports: StatusReport[] = [];
  const waiters = new Set<() => void>();
  const connection = connect(socket);
  const lines = createInterface({ input: connection });
  lines.on('line', (text) => {
    const frame = JSON.parse(text) as { event?: StatusReport };
    if (!frame.event) return;
    reports.push(frame.event);
    for (const wake of waiters) wake();
  });
  connection.write(`${JSON.stringify({ id: 1, method: 'status.watch', params: {} })}\n`);
  return {
    sees: (pred) =>
      new Promise((resolve) => {
        const check = () => {
          if (!reports.some(pred)) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
      }),
    close: () => connection.destroy(),
  };
}

/** Resolves once `event` of `emitter` is down to `count` listeners. */
function listenerRemoved(emitter: EventEmitter, event: string, count: number): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (emitter.listenerCount(event) > count) return;
      emitter.off('removeListener', check);
      resolve();
    };
    emitter.on('removeListener', check);
  });
}

/** Connector `id`'s cell in the column `header` of the human status's connector table. */
function cell(human: string, header: string, id: number): string {
  const lines = human.split('\n');
  const head = lines.find((l) => l.startsWith('CONNECTOR '));
  const row = lines.find((l) => l.startsWith(`${id} `));
  if (head === undefined || row === undefined) throw new Error(`no connector ${id} row in:\n${human}`);
  const at = head.indexOf(header);
  const next = head.slice(at + header.length).search(/\S/);
  return row.slice(at, next < 0 ? undefined : at + header.length + next).trim();
}

describe('cpctl status says why the charger is offline', () => {
  const start = useHarness();
  let caFile: string;
  let otherServer: Pem;

  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), 'cp-status-certs-'));
    caFile = writePemFiles(dir, 'ca', createCa({ commonName: 'Trusted Root' })).certFile;
    // A server certificate from a root the charge point does not trust.
    otherServer = createServerCert(createCa({ commonName: 'Unknown Root' }));
  });

  it('a password in the URL is in neither the log lines of a connection nor cpctl status', async () => {
    const h = await start({
      config: (url) => ({ csms: { url: url.replace('ws://', 'ws://tech:url-secret@') } }),
    });
    await h.booted();
    const connected = await h.sink.waitFor((l) => l.msg === 'connected to central system');
    expect(connected.url).toBe(`ws://tech:[redacted]@${new URL(h.url).host}/ocpp/${CP_ID}`);
    expect(h.sink.lines.filter((l) => JSON.stringify(l).includes('url-secret'))).toEqual([]);
    expect((await status(h)).human).not.toContain('url-secret');
  });

  it('a refused port: the URL, the error, since when, the next attempt; a card decided by the offline rule', async () => {
    const port = await closedPort();
    const h = await start({
      // A password in the URL is no business of cpctl's group.
      config: () => ({ csms: { url: `ws://tech:url-secret@127.0.0.1:${port}/ocpp` } }),
      ocpp: { AllowOfflineTxForUnknownId: true },
    });
    await retryScheduled(h);
    const authorized = once(h.runtime.transactions, 'authorized');
    expect((await cpctl(h.config.cli.socket, 'sim', 'swipe', 'OFFLINE1')).code).toBe(0);
    await authorized;

    const { report, human } = await status(h);
    expect(report.link.state).not.toBe('open');
    expect(report.link.url).toBe(`ws://tech:[redacted]@127.0.0.1:${port}/ocpp/${CP_ID}`);
    expect(report.link.lastFailure).toMatchObject({ kind: 'refused' });
    expect(report.link.lastFailure?.message).toMatch(/ECONNREFUSED/);
    const failure = report.link.lastFailure!;
    expect(failure.since).toBeLessThanOrEqual(failure.at);
    expect(report.link.since).toBeLessThanOrEqual(failure.since);
    expect(report.link.nextAttemptAt).toBeGreaterThanOrEqual(failure.at);
    expect(report.registration).toBe('Unregistered');
    expect(report.connectors[0]?.lastAuthorization).toMatchObject({
      idTag: 'OFFLINE1',
      status: 'Accepted',
      source: 'offlineUnknown',
    });

    expect(line(human, 'central system')).toBe(`ws://tech:[redacted]@127.0.0.1:${port}/ocpp/${CP_ID}`);
    expect(human).not.toContain('url-secret');
    expect(line(human, 'offline since')).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(line(human, 'last error')).toMatch(/^connection refused .*ECONNREFUSED/);
    expect(line(human, 'next attempt')).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(line(human, 'registration')).toBe('Unregistered (BootNotification once connected)');
    expect(human).toContain(
      '  last authorization: OFFLINE1 Accepted by the offline rule for unknown ids (AllowOfflineTxForUnknownId)',
    );
  });

  it('a central system refusing the Basic auth: HTTP 401 and what to check', async () => {
    const h = await start({
      csms: { basicAuth: { [CP_ID]: PASSWORD } },
      ocpp: { AuthorizationKey: 'wrong-password-1234' },
      config: () => ({ csms: { securityProfile: 1 } }),
    });
    await h.sink.waitFor((l) => l.msg === 'central system refused the WebSocket upgrade');
    await retryScheduled(h);
    const { report, human } = await status(h);
    expect(report.link.lastFailure).toMatchObject({ kind: 'http', httpStatus: 401 });
    expect(line(human, 'last error')).toMatch(
      /^the central system refused the WebSocket upgrade: HTTP 401 Unauthorized \(the charge point id or the AuthorizationKey was not accepted\)/,
    );
    // Not a secret in sight.
    expect(human).not.toContain('wrong-password');
  });

  it('a TLS failure: a server certificate from a root not trusted', async () => {
    const h = await start({
      csms: { tls: { key: otherServer.key, cert: otherServer.cert }, basicAuth: { [CP_ID]: PASSWORD } },
      ocpp: { AuthorizationKey: PASSWORD },
      config: () => ({ csms: { securityProfile: 2, caFile } }),
    });
    await retryScheduled(h);
    const { report, human } = await status(h);
    expect(report.link.url).toMatch(/^wss:\/\//);
    expect(report.link.lastFailure?.kind).toBe('tls');
    expect(line(human, 'last error')).toMatch(/^TLS failure: .*certificate/);
  });

  it('a host name that does not resolve (.invalid)', async () => {
    const h = await start({ config: () => ({ csms: { url: 'ws://csms.invalid/ocpp' } }) });
    await retryScheduled(h);
    const { report, human } = await status(h);
    expect(report.link.lastFailure?.kind).toBe('dns');
    expect(line(human, 'last error')).toMatch(/^host name not found \(DNS\): .*csms\.invalid/);
  });

  it.each(['Rejected', 'Pending'] as const)('%s: when the next BootNotification leaves', async (answer) => {
    const h = await start({ csms: { rules: { boot: { status: answer, interval: 300 } } } });
    await h.sink.waitFor((l) => l.msg === 'BootNotification answered' && l.status === answer);
    const before = Date.now();
    const { report, human } = await status(h);
    expect(report.link.state).toBe('open');
    expect(report.link.lastFailure).toBeUndefined();
    expect(report.registration).toBe(answer);
    // Set when the answer came, 300 s on.
    expect(report.registrationRetryAt).toBeGreaterThan(before + 290_000);
    expect(report.registrationRetryAt).toBeLessThanOrEqual(Date.now() + 300_000);
    // The human report is another read, shifted to OCPP time by the offset read then: the same
    // instant to the millisecond the two clocks' sampling allows.
    const retryLine = line(human, 'registration');
    expect(retryLine).toMatch(new RegExp(`^${answer}, next BootNotification at \\d{4}-`));
    const shownAt = Date.parse(retryLine.replace(`${answer}, next BootNotification at `, ''));
    expect(Math.abs(shownAt - report.registrationRetryAt!)).toBeLessThanOrEqual(1);
    expect(line(human, 'connected since')).toMatch(/^\d{4}-/);
  });
});

describe('cpctl status: the session, the last authorization, the clock and the uptime', () => {
  const start = useHarness();

  it('a session: idTag, transactionId, its energy apart from the meter register, its duration', async () => {
    const h = await start({ ocpp: { MeterValueSampleInterval: 1 } });
    await h.booted();
    const mark = h.csms.mark();
    expect((await cpctl(h.config.cli.socket, 'sim', 'plug', '1')).code).toBe(0);
    expect((await cpctl(h.config.cli.socket, 'sim', 'swipe', 'VALID01')).code).toBe(0);
    const startTx = await h.csms.waitForCall(CP_ID, 'StartTransaction', { since: mark });
    await answered(h.csms, startTx.id);
    const transactionId = transactionIdOf(h.csms, startTx.id);
    const meterStart = (startTx.payload as { meterStart: number }).meterStart;
    await h.csms.waitForCall(CP_ID, 'MeterValues', {
      since: mark,
      where: (p: MeterValuesReq) => p.transactionId === transactionId && energyOf(p) > meterStart,
    });

    const { report, human } = await status(h);
    const connector = report.connectors[0]!;
    const session = connector.session!;
    expect(session).toMatchObject({ idTag: 'VALID01', transactionId, meterStartWh: meterStart });
    const register =
      connector.meter && 'energyImportWh' in connector.meter ? connector.meter.energyImportWh : 0;
    expect(session.energyWh).toBe(Math.round(register) - meterStart);
    expect(session.energyWh).toBeGreaterThan(0);
    expect(session.durationS).toBeGreaterThanOrEqual(0);
    expect(session.durationS).toBeLessThanOrEqual((Date.now() - Date.parse(session.startedAt)) / 1000);
    expect(report.connectors[1]?.session).toBeUndefined();
    expect(connector.lastAuthorization).toMatchObject({
      idTag: 'VALID01',
      status: 'Accepted',
      source: 'central',
    });
    expect(report.time).toMatchObject({ source: 'centralSystem', followsCentralSystem: true });
    expect(report.uptimeS).toBeGreaterThanOrEqual(0);

    // The register is the meter's column, the session's energy its own line (this read's own numbers).
    const row = /^1 +Charging .* (\d+\.\d{3}) kWh +\d+ W$/m.exec(human);
    const own = new RegExp(
      `^  session: VALID01, transaction ${transactionId}, (\\d+\\.\\d{3}) kWh this session, \\d+:\\d\\d:\\d\\d since ${session.startedAt}$`,
      'm',
    ).exec(human);
    expect(row, human).not.toBeNull();
    expect(own, human).not.toBeNull();
    expect(human).toMatch(/^CONNECTOR .* METER +POWER$/m);
    expect(Number(own![1])).toBeCloseTo(Number(row![1]) - meterStart / 1000, 2);
    expect(human).toMatch(/^ {2}last authorization: VALID01 Accepted by the central system at /m);
    expect(line(human, 'time')).toMatch(
      /^the central system's, last currentTime .*; [+-]\d+\.\d{3} s from the system clock$/,
    );
    expect(line(human, 'uptime')).toMatch(/^\d+:\d\d:\d\d \(since \d{4}-/);
  });

  it("every time is on the OCPP time: with a central system an hour ahead, the link's times move with the uptime's", async () => {
    const aheadMs = 3_600_000;
    const h = await start({
      csms: { rules: { heartbeatCurrentTime: () => new Date(Date.now() + aheadMs).toISOString() } },
    });
    await h.booted();
    const { report, human } = await status(h);
    expect(report.time).toMatchObject({ source: 'centralSystem' });
    expect(report.time?.offsetMs).toBeGreaterThan(aheadMs - 60_000);
    // Connected after the start and before now, both as the OCPP time reads them.
    expect(report.link.since).toBeGreaterThanOrEqual(report.startedAt!);
    expect(report.link.since).toBeLessThanOrEqual(Date.now() + aheadMs);
    // The human report is another read: the same moment, give or take the clocks' drift.
    expect(Math.abs(Date.parse(line(human, 'connected since')) - report.link.since!)).toBeLessThan(1000);
  });

  it('an id the central system refuses: the last authorization says so and who said it', async () => {
    const h = await start({
      csms: { rules: { authorize: (idTag) => ({ status: idTag === 'BLOCKED1' ? 'Blocked' : 'Accepted' }) } },
    });
    await h.booted();
    const authorized = once(h.runtime.transactions, 'authorized');
    expect((await cpctl(h.config.cli.socket, 'sim', 'swipe', 'BLOCKED1')).code).toBe(0);
    await authorized;
    const { report, human } = await status(h);
    for (const connector of report.connectors) {
      expect(connector.session).toBeUndefined();
      expect(connector.lastAuthorization).toMatchObject({
        idTag: 'BLOCKED1',
        status: 'Blocked',
        source: 'central',
      });
    }
    expect(human).toMatch(/^ {2}last authorization: BLOCKED1 Blocked by the central system at /m);
  });
});

describe('cpctl status: an id accepted from the local list', () => {
  const start = useHarness();

  it('LocalPreAuthorize: the local list decides, and status says so', async () => {
    const h = await start({ ocpp: { LocalAuthListEnabled: true, LocalPreAuthorize: true } });
    await h.booted();
    await listed(h, 'LISTED01');
    const authorized = once(h.runtime.transactions, 'authorized');
    expect((await cpctl(h.config.cli.socket, 'sim', 'swipe', 'LISTED01')).code).toBe(0);
    await authorized;
    const { report, human } = await status(h);
    expect(report.connectors[0]?.lastAuthorization).toMatchObject({
      idTag: 'LISTED01',
      status: 'Accepted',
      source: 'localList',
    });
    expect(human).toMatch(/^ {2}last authorization: LISTED01 Accepted by the local list at /m);
    expect(h.csms.calls(CP_ID, 'Authorize')).toEqual([]);
  });
});

describe('cpctl status: an id the central system refuses in its StartTransaction.conf', () => {
  const start = useHarness();

  it.each([
    { verdict: 'Blocked', StopTransactionOnInvalidId: true },
    { verdict: 'Invalid', StopTransactionOnInvalidId: false },
  ])(
    "$verdict (StopTransactionOnInvalidId $StopTransactionOnInvalidId): the last authorization is that verdict, not the local list's Accepted",
    async ({ verdict, StopTransactionOnInvalidId }) => {
      const h = await start({
        ocpp: { LocalAuthListEnabled: true, LocalPreAuthorize: true, StopTransactionOnInvalidId },
        csms: {
          rules: {
            onCall: (_cp, action) =>
              action === 'StartTransaction'
                ? { transactionId: 5151, idTagInfo: { status: verdict } }
                : undefined,
          },
        },
      });
      await h.booted();
      await listed(h, 'LISTED02');
      const socket = h.config.cli.socket;
      expect((await cpctl(socket, 'sim', 'plug', '1')).code).toBe(0);
      expect((await cpctl(socket, 'sim', 'swipe', 'LISTED02')).code).toBe(0);
      await h.sink.waitFor((l) => l.msg === 'central system refused the id of a running transaction');
      const { report, human } = await status(h);
      expect(report.connectors[0]?.lastAuthorization).toMatchObject({
        idTag: 'LISTED02',
        status: verdict,
        source: 'central',
        via: 'StartTransaction',
      });
      expect(human).toMatch(
        new RegExp(
          `^ {2}last authorization: LISTED02 ${verdict} by the central system \\(StartTransaction\\) at `,
          'm',
        ),
      );
      // The local list decided the start: no Authorize was sent.
      expect(h.csms.calls(CP_ID, 'Authorize')).toEqual([]);
    },
  );
});

describe('cpctl status --watch and transactions --watch', () => {
  const start = useHarness();

  it('status --watch prints a block per change: a plug shows without asking; Ctrl-C ends it with 0', async () => {
    const h = await start();
    await h.booted();
    const socket = h.config.cli.socket;
    const watch = spawnCpctl(socket, ['status', '--watch']);
    const first = await watch.output((out) => /^1 +Available/m.test(out), 'the first block');
    expect(first).toMatch(/^--- \d{4}-/);
    expect((await cpctl(socket, 'sim', 'plug', '1')).code).toBe(0);
    const after = await watch.output(
      (out) => /^1 +Preparing +NoError +Operative +plugged/m.test(out),
      'the plug',
    );
    // Each change is a block of its own: the first still reads Available.
    expect(after.split(/^--- /m).length).toBeGreaterThan(2);
    watch.child.kill('SIGINT');
    expect(await watch.exited()).toBe(0);
    expect(watch.stderr()).toBe('');
  });

  it('status --watch --json: one report a line; the daemon going away ends it with 69', async () => {
    const h = await start();
    await h.booted();
    const socket = h.config.cli.socket;
    const watch = spawnCpctl(socket, ['status', '--watch', '--json']);
    await watch.output((out) => out.includes('\n'), 'the first report');
    const firstReport = JSON.parse(watch.stdout().split('\n')[0]!) as StatusReport;
    expect(firstReport.connectors[1]?.status).toBe('Available');
    expect((await cpctl(socket, 'sim', 'plug', '2')).code).toBe(0);
    await watch.output(
      (out) => someReport<StatusReport>(out, (r) => r.connectors[1]?.status === 'Preparing'),
      'connector 2 Preparing',
    );
    await h.runtime.stop();
    expect(await watch.exited()).toBe(69);
    expect(watch.stderr()).toMatch(/chargepointd went away/);
  });

  it('transactions --watch shows a transaction starting, then its transactionId once answered', async () => {
    const h = await start();
    await h.booted();
    const socket = h.config.cli.socket;
    const watch = spawnCpctl(socket, ['transactions', '--watch', '--json', '--limit', '0']);
    await watch.output((out) => out.includes('\n'), 'the first report');
    expect(JSON.parse(watch.stdout().split('\n')[0]!)).toEqual({ running: [], recent: [] });
    h.board.plug(1);
    h.board.swipe('VALID01');
    await watch.output(
      (out) => someReport<TransactionsReport>(out, (r) => r.running[0]?.idTag === 'VALID01'),
      'the running transaction',
    );
    // The central system's answer changes no session state, only the row: still shown.
    const answeredStart = await watch.output(
      (out) => someReport<TransactionsReport>(out, (r) => r.running[0]?.transactionId !== undefined),
      'the transactionId',
    );
    const last = JSON.parse(answeredStart.trim().split('\n').at(-1)!) as TransactionsReport;
    expect(last.running[0]).toMatchObject({ idTag: 'VALID01', transactionId: expect.any(Number) });
    watch.child.kill('SIGINT');
    expect(await watch.exited()).toBe(0);
  });

  it('at a terminal the view is redrawn in place, and Ctrl-C at the keyboard ends it with 0', async () => {
    const h = await start();
    await h.booted();
    const socket = h.config.cli.socket;
    const watch = spawnCpctl(socket, ['status', '--watch'], onTerminal);
    await watch.output((out) => /^1 +Available/m.test(out), 'the first screen');
    expect(watch.stdout()).toContain('\x1b[H\x1b[2J');
    expect(watch.stdout()).toContain('(Ctrl-C ends)');
    expect((await cpctl(socket, 'sim', 'plug', '1')).code).toBe(0);
    await watch.output((out) => /Preparing/.test(out), 'the redrawn screen');
    expect(watch.stdout().split('\x1b[H\x1b[2J').length).toBeGreaterThan(2);
    watch.child.stdin?.write('\x03');
    expect(await watch.exited()).toBe(0);
  });

  it('a hundred watchers cost the runtime one listener per event, and none is left once they go', async () => {
    const h = await start();
    await h.booted();
    const { station, transactions, link, outbox } = h.runtime;
    const counts = () => [
      station.listenerCount('status'),
      transactions.listenerCount('changed'),
      link.listenerCount('close'),
      outbox.listenerCount('delivered'),
    ];
    const before = counts();
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const watchers = Array.from({ length: 100 }, () => watcher(h.config.cli.socket));
      await Promise.all(watchers.map((w) => w.sees((r) => r.connectors[0]?.status === 'Available')));
      expect(counts()).toEqual(before.map((n) => n + 1));
      h.board.plug(1);
      await Promise.all(watchers.map((w) => w.sees((r) => r.connectors[0]?.status === 'Preparing')));
      const gone = listenerRemoved(station, 'status', before[0]!);
      for (const w of watchers) w.close();
      await gone;
      expect(counts()).toEqual(before);
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('--watch is refused on other commands', async () => {
    const h = await start();
    const result = await cpctl(h.config.cli.socket, 'queue', '--watch');
    expect(result.code).toBe(64);
    expect(result.stderr).toMatch(/--watch does not apply to queue/);
  });
});

describe('cpctl status on a GPIO board: a feedback line that cannot be read is no reading', () => {
  const start = useHarness();
  const L = testLine;
  const RELAY_FEEDBACK = 6;
  const LOCK_FEEDBACK = 11;

  it('the relay and the lock say their feedback is unreadable; the lock is not known locked', async () => {
    // The bench has no meter: no measurand may be asked for.
    const h = await start({
      deferStart: true,
      ocpp: {
        MeterValuesSampledData: '',
        MeterValuesAlignedData: '',
        StopTxnSampledData: '',
        StopTxnAlignedData: '',
      },
    });
    // The runtime's own GPIO drivers, on lines the test can make unreadable.
    const gpio = new FakeGpio();
    const deps = { lines: gpio.factory, clock: systemClock, logger: h.log };
    const relay = new GpioRelay({ line: L(5), feedback: { line: L(RELAY_FEEDBACK) } }, deps);
    const pilot = new GpioPilot({ connected: { line: L(7) }, ready: { line: L(8) } }, deps, {
      maxCurrentA: 32,
      relay,
    });
    const lock = new GpioLock({ line: L(10), feedback: { line: L(LOCK_FEEDBACK) } }, deps);
    const board = new HardwareBoard({
      name: 'bench-gpio',
      connectors: [{ id: 1, fixedCable: false, maxCurrentA: 32, phases: 1, relay, pilot, lock }],
      readers: [],
      faultInputs: [],
      log: h.log,
    });
    h.runtime = await Runtime.start({ config: h.config, log: h.log, board });
    await h.status(1, 'Available', 0);

    const read = await status(h);
    expect(read.report.connectors[0]).toMatchObject({
      relay: { closed: false, feedback: false, feedbackReadable: true },
      lock: { locked: false, feedback: false, feedbackReadable: true },
    });
    expect([cell(read.human, 'RELAY', 1), cell(read.human, 'LOCK', 1)]).toEqual(['open', 'unlocked']);

    const mark = h.csms.mark();
    gpio.line(RELAY_FEEDBACK).fail();
    gpio.line(LOCK_FEEDBACK).fail();
    await h.status(1, 'Faulted', mark);
    const unread = await status(h);
    expect(unread.report.connectors[0]).toMatchObject({
      relay: { closed: false, feedback: false, feedbackReadable: false },
      lock: { locked: false, feedback: false, feedbackReadable: false },
    });
    expect([cell(unread.human, 'RELAY', 1), cell(unread.human, 'LOCK', 1)]).toEqual([
      'open (feedback unreadable)',
      'unknown (feedback unreadable)',
    ]);
  });
});
