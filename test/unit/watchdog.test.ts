import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { SystemdNotifier } from '../../src/systemd/notify.js';
import { FakeClock } from '../support/fake-clock.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A transport that records what it is asked to send; `hold` keeps deliveries pending. */
function recordingTransport(opts: { hold?: boolean; fail?: boolean } = {}) {
  const sent: string[][] = [];
  const transport = (_socket: string, fields: readonly string[]) => {
    sent.push([...fields]);
    if (opts.fail) return Promise.reject(new Error('no systemd-notify'));
    return opts.hold ? new Promise<void>(() => {}) : Promise.resolve();
  };
  return { sent, transport };
}

function notifierWith(env: NodeJS.ProcessEnv, transport = recordingTransport().transport) {
  const clock = new FakeClock();
  const notifier = new SystemdNotifier({ env, log: silentLogger(), clock, transport, pid: 4242 });
  return { clock, notifier };
}

const keepAlives = (sent: string[][]) => sent.filter((fields) => fields.includes('WATCHDOG=1')).length;

describe('SystemdNotifier', () => {
  it('does nothing without NOTIFY_SOCKET, and leaves no timer behind', async () => {
    const { sent, transport } = recordingTransport();
    const { clock, notifier } = notifierWith({ WATCHDOG_USEC: '1000000' }, transport);
    await notifier.ready('up');
    await notifier.status('still up');
    await notifier.stopping();
    clock.advance(10_000);
    await notifier.drained();
    expect(notifier.enabled).toBe(false);
    expect(notifier.watchdogIntervalMs).toBeUndefined();
    expect(sent).toEqual([]);
    expect(clock.pending).toBe(0);
  });

  it('sends READY, STATUS and STOPPING in order, one field per line', async () => {
    const { sent, transport } = recordingTransport();
    const { notifier } = notifierWith({ NOTIFY_SOCKET: '/run/x' }, transport);
    void notifier.ready('store open, board up');
    void notifier.status('connected\nto CSMS');
    await notifier.stopping('stopping');
    expect(sent).toEqual([
      ['READY=1', 'STATUS=store open, board up'],
      ['STATUS=connected to CSMS'],
      ['STOPPING=1', 'STATUS=stopping'],
    ]);
  });

  it('sends a keep-alive every half WATCHDOG_USEC once ready, until closed', async () => {
    const { sent, transport } = recordingTransport();
    const { clock, notifier } = notifierWith(
      { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '4242' },
      transport,
    );
    expect(notifier.watchdogIntervalMs).toBe(15_000);
    clock.advance(60_000);
    await notifier.drained();
    expect(keepAlives(sent)).toBe(0); // systemd enforces the watchdog only after READY=1
    await notifier.ready();
    clock.advance(14_999);
    await notifier.drained();
    expect(keepAlives(sent)).toBe(0);
    for (let n = 1; n <= 4; n++) {
      clock.advance(n === 1 ? 1 : 15_000);
      await notifier.drained();
      expect(keepAlives(sent)).toBe(n);
    }
    await notifier.close();
    clock.advance(60_000);
    await notifier.drained();
    expect(keepAlives(sent)).toBe(4);
    expect(clock.pending).toBe(0);
  });

  it('has no watchdog when WATCHDOG_PID names another process or WATCHDOG_USEC is not a number', () => {
    for (const env of [
      { WATCHDOG_USEC: '30000000', WATCHDOG_PID: '1' },
      { WATCHDOG_USEC: 'thirty' },
      { WATCHDOG_USEC: '0' },
      { WATCHDOG_USEC: '-5' },
    ]) {
      const { clock, notifier } = notifierWith({ NOTIFY_SOCKET: '/run/x', ...env });
      void notifier.ready();
      expect(notifier.watchdogIntervalMs).toBeUndefined();
      expect(clock.pending).toBe(0);
    }
  });

  it('does not pile up keep-alives while one is still being delivered', async () => {
    const { sent, transport } = recordingTransport({ hold: true });
    const { clock, notifier } = notifierWith(
      { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '2000000' },
      transport,
    );
    void notifier.ready();
    for (let i = 0; i < 10; i++) {
      clock.advance(1_000);
      await Promise.resolve();
    }
    // READY=1 never completes here, so nothing after it leaves; a later keep-alive waits as one.
    expect(sent).toEqual([['READY=1']]);
    expect(clock.pending).toBe(1);
  });

  it('survives a transport that fails, and keeps trying', async () => {
    const { sent, transport } = recordingTransport({ fail: true });
    const { clock, notifier } = notifierWith(
      { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '2000000' },
      transport,
    );
    await expect(notifier.ready()).resolves.toBeUndefined();
    clock.advance(1_000);
    await notifier.drained();
    expect(sent).toEqual([['READY=1'], ['WATCHDOG=1']]);
    await notifier.close();
  });
});

