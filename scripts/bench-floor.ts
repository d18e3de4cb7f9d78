/**
 * The benchmark's floor: the least a charge point can do to answer the bench's calls over the same
 * WebSocket. `ws` only: no schema validation, no store, no logging, no queue; every answer and
 * every message it sends is built inline. What the bench measures for it is the cost of Node, the
 * socket and the central system's side; what ours costs beyond that is ours.
 *
 * Given a database file it is the durable floor: the least a charge point that loses nothing on a
 * power cut does on top. It commits, in SQLite with ours' settings (WAL, synchronous=FULL), what it
 * must keep before it acts on it, and nothing else: a configuration change before it is answered,
 * a transaction with its StartTransaction before that is sent, the transactionId of the answer,
 * the stop with its StopTransaction before that is sent, and its delivery. One commit (one sync)
 * each, as ours makes; statements are prepared before it connects, as ours are.
 *
 * Run by the bench as its own process:
 * `node bench-floor.js <central-system-url> <chargePointId> [<database file>]`.
 */
import Database from 'better-sqlite3';
import { WebSocket } from 'ws';

type Frame = [number, string, ...unknown[]];

const [url, chargePointId, databaseFile] = process.argv.slice(2);
if (!url || !chargePointId) {
  process.stderr.write('usage: bench-floor <central-system-url> <chargePointId> [<database file>]\n');
  process.exit(64);
}

/** The durable floor's writes, each its own committed (synced) SQL statement. */
interface DurableRecord {
  configuration(key: string, value: string): void;
  started(message: string): number;
  confirmed(session: number, transactionId: number): void;
  stopped(session: number, message: string): void;
  delivered(session: number): void;
}

function durableRecord(file: string): DurableRecord {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec(`CREATE TABLE IF NOT EXISTS configuration (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS sessions (
      id INTEGER PRIMARY KEY, start TEXT NOT NULL, transaction_id INTEGER, stop TEXT,
      delivered INTEGER NOT NULL DEFAULT 0)`);
  const setKey = db.prepare(
    'INSERT INTO configuration (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
  );
  const start = db.prepare('INSERT INTO sessions (start) VALUES (?)');
  const confirm = db.prepare('UPDATE sessions SET transaction_id = ? WHERE id = ?');
  const stop = db.prepare('UPDATE sessions SET stop = ? WHERE id = ?');
  const deliver = db.prepare('UPDATE sessions SET delivered = 1 WHERE id = ?');
  return {
    configuration: (key, value) => void setKey.run(key, value),
    started: (message) => Number(start.run(message).lastInsertRowid),
    confirmed: (session, transactionId) => void confirm.run(transactionId, session),
    stopped: (session, message) => void stop.run(message, session),
    delivered: (session) => void deliver.run(session),
  };
}

const record = databaseFile === undefined ? undefined : durableRecord(databaseFile);

const configuration = new Map<string, string>([
  ['HeartbeatInterval', '3600'],
  ['MeterValueSampleInterval', '0'],
  ['NumberOfConnectors', '2'],
]);
/** What each CALL of ours is, so its answer can be applied. */
const sent = new Map<string, string>();
let nextId = 0;
let meterWh = 0;
let transactionId: number | undefined;
/** The durable floor's row of the session running or last run. */
let session = 0;
/** The connector of the session running or last run. */
let sessionConnector = 1;

const ws = new WebSocket(`${url.replace(/\/+$/, '')}/${encodeURIComponent(chargePointId)}`, ['ocpp1.6'], {
  perMessageDeflate: false,
});

function call(action: string, payload: unknown): void {
  send(action, JSON.stringify(payload));
}

/** A CALL whose payload is already text (the durable floor stores that text first). */
function send(action: string, payload: string): void {
  const id = `f${++nextId}`;
  sent.set(id, action);
  ws.send(`[2,${JSON.stringify(id)},${JSON.stringify(action)},${payload}]`);
}

function answer(id: string, payload: unknown): void {
  ws.send(JSON.stringify([3, id, payload]));
}

function onCall(id: string, action: string, payload: Record<string, unknown>): void {
  switch (action) {
    case 'GetConfiguration': {
      const keys = Array.isArray(payload.key) ? (payload.key as string[]) : [...configuration.keys()];
      const known = keys.filter((key) => configuration.has(key));
      answer(id, {
        configurationKey: known.map((key) => ({ key, readonly: false, value: configuration.get(key) })),
        ...(known.length < keys.length ? { unknownKey: keys.filter((key) => !configuration.has(key)) } : {}),
      });
      return;
    }
    case 'ChangeConfiguration':
      record?.configuration(String(payload.key), String(payload.value));
      configuration.set(String(payload.key), String(payload.value));
      answer(id, { status: 'Accepted' });
      return;
    case 'TriggerMessage':
      answer(id, { status: 'Accepted' });
      if (payload.requestedMessage === 'Heartbeat') call('Heartbeat', {});
      return;
    case 'RemoteStartTransaction': {
      answer(id, { status: 'Accepted' });
      sessionConnector = Number(payload.connectorId ?? 1);
      const start = JSON.stringify({
        connectorId: sessionConnector,
        idTag: payload.idTag,
        meterStart: meterWh,
        timestamp: new Date().toISOString(),
      });
      if (record) session = record.started(start);
      send('StartTransaction', start);
      return;
    }
    case 'RemoteStopTransaction': {
      const running = transactionId !== undefined && payload.transactionId === transactionId;
      answer(id, { status: running ? 'Accepted' : 'Rejected' });
      if (!running) return;
      meterWh += 1000;
      const stop = JSON.stringify({
        transactionId,
        meterStop: meterWh,
        timestamp: new Date().toISOString(),
        reason: 'Remote',
      });
      record?.stopped(session, stop);
      send('StopTransaction', stop);
      transactionId = undefined;
      return;
    }
    default:
      ws.send(JSON.stringify([4, id, 'NotImplemented', `${action} is not implemented`, {}]));
  }
}

ws.on('open', () =>
  call('BootNotification', { chargePointVendor: 'Bench', chargePointModel: 'Floor', firmwareVersion: '0' }),
);
ws.on('message', (data) => {
  const [type, id, ...rest] = JSON.parse(String(data)) as Frame;
  if (type === 2) {
    onCall(id, rest[0] as string, rest[1] as Record<string, unknown>);
    return;
  }
  const action = sent.get(id);
  sent.delete(id);
  if (type === 3 && action === 'StartTransaction') {
    transactionId = (rest[0] as { transactionId: number }).transactionId;
    record?.confirmed(session, transactionId);
    // As a charge point reports it once the answer is applied; the bench stops the session after it.
    call('StatusNotification', { connectorId: sessionConnector, errorCode: 'NoError', status: 'Charging' });
  }
  if (type === 3 && action === 'StopTransaction') record?.delivered(session);
});
ws.on('close', () => process.exit(0));
process.once('SIGTERM', () => ws.close(1000));
