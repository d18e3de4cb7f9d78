import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';

/**
 * A minimal central system over a real WebSocket on 127.0.0.1, for long runs of the whole runtime:
 * it accepts every charge point, answers every CALL at once with a valid default (Accepted, a new
 * transactionId, its clock's time) and keeps only counters, never the frames, so a simulated week
 * measures the charge point's memory, not its own (the in-process LoopbackCsms records every call
 * and needs no socket, for engine-level tests). `now` is the central system's clock: give it the
 * test's fake clock.
 */
export class CountingCsms {
  /** CALLs received, per action. */
  readonly calls = new Map<string, number>();
  connections = 0;
  private readonly wss: WebSocketServer;
  private nextTransactionId = 1;

  constructor(private readonly now: () => number = Date.now) {
    this.wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => 'ocpp1.6' });
    this.wss.on('connection', (ws) => {
      this.connections += 1;
      ws.on('message', (data) => this.onMessage(ws, data.toString()));
    });
  }

  async start(): Promise<string> {
    if (!this.wss.address())
      await new Promise<void>((resolve) => this.wss.once('listening', () => resolve()));
    const { port } = this.wss.address() as AddressInfo;
    return `ws://127.0.0.1:${port}/ocpp`;
  }

  async stop(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  count(action: string): number {
    return this.calls.get(action) ?? 0;
  }

  private onMessage(ws: WebSocket, text: string): void {
    const frame = JSON.parse(text) as unknown[];
    if (frame[0] !== 2 || typeof frame[1] !== 'string' || typeof frame[2] !== 'string') return;
    const action = frame[2];
    this.calls.set(action, this.count(action) + 1);
    ws.send(JSON.stringify([3, frame[1], this.answer(action)]));
  }

  private answer(action: string): Record<string, unknown> {
    const currentTime = new Date(this.now()).toISOString();
    switch (action) {
      case 'BootNotification':
        return { status: 'Accepted', currentTime, interval: 3600 };
      case 'Heartbeat':
        return { currentTime };
      case 'Authorize':
        return { idTagInfo: { status: 'Accepted' } };
      case 'StartTransaction':
        return { transactionId: this.nextTransactionId++, idTagInfo: { status: 'Accepted' } };
      case 'DataTransfer':
        return { status: 'UnknownVendorId' };
      default:
        return {};
    }
  }
}
