import type { RpcEndpoint, Transport } from '../../src/ocpp/rpc.js';

export interface LoopbackCall {
  action: string;
  payload: Record<string, unknown>;
}

type Frame = [2, string, string, Record<string, unknown>] | [3 | 4, string, ...unknown[]];

/**
 * An in-process central system on the other end of an RpcEndpoint: it records the charge point's
 * CALLs and answers each one as an accepting central system would, and it can send CALLs of its
 * own. No socket and no timers of its own, so a fake clock can run hours of charging in
 * milliseconds through the real RPC, outbox and message code.
 */
export class LoopbackCsms implements Transport {
  readonly calls: LoopbackCall[] = [];
  private nextTransactionId = 1;
  private nextMessageId = 1;
  private readonly waiting = new Map<string, (payload: unknown) => void>();
  /** CALLs to deliver in the same turn as the answer to a charge-point action (one TCP read). */
  private readonly behind = new Map<string, () => void>();

  constructor(private readonly rpc: RpcEndpoint) {}

  /** Attaches as the RPC's transport and opens the gate, as an accepted registration would. */
  connect(): void {
    this.rpc.attach(this);
    this.rpc.setGate('open');
  }

  send(text: string): boolean {
    const frame = JSON.parse(text) as Frame;
    if (frame[0] === 2) {
      const [, id, action, payload] = frame;
      this.calls.push({ action, payload });
      const answer = this.answer(action);
      const next = this.behind.get(action);
      this.behind.delete(action);
      // Answered on a later turn, as a socket would: never re-entering the RPC from its own send.
      setImmediate(() => {
        this.rpc.receive(JSON.stringify([3, id, answer]));
        next?.();
      });
    } else {
      this.waiting.get(frame[1])?.(frame[0] === 3 ? frame[2] : { error: frame[2] });
      this.waiting.delete(frame[1]);
    }
    return true;
  }

  /** A central-system CALL; resolves with the charge point's answer payload. */
  call(action: string, payload: Record<string, unknown>): Promise<unknown> {
    const id = `cs-${this.nextMessageId++}`;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.rpc.receive(JSON.stringify([2, id, action, payload]));
    });
  }

  /**
   * Sends a CALL of ours right behind the answer to the charge point's next `after` CALL, in the same
   * turn (as when both frames arrive in one TCP read); resolves with the charge point's answer.
   */
  callBehind(after: string, action: string, payload: Record<string, unknown>): Promise<unknown> {
    return new Promise((resolve) => {
      this.behind.set(after, () => void this.call(action, payload).then(resolve));
    });
  }

  of(action: string): Array<Record<string, unknown>> {
    return this.calls.filter((c) => c.action === action).map((c) => c.payload);
  }

  private answer(action: string): Record<string, unknown> {
    switch (action) {
      case 'StartTransaction':
        return { transactionId: this.nextTransactionId++, idTagInfo: { status: 'Accepted' } };
      case 'Authorize':
        return { idTagInfo: { status: 'Accepted' } };
      case 'BootNotification':
        return { status: 'Accepted', currentTime: new Date(0).toISOString(), interval: 300 };
      case 'Heartbeat':
        return { currentTime: new Date(0).toISOString() };
      case 'DataTransfer':
        return { status: 'Accepted' };
      default:
        return {};
    }
  }
}
