import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger, silentLogger } from '../../src/log.js';
import { type FrameEvent, RpcEndpoint } from '../../src/ocpp/rpc.js';
import {
  FrameTrace,
  MAX_TRACED_TEXT,
  REDACTED,
  redactFrame,
  TRACE_BACKLOG_BYTES,
  TRACE_CHECKPOINT_MS,
  TRACE_MAX_DELAY_MS,
  TRACE_SLICE_BYTES,
  TRACE_WRITE_DELAY_MS,
} from '../../src/ocpp/trace.js';
import { openStore, type Store } from '../../src/store/index.js';
import { FakeClock } from '../support/fake-clock.js';

const SECRET = 'OCTT-secret-0123456789abcdef';
const PEM_BODY = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7';
const PEM = `-----BEGIN PRIVATE KEY-----\n${PEM_BODY}\n-----END PRIVATE KEY-----\n`;

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function tempStore(): Store {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cp-trace-'));
  const store = openStore({ dir, log: silentLogger() });
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  cleanups.push(() => store.close());
  return store;
}

let now = Date.parse('2025-03-04T05:06:07.000Z');
function trace(store: Store, maxFrames = 100, log = silentLogger()): FrameTrace {
  const t = new FrameTrace({ store, maxFrames, clock: { now: () => now++ }, log });
  cleanups.push(() => t.close());
  return t;
}

const call = (id: string, action: string, payload: unknown) => JSON.stringify([2, id, action, payload]);
const result = (id: string, payload: unknown) => JSON.stringify([3, id, payload]);

describe('redactFrame', () => {
  it('blanks the AuthorizationKey value of a ChangeConfiguration, whatever the case of the key', () => {
    for (const key of ['AuthorizationKey', 'authorizationkey', 'AUTHORIZATIONKEY']) {
      const text = redactFrame(call('1', 'ChangeConfiguration', { key, value: SECRET }));
      expect(text).not.toContain(SECRET);
      expect(JSON.parse(text)).toEqual([2, '1', 'ChangeConfiguration', { key, value: REDACTED }]);
    }
  });

  it('blanks it in a configuration listing too, and leaves other keys alone', () => {
    const text = redactFrame(
      result('2', {
        configurationKey: [
          { key: 'HeartbeatInterval', readonly: false, value: '300' },
          { key: 'AuthorizationKey', readonly: false, value: SECRET },
        ],
      }),
    );
    expect(text).not.toContain(SECRET);
    expect(text).toContain('"value":"300"');
  });

  it('drops the whole of an unreadable frame that mentions the key', () => {
    const text = redactFrame(`[2,"3","ChangeConfiguration",{"key":"AuthorizationKey","value":"${SECRET}"`);
    expect(text).not.toContain(SECRET);
    expect(text).toContain(REDACTED);
  });

  it('reads key names as the JSON decodes them: an escaped AuthorizationKey is blanked too', () => {
    // "Authorization\u004bey" is the same key to any JSON reader, so it must be to the redaction.
    const escaped = `[2,"e1","ChangeConfiguration",{"key":"Authorization\\u004bey","value":"${SECRET}"}]`;
    expect(JSON.parse(escaped)[3].key).toBe('AuthorizationKey');
    const text = redactFrame(escaped);
    expect(text).not.toContain(SECRET);
    expect(JSON.parse(text)[3].value).toBe(REDACTED);
    const listing = `[3,"e2",{"configurationKey":[{"key":"\\u0041uthorizationKey","readonly":false,"value":"${SECRET}"}]}]`;
    expect(redactFrame(listing)).not.toContain(SECRET);
    // An escaped private key header is still a private key.
    const pem = `[2,"e3","DataTransfer",{"vendorId":"v","data":"-----BEGIN PRIVATE KEY\\u002d----\\n${PEM_BODY}"}]`;
    expect(redactFrame(pem)).not.toContain(PEM_BODY);
    const unreadable = `[2,"e4","ChangeConfiguration",{"key":"Authorization\\u004Bey","value":"${SECRET}"`;
    expect(redactFrame(unreadable)).not.toContain(SECRET);
  });

  it('keeps a frame without secrets byte for byte', () => {
    const text = call('4', 'ChangeConfiguration', { key: 'HeartbeatInterval', value: '60' });
    expect(redactFrame(text)).toBe(text);
  });

  it('removes PEM private-key blocks of any kind, also cut-off ones, and keeps certificates', () => {
    const cert = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----';
    const rsa = PEM.replaceAll('PRIVATE KEY', 'RSA PRIVATE KEY');
    const text = redactFrame(call('5', 'DataTransfer', { vendorId: 'x', data: `${PEM}${cert}${rsa}` }));
    expect(text).not.toContain(PEM_BODY);
    expect(text).toContain('MIIB');
    expect(text).toContain(`-----BEGIN RSA PRIVATE KEY-----${REDACTED}-----END RSA PRIVATE KEY-----`);
    const cut = redactFrame(`[2,"6","DataTransfer",{"data":"-----BEGIN EC PRIVATE KEY-----\\n${PEM_BODY}`);
    expect(cut).not.toContain(PEM_BODY);
  });
});

