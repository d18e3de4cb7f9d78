import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/file.js';
import { cpctl } from '../support/cpctl-process.js';
import { type DaemonConfig, standaloneConfig } from '../support/daemon-process.js';
import { HttpFileServer } from '../support/file-servers.js';

// `npm run dev` as a developer runs it: scripts/dev.ts (from source through tsx) in a process
// group of its own, with the real central system and daemon it starts, on a free port and a
// provisioning file in a temp dir. What it shows is read from its output, as a person would.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CP = 'CP-DEV-LOOP';
const WAIT_MS = 45_000;

/** A port nothing listens on now (the kernel's pick, released for the dev loop to bind). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Whether any process of the group `pgid` leads still runs. */
function processGroupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

class DevLoop {
  readonly lines: string[] = [];
  readonly child: ChildProcess;
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly port: number,
    readonly socket: string,
    config: string,
    env: NodeJS.ProcessEnv,
  ) {
    this.child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/dev.ts')], {
      cwd: ROOT,
      env: { ...process.env, ...env, CSMS_PORT: String(port), CHARGEPOINT_CONFIG: config },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, as a terminal gives the command it runs: Ctrl-C is a SIGINT to it.
      detached: true,
    });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        this.lines.push(line);
        for (const wake of [...this.waiters]) wake();
      });
    }
    this.child.on('exit', () => {
      for (const wake of [...this.waiters]) wake();
    });
  }

  /** The index of the first line at `from` or later that matches `pattern`. */
  waitForLine(pattern: RegExp, from = 0): Promise<number> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const index = this.lines.findIndex((line, i) => i >= from && pattern.test(line));
        if (index >= 0) {
          done();
          resolve(index);
        } else if (this.child.exitCode !== null || this.child.signalCode !== null) {
          done();
          reject(new Error(`dev loop ended without a line ${pattern}:\n${this.lines.join('\n')}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no line ${pattern} within ${WAIT_MS} ms:\n${this.lines.join('\n')}`));
      }, WAIT_MS);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  count(pattern: RegExp): number {
    return this.lines.filter((line) => pattern.test(line)).length;
  }

  /** Once the daemon has reported its last connector after a boot (the `n`th BootNotification). */
  async booted(n = 1): Promise<number> {
    let at = -1;
    for (let i = 0; i < n; i++) at = await this.waitForLine(/-> CALL BootNotification /, at + 1);
    return this.waitForLine(/-> CALL StatusNotification \{"connectorId":2,/, at);
  }

  /** The pid the `[dev]` line of the last start of `what` (chargepointd, central system) gives. */
  pid(what: string): number {
    const started = this.lines.filter((line) => line.startsWith(`[dev] ${what} started (pid `)).at(-1);
    return Number(/\(pid (\d+)\)/.exec(started ?? '')?.[1]);
  }

  /** `npm run csms -- <args>` against this loop's central system. */
  csms(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', join(ROOT, 'test/csms/main.ts'), ...args, '--port', String(this.port)],
        { cwd: ROOT },
        (error, stdout, stderr) => {
          resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
        },
      );
    });
  }

  exitCode(): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null)
      return Promise.resolve(this.child.exitCode);
    return new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  /** Kills whatever of the loop still runs: the dev process and each child it started. */
  async kill(): Promise<void> {
    const pids = this.lines.flatMap((line) => /^\[dev\] .* started \(pid (\d+)\)$/.exec(line)?.[1] ?? []);
    for (const pid of [this.child.pid, ...pids.map(Number)]) {
      try {
        if (pid !== undefined) process.kill(-pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await this.exitCode();
  }
}

describe('npm run dev: the daemon supervised as systemd would, the central system taking commands', () => {
  let loops: DevLoop[] = [];
  let dirs: string[] = [];
  afterEach(async () => {
    for (const loop of loops) await loop.kill();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    loops = [];
    dirs = [];
  });

  /**
   * A dev loop on a provisioning file in a temp dir (`fields` replace whole sections), `env`, and
   * its central system on `port` (a free one by default).
   */
  async function startLoop(
    fields: DaemonConfig = {},
    env: NodeJS.ProcessEnv = {},
    port?: number,
  ): Promise<DevLoop> {
    const dir = mkdtempSync(join(tmpdir(), 'cp-dev-loop-'));
    dirs.push(dir);
    port ??= await freePort();
    const config = join(dir, 'chargepoint.json');
    const provisioned = standaloneConfig(dir, CP, {
      csms: { url: `ws://127.0.0.1:${port}/ocpp`, reconnect: { initialSeconds: 0.05, maxSeconds: 0.5 } },
      board: 'sim',
      ...fields,
    });
    writeFileSync(config, JSON.stringify(provisioned));
    const loop = new DevLoop(port, join(dir, 'cpctl.sock'), config, env);
    loops.push(loop);
    return loop;
  }

  /** A dev loop whose daemon has booted and reported its connectors. */
  async function bootedLoop(env: NodeJS.ProcessEnv = {}): Promise<DevLoop> {
    const loop = await startLoop({}, env);
    await loop.booted();
    return loop;
  }

  it('restarts the daemon after a Reset Soft and a Reset Hard sent with csms send, RestartSec later', {
    timeout: 180_000,
  }, async () => {
    const loop = await bootedLoop();

    const refused = await loop.csms('send', 'Reset', '{"type":"Sof"}');
    expect(refused).toMatchObject({ code: 64, stdout: '' });
    expect(refused.stderr).toContain('/type must be equal to one of the allowed values: Hard, Soft');
    expect(loop.count(/<- CALL Reset/)).toBe(0);

    for (const [type, code, boot] of [
      ['Soft', 10, 2],
      ['Hard', 11, 3],
    ] as const) {
      const sent = await loop.csms('send', 'Reset', JSON.stringify({ type }));
      expect(sent).toEqual({ code: 0, stdout: 'CALLRESULT {"status":"Accepted"}\n', stderr: '' });
      const exited = await loop.waitForLine(new RegExp(`^\\[dev\\] chargepointd exited with code ${code} `));
      const exitedAt = Date.now();
      expect(loop.lines[exited]).toMatch(/restarting in 2 s, as systemd would$/);
      await loop.waitForLine(/^\[dev\] chargepointd started \(pid \d+\)$/, exited);
      // The unit's RestartSec=2s.
      expect(Date.now() - exitedAt).toBeGreaterThanOrEqual(1_900);
      await loop.booted(boot);
    }
    expect(loop.count(/-> CALL BootNotification /)).toBe(3);
  });

  it("installs an UpdateFirmware sent with csms send through config/dev.json's hook: the daemon restarts as systemd would and reports Installed", {
    timeout: 180_000,
  }, async () => {
    const files = await HttpFileServer.start();
    try {
      files.put('fw-dev.bin', 16 * 1024);
      // The development setup's own firmware section, its hook path resolved from config/ as there.
      const { firmware } = loadConfigFile(join(ROOT, 'config/dev.json'));
      const loop = await startLoop({ firmware });
      await loop.booted();
      const firmwareStatus = /-> CALL FirmwareStatusNotification \{"status":"(\w+)"\}/;

      const location = files.url('fw-dev.bin');
      const sent = await loop.csms(
        'send',
        'UpdateFirmware',
        JSON.stringify({ location, retrieveDate: new Date().toISOString() }),
      );
      expect(sent).toEqual({ code: 0, stdout: 'CALLRESULT {}\n', stderr: '' });
      const installing = await loop.waitForLine(
        /-> CALL FirmwareStatusNotification \{"status":"Installing"\}/,
      );
      // What follows the hook: the daemon's exit for the restart, not InstallationFailed.
      const next = await loop.waitForLine(
        /^\[dev\] chargepointd exited|-> CALL FirmwareStatusNotification /,
        installing + 1,
      );
      expect(loop.lines[next]).toBe(
        '[dev] chargepointd exited with code 10 (Reset Soft, or a firmware install that restarts the runtime): restarting in 2 s, as systemd would',
      );
      await loop.waitForLine(/^\[dev\] chargepointd started \(pid \d+\)$/, next);
      const rebooted = await loop.booted(2);
      await loop.waitForLine(/-> CALL FirmwareStatusNotification \{"status":"Installed"\}/, rebooted);
      expect(loop.lines.flatMap((line) => firmwareStatus.exec(line)?.[1] ?? [])).toEqual([
        'Downloading',
        'Downloaded',
        'Installing',
        'Installed',
      ]);

      // A technician's empty image (cpctl firmware install) never reaches the hook: DownloadFailed,
      // saying why; the old firmware keeps running.
      const empty = join(dirname(loop.socket), 'empty.bin');
      writeFileSync(empty, '');
      expect((await cpctl(loop.socket, 'firmware', 'install', empty)).code).toBe(0);
      await loop.waitForLine(/-> CALL FirmwareStatusNotification \{"status":"DownloadFailed"\}/, rebooted);
      await loop.waitForLine(/firmware update failed.*the image from .*empty\.bin is empty \(0 bytes\)/);
      expect(loop.count(/^\[dev\] chargepointd (exited|killed)/)).toBe(1);
      expect(loop.count(/-> CALL BootNotification /)).toBe(2);
    } finally {
      await files.close();
    }
  });

  it('restarts a crashed daemon, and stops the loop on a configuration error, which systemd does not restart', {
    timeout: 180_000,
  }, async () => {
    const loop = await bootedLoop();
    process.kill(loop.pid('chargepointd'), 'SIGKILL');
    const killed = await loop.waitForLine(/^\[dev\] chargepointd killed by SIGKILL: restarting in 2 s/);
    await loop.waitForLine(/^\[dev\] chargepointd started/, killed);
    await loop.booted(2);

    const misconfigured = await startLoop({ board: 'no-such-board.json' });
    expect(await misconfigured.exitCode()).toBe(78);
    const exited = await misconfigured.waitForLine(/^\[dev\] chargepointd exited with code 78 /);
    expect(misconfigured.lines[exited]).toMatch(/not restarted \(systemd would not\)$/);
    expect(misconfigured.count(/^\[dev\] chargepointd started/)).toBe(1);
    expect(misconfigured.lines.at(-1)).toBe('[dev] stopped');
  });

  it('ends, starting no daemon, when the central system cannot start (its port taken)', {
    timeout: 60_000,
  }, async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const address = taken.address();
      if (address === null || typeof address === 'string') throw new Error('no port');
      const loop = await startLoop({}, {}, address.port);
      expect(await loop.exitCode()).toBe(1);
      expect(loop.lines).toContain('[dev] central system exited with code 1: stopping');
      expect(loop.count(/^\[dev\] chargepointd started/)).toBe(0);
      expect(loop.lines.at(-1)).toBe('[dev] stopped');
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });

  it('kills a daemon that has not stopped TimeoutStopSec after Ctrl-C, as systemd does, then stops the central system', {
    timeout: 180_000,
  }, async () => {
    // The unit's 20 s (test/unit/systemd-restart.test.ts reads it), shortened for this test only.
    const loop = await bootedLoop({ DEV_TIMEOUT_STOP_SEC: '1500ms' });
    const daemonPid = loop.pid('chargepointd');
    // A daemon that hangs: it cannot act on the SIGTERM.
    process.kill(daemonPid, 'SIGSTOP');
    const interrupted = Date.now();
    process.kill(-(loop.child.pid ?? 0), 'SIGINT');
    expect(await loop.exitCode()).toBe(0);
    expect(Date.now() - interrupted).toBeGreaterThanOrEqual(1_400);
    const timedOut = loop.lines.indexOf(
      '[dev] chargepointd still running 1.5 s after SIGTERM (TimeoutStopSec): killing it, as systemd would',
    );
    expect(timedOut).toBeGreaterThan(0);
    const killed = loop.lines.indexOf('[dev] chargepointd killed by SIGKILL');
    expect(killed).toBeGreaterThan(timedOut);
    expect(loop.lines.indexOf('[csms] SIGTERM: stopping')).toBeGreaterThan(killed);
    // Nothing of the daemon's or the central system's process group is left behind.
    expect(processGroupAlive(daemonPid)).toBe(false);
    expect(processGroupAlive(loop.pid('central system'))).toBe(false);
  });

  it('answers Authorize as set with csms authorize; Ctrl-C stops the daemon, whose StopTransaction still gets its answer, then the central system', {
    timeout: 180_000,
  }, async () => {
    const loop = await bootedLoop();

    const set = await loop.csms('authorize', 'Blocked', '04BLOCKED');
    expect(set).toEqual({
      code: 0,
      stdout: 'Authorize: Accepted for every idTag\n  04BLOCKED: Blocked\n',
      stderr: '',
    });
    expect((await cpctl(loop.socket, 'sim', 'plug', '1')).code).toBe(0);
    expect((await cpctl(loop.socket, 'sim', 'swipe', '04BLOCKED')).code).toBe(0);
    const blocked = await loop.waitForLine(/-> CALL Authorize \{"idTag":"04BLOCKED"\}/);
    await loop.waitForLine(/<- RESULT \S+ \{"idTagInfo":\{"status":"Blocked"\}\}/, blocked);

    expect((await cpctl(loop.socket, 'sim', 'swipe', '04GOOD')).code).toBe(0);
    const start = await loop.waitForLine(/-> CALL StartTransaction \{"connectorId":1,"idTag":"04GOOD"/);
    await loop.waitForLine(
      /<- RESULT \S+ \{"transactionId":\d+,"idTagInfo":\{"status":"Accepted"\}\}/,
      start,
    );
    expect(loop.count(/-> CALL StartTransaction .*04BLOCKED/)).toBe(0);

    process.kill(-(loop.child.pid ?? 0), 'SIGINT');
    expect(await loop.exitCode()).toBe(0);

    const stopTx = loop.lines.findIndex((line) => /-> CALL StopTransaction .*"reason":"Reboot"/.test(line));
    expect(stopTx).toBeGreaterThan(start);
    const answered = loop.lines.findIndex((line, i) => i > stopTx && /<- RESULT /.test(line));
    const daemonExited = loop.lines.indexOf('[dev] chargepointd exited with code 0 (stopped on request)');
    const disconnected = loop.lines.indexOf(`[csms] ${CP} disconnected (1000)`);
    const csmsStopping = loop.lines.indexOf('[csms] SIGTERM: stopping');
    expect(answered).toBeGreaterThan(stopTx);
    expect(disconnected).toBeGreaterThan(answered);
    expect(daemonExited).toBeGreaterThan(answered);
    expect(csmsStopping).toBeGreaterThan(Math.max(daemonExited, disconnected));
    expect(loop.lines.at(-1)).toBe('[dev] stopped');
    expect(loop.count(/SIGINT/)).toBe(0);
  });
});
