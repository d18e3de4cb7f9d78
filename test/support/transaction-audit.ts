/**
 * The end-of-run check of the crash and chaos tests: the transaction messages the central system
 * recorded over a whole run, against the transactions the charge point's store holds.
 *
 * What is allowed: delivery is at-least-once. When the connection is lost (a kill, a drop) after
 * the central system answered a transaction message but before the answer was committed (or while
 * it was in flight), that message is sent once more. Such a copy is recognised by its payload:
 * StartTransaction by connectorId + idTag + meterStart + timestamp (the timestamp is the start
 * instant persisted with the transaction, so two sessions cannot share it), MeterValues and
 * StopTransaction by their whole payload. A copy is accepted only when a connection of the charge
 * point closed between the two transmissions, and one closure accounts for one copy at most. The
 * central system gives each StartTransaction copy a new transactionId; only the last one may be
 * used afterwards, the earlier ones must never appear in a MeterValues or StopTransaction.
 */
import Database from 'better-sqlite3';
import { expect } from 'vitest';
import type { FrameRecord } from '../csms/server.js';
import { energyOf, type MeterValuesReq, type StartReq, type StopReq } from './charging.js';

/** A row of the `transactions` table, as the audit reads it. */
export interface TxRow {
  local_id: number;
  connector_id: number;
  id_tag: string;
  transaction_id: number | null;
  meter_start: number;
  started_at: string;
  meter_stop: number | null;
  stopped_at: string | null;
  stop_reason: string | null;
}

/** One transmission of a CALL, as the central system recorded it. */
export interface Sent<P> {
  seq: number;
  id: string;
  payload: P;
  /** The answer's payload, when the central system answered (on that connection). */
  answer?: unknown;
}

export interface TransactionMessages {
  starts: Array<Sent<StartReq>>;
  meters: Array<Sent<MeterValuesReq>>;
  stops: Array<Sent<StopReq>>;
}

export interface AuditReport {
  /** Transmissions accepted as re-sent copies (each explained by its own connection loss). */
  copies: number;
  /** MeterValues delivered, copies not counted. */
  meterValues: number;
  /** Transactions per stop reason. */
  reasons: Record<string, number>;
}

export const startKey = (p: { connectorId: number; idTag: string; meterStart: number; timestamp: string }) =>
  `${p.connectorId}|${p.idTag}|${p.meterStart}|${p.timestamp}`;

/** The start key of a stored transaction: the same as its StartTransaction's. */
export const rowKey = (r: TxRow) => `${r.connector_id}|${r.id_tag}|${r.meter_start}|${r.started_at}`;

/** Every transaction of the store in `dbFile`, oldest first (read-only, so a running daemon is not disturbed). */
export function readTransactions(dbFile: string): TxRow[] {
  const db = new Database(dbFile, { readonly: true });
  try {
    return db.prepare('SELECT * FROM transactions ORDER BY local_id').all() as TxRow[];
  } finally {
    db.close();
  }
}

/** Rows left in the outbox and in its dead letters. */
export function queueCounts(dbFile: string): { outbox: number; deadLetters: number } {
  const db = new Database(dbFile, { readonly: true });
  try {
    const outbox = db.prepare('SELECT COUNT(*) AS n FROM outbox').get() as { n: number };
    const dead = db.prepare('SELECT COUNT(*) AS n FROM outbox_dead_letter').get() as { n: number };
    return { outbox: outbox.n, deadLetters: dead.n };
  } finally {
    db.close();
  }
}

/** The transactionId the central system gave in its answer to this StartTransaction, if it answered. */
export function answerId(s: Sent<StartReq>): number | undefined {
  return (s.answer as { transactionId?: number } | undefined)?.transactionId;
}

