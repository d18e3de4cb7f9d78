/**
 * The benchmark's floor: the least a charge point can do to answer the bench's calls over the same
 * WebSocket. `ws` only: no schema validation, no store, no logging, no queue; every answer and
 * every message it sends is built inline. What the bench measures for it is the cost of Node, the
 * socket and the central system's side; what ours costs beyond that is ours.
 *
 * Run by the bench as its own process: `node bench-floor.js <central-system-url> <chargePointId>`.
 */
import { WebSocket } from 'ws';

type Frame = [number, string, ...unknown[]];

const [url, chargePointId] = process.argv.slice(2);
if (!url || !chargePointId) {
  process.stderr.write('usage: bench-floor <central-system-url> <chargePointId>\n');
  process.exit(64);
}

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

const ws = new WebSocket(`${url.replace(/\/+$/, '')}/${encodeURIComponent(chargePointId)}`, ['ocpp1.6'], {
  perMessageDeflate: false,
});

function call(action: string, payload: unknown): void {
  const id = `f${++nextId}`;
  sent.set(id, action);
  ws.send(JSON.stringify([2, id, action, payload]));
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
      configuration.set(String(payload.key), String(payload.value));
      answer(id, { status: 'Accepted' });
      return;
    case 'TriggerMessage':
      answer(id, { status: 'Accepted' });
      if (payload.requestedMessage === 'Heartbeat') call('Heartbeat', {});
      return;
    case 'RemoteStartTransaction':
      answer(id, { status: 'Accepted' });
      call('StartTransaction', {
        connectorId: payload.connectorId ?? 1,
        idTag: payload.idTag,
        meterStart: meterWh,
        timestamp: new Date().toISOString(),
      });
      return;
    case 'RemoteStopTransaction': {
      const running = transactionId !== undefined && payload.transactionId === transactionId;
      answer(id, { status: running ? 'Accepted' : 'Rejected' });
      if (!running) return;
      meterWh += 1000;
      call('StopTransaction', {
        transactionId,
        meterStop: meterWh,
        timestamp: new Date().toISOString(),
        reason: 'Remote',
      });
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
  }
});
ws.on('close', () => process.exit(0));
process.once('SIGTERM', () => ws.close(1000));