describe('redactFrame: URL passwords', () => {
  const PASSWORD = 's3cr3t-pw';
  const url = (path: string) => `ftp://user:${PASSWORD}@127.0.0.1:2121/${path}`;
  const shown = (path: string) => `ftp://user:${REDACTED}@127.0.0.1:2121/${path}`;

  it('masks the password of each transfer location, keeping scheme, user, host and path', () => {
    const frames: Array<[string, unknown, unknown]> = [
      ['UpdateFirmware', { location: url('fw.bin'), retrieveDate: '2025-01-01T00:00:00Z' }, 'location'],
      ['GetDiagnostics', { location: url('diag/'), retries: 0 }, 'location'],
      [
        'SignedUpdateFirmware',
        {
          requestId: 1,
          firmware: {
            location: url('fw.bin'),
            retrieveDateTime: '2025-01-01T00:00:00Z',
            signingCertificate: 'MIIB',
            signature: 'c2ln',
          },
        },
        'firmware',
      ],
      ['GetLog', { logType: 'SecurityLog', requestId: 2, log: { remoteLocation: url('logs/') } }, 'log'],
    ];
    for (const [action, payload] of frames) {
      const text = redactFrame(call('u1', action, payload));
      expect(text, action).not.toContain(PASSWORD);
      const expected = JSON.parse(JSON.stringify(payload).replace(url(''), shown('')));
      expect(JSON.parse(text), action).toEqual([2, 'u1', action, expected]);
    }
    expect(redactFrame(call('u2', 'GetDiagnostics', { location: url('diag/') }))).toContain(shown('diag/'));
  });

  it('masks a URL password in any string, however the URL parser would still read it', () => {
    const cases = [
      // Free text naming a URL, in any action.
      { vendorId: 'v', data: `upload to ${url('x')} failed` },
      // What the URL parser forgives is what a transfer would log in with.
      { vendorId: 'v', data: `  ${url('x')}\n` },
      { vendorId: 'v', data: `ftp:user:${PASSWORD}@127.0.0.1/x` },
      { vendorId: 'v', data: `ftp://user:${PASSWORD.slice(0, 4)}\n${PASSWORD.slice(4)}@127.0.0.1/x` },
      // No port the parser accepts: where the password ends is unknown, so the URL goes whole.
      { vendorId: 'v', data: `see ftp://user:${PASSWORD}@127.0.0.1:99999/x` },
      // A URL in another's query: the parser reads only the outer one.
      { vendorId: 'v', data: `https://host/r?to=${url('x')}` },
      { vendorId: 'v', data: `see https://host/r?to=${url('x')} now` },
      // A character that ends a URL-like token, inside the password.
      { vendorId: 'v', data: `see ftp://user:<${PASSWORD}@127.0.0.1/x now` },
    ];
    for (const payload of cases) {
      const text = redactFrame(call('u3', 'DataTransfer', payload));
      expect(text, payload.data).not.toContain(PASSWORD);
      expect(text, payload.data).not.toContain(PASSWORD.slice(4));
    }
    expect(JSON.parse(redactFrame(call('u4', 'DataTransfer', cases[0]!)))[3].data).toBe(
      `upload to ${shown('x')} failed`,
    );
    // An escaped '@' is an '@' to the parser.
    const escaped = `[2,"u5","GetDiagnostics",{"location":"ftp://user:${PASSWORD}\\u0040127.0.0.1/x"}]`;
    expect(JSON.parse(escaped)[3].location).toBe(`ftp://user:${PASSWORD}@127.0.0.1/x`);
    expect(redactFrame(escaped)).not.toContain(PASSWORD);
    // So is one in a frame that is not JSON.
    const unreadable = `[2,"u6","UpdateFirmware",{"location":"${url('fw.bin')}"`;
    expect(redactFrame(unreadable)).toBe(`[2,"u6","UpdateFirmware",{"location":"${shown('fw.bin')}"`);
  });

  it("keeps a frame with an '@' but no URL password byte for byte", () => {
    for (const text of [
      call('u7', 'Authorize', { idTag: 'tag@site' }),
      call('u8', 'DataTransfer', { vendorId: 'v', data: 'mailto:ops@example.com ftp://anonymous@host/x' }),
    ])
      expect(redactFrame(text)).toBe(text);
  });
});