/** Every StartTransaction, MeterValues and StopTransaction `cp` sent, with the answer each got. */
export function transactionMessages(frames: readonly FrameRecord[], cp: string): TransactionMessages {
  const answers = new Map<string, unknown>();
  for (const f of frames)
    if (f.chargePointId === cp && f.direction === 'out' && f.message?.type === 'result')
      answers.set(f.message.id, f.message.payload);
  const of = <P>(action: string): Array<Sent<P>> =>
    frames.flatMap((f) =>
      f.chargePointId === cp &&
      f.direction === 'in' &&
      f.message?.type === 'call' &&
      f.message.action === action
        ? [
            {
              seq: f.seq,
              id: f.message.id,
              payload: f.message.payload as P,
              answer: answers.get(f.message.id),
            },
          ]
        : [],
    );
  return {
    starts: of<StartReq>('StartTransaction'),
    meters: of<MeterValuesReq>('MeterValues'),
    stops: of<StopReq>('StopTransaction'),
  };
}

/**
 * True when the central system has received the StopTransaction of the stored transaction `row`,
 * naming the transactionId it gave that transaction's (last) StartTransaction.
 */
export function stopReceived(frames: readonly FrameRecord[], cp: string, row: TxRow): boolean {
  const { starts, stops } = transactionMessages(frames, cp);
  const ids = new Set(starts.filter((s) => startKey(s.payload) === rowKey(row)).map(answerId));
  return stops.some((s) => ids.has(s.payload.transactionId));
}

interface Copy {
  from: number;
  seq: number;
  what: string;
}

/** Groups identical payloads. Returns the first transmission of each and the later ones (copies). */
function firstCopies<P>(
  sent: Array<Sent<P>>,
  key: (p: P) => string,
  what: string,
): { first: Array<Sent<P>>; copies: Copy[] } {
  const groups = new Map<string, Array<Sent<P>>>();
  for (const s of sent) groups.set(key(s.payload), [...(groups.get(key(s.payload)) ?? []), s]);
  const copies: Copy[] = [];
  for (const [k, group] of groups)
    for (let i = 1; i < group.length; i++)
      copies.push({ from: group[i - 1]!.seq, seq: group[i]!.seq, what: `${what} ${k}` });
  return { first: [...groups.values()].map((g) => g[0]!), copies };
}

/**
 * Every copy needs a connection loss between it and the previous transmission, and one loss
 * accounts for one copy at most: with one CALL in flight, only one message can be caught between
 * sending and committing its answer. Matched greedily by the copies' sending order (optimal for
 * intervals sorted by their end).
 */
function matchCopiesToBreaks(copies: Copy[], breaks: readonly number[], label: string): void {
  const used = new Set<number>();
  for (const copy of [...copies].sort((a, b) => a.seq - b.seq)) {
    const index = breaks.findIndex((b, i) => !used.has(i) && b >= copy.from && b < copy.seq);
    expect(
      index,
      `${label}: ${copy.what} sent again at seq ${copy.seq} without a crash or connection loss of its own since seq ${copy.from}`,
    ).toBeGreaterThanOrEqual(0);
    used.add(index);
  }
}

export interface AuditInput {
  /** Every frame the central system recorded over the run. */
  frames: readonly FrameRecord[];
  cp: string;
  /** The store's transactions at the end of the run. */
  rows: TxRow[];
  /** The central system's last frame seq each time a connection of `cp` closed (kill or drop). */
  breaks: readonly number[];
  /** Names the run in failure messages (its seed). */
  label: string;
}

/**
 * Every stored transaction was delivered once (copies only within the window above), in order
 * (Start, then its MeterValues, then Stop), with the stored transactionId, meterStop and reason,
 * its energy never going backwards; and nothing names a transaction the store does not know.
 */
