import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./modbus-server.py', import.meta.url));
const PYTHON = '/usr/bin/python3';
const READY_TIMEOUT_MS = 10_000;
const COMMAND_TIMEOUT_MS = 5_000;

export type RegisterTable = 'input' | 'holding';
/** Every table the test device serves: the registers and the coils. */
export type DeviceTable = RegisterTable | 'coil';
export type DeviceMode = { mode: 'normal' } | { mode: 'silent' } | { mode: 'exception'; code: number };

export type ModbusServerTransport = { type: 'tcp' } | { type: 'rtu'; path: string; baudRate?: number };

type Answer = {
  id?: number;
  ok?: boolean;
  error?: string;
  ready?: boolean;
  port?: number | null;
  value?: number[];
};

/**
 * An independent Modbus device for tests: test/support/modbus-server.py (pymodbus 3.0) in its own
 * process. It is controlled over its stdin/stdout, one JSON line per command and per answer; each
 * command resolves once the server has applied it. Closing stdin ends the server, so a crashed test
 * run never leaves one behind.
 */
export class ModbusTestServer {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (value: number[] | undefined) => void; reject: (err: Error) => void }
  >();
  private stderr = '';
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    /** The TCP port (TCP servers only). */
    readonly port: number | undefined,
    private readonly lines: AsyncIterator<Answer>,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000);
    });
    void this.dispatch();
  }

  static async start(transport: ModbusServerTransport, units: number[]): Promise<ModbusTestServer> {
    const args = [SCRIPT, '--units', units.join(',')];
    if (transport.type === 'tcp') args.push('--tcp');
    else args.push('--rtu', transport.path, '--baudrate', String(transport.baudRate ?? 9600));
    const child = spawn(PYTHON, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const lines = readJsonLines(child);
    const ready = await Promise.race([
      lines.next(),
      new Promise<never>((_, reject) =>
        setTimeout(
          () => reject(new Error(`modbus-server.py not ready: ${stderr}`)),
          READY_TIMEOUT_MS,
        ).unref(),
      ),
    ]).catch((err: unknown) => {
      child.kill('SIGKILL');
      throw err;
    });
    if (ready.done || !ready.value.ready) {
      child.kill('SIGKILL');
      throw new Error(`modbus-server.py failed to start: ${stderr}`);
    }
    return new ModbusTestServer(child, ready.value.port ?? undefined, lines);
  }

  /** Writes an IEEE-754 float32 (big-endian, high word first, as Eastron documents). */
  setFloat(unit: number, table: RegisterTable, address: number, value: number): Promise<void> {
    return this.command({ cmd: 'set', unit, table, address, type: 'float32', value });
  }

  setUint32(unit: number, table: RegisterTable, address: number, value: number): Promise<void> {
    return this.command({ cmd: 'set', unit, table, address, type: 'uint32', value });
  }

  setWords(unit: number, table: DeviceTable, address: number, words: number[]): Promise<void> {
    return this.command({ cmd: 'set', unit, table, address, type: 'words', value: words });
  }

  /** What the device holds now: words, or 0 / 1 per coil (what a client wrote, or the test set). */
  async get(unit: number, table: DeviceTable, address: number, count = 1): Promise<number[]> {
    return (await this.query({ cmd: 'get', unit, table, address, count })) ?? [];
  }

  /**
   * Only these registers exist (each range [first, end)); a read touching any other is answered
   * with exception 2, as an Eastron meter answers an undocumented register. null: all exist.
   */
  setDocumented(unit: number, table: RegisterTable, ranges: ReadonlyArray<readonly [number, number]> | null) {
    return this.command({ cmd: 'documented', unit, table, ranges });
  }

  /** normal, silent (no answer at all, as a dead device), or answer every read with an exception. */
  setMode(unit: number, mode: DeviceMode): Promise<void> {
    return this.command({ cmd: 'mode', unit, ...mode });
  }

  /** Closes every open TCP connection, as a rebooting gateway would. */
  dropConnections(): Promise<void> {
    return this.command({ cmd: 'drop' });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.stdin?.end();
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 3_000);
      await this.exited;
      clearTimeout(timer);
    }
  }

  private async command(body: Record<string, unknown>): Promise<void> {
    await this.query(body);
  }

  private query(body: Record<string, unknown>): Promise<number[] | undefined> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`modbus-server.py did not answer ${JSON.stringify(body)}: ${this.stderr}`));
      }, COMMAND_TIMEOUT_MS);
      this.pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      this.child.stdin?.write(`${JSON.stringify({ id, ...body })}\n`);
    });
  }

  private async dispatch(): Promise<void> {
    for (;;) {
      const next = await this.lines.next();
      if (next.done) break;
      const { id, ok, error, value } = next.value;
      if (id === undefined) continue;
      const waiter = this.pending.get(id);
      this.pending.delete(id);
      if (ok) waiter?.resolve(value);
      else waiter?.reject(new Error(`modbus-server.py: ${error}`));
    }
    for (const waiter of this.pending.values())
      waiter.reject(new Error(`modbus-server.py exited: ${this.stderr}`));
    this.pending.clear();
  }
}

async function* readJsonLines(child: ChildProcess): AsyncGenerator<Answer> {
  let buffer = '';
  for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
    buffer += chunk.toString();
    const parts = buffer.split('\n');
    buffer = parts.pop() ?? '';
    for (const part of parts) if (part.trim()) yield JSON.parse(part) as Answer;
  }
}
