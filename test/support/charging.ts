import type { Outbox, OutboxEntry } from '../../src/ocpp/outbox.js';
import type { DevCsms, FrameRecord } from '../csms/server.js';
import { CP_ID, type Harness } from './harness.js';

/** What the charge point sends; only the fields the tests read. */
export type StartReq = { connectorId: number; idTag: string; meterStart: number; timestamp: string };
export type StopReq = {
  transactionId: number;
  idTag?: string;
  meterStop: number;
  timestamp: string;
  reason?: string;
};
export type MeterValuesReq = {
  connectorId: number;
  transactionId?: number;
  meterValue: Array<{
    timestamp: string;
    sampledValue: Array<{ value: string; measurand?: string; context?: string }>;
  }>;
};

/** The Energy.Active.Import.Register value (Wh) of a MeterValues request's first sample. */
export function energyOf(req: MeterValuesReq): number {
  const values = req.meterValue[0]?.sampledValue ?? [];
  const energy = values.find(
    (v) => (v.measurand ?? 'Energy.Active.Import.Register') === 'Energy.Active.Import.Register',
  );
  if (!energy) throw new Error(`no energy reading in ${JSON.stringify(req)}`);
  return Number(energy.value);
}

/** The central system's answer (CALLRESULT payload) to the CALL `callId`, if it sent one. */
export function answerTo<T = unknown>(csms: DevCsms, callId: string, cpId = CP_ID): T | undefined {
  const frame = csms.frames.find(
    (f: FrameRecord) =>
      f.chargePointId === cpId &&
      f.direction === 'out' &&
      f.message?.type === 'result' &&
      f.message.id === callId,
  );
  return frame?.message?.type === 'result' ? (frame.message.payload as T) : undefined;
}

/** The transactionId the central system gave in its answer to the StartTransaction CALL `callId`. */
export function transactionIdOf(csms: DevCsms, callId: string, cpId = CP_ID): number {
  const answer = answerTo<{ transactionId: number }>(csms, callId, cpId);
  if (answer === undefined) throw new Error(`StartTransaction ${callId} was not answered`);
  return answer.transactionId;
}

/** Waits until the central system has answered the CALL `callId` (answers follow their CALL at once). */
export async function answered(csms: DevCsms, callId: string, cpId = CP_ID): Promise<FrameRecord> {
  return csms.waitForFrame(
    cpId,
    (f) =>
      f.direction === 'out' &&
      (f.message?.type === 'result' || f.message?.type === 'error') &&
      f.message.id === callId,
    { what: `the answer to ${callId}` },
  );
}

/** The id is on the local list, Accepted (IdTagLocalAuthList): a session starts without the central system. */
export async function listed(h: Harness, idTag: string): Promise<void> {
  const answer = await h.csms.call<{ status: string }>(CP_ID, 'SendLocalList', {
    listVersion: 1,
    updateType: 'Full',
    localAuthorizationList: [{ idTag, idTagInfo: { status: 'Accepted' } }],
  });
  if (answer.status !== 'Accepted') throw new Error(`SendLocalList answered ${answer.status}`);
}

/** Starts a transaction on `connectorId` the OCTT way (plug, then card) and returns its id. */
export async function charging(h: Harness, idTag: string, connectorId = 1): Promise<number> {
  const mark = h.csms.mark();
  h.board.plug(connectorId);
  await h.status(connectorId, 'Preparing', mark);
  h.board.swipe(idTag);
  const start = await h.csms.waitForCall(CP_ID, 'StartTransaction', {
    since: mark,
    where: (p: StartReq) => p.connectorId === connectorId,
  });
  await h.status(connectorId, 'Charging', mark);
  await answered(h.csms, start.id);
  return transactionIdOf(h.csms, start.id);
}

/**
 * The central system becomes unreachable: the connection is dropped and every new attempt refused.
 * Resolves once the charge point has seen its link close.
 */
export async function goOffline(h: Harness): Promise<void> {
  const closed = new Promise<void>((resolve) => h.runtime.link.once('close', () => resolve()));
  h.csms.refuseConnections(true);
  h.csms.dropConnection(CP_ID);
  await closed;
}

/** The central system is reachable again; resolves when the charge point has reconnected. */
export async function goOnline(h: Harness): Promise<void> {
  h.csms.refuseConnections(false);
  await h.csms.waitForConnection(CP_ID);
}

/** Resolves when `pred` holds, checked now and after every change the transaction engine reports. */
export function whenEngine(h: Harness, pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  return whenEmitted(h.runtime.transactions, 'changed', pred, what, timeoutMs);
}

/**
 * Resolves once a connector's contactor is `closed` (or open), checked now and on each of its
 * changes: the charging limit commands it after the engine's state has changed.
 */
export function whenContactor(
  h: Harness,
  connectorId: number,
  closed: boolean,
  timeoutMs = 10_000,
): Promise<void> {
  const relay = h.board.connector(connectorId)?.devices.relay;
  if (!relay) throw new Error(`no connector ${connectorId}`);
  const what = `the contactor of connector ${connectorId} ${closed ? 'closed' : 'open'}`;
  return whenEmitted(relay, 'change', () => relay.isClosed() === closed, what, timeoutMs);
}

/** Resolves when `pred` holds, checked now and after every station status change. */
export function whenStation(
  h: Harness,
  pred: () => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  return whenEmitted(h.runtime.station, 'status', pred, what, timeoutMs);
}

/** Resolves when `pred` holds, checked now and after every message the outbox delivered (committed). */
export function whenOutbox(h: Harness, pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  return whenEmitted(h.runtime.outbox, 'delivered', pred, what, timeoutMs);
}

interface Emitter {
  on(event: string, listener: () => void): unknown;
  off(event: string, listener: () => void): unknown;
}

function whenEmitted(
  emitter: unknown,
  event: string,
  pred: () => boolean,
  what: string,
  timeoutMs: number,
): Promise<void> {
  const target = emitter as Emitter;
  return new Promise((resolve, reject) => {
    if (pred()) return resolve();
    const timer = setTimeout(() => {
      target.off(event, check);
      reject(new Error(`timed out waiting for ${what}`));
    }, timeoutMs);
    function check(): void {
      if (!pred()) return;
      clearTimeout(timer);
      target.off(event, check);
      resolve();
    }
    target.on(event, check);
  });
}

/**
 * Records every message the runtime puts on its outbox, as it is committed, so a test can wait for
 * what the charger queued while it could not send anything.
 */
export class OutboxWatch {
  readonly entries: OutboxEntry[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(outbox: Outbox) {
    const enqueue = outbox.enqueue.bind(outbox);
    outbox.enqueue = (action, payload, localTxId) => {
      const entry = enqueue(action, payload, localTxId);
      this.entries.push(entry);
      for (const waiter of [...this.waiters]) waiter();
      return entry;
    };
  }

  /** Resolves when `pred(entries)` holds. */
  waitFor(pred: (entries: OutboxEntry[]) => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      if (pred(this.entries)) return resolve();
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      const check = () => {
        if (!pred(this.entries)) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }
}
