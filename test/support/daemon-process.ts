import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { request } from '../../src/cli/client.js';
import { DevCsms } from '../csms/server.js';
import { answered, energyOf, type MeterValuesReq, type StartReq, transactionIdOf } from './charging.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The daemon as its own process, from source through tsx, as systemd would run the build. */
export class DaemonProcess {
  readonly lines: Array<Record<string, unknown>> = [];
  stderr = '';
  private constructor(readonly child: ChildProcess) {
    let buffer = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop() ?? '';
      for (const part of parts) if (part.trim()) this.lines.push(JSON.parse(part) as Record<string, unknown>);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
  }

  /** The process has ended, by itself or by a signal ('exit' has been emitted). */
  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** `as` runs it as another user (only root can). */
  static spawn(args: string[], as?: { uid: number; gid: number }): DaemonProcess {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'src/bin/chargepointd.ts'), ...args],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        ...as,
      },
    );
    return new DaemonProcess(child);
  }

  static withConfig(dir: string, config: Record<string, unknown>): DaemonProcess {
    const file = join(dir, 'chargepoint.json');
    writeFileSync(file, JSON.stringify(config));
    return DaemonProcess.spawn(['--config', file]);
  }

  /** The exit code; null when a signal ended the process. */
  async exitCode(): Promise<number | null> {
    if (this.exited) return this.child.exitCode;
    const [code] = (await once(this.child, 'exit')) as [number | null];
    return code;
  }
}

/** A provisioning file as the tests write it: any JSON, valid or not. */
export type DaemonConfig = Record<string, unknown>;

/**
 * A provisioning file for a daemon expected to exit before it connects, with no central system of
 * its own (ws://127.0.0.1:9), state and socket in `dir`; `fields` add or replace whole sections.
 */
export function standaloneConfig(
  dir: string,
  chargePointId: string,
  fields: DaemonConfig = {},
): DaemonConfig {
  return {
    chargePointId,
    identity: { vendor: 'V', model: 'M' },
    csms: { url: 'ws://127.0.0.1:9/ocpp' },
    stateDir: join(dir, 'state'),
    cli: { socket: join(dir, 'cpctl.sock') },
    ...fields,
  };
}

/** One test's world for a daemon process: a temp dir and a development central system. */
export interface DaemonEnv {
  readonly chargePointId: string;
  readonly dir: string;
  readonly csms: DevCsms;
  readonly url: string;
  readonly stateDir: string;
  /** The cpctl socket `daemonConfig` provisions. */
  readonly socket: string;
  /**
   * The provisioning file every daemon test starts from (this charge point, this central system
   * with a fast reconnect, state and socket in the temp dir); `fields` replace whole sections.
   */
  daemonConfig(fields?: DaemonConfig): DaemonConfig;
  /** Writes `config` and starts the daemon on it; a daemon still running after the test is killed. */
  spawn(config: DaemonConfig): DaemonProcess;
}

/**
 * Gives each test of the describe block a fresh DaemonEnv (temp dir `prefix*`, a started DevCsms)
 * and tears it down after the test: every daemon it spawned is SIGKILLed and reaped first.
 * `scope: 'all'`: one DaemonEnv for all the tests of the block, torn down after the last.
 */
export function useDaemonEnv(
  prefix: string,
  chargePointId: string,
  { scope = 'each' }: { scope?: 'each' | 'all' } = {},
): () => DaemonEnv {
  const [setUp, tearDown] = scope === 'each' ? [beforeEach, afterEach] : [beforeAll, afterAll];
  let current: DaemonEnv | undefined;
  let daemons: DaemonProcess[] = [];
  setUp(async () => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    const csms = new DevCsms();
    const { url } = await csms.start();
    const stateDir = join(dir, 'state');
    const socket = join(dir, 'cpctl.sock');
    current = {
      chargePointId,
      dir,
      csms,
      url,
      stateDir,
      socket,
      daemonConfig: (fields = {}) => ({
        chargePointId,
        identity: { vendor: 'V', model: 'M' },
        csms: { url, reconnect: { initialSeconds: 0.05, maxSeconds: 0.5 } },
        stateDir,
        cli: { socket },
        ...fields,
      }),
      spawn: (config) => {
        const daemon = DaemonProcess.withConfig(dir, config);
        daemons.push(daemon);
        return daemon;
      },
    };
  });
  tearDown(async () => {
    for (const daemon of daemons) {
      if (!daemon.exited) daemon.child.kill('SIGKILL');
      await daemon.exitCode();
    }
    daemons = [];
    await current?.csms.stop();
    if (current) rmSync(current.dir, { recursive: true, force: true });
    current = undefined;
  });
  return () => {
    if (!current) throw new Error('useDaemonEnv: only inside a test or a hook after it');
    return current;
  };
}

/** A session the daemon is charging: its StartTransaction (answered), transactionId and first energy sample. */
export interface DaemonSession {
  start: { id: string; payload: StartReq };
  transactionId: number;
  sample: MeterValuesReq;
}

/**
 * Once the boot report has reached connector 2: the cable on connector 1 and the card `idTag`
 * through cpctl, then waits for the StartTransaction's answer and a MeterValues with energy.
 */
export async function chargeOnConnector1(env: DaemonEnv, idTag: string): Promise<DaemonSession> {
  const { csms, chargePointId: cp } = env;
  await csms.waitForCall(cp, 'StatusNotification', {
    where: (p: { connectorId: number }) => p.connectorId === 2,
  });
  await request(env.socket, 'sim.plug', { connectorId: 1 });
  await request(env.socket, 'sim.swipe', { idTag });
  const start = await csms.waitForCall(cp, 'StartTransaction');
  await answered(csms, start.id, cp);
  const transactionId = transactionIdOf(csms, start.id, cp);
  const sample = await csms.waitForCall(cp, 'MeterValues', {
    where: (p: MeterValuesReq) => p.transactionId === transactionId && energyOf(p) > 0,
  });
  return {
    start: { id: start.id, payload: start.payload as StartReq },
    transactionId,
    sample: sample.payload as MeterValuesReq,
  };
}

/**
 * A power cut: SIGKILL, then, once the process is gone and the central system has seen the
 * connection close, the daemon starts again on the same files. `mark` is the central system's
 * frame mark from before the restart.
 */
export async function cutPowerAndRestart(
  env: DaemonEnv,
  daemon: DaemonProcess,
  config: DaemonConfig,
): Promise<{ daemon: DaemonProcess; mark: number }> {
  daemon.child.kill('SIGKILL');
  await daemon.exitCode();
  await env.csms.waitForDisconnect(env.chargePointId);
  const mark = env.csms.mark();
  return { daemon: env.spawn(config), mark };
}