/** An emulated NOTIFY_SOCKET: a unix datagram socket whose datagrams arrive as `message` events. */
class NotifySocket extends EventEmitter {
  readonly messages: string[] = [];
  private constructor(
    readonly path: string,
    private readonly receiver: ChildProcess,
  ) {
    super();
  }

  static async open(path: string): Promise<NotifySocket> {
    // python3 (a prerequisite of the build) because Node has no unix datagram sockets either.
    const script = [
      'import socket, sys',
      's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
      's.bind(sys.argv[1])',
      'print("bound", flush=True)',
      'while True:',
      '    print(s.recv(65536).decode().replace("\\n", "|"), flush=True)',
    ].join('\n');
    const receiver = spawn('python3', ['-c', script, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    const socket = new NotifySocket(path, receiver);
    let buffer = '';
    let bound = false;
    const ready = new Promise<void>((resolve, reject) => {
      receiver.once('exit', (code) => reject(new Error(`datagram receiver exited with ${code}`)));
      receiver.stdout?.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        const lines = buffer.split('\n');
        buffer = lines.pop() ?? '';
        for (const line of lines) {
          if (!bound && line === 'bound') {
            bound = true;
            resolve();
          } else if (line !== 'BARRIER=1') {
            // BARRIER=1 is systemd-notify's own handshake, not something the daemon said.
            socket.messages.push(line);
            socket.emit('message', line);
          }
        }
      });
    });
    await ready;
    return socket;
  }

  count(message: string, from = 0): number {
    return this.messages.slice(from).filter((m) => m === message).length;
  }

  /** Resolves with the index of the message once `n` of them have arrived at or after `from`. */
  async waitFor(message: string, n = 1, from = 0): Promise<number> {
    while (this.count(message, from) < n) await once(this, 'message');
    let seen = 0;
    for (let i = from; i < this.messages.length; i++) {
      if (this.messages[i] === message && ++seen === n) return i;
    }
    throw new Error('unreachable');
  }

  close(): void {
    this.receiver.kill();
  }
}

/**
 * A process using the notifier as the daemon does. SIGUSR2 makes it announce STATUS=blocking and
 * then block its event loop in a synchronous read of stdin, until the test writes a byte.
 */
const CHILD = `
  import { readSync } from 'node:fs';
  const { SystemdNotifier } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'src/systemd/notify.ts')).href)});
  const { silentLogger } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'src/log.ts')).href)});
  const notifier = new SystemdNotifier({ env: process.env, log: silentLogger() });
  process.on('SIGUSR2', async () => {
    await notifier.status('blocking');
    readSync(0, Buffer.alloc(1));
    await notifier.status('unblocked');
  });
  await notifier.ready('running');
`;

function startChild(socket: NotifySocket, watchdogUsec: number): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', CHILD], {
    cwd: ROOT,
    env: { ...process.env, NOTIFY_SOCKET: socket.path, WATCHDOG_USEC: String(watchdogUsec) },
    stdio: ['pipe', 'inherit', 'inherit'],
  });
}

describe('watchdog keep-alives from a real process', () => {
  const cleanup: Array<() => void> = [];
  afterEach(() => {
    for (const fn of cleanup.splice(0).reverse()) fn();
  });

  it('arrive while the event loop runs and stop while it is blocked', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cp-watchdog-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const blockedSocket = await NotifySocket.open(join(dir, 'blocked.sock'));
    const controlSocket = await NotifySocket.open(join(dir, 'control.sock'));
    cleanup.push(
      () => blockedSocket.close(),
      () => controlSocket.close(),
    );
    const blocked = startChild(blockedSocket, 200_000);
    const control = startChild(controlSocket, 200_000);
    cleanup.push(
      () => blocked.kill('SIGKILL'),
      () => control.kill('SIGKILL'),
    );

    const ready = await blockedSocket.waitFor('READY=1|STATUS=running');
    await blockedSocket.waitFor('WATCHDOG=1', 3, ready);

    blocked.kill('SIGUSR2');
    const blockedAt = await blockedSocket.waitFor('STATUS=blocking');
    // The control process runs the same timers unhindered: five of its keep-alives are five
    // intervals of real time in which the blocked one should have sent as many.
    await controlSocket.waitFor('WATCHDOG=1', 5, controlSocket.messages.length);
    expect(blockedSocket.count('WATCHDOG=1', blockedAt)).toBe(0);

    blocked.stdin?.write('x');
    const unblockedAt = await blockedSocket.waitFor('STATUS=unblocked', 1, blockedAt);
    await blockedSocket.waitFor('WATCHDOG=1', 1, unblockedAt);
  });
});