describe('FrameTrace', () => {
  it('records every frame with direction, time, id, and the action of the CALL an answer belongs to', () => {
    const store = tempStore();
    const t = trace(store);
    const seen: number[] = [];
    t.on('entry', (e) => seen.push(e.seq));
    const before = now;
    t.record({ direction: 'out', text: call('a1', 'Heartbeat', {}) });
    t.record({ direction: 'in', text: result('a1', { currentTime: '2025-01-01T00:00:00Z' }) });
    t.record({ direction: 'in', text: call('c9', 'Reset', { type: 'Soft' }) });
    t.record({ direction: 'out', text: JSON.stringify([4, 'c9', 'InternalError', 'x', {}]) });
    // The same id from the other side is another call's answer: not confused with ours.
    t.record({ direction: 'out', text: result('c9', {}) });
    t.record({ direction: 'in', text: 'not json' });

    const entries = t.query({ limit: 10 });
    expect(
      entries.map(({ direction, messageType, action, messageId }) => ({
        direction,
        messageType,
        action,
        messageId,
      })),
    ).toEqual([
      { direction: 'out', messageType: 2, action: 'Heartbeat', messageId: 'a1' },
      { direction: 'in', messageType: 3, action: 'Heartbeat', messageId: 'a1' },
      { direction: 'in', messageType: 2, action: 'Reset', messageId: 'c9' },
      { direction: 'out', messageType: 4, action: 'Reset', messageId: 'c9' },
      { direction: 'out', messageType: 3, action: undefined, messageId: 'c9' },
      { direction: 'in', messageType: undefined, action: undefined, messageId: undefined },
    ]);
    expect(entries[0]!.at).toBe(before);
    expect(entries[5]!.text).toBe('not json');
    expect(seen).toEqual(entries.map((e) => e.seq));
  });

  it('keeps the newest maxFrames and no more, oldest first', () => {
    const store = tempStore();
    const t = trace(store, 5);
    for (let i = 1; i <= 12; i++) t.record({ direction: 'out', text: call(`m${i}`, 'Heartbeat', {}) });
    expect(store.db.prepare('SELECT COUNT(*) AS n FROM ocpp_trace').get()).toEqual({ n: 5 });
    expect(t.query({ limit: 100 }).map((e) => e.messageId)).toEqual(['m8', 'm9', 'm10', 'm11', 'm12']);
    expect(t.query({ limit: 2 }).map((e) => e.messageId)).toEqual(['m11', 'm12']);
  });

  it('keeps the newest maxFrames when a batch written at once is longer than the ring', async () => {
    const store = tempStore();
    const t = trace(store, 5);
    const link = new EventEmitter<{ frame: [FrameEvent] }>();
    t.attach(link);
    const seen: string[] = [];
    t.on('entry', (e) => seen.push(e.messageId!));
    for (let i = 1; i <= 12; i++)
      link.emit('frame', { direction: 'out', text: call(`m${i}`, 'Heartbeat', {}) });
    await new Promise<void>((resolve) => t.once('entry', () => resolve()));
    expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => `m${i + 1}`));
    expect(store.db.prepare('SELECT COUNT(*) AS n FROM ocpp_trace').get()).toEqual({ n: 5 });
    expect(t.query({ limit: 100 }).map((e) => e.messageId)).toEqual(['m8', 'm9', 'm10', 'm11', 'm12']);
  });

  it("takes a frame's header from the RPC when given, and still redacts its text", () => {
    const store = tempStore();
    const t = trace(store);
    const text = call('k1', 'ChangeConfiguration', { key: 'AuthorizationKey', value: SECRET });
    t.record({
      direction: 'in',
      text,
      header: { messageType: 2, messageId: 'k1', action: 'ChangeConfiguration' },
    });
    t.record({
      direction: 'out',
      text: result('k1', { status: 'Accepted' }),
      header: { messageType: 3, messageId: 'k1' },
    });
    const entries = t.query({ limit: 10 });
    expect(entries.map(({ messageType, action, messageId }) => ({ messageType, action, messageId }))).toEqual(
      [
        { messageType: 2, action: 'ChangeConfiguration', messageId: 'k1' },
        { messageType: 3, action: 'ChangeConfiguration', messageId: 'k1' },
      ],
    );
    expect(entries[0]!.text).not.toContain(SECRET);
  });

  it('records nothing when maxFrames is 0', () => {
    const store = tempStore();
    const t = trace(store, 0);
    t.record({ direction: 'out', text: call('m1', 'Heartbeat', {}) });
    expect(t.size()).toBe(0);
  });

  it('filters by action (any case) and reads in pages after a seq', () => {
    const store = tempStore();
    const t = trace(store);
    for (let i = 1; i <= 6; i++) {
      t.record({ direction: 'out', text: call(`h${i}`, i % 2 ? 'Heartbeat' : 'StatusNotification', {}) });
    }
    expect(t.query({ action: 'heartbeat', limit: 2 }).map((e) => e.messageId)).toEqual(['h3', 'h5']);
    const { afterSeq, lastSeq } = t.window(4);
    const first = t.after(afterSeq, 3);
    expect(first.map((e) => e.messageId)).toEqual(['h3', 'h4', 'h5']);
    expect(t.after(first[2]!.seq, 3).map((e) => e.messageId)).toEqual(['h6']);
    expect(t.after(lastSeq, 3)).toEqual([]);
    expect(t.window(100).afterSeq).toBe(0);
  });

  it('stores no secret: the AuthorizationKey and a private key are nowhere in the table', () => {
    const store = tempStore();
    const t = trace(store);
    t.record({
      direction: 'in',
      text: call('k1', 'ChangeConfiguration', { key: 'AuthorizationKey', value: SECRET }),
    });
    t.record({ direction: 'out', text: result('k1', { status: 'Accepted' }) });
    t.record({ direction: 'in', text: call('k2', 'DataTransfer', { vendorId: 'v', data: PEM }) });
    const rows = store.db.prepare('SELECT * FROM ocpp_trace').all();
    expect(rows).toHaveLength(3);
    const dump = JSON.stringify(rows);
    expect(dump).not.toContain(SECRET);
    expect(dump).not.toContain(PEM_BODY);
    // The secret reaches neither the WAL nor the database file either.
    for (const file of [store.path, `${store.path}-wal`]) {
      if (fs.existsSync(file)) expect(fs.readFileSync(file).includes(SECRET)).toBe(false);
    }
  });

  it('cuts a huge frame to a bounded length', () => {
    const store = tempStore();
    const t = trace(store);
    t.record({
      direction: 'in',
      text: call('big', 'DataTransfer', { vendorId: 'v', data: 'x'.repeat(100_000) }),
    });
    const [entry] = t.query({ limit: 1 });
    expect(entry!.text.length).toBeLessThan(MAX_TRACED_TEXT + 100);
    expect(entry!.text).toMatch(/more characters not traced\]$/);
  });

  it('is bounded in bytes as well as frames, and the WAL stays bounded under a flood of big frames', () => {
    const store = tempStore();
    const maxBytes = 256 * 1024;
    const t = new FrameTrace({
      store,
      maxFrames: 10_000,
      maxBytes,
      clock: { now: () => now++ },
      log: silentLogger(),
    });
    cleanups.push(() => t.close());
    const big = 'x'.repeat(MAX_TRACED_TEXT);
    // 4,000 frames of 16 KB: 64 MB that a central system could send in a minute.
    for (let i = 0; i < 4000; i++)
      t.record({ direction: 'in', text: call(`b${i}`, 'DataTransfer', { data: big }) });
    const bytes = store.db.prepare('SELECT SUM(length(text)) AS n FROM ocpp_trace').get() as { n: number };
    expect(bytes.n).toBeLessThanOrEqual(maxBytes);
    expect(t.size()).toBeGreaterThan(0);
    expect(t.query({ limit: 1 })[0]!.messageId).toBe('b3999');
    const wal = fs.statSync(`${store.path}-wal`).size;
    expect(wal).toBeLessThan(8 * 1024 * 1024);
    expect(fs.statSync(store.path).size).toBeLessThan(8 * 1024 * 1024);
  });

  it('writes through its own connection, without a sync per frame, and the store still reads it', () => {
    const store = tempStore();
    const t = trace(store);
    t.record({ direction: 'out', text: call('m1', 'Heartbeat', {}) });
    expect(store.db.prepare('SELECT message_id FROM ocpp_trace').get()).toEqual({ message_id: 'm1' });
    // The store's connection keeps its own durability for transaction data.
    expect(store.db.pragma('synchronous', { simple: true })).toBe(2);
  });

  it('never throws on the frame path: a failed write is logged once per run of failures', () => {
    const store = tempStore();
    const lines: Array<Record<string, unknown>> = [];
    const log = createLogger({
      destination: new Writable({
        write(chunk, _enc, done) {
          lines.push(JSON.parse(String(chunk)));
          done();
        },
      }),
    });
    const t = trace(store, 100, log);
    store.db.exec('DROP TABLE ocpp_trace');
    for (let i = 0; i < 3; i++) t.record({ direction: 'out', text: call(`m${i}`, 'Heartbeat', {}) });
    expect(lines.filter((l) => l.msg === 'frame trace: frame not recorded')).toHaveLength(1);
  });

  it('writes off the message path: our next CALL leaves before the answer that freed it is written', async () => {
    const store = tempStore();
    const rpc = new RpcEndpoint({ log: silentLogger(), clock: new FakeClock(), callTimeoutMs: 30_000 });
    const t = trace(store);
    t.attach(rpc);
    const written: string[] = [];
    t.on('entry', (e) => written.push(`${e.direction} ${e.action}`));
    const sent: string[] = [];
    // What the trace had written at the moment each of our CALLs went out.
    const writtenWhenSent: string[][] = [];
    rpc.attach({
      send: (text) => {
        sent.push(text);
        writtenWhenSent.push([...written]);
        return true;
      },
    });
    rpc.setGate('open');
    const first = rpc.call('Heartbeat', {});
    const second = rpc.call('Heartbeat', {});
    const firstId = (JSON.parse(sent[0]!) as [number, string])[1];
    rpc.receive(result(firstId, { currentTime: '2025-01-01T00:00:00Z' }));
    await first;
    await new Promise<void>((resolve) => {
      const check = () => (sent.length === 2 ? resolve() : setImmediate(check));
      check();
    });
    expect(writtenWhenSent[1]).toEqual([]);
    // Then everything is written, in order, as one batch.
    const secondId = (JSON.parse(sent[1]!) as [number, string])[1];
    rpc.receive(result(secondId, { currentTime: '2025-01-01T00:00:01Z' }));
    await second;
    await new Promise<void>((resolve) => t.once('entry', () => resolve()));
    expect(t.query({ limit: 10 }).map((e) => `${e.direction} ${e.messageId}`)).toEqual([
      `out ${firstId}`,
      `in ${firstId}`,
      `out ${secondId}`,
      `in ${secondId}`,
    ]);
  });
  it('writes a busy link in slices, one turn of the event loop each: an arriving call waits for one slice', async () => {
    const store = tempStore();
    const t = trace(store);
    const link = new EventEmitter<{ frame: [FrameEvent] }>();
    t.attach(link);
    // Turns of the event loop, counted where I/O would be handled between two of them.
    let turn = 0;
    let counting = true;
    const tick = () => {
      turn += 1;
      if (counting) setImmediate(tick);
    };
    setImmediate(tick);
    const writtenIn: Array<{ turn: number; bytes: number }> = [];
    t.on('entry', (e) => writtenIn.push({ turn, bytes: e.text.length }));
    const frames = 40;
    const periods = Array.from({ length: 100 }, (_, i) => ({ startPeriod: i * 60, limit: 16 }));
    for (let i = 0; i < frames; i++)
      link.emit('frame', { direction: 'out', text: result(`g${i}`, { chargingSchedulePeriod: periods }) });
    await new Promise<void>((resolve) => {
      const done = () => (writtenIn.length === frames ? resolve() : setImmediate(done));
      done();
    });
    counting = false;
    const slices = new Map<number, number>();
    for (const { turn: at, bytes } of writtenIn) slices.set(at, (slices.get(at) ?? 0) + bytes);
    const frameBytes = writtenIn[0]!.bytes;
    expect(frames * frameBytes).toBeGreaterThan(4 * TRACE_SLICE_BYTES);
    expect(slices.size).toBeGreaterThanOrEqual(
      Math.floor((frames * frameBytes) / (TRACE_SLICE_BYTES + frameBytes)),
    );
    for (const bytes of slices.values()) expect(bytes).toBeLessThan(TRACE_SLICE_BYTES + frameBytes);
    // In the order they went, whatever the slicing.
    expect(t.query({ limit: frames }).map((e) => e.messageId)).toEqual(
      Array.from({ length: frames }, (_, i) => `g${i}`),
    );
  });
  it('keeps what waits to be written bounded: a flood of big frames gets bigger slices', async () => {
    const store = tempStore();
    const t = new FrameTrace({
      store,
      maxFrames: 10_000,
      clock: { now: () => now++ },
      log: silentLogger(),
    });
    cleanups.push(() => t.close());
    const link = new EventEmitter<{ frame: [FrameEvent] }>();
    t.attach(link);
    const big = 'x'.repeat(MAX_TRACED_TEXT - 100);
    const frames = 100;
    for (let i = 0; i < frames; i++)
      link.emit('frame', { direction: 'in', text: call(`f${i}`, 'DataTransfer', { data: big }) });
    let bytes = 0;
    t.on('entry', (e) => {
      bytes += e.text.length;
    });
    await new Promise<void>((resolve) => t.once('entry', () => setImmediate(resolve)));
    // After the first slice no more than the backlog waits, however much arrived.
    expect(bytes).toBeGreaterThanOrEqual(frames * big.length - TRACE_BACKLOG_BYTES);
    expect(t.size()).toBe(frames);
  });

  describe('on a busy link', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    /** A trace whose frames are stamped on the faked clock, fed through an emitter like the RPC. */
    function traceOnFakeTime(store: Store) {
      vi.useFakeTimers();
      const t = new FrameTrace({
        store,
        maxFrames: 10_000,
        clock: { now: () => Date.now() },
        log: silentLogger(),
      });
      cleanups.push(() => t.close());
      const link = new EventEmitter<{ frame: [FrameEvent] }>();
      t.attach(link);
      return { t, link };
    }

    /** That trace, and bursts of exchanges on its link. */
    function busyLink(store: Store) {
      const { t, link } = traceOnFakeTime(store);
      let n = 0;
      const written: number[] = [];
      t.on('entry', () => written.push(Date.now()));
      /** One exchange every `everyMs` for `forMs`, as a central system's burst of calls. */
      const burst = (forMs: number, everyMs = TRACE_WRITE_DELAY_MS / 2) => {
        for (let at = 0; at < forMs; at += everyMs) {
          n += 1;
          link.emit('frame', {
            direction: 'in',
            text: call(`b${n}`, 'TriggerMessage', { requestedMessage: 'Heartbeat' }),
          });
          link.emit('frame', { direction: 'out', text: result(`b${n}`, { status: 'Accepted' }) });
          vi.advanceTimersByTime(everyMs);
        }
      };
      return { t, burst, written };
    }

    it('writes nothing while calls keep coming, and all of it once the link is quiet', () => {
      const store = tempStore();
      const { t, burst, written } = busyLink(store);
      burst(TRACE_MAX_DELAY_MS / 2);
      expect(written).toEqual([]);
      vi.advanceTimersByTime(2 * TRACE_WRITE_DELAY_MS);
      expect(written).toHaveLength(2 * (TRACE_MAX_DELAY_MS / 2 / (TRACE_WRITE_DELAY_MS / 2)));
      expect(t.size()).toBe(written.length);
    });

    it('writes a frame that has waited TRACE_MAX_DELAY_MS however busy the link stays', () => {
      const store = tempStore();
      const { burst, written } = busyLink(store);
      const start = Date.now();
      burst(TRACE_MAX_DELAY_MS + 5 * TRACE_WRITE_DELAY_MS);
      expect(written.length).toBeGreaterThan(0);
      expect(written[0]! - start).toBeGreaterThanOrEqual(TRACE_MAX_DELAY_MS);
      expect(written[0]! - start).toBeLessThanOrEqual(TRACE_MAX_DELAY_MS + 2 * TRACE_WRITE_DELAY_MS);
    });

    it('under a flood of big frames writes one turn of frames at a time, not what came between two looks', () => {
      const { t, link } = traceOnFakeTime(tempStore());
      const slices: number[] = [];
      let slice = 0;
      t.on('entry', (e) => {
        slice += e.text.length;
      });
      const big = 'x'.repeat(4096);
      // A big answer every millisecond for a second: some 4 MB, far past the backlog bound.
      for (let i = 0; i < TRACE_MAX_DELAY_MS; i++) {
        link.emit('frame', { direction: 'out', text: result(`g${i}`, { data: big }) });
        vi.advanceTimersByTime(1);
        if (slice > 0) slices.push(slice);
        slice = 0;
      }
      expect(slices.length).toBeGreaterThan(0);
      expect(Math.max(...slices)).toBeLessThanOrEqual(TRACE_SLICE_BYTES + 2 * (big.length + 64));
    });

    it('checkpoints the WAL in a quiet moment, not while calls keep coming', () => {
      const store = tempStore();
      const { burst } = busyLink(store);
      const fileSize = () => fs.statSync(store.path).size;
      const before = fileSize();
      // Frames written (at the latest TRACE_MAX_DELAY_MS after they came) well before the
      // checkpoint is due, which comes while the link is still busy: the database file waits.
      burst(TRACE_CHECKPOINT_MS + TRACE_MAX_DELAY_MS);
      expect(fileSize()).toBe(before);
      vi.advanceTimersByTime(TRACE_MAX_DELAY_MS);
      expect(fileSize()).toBeGreaterThan(before);
    });
  });
});