export function auditTransactions({ frames, cp, rows, breaks, label }: AuditInput): AuditReport {
  const { starts, meters, stops } = transactionMessages(frames, cp);
  const startGroups = new Map<string, Array<Sent<StartReq>>>();
  for (const s of starts)
    startGroups.set(startKey(s.payload), [...(startGroups.get(startKey(s.payload)) ?? []), s]);
  const startCopies = firstCopies(starts, startKey, 'StartTransaction');
  const meterCopies = firstCopies(meters, (p) => JSON.stringify(p), 'MeterValues');
  const stopCopies = firstCopies(stops, (p) => JSON.stringify(p), 'StopTransaction');
  const all = [...startCopies.copies, ...meterCopies.copies, ...stopCopies.copies];
  matchCopiesToBreaks(all, breaks, label);

  // Every persisted transaction has its StartTransaction, and every StartTransaction a persisted transaction.
  const rowKeys = rows.map(rowKey);
  expect(new Set(rowKeys).size, `${label}: two transactions share a start key`).toBe(rows.length);
  expect([...startGroups.keys()].sort(), `${label}: StartTransactions vs stored transactions`).toEqual(
    [...rowKeys].sort(),
  );

  const usedIds = new Set<number>();
  const reasons: Record<string, number> = {};
  for (const row of rows) {
    const key = rowKey(row);
    const group = startGroups.get(key)!;
    const lastStart = group.at(-1)!;
    const tid = answerId(lastStart);
    const where = `${label}, local transaction ${row.local_id} (${key})`;
    expect(tid, `${where}: its last StartTransaction was not answered`).toBeDefined();
    expect(row.transaction_id, `${where}: stored transactionId`).toBe(tid);
    // Earlier copies' ids were never committed, so nothing may name them.
    for (const early of group.slice(0, -1)) {
      const dead = answerId(early);
      if (dead === undefined) continue;
      expect(
        [...meters, ...stops].some((m) => m.payload.transactionId === dead),
        `${where}: transactionId ${dead} of a superseded StartTransaction was used`,
      ).toBe(false);
    }
    const txStops = stopCopies.first.filter((s) => s.payload.transactionId === tid);
    expect(txStops.length, `${where}: StopTransactions for transactionId ${tid}`).toBe(1);
    const stop = txStops[0]!;
    expect(stop.payload.meterStop, `${where}: meterStop`).toBe(row.meter_stop);
    expect(stop.payload.reason, `${where}: reason`).toBe(row.stop_reason);
    reasons[row.stop_reason ?? '?'] = (reasons[row.stop_reason ?? '?'] ?? 0) + 1;
    // Order by arrival: the (last) Start, then every MeterValues, then the Stop.
    const txMeters = meters.filter((m) => m.payload.transactionId === tid);
    for (const m of txMeters) {
      expect(m.seq, `${where}: MeterValues before its StartTransaction`).toBeGreaterThan(lastStart.seq);
      expect(m.seq, `${where}: MeterValues after its StopTransaction`).toBeLessThan(stop.seq);
    }
    expect(stop.seq, `${where}: StopTransaction before its StartTransaction`).toBeGreaterThan(lastStart.seq);
    // Meter values never go backwards, from meterStart to meterStop.
    const energy = [row.meter_start, ...txMeters.map((m) => energyOf(m.payload)), stop.payload.meterStop];
    for (let i = 1; i < energy.length; i++)
      expect(energy[i]!, `${where}: energy ${energy.join(', ')}`).toBeGreaterThanOrEqual(energy[i - 1]!);
    const stamps = txMeters.map((m) => Date.parse(m.payload.meterValue[0]!.timestamp));
    for (let i = 1; i < stamps.length; i++)
      expect(stamps[i]!, `${where}: MeterValues out of chronological order`).toBeGreaterThanOrEqual(
        stamps[i - 1]!,
      );
    usedIds.add(tid!);
  }
  // Nothing names a transaction the store does not know.
  for (const m of [...meters, ...stops])
    expect(
      usedIds.has(m.payload.transactionId!),
      `${label}: unknown transactionId ${m.payload.transactionId} at seq ${m.seq}`,
    ).toBe(true);
  return { copies: all.length, meterValues: meterCopies.first.length, reasons };
}
