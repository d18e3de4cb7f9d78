import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';

const MOSQUITTO = process.env.MOSQUITTO ?? '/usr/sbin/mosquitto';
const READY_TIMEOUT_MS = 10_000;

export interface MosquittoOptions {
  /**
   * Keep retained messages and persistent sessions across a restart (written at a graceful stop),
   * as a broker installed as a service would.
   */
  persistent?: boolean;
}

/** A port nobody listens on right now (the kernel's choice). */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * A real mosquitto on 127.0.0.1 for one test, with its own configuration in a temporary folder.
 * It can be stopped and started again on the same port (a broker restart).
 */
export class Mosquitto {
  private child: ChildProcess | undefined;
  private output = '';

  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  /** A broker on a free port, running. */
  static async start(options: MosquittoOptions = {}): Promise<Mosquitto> {
    const broker = await Mosquitto.create(options);
    await broker.start();
    return broker;
  }

  /** A broker with its port chosen but not started (a broker that is down when the charger starts). */
  static async create(options: MosquittoOptions = {}): Promise<Mosquitto> {
    const dir = mkdtempSync(join(tmpdir(), 'cp-mosquitto-'));
    const broker = new Mosquitto(await freePort(), dir);
    writeFileSync(
      join(dir, 'mosquitto.conf'),
      [
        `listener ${broker.port} 127.0.0.1`,
        'allow_anonymous true',
        // Started as root it would switch to the mosquitto user, who cannot write this folder.
        ...(process.getuid?.() === 0 ? ['user root'] : []),
        `persistence ${options.persistent ? 'true' : 'false'}`,
        `persistence_location ${dir}/`,
        // stderr is unbuffered: the readiness line arrives when it is written, not at exit.
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        'log_type notice',
        'log_type information',
        '',
      ].join('\n'),
    );
    return broker;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts (or starts again) on this port; resolves once it accepts connections. */
  async start(): Promise<void> {
    if (this.child) return;
    this.output = '';
    const child = spawn(MOSQUITTO, ['-c', join(this.dir, 'mosquitto.conf')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      // mosquitto has no readiness notification; it logs this line once its listeners are open.
      const onData = (chunk: Buffer) => {
        this.output += chunk.toString();
        if (/mosquitto version \S+ running/.test(this.output)) settle();
      };
      const onExit = (code: number | null) => {
        this.child = undefined;
        settle(new Error(`mosquitto exited (${code}) before it was ready:\n${this.output}`));
      };
      const timer = setTimeout(
        () => settle(new Error(`mosquitto not ready within ${READY_TIMEOUT_MS} ms:\n${this.output}`)),
        READY_TIMEOUT_MS,
      );
      const settle = (error?: Error) => {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stderr?.off('data', onData);
        child.off('exit', onExit);
        if (error) reject(error);
        else resolve();
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.on('exit', onExit);
    });
    // Keep draining its output so a chatty broker never blocks on a full pipe.
    child.stdout?.resume();
    child.stderr?.resume();
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
  }

  /** Stops it (SIGTERM: a persistent broker writes its database) and waits until it has exited. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }

  /** Stops it and removes its folder. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A message as a subscriber received it. */
export interface Received {
  seq: number;
  topic: string;
  text: string;
  /** The parsed JSON payload (undefined when it is not JSON). */
  json: unknown;
  /** Delivered from the broker's retained store at subscription, not as it was published. */
  retained: boolean;
}

/**
 * A local app's view: subscribes to a topic filter and records every message, so tests (and the
 * bench) wait for what they expect instead of sleeping.
 */
export class MqttWatcher {
  readonly messages: Received[] = [];
  private readonly waiters = new Set<() => void>();

  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      const text = payload.toString();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      this.messages.push({ seq: this.messages.length, topic, text, json, retained: packet.retain });
      for (const waiter of [...this.waiters]) waiter();
    });
  }

  /** Connects and subscribes (QoS 1); resolves once the subscription is in place. */
  static async connect(url: string, filter: string, options: IClientOptions = {}): Promise<MqttWatcher> {
    const client = connect(url, { reconnectPeriod: 200, ...options });
    const watcher = new MqttWatcher(client);
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    await client.subscribeAsync(filter, { qos: 1 });
    return watcher;
  }

  /** A position in the message log: `waitFor(..., since)` only looks after it. */
  mark(): number {
    return this.messages.length;
  }

  /** Resolves with the first message (already received or coming, after `since`) that matches. */
  waitFor(
    pred: (message: Received) => boolean,
    what: string,
    since = 0,
    timeoutMs = 10_000,
  ): Promise<Received> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.messages.slice(since).find(pred);
        if (!found) return false;
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve(found);
        return true;
      };
      const waiter = () => void check();
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`MQTT: timed out waiting for ${what}`));
      }, timeoutMs);
      if (!check()) this.waiters.add(waiter);
    });
  }

  publish(topic: string, payload: string | object): Promise<unknown> {
    return this.client.publishAsync(topic, typeof payload === 'string' ? payload : JSON.stringify(payload), {
      qos: 1,
    });
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}
