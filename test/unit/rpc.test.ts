import { Writable } from 'node:stream';
import { pino } from 'pino';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../src/log.js';
import {
  CALL_ERROR_CODES,
  CallError,
  CallTimeoutError,
  NotConnectedError,
  normalizeCallErrorCode,
} from '../../src/ocpp/errors.js';
import { parseFrame, serializeError } from '../../src/ocpp/frames.js';
import { type FrameEvent, RpcEndpoint, type RpcSecurityEvent, type Transport } from '../../src/ocpp/rpc.js';
import { BAD_FRAMES, UNHANDLED_ACTION_FRAMES } from '../support/bad-frames.js';
import { FakeClock } from '../support/fake-clock.js';

class FakeTransport implements Transport {
  sent: string[] = [];
  open = true;

  send(text: string): boolean {
    if (!this.open) return false;
    this.sent.push(text);
    return true;
  }

  /** The frames sent so far, parsed, and forgotten. */
  take(): unknown[][] {
    const frames = this.sent.map((text) => JSON.parse(text) as unknown[]);
    this.sent = [];
    return frames;
  }

  lastId(): string {
    const last = this.sent.at(-1);
    if (!last) throw new Error('nothing sent');
    return (JSON.parse(last) as unknown[])[1] as string;
  }
}

const TIMEOUT = 30_000;
const BOOT = { chargePointVendor: 'Vendor', chargePointModel: 'Model' };
const BOOT_CONF = { status: 'Accepted', currentTime: '2024-05-01T10:00:00Z', interval: 300 } as const;

function setup(opts: { log?: pino.Logger; gate?: 'open' | 'boot-only' | 'closed'; handlers?: boolean } = {}) {
  const clock = new FakeClock();
  const transport = new FakeTransport();
  const rpc = new RpcEndpoint({ log: opts.log ?? silentLogger(), clock, callTimeoutMs: TIMEOUT });
  if (opts.handlers !== false) registerFoundationHandlers(rpc);
  rpc.attach(transport);
  rpc.setGate(opts.gate ?? 'open');
  return { clock, transport, rpc };
}

/** Trivial, schema-valid answers for the actions every charge point of the foundation handles. */
function registerFoundationHandlers(rpc: RpcEndpoint): void {
  rpc.handle('GetConfiguration', (req) => ({ configurationKey: [], unknownKey: req.key ?? [] }));
  rpc.handle('ChangeConfiguration', () => ({ status: 'Accepted' }));
  rpc.handle('Reset', async () => ({ status: 'Accepted' }));
  rpc.handle('ChangeAvailability', async () => ({ status: 'Accepted' }));
  rpc.handle('DataTransfer', () => ({ status: 'UnknownVendorId' }));
  rpc.handle('ClearCache', () => ({ status: 'Accepted' }));
}

/** Let promise callbacks (async handlers, awaited rejections) run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** What a promise has come to once pending callbacks ran: its value, its error, or 'pending'. */
const outcome = (promise: Promise<unknown>) =>
  Promise.race([promise.catch((e: unknown) => e), settle().then(() => 'pending')]);

function captureLog() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

describe('bad inbound frames', () => {
  const { transport, rpc } = setup();

  beforeEach(() => {
    transport.sent = [];
  });

  // An endpoint without handlers also meets known actions nobody handles.
  const frames = [...BAD_FRAMES, ...UNHANDLED_ACTION_FRAMES];

  it('has at least 35 cases with distinct names', () => {
    expect(frames.length).toBeGreaterThanOrEqual(35);
    expect(new Set(frames.map((c) => c.name)).size).toBe(frames.length);
  });

  it.each(frames)('$name', async ({ text, expect: expected }) => {
    rpc.receive(text);
    await settle();
    const frames = transport.take();
    if (expected.kind === 'none') {
      expect(frames).toEqual([]);
      return;
    }
    expect(frames).toHaveLength(1);
    const [frame] = frames as [unknown[]];
    expect(frame).toEqual([4, expected.messageId, expected.code, expect.any(String), {}]);
  });

  it('still answers a valid CALL after the whole matrix', async () => {
    rpc.receive('[2,"after-matrix","GetConfiguration",{"key":["HeartbeatInterval"]}]');
    await settle();
    expect(transport.take()).toEqual([
      [3, 'after-matrix', { configurationKey: [], unknownKey: ['HeartbeatInterval'] }],
    ]);
    expect(rpc.counters.malformed).toBeGreaterThan(0);
    expect(rpc.counters.callErrorsSent).toBe(frames.filter((c) => c.expect.kind === 'callerror').length);
  });
});

describe('schema failures that need a handler outside the foundation', () => {
  it('answers a date-time without time zone with PropertyConstraintViolation', () => {
    const { transport, rpc } = setup();
    rpc.handle('ReserveNow', () => ({ status: 'Accepted' }));
    rpc.receive(
      '[2,"r1","ReserveNow",{"connectorId":1,"expiryDate":"2024-05-01T10:00:00","idTag":"T","reservationId":1}]',
    );
    expect(transport.take()).toEqual([
      [4, 'r1', 'PropertyConstraintViolation', '/expiryDate must match format "date-time"', {}],
    ]);
  });

  it('answers an additional property in a nested object with FormationViolation', () => {
    const { transport, rpc } = setup();
    rpc.handle('RemoteStartTransaction', () => ({ status: 'Accepted' }));
    const payload = {
      idTag: 'T',
      chargingProfile: {
        chargingProfileId: 1,
        stackLevel: 0,
        chargingProfilePurpose: 'TxProfile',
        chargingProfileKind: 'Relative',
        chargingSchedule: {
          chargingRateUnit: 'A',
          chargingSchedulePeriod: [{ startPeriod: 0, limit: 6.3, x: 1 }],
        },
      },
    };
    rpc.receive(JSON.stringify([2, 'r2', 'RemoteStartTransaction', payload]));
    expect(transport.take()).toEqual([
      [
        4,
        'r2',
        'FormationViolation',
        '/chargingProfile/chargingSchedule/chargingSchedulePeriod/0/x is not allowed',
        {},
      ],
    ]);
    expect(rpc.counters.invalidPayloads).toBe(1);
  });
});

describe('central-system CALLs', () => {
  it('hands the handler the payload and message id, and answers with its result', async () => {
    const { transport, rpc } = setup({ handlers: false });
    const seen: unknown[] = [];
    rpc.handle('Reset', async (req, ctx) => {
      seen.push(req, ctx.messageId);
      return { status: 'Rejected' };
    });
    rpc.receive('[2,"c1","Reset",{"type":"Soft"}]');
    await settle();
    expect(seen).toEqual([{ type: 'Soft' }, 'c1']);
    expect(transport.take()).toEqual([[3, 'c1', { status: 'Rejected' }]]);
  });

  it('answers InternalError when a handler throws, synchronously or not', async () => {
    const { log, lines } = captureLog();
    const { transport, rpc } = setup({ handlers: false, log });
    rpc.handle('Reset', () => {
      throw new Error('relay stuck');
    });
    rpc.handle('ClearCache', async () => {
      throw new TypeError('store closed');
    });
    rpc.receive('[2,"e1","Reset",{"type":"Hard"}]');
    rpc.receive('[2,"e2","ClearCache",{}]');
    await settle();
    expect(transport.take()).toEqual([
      [4, 'e1', 'InternalError', 'internal error', {}],
      [4, 'e2', 'InternalError', 'internal error', {}],
    ]);
    const failures = lines.filter((l) => l.msg === 'handler failed');
    expect(failures.map((l) => (l.err as { stack: string }).stack)).toEqual([
      expect.stringContaining('relay stuck'),
      expect.stringContaining('store closed'),
    ]);
  });

  it('answers with the code, description and details of a CallError the handler throws', async () => {
    const { transport, rpc } = setup({ handlers: false });
    rpc.handle('ChangeAvailability', async (req) => {
      throw new CallError('PropertyConstraintViolation', 'no such connector', {
        connectorId: req.connectorId,
      });
    });
    rpc.receive('[2,"e3","ChangeAvailability",{"connectorId":9,"type":"Operative"}]');
    await settle();
    expect(transport.take()).toEqual([
      [4, 'e3', 'PropertyConstraintViolation', 'no such connector', { connectorId: 9 }],
    ]);
  });

  it('never puts an invalid handler response on the wire: InternalError instead', async () => {
    const { log, lines } = captureLog();
    const { transport, rpc } = setup({ handlers: false, log });
    rpc.handle('GetConfiguration', () => ({ configurationKey: [{ key: 'K'.repeat(51), readonly: true }] }));
    rpc.handle('Reset', async () => ({ status: 'Maybe' }) as never);
    rpc.receive('[2,"i1","GetConfiguration",{}]');
    rpc.receive('[2,"i2","Reset",{"type":"Hard"}]');
    await settle();
    expect(transport.take()).toEqual([
      [4, 'i1', 'InternalError', 'internal error', {}],
      [4, 'i2', 'InternalError', 'internal error', {}],
    ]);
    expect(lines.filter((l) => l.msg === 'handler returned an invalid response')).toHaveLength(2);
  });

  it('answers a central-system CALL while our own CALL waits for its result', async () => {
    const { transport, rpc } = setup();
    const heartbeat = rpc.call('Heartbeat', {});
    const ourId = transport.lastId();
    transport.take();
    rpc.receive('[2,"cs1","GetConfiguration",{}]');
    rpc.receive('[2,"cs2","Reset",{"type":"Soft"}]');
    await settle();
    expect(transport.take()).toEqual([
      [3, 'cs1', { configurationKey: [], unknownKey: [] }],
      [3, 'cs2', { status: 'Accepted' }],
    ]);
    rpc.receive(JSON.stringify([3, ourId, { currentTime: '2024-05-01T10:00:00Z' }]));
    await expect(heartbeat).resolves.toEqual({ currentTime: '2024-05-01T10:00:00Z' });
  });

  it('drops an answer that is ready only after the connection changed', async () => {
    const { transport, rpc } = setup({ handlers: false });
    let release: (value: { status: 'Accepted' }) => void = () => {};
    rpc.handle('Reset', () => new Promise((resolve) => (release = resolve)));
    rpc.receive('[2,"old","Reset",{"type":"Soft"}]');
    rpc.detach();
    const next = new FakeTransport();
    rpc.attach(next);
    release({ status: 'Accepted' });
    await settle();
    expect(transport.sent).toEqual([]);
    expect(next.sent).toEqual([]);
  });

  it('refuses to register two handlers for one action, or one for a CP-initiated action', () => {
    const { rpc } = setup();
    expect(() => rpc.handle('Reset', () => ({ status: 'Accepted' }))).toThrow(/already registered/);
    expect(() => rpc.handle('Heartbeat' as never, () => ({}) as never)).toThrow(
      /not sent by the central system/,
    );
  });
});

describe('our CALLs', () => {
  it('keeps one CALL in flight and sends the rest in FIFO order as results arrive', async () => {
    const { transport, rpc } = setup();
    const first = rpc.call('Heartbeat', {});
    const second = rpc.call('StatusNotification', {
      connectorId: 1,
      errorCode: 'NoError',
      status: 'Available',
    });
    const third = rpc.call('Heartbeat', {});
    expect(transport.sent).toHaveLength(1);
    const [[, id1, action1]] = transport.take() as [unknown[]];
    expect(action1).toBe('Heartbeat');

    rpc.receive(JSON.stringify([3, id1, { currentTime: '2024-05-01T10:00:00Z' }]));
    await expect(first).resolves.toEqual({ currentTime: '2024-05-01T10:00:00Z' });
    await settle();
    const [[, id2, action2, payload2]] = transport.take() as [unknown[]];
    expect([action2, payload2]).toEqual([
      'StatusNotification',
      { connectorId: 1, errorCode: 'NoError', status: 'Available' },
    ]);

    rpc.receive(JSON.stringify([3, id2, {}]));
    await expect(second).resolves.toEqual({});
    await settle();
    const [[, id3, action3]] = transport.take() as [unknown[]];
    expect(action3).toBe('Heartbeat');
    rpc.receive(JSON.stringify([3, id3, { currentTime: '2024-05-01T10:00:01Z' }]));
    await expect(third).resolves.toEqual({ currentTime: '2024-05-01T10:00:01Z' });
    expect(new Set([id1, id2, id3]).size).toBe(3);
  });

  it('sends the next CALL only after the answer to the previous one was handled by its caller', async () => {
    const { transport, rpc } = setup();
    let recorded = false;
    const first = rpc.call('Heartbeat', {}).then(() => {
      recorded = true;
    });
    const second = rpc.call('Heartbeat', {});
    const [[, id1]] = transport.take() as [unknown[]];
    const sentBeforeRecorded: boolean[] = [];
    const send = transport.send.bind(transport);
    transport.send = (text) => {
      sentBeforeRecorded.push(!recorded);
      return send(text);
    };
    rpc.receive(JSON.stringify([3, id1, { currentTime: '2024-05-01T10:00:00Z' }]));
    await first;
    await settle();
    expect(sentBeforeRecorded).toEqual([false]);
    rpc.detach();
    await second.catch(() => undefined);
  });

  it('uses unique message ids of at most 36 characters', async () => {
    const { transport, rpc } = setup();
    const ids = new Set<string>();
    for (let i = 0; i < 200; i += 1) {
      void rpc.call('Heartbeat', {});
      const id = transport.lastId();
      expect(id.length).toBeLessThanOrEqual(36);
      ids.add(id);
      rpc.receive(JSON.stringify([3, id, { currentTime: '2024-05-01T10:00:00Z' }]));
      await settle();
    }
    expect(ids.size).toBe(200);
  });

  it('times out a call, moves on to the next, and ignores its late result', async () => {
    const { clock, transport, rpc } = setup();
    const first = rpc.call('Heartbeat', {});
    const second = rpc.call('Heartbeat', {}, { timeoutMs: 5_000 });
    const lateId = transport.lastId();
    transport.take();

    clock.advance(TIMEOUT - 1);
    expect(transport.sent).toEqual([]);
    clock.advance(1);
    const error = await first.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CallTimeoutError);
    expect((error as CallTimeoutError).action).toBe('Heartbeat');
    expect(rpc.counters.timeouts).toBe(1);
    const secondId = transport.lastId();
    transport.take();

    rpc.receive(JSON.stringify([3, lateId, { currentTime: '2024-05-01T10:00:00Z' }]));
    expect(rpc.counters.unknownResults).toBe(1);
    expect(transport.sent).toEqual([]);

    clock.advance(4_999);
    rpc.receive(JSON.stringify([3, secondId, { currentTime: '2024-05-01T10:00:05Z' }]));
    await expect(second).resolves.toEqual({ currentTime: '2024-05-01T10:00:05Z' });
    // Answered, it times out never: the timeout's timer, once past, finds nothing to do and ends.
    clock.advance(TIMEOUT);
    expect(rpc.counters.timeouts).toBe(1);
    expect(clock.pending).toBe(0);
  });

  it('times each call from its own send, with one timer for calls answered back to back', async () => {
    const { clock, transport, rpc } = setup();
    const setTimeout = vi.spyOn(clock, 'setTimeout');
    for (let i = 0; i < 100; i++) {
      const call = rpc.call('Heartbeat', {});
      clock.advance(100);
      rpc.receive(JSON.stringify([3, transport.lastId(), { currentTime: '2024-05-01T10:00:00Z' }]));
      await call;
      await settle();
    }
    expect(setTimeout).toHaveBeenCalledTimes(1);
    // Sent at 10 s, after that timer was armed for the first call: it times out at 40 s, not 30 s.
    const late = rpc.call('Heartbeat', {});
    clock.advance(TIMEOUT - 1);
    expect(await outcome(late)).toBe('pending');
    clock.advance(1);
    expect(await outcome(late)).toBeInstanceOf(CallTimeoutError);
    // A shorter timeout than the timer armed for the call before it still holds.
    await settle();
    const short = rpc.call('Heartbeat', {});
    rpc.receive(JSON.stringify([3, transport.lastId(), { currentTime: '2024-05-01T10:00:00Z' }]));
    await short;
    await settle();
    const quick = rpc.call('Heartbeat', {}, { timeoutMs: 5_000 });
    clock.advance(4_999);
    expect(await outcome(quick)).toBe('pending');
    clock.advance(1);
    expect(await outcome(quick)).toBeInstanceOf(CallTimeoutError);
    expect(rpc.counters.timeouts).toBe(2);
  });

  it.each([
    ['FormationViolation', 'FormationViolation'],
    ['FormatViolation', 'FormationViolation'],
    ['OccurenceConstraintViolation', 'OccurenceConstraintViolation'],
    ['OccurrenceConstraintViolation', 'OccurenceConstraintViolation'],
    ['RpcFrameworkError', 'ProtocolError'],
    ['MessageTypeNotSupported', 'NotImplemented'],
    ['notsupported', 'NotSupported'],
    ['SomethingElse', 'GenericError'],
  ] as const)('rejects the call on CALLERROR %s as %s, keeping the raw code', async (raw, code) => {
    const { transport, rpc } = setup();
    const call = rpc.call('Heartbeat', {});
    const following = rpc.call('Heartbeat', {});
    const id = transport.lastId();
    rpc.receive(JSON.stringify([4, id, raw, 'went wrong', { hint: 1 }]));
    const error = await call.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CallError);
    expect(error).toMatchObject({ code, rawCode: raw, description: 'went wrong', details: { hint: 1 } });
    expect(rpc.counters.callErrorsReceived).toBe(1);
    await settle();
    expect(transport.lastId()).not.toBe(id);
    rpc.receive(JSON.stringify([3, transport.lastId(), { currentTime: '2024-05-01T10:00:00Z' }]));
    await expect(following).resolves.toEqual({ currentTime: '2024-05-01T10:00:00Z' });
  });

  it('rejects the call with the mapped code when the result payload breaks the schema', async () => {
    const { transport, rpc } = setup({ gate: 'boot-only' });
    const missing = rpc.call('BootNotification', BOOT);
    rpc.receive(
      JSON.stringify([3, transport.lastId(), { status: 'Accepted', currentTime: '2024-05-01T10:00:00Z' }]),
    );
    await expect(missing).rejects.toMatchObject({ code: 'OccurenceConstraintViolation' });
    await settle();
    const badEnum = rpc.call('BootNotification', BOOT);
    rpc.receive(JSON.stringify([3, transport.lastId(), { ...BOOT_CONF, status: 'Maybe' }]));
    await expect(badEnum).rejects.toMatchObject({ code: 'PropertyConstraintViolation', message: /\/status/ });
    await settle();
    const badType = rpc.call('BootNotification', BOOT);
    rpc.receive(JSON.stringify([3, transport.lastId(), { ...BOOT_CONF, interval: 1.5 }]));
    await expect(badType).rejects.toBeInstanceOf(CallError);
    await expect(badType).rejects.toMatchObject({ code: 'TypeConstraintViolation' });
    expect(rpc.counters.invalidPayloads).toBe(3);
  });

  it('rejects at once, instead of at timeout, when a malformed answer carries the id of our call', async () => {
    const { clock, transport, rpc } = setup();
    const viaResult = rpc.call('Heartbeat', {});
    rpc.receive(`[3,"${transport.lastId()}",{"currentTime":`);
    expect(await outcome(viaResult)).toBeInstanceOf(CallError);
    await settle();
    const viaError = rpc.call('Heartbeat', {});
    rpc.receive(`[4,"${transport.lastId()}","NotSupported"]`);
    expect(await outcome(viaError)).toBeInstanceOf(CallError);
    clock.advance(TIMEOUT);
    expect(rpc.counters.timeouts).toBe(0);
    expect(clock.pending).toBe(0);
    expect(transport.sent.every((text) => (JSON.parse(text) as unknown[])[0] === 2)).toBe(true);
  });

  it('refuses to send an invalid request: our bug, not the central system’s', async () => {
    const { log, lines } = captureLog();
    const { transport, rpc } = setup({ gate: 'boot-only', log });
    const call = rpc.call('BootNotification', { ...BOOT, chargePointVendor: 'V'.repeat(21) });
    await expect(call).rejects.toThrow(/chargePointVendor/);
    await expect(call).rejects.not.toBeInstanceOf(CallError);
    expect(transport.sent).toEqual([]);
    expect(lines.some((l) => l.level === 50 && l.action === 'BootNotification')).toBe(true);
  });

  it('rejects a call made while detached at once', async () => {
    const rpc = new RpcEndpoint({ log: silentLogger(), clock: new FakeClock(), callTimeoutMs: TIMEOUT });
    rpc.setGate('open');
    await expect(rpc.call('Heartbeat', {})).rejects.toBeInstanceOf(NotConnectedError);
  });

  it('on detach, rejects the call in flight and every queued call, gated or not', async () => {
    const { clock, transport, rpc } = setup({ gate: 'boot-only' });
    const boot = rpc.call('BootNotification', BOOT);
    const gated = rpc.call('Heartbeat', {});
    expect(transport.sent).toHaveLength(1);
    rpc.detach();
    await expect(boot).rejects.toBeInstanceOf(NotConnectedError);
    await expect(gated).rejects.toBeInstanceOf(NotConnectedError);
    expect(clock.pending).toBe(0);
    rpc.attach(transport);
    rpc.setGate('open');
    expect(transport.sent).toHaveLength(1);
  });

  it('treats a new attach without detach as the end of the old link', async () => {
    const { transport, rpc } = setup();
    const old = rpc.call('Heartbeat', {});
    const next = new FakeTransport();
    rpc.attach(next);
    await expect(old).rejects.toBeInstanceOf(NotConnectedError);
    void rpc.call('Heartbeat', {});
    expect([transport.sent.length, next.sent.length]).toEqual([1, 1]);
  });

  it('rejects a call the socket refuses and goes on with the next', async () => {
    const { transport, rpc } = setup();
    transport.open = false;
    await expect(rpc.call('Heartbeat', {})).rejects.toBeInstanceOf(NotConnectedError);
    transport.open = true;
    void rpc.call('Heartbeat', {});
    expect(transport.sent).toHaveLength(1);
  });
});

describe('gate', () => {
  it('starts boot-only', () => {
    const rpc = new RpcEndpoint({ log: silentLogger(), clock: new FakeClock(), callTimeoutMs: TIMEOUT });
    expect(rpc.gate).toBe('boot-only');
  });

  it('sends no CALL while closed, but keeps the calls queued', async () => {
    const { transport, rpc } = setup({ gate: 'closed' });
    const boot = rpc.call('BootNotification', BOOT);
    const heartbeat = rpc.call('Heartbeat', {});
    expect(transport.sent).toEqual([]);
    rpc.setGate('boot-only');
    const [[, bootId, action]] = transport.take() as [unknown[]];
    expect(action).toBe('BootNotification');
    rpc.receive(JSON.stringify([3, bootId, BOOT_CONF]));
    await expect(boot).resolves.toEqual(BOOT_CONF);
    await settle();
    expect(transport.sent).toEqual([]);
    rpc.setGate('open');
    rpc.receive(JSON.stringify([3, transport.lastId(), { currentTime: '2024-05-01T10:00:00Z' }]));
    await expect(heartbeat).resolves.toEqual({ currentTime: '2024-05-01T10:00:00Z' });
  });

  it('lets BootNotification pass boot-only ahead of calls queued before it', async () => {
    const { transport, rpc } = setup({ gate: 'boot-only' });
    const status = rpc.call('StatusNotification', {
      connectorId: 0,
      errorCode: 'NoError',
      status: 'Available',
    });
    const boot = rpc.call('BootNotification', BOOT);
    const [[, bootId, action]] = transport.take() as [unknown[]];
    expect(action).toBe('BootNotification');
    rpc.receive(JSON.stringify([3, bootId, BOOT_CONF]));
    await boot;
    await settle();
    expect(transport.sent).toEqual([]);
    rpc.setGate('open');
    const [[, statusId, statusAction]] = transport.take() as [unknown[]];
    expect(statusAction).toBe('StatusNotification');
    rpc.receive(JSON.stringify([3, statusId, {}]));
    await expect(status).resolves.toEqual({});
  });

  it('does not stop answering central-system CALLs', () => {
    const { transport, rpc } = setup({ gate: 'closed' });
    rpc.receive('[2,"g1","ChangeConfiguration",{"key":"MeterValueSampleInterval","value":"60"}]');
    expect(transport.take()).toEqual([[3, 'g1', { status: 'Accepted' }]]);
  });
});

describe('inbound order', () => {
  const HB_CONF = { currentTime: '2024-05-01T10:00:00Z' };

  it('looks at the frame after an answer only once the caller has applied the answer', async () => {
    const { transport, rpc } = setup({ handlers: false });
    let applied = false;
    const heartbeat = rpc.call('Heartbeat', {}).then(() => {
      applied = true;
    });
    const id = transport.lastId();
    transport.take();
    const seen: boolean[] = [];
    rpc.handle('ClearCache', () => {
      seen.push(applied);
      return { status: 'Accepted' };
    });
    // Both frames in one read from the socket: nothing runs in between.
    rpc.receive(JSON.stringify([3, id, HB_CONF]));
    rpc.receive('[2,"next","ClearCache",{}]');
    await heartbeat;
    await settle();
    expect(seen).toEqual([true]);
    expect(transport.take()).toEqual([[3, 'next', { status: 'Accepted' }]]);
  });

  it('does the same after a CALLERROR, and keeps the order of every frame held meanwhile', async () => {
    const { transport, rpc } = setup({ handlers: false });
    const order: string[] = [];
    const heartbeat = rpc.call('Heartbeat', {}).catch(() => order.push('caller saw the error'));
    const id = transport.lastId();
    transport.take();
    rpc.handle('ClearCache', (_req, ctx) => {
      order.push(ctx.messageId);
      return { status: 'Accepted' };
    });
    rpc.receive(JSON.stringify([4, id, 'InternalError', 'busy', {}]));
    rpc.receive('[2,"a","ClearCache",{}]');
    rpc.receive('[2,"b","ClearCache",{}]');
    await heartbeat;
    await settle();
    expect(order).toEqual(['caller saw the error', 'a', 'b']);
    expect(transport.take().map((f) => f[1])).toEqual(['a', 'b']);
  });

  it('drops the frames held behind an answer when the link goes', async () => {
    const { transport, rpc } = setup();
    const heartbeat = rpc.call('Heartbeat', {});
    const id = transport.lastId();
    transport.take();
    rpc.receive(JSON.stringify([3, id, HB_CONF]));
    rpc.receive('[2,"old","ClearCache",{}]');
    rpc.detach();
    const next = new FakeTransport();
    rpc.attach(next);
    await expect(heartbeat).resolves.toEqual(HB_CONF);
    await settle();
    expect([transport.sent, next.sent]).toEqual([[], []]);
  });
});

describe('answers before the CALLs they cause', () => {
  const HB_CONF = { currentTime: '2024-05-01T10:00:00Z' };
  const actions = (t: FakeTransport) => t.take().map((f) => (f[0] === 2 ? `CALL ${f[2]}` : `answer ${f[1]}`));

  it('runs afterAnswer once the CALLRESULT is written, for synchronous and asynchronous handlers', async () => {
    const { transport, rpc } = setup({ handlers: false });
    const sentWhenRun: string[][] = [];
    const record = () =>
      sentWhenRun.push(transport.sent.map((t) => (JSON.parse(t) as unknown[])[1] as string));
    rpc.handle('ClearCache', (_req, ctx) => {
      ctx.afterAnswer(record);
      return { status: 'Accepted' };
    });
    rpc.handle('Reset', async (_req, ctx) => {
      ctx.afterAnswer(record);
      await settle();
      return { status: 'Accepted' };
    });
    rpc.receive('[2,"sync","ClearCache",{}]');
    expect(sentWhenRun).toEqual([['sync']]);
    rpc.receive('[2,"async","Reset",{"type":"Soft"}]');
    expect(sentWhenRun).toHaveLength(1);
    await settle();
    await settle();
    expect(sentWhenRun).toEqual([['sync'], ['sync', 'async']]);
  });

  it('does not run afterAnswer when the answer is a CALLERROR', async () => {
    const { transport, rpc } = setup({ handlers: false });
    let ran = false;
    rpc.handle('ClearCache', (_req, ctx) => {
      ctx.afterAnswer(() => {
        ran = true;
      });
      throw new CallError('GenericError', 'no');
    });
    rpc.receive('[2,"e","ClearCache",{}]');
    await settle();
    expect(transport.take()).toEqual([[4, 'e', 'GenericError', 'no', {}]]);
    expect(ran).toBe(false);
  });

  it('holds a CALL a handler causes on the way (an event it emits) until the answer is out', () => {
    const { transport, rpc } = setup({ handlers: false });
    rpc.handle('ChangeAvailability', () => {
      void rpc.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Unavailable' });
      return { status: 'Accepted' };
    });
    rpc.receive('[2,"ca","ChangeAvailability",{"connectorId":1,"type":"Inoperative"}]');
    expect(actions(transport)).toEqual(['answer ca', 'CALL StatusNotification']);
  });

  it('holds CALLs made while an asynchronous handler works, and sends them after its answer', async () => {
    const { transport, rpc } = setup({ handlers: false });
    let release: () => void = () => {};
    rpc.handle('UnlockConnector', async () => {
      await new Promise<void>((resolve) => (release = resolve));
      return { status: 'Unlocked' };
    });
    rpc.receive('[2,"u","UnlockConnector",{"connectorId":1}]');
    void rpc.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available' });
    expect(transport.sent).toEqual([]);
    release();
    await settle();
    expect(actions(transport)).toEqual(['answer u', 'CALL StatusNotification']);
  });

  it('lets held CALLs go after the call timeout when a handler never answers, so nothing deadlocks', async () => {
    const { clock, transport, rpc } = setup({ handlers: false });
    rpc.handle('UnlockConnector', () => new Promise(() => {}));
    rpc.receive('[2,"u","UnlockConnector",{"connectorId":1}]');
    const heartbeat = rpc.call('Heartbeat', {});
    clock.advance(TIMEOUT - 1);
    expect(transport.sent).toEqual([]);
    clock.advance(1);
    const [[, id, action]] = transport.take() as [unknown[]];
    expect(action).toBe('Heartbeat');
    rpc.receive(JSON.stringify([3, id, HB_CONF]));
    await expect(heartbeat).resolves.toEqual(HB_CONF);
  });

  it('lets an answer and the CALL it sets off leave in one corked write, and a frame held for a caller too', async () => {
    const { transport, rpc } = setup({ handlers: false });
    // Each corked section is the frames it let out together (one socket write on the link).
    const writes: string[][] = [];
    const corked = (write: () => void) => {
      const before = transport.sent.length;
      write();
      writes.push(transport.sent.slice(before).map((t) => (JSON.parse(t) as unknown[])[2] as string));
    };
    rpc.attach({ send: (text) => transport.send(text), corked });
    rpc.handle('TriggerMessage', (_req, ctx) => {
      ctx.afterAnswer(() => void rpc.call('Heartbeat', {}, { triggered: true }));
      return { status: 'Accepted' };
    });
    rpc.receive('[2,"t1","TriggerMessage",{"requestedMessage":"Heartbeat"}]');
    const heartbeatId = transport.lastId();
    expect(writes).toEqual([[{ status: 'Accepted' }, 'Heartbeat']]);
    // The next trigger arrives behind the Heartbeat's answer and waits for its caller: it is
    // handled in a later turn, still corked with the CALL it sets off.
    rpc.receive(JSON.stringify([3, heartbeatId, HB_CONF]));
    rpc.receive('[2,"t2","TriggerMessage",{"requestedMessage":"Heartbeat"}]');
    await settle();
    expect(writes.slice(1).filter((frames) => frames.length > 0)).toEqual([
      [{ status: 'Accepted' }, 'Heartbeat'],
    ]);
  });

  it('defers endpoint-level afterAnswer to the answer of the handler running now, else runs it at once', () => {
    const { transport, rpc } = setup({ handlers: false });
    const order: string[] = [];
    rpc.handle('ChangeConfiguration', () => {
      rpc.afterAnswer(() => order.push(`reconnect after ${transport.sent.length} frame(s)`));
      return { status: 'Accepted' };
    });
    rpc.receive('[2,"cc","ChangeConfiguration",{"key":"AuthorizationKey","value":"00"}]');
    rpc.afterAnswer(() => order.push('local change: at once'));
    expect(order).toEqual(['reconnect after 1 frame(s)', 'local change: at once']);
  });
});

describe('registration states', () => {
  it('while silent (Rejected), drops central-system CALLs unanswered with a log line, bad ones included', () => {
    const { log, lines } = captureLog();
    const { transport, rpc } = setup({ log, gate: 'closed' });
    rpc.setSilent(true);
    rpc.receive('[2,"r1","GetConfiguration",{}]');
    rpc.receive('[2,"r2","Reset",{"type":5}]');
    rpc.receive('[2,"r3","NoSuchAction",{}]');
    expect(transport.sent).toEqual([]);
    expect(
      lines.filter((l) => l.msg === 'central-system CALL dropped unanswered').map((l) => l.messageId),
    ).toEqual(['r1', 'r2', 'r3']);
    rpc.setSilent(false);
    rpc.receive('[2,"r4","ClearCache",{}]');
    expect(transport.take()).toEqual([[3, 'r4', { status: 'Accepted' }]]);
  });

  it('lets a triggered message pass the boot-only gate (Pending), and holds the others', async () => {
    const { transport, rpc } = setup({ gate: 'boot-only' });
    const held = rpc.call('Heartbeat', {});
    const triggered = rpc.call(
      'StatusNotification',
      { connectorId: 0, errorCode: 'NoError', status: 'Available' },
      { triggered: true },
    );
    const [[, id, action]] = transport.take() as [unknown[]];
    expect(action).toBe('StatusNotification');
    rpc.receive(JSON.stringify([3, id, {}]));
    await expect(triggered).resolves.toEqual({});
    await settle();
    expect(transport.sent).toEqual([]);
    expect(await outcome(held)).toBe('pending');
  });
});

describe('DataTransfer goes both ways', () => {
  it('is sent by the charge point and answered by the central system', async () => {
    const { transport, rpc } = setup();
    const sent = rpc.call('DataTransfer', { vendorId: 'com.example', messageId: 'm', data: 'x' });
    const [[type, id, action, payload]] = transport.take() as [unknown[]];
    expect([type, action, payload]).toEqual([
      2,
      'DataTransfer',
      { vendorId: 'com.example', messageId: 'm', data: 'x' },
    ]);
    rpc.receive(JSON.stringify([3, id, { status: 'Accepted', data: 'y' }]));
    await expect(sent).resolves.toEqual({ status: 'Accepted', data: 'y' });
  });

  it('is still handled when the central system sends it', () => {
    const { transport, rpc } = setup();
    rpc.receive('[2,"d1","DataTransfer",{"vendorId":"com.example"}]');
    expect(transport.take()).toEqual([[3, 'd1', { status: 'UnknownVendorId' }]]);
  });
});

describe('whenIdle (graceful stop)', () => {
  it('resolves at once when nothing is in flight', async () => {
    const { rpc } = setup();
    await expect(outcome(rpc.whenIdle(1000))).resolves.toBeUndefined();
  });

  it('waits for the answer of the call in flight, not for queued calls held by a closed gate', async () => {
    const { transport, rpc } = setup();
    const first = rpc.call('Heartbeat', {});
    const second = rpc.call('Heartbeat', {});
    rpc.setGate('closed');
    const idle = rpc.whenIdle(5000);
    expect(await outcome(idle)).toBe('pending');
    rpc.receive(JSON.stringify([3, transport.lastId(), { currentTime: '2024-05-01T10:00:00Z' }]));
    await expect(first).resolves.toEqual({ currentTime: '2024-05-01T10:00:00Z' });
    await expect(outcome(idle)).resolves.toBeUndefined();
    expect(transport.sent).toHaveLength(1);
    expect(await outcome(second)).toBe('pending');
  });

  it('gives up after the bound when the answer never comes', async () => {
    const { clock, rpc } = setup();
    void rpc.call('Heartbeat', {}).catch(() => undefined);
    const idle = rpc.whenIdle(500);
    clock.advance(499);
    expect(await outcome(idle)).toBe('pending');
    clock.advance(1);
    await expect(outcome(idle)).resolves.toBeUndefined();
  });

  it('resolves when the link closes', async () => {
    const { rpc } = setup();
    void rpc.call('Heartbeat', {}).catch(() => undefined);
    const idle = rpc.whenIdle(5000);
    rpc.detach();
    await expect(outcome(idle)).resolves.toBeUndefined();
  });
});

describe('warm-up', () => {
  it('rehearses a central-system CALL to its answer on a throwaway endpoint, once, leaving this one untouched', async () => {
    const { rpc, transport } = setup();
    const handled: unknown[] = [];
    rpc.handle('RemoteStartTransaction', (req) => {
      handled.push(req);
      return { status: 'Accepted' };
    });
    const frames: FrameEvent[] = [];
    rpc.on('frame', (frame: FrameEvent) => frames.push(frame));
    const counters = { ...rpc.counters };

    const written = await rpc.warmUp();

    // The dispatch ran from the frame to the written CALLRESULT, then a CALL of ours after it (as
    // TriggerMessage sends one), so V8 has compiled it and seen every field of it written...
    expect(written.map((text) => JSON.parse(text))).toEqual([
      [3, 'warm-up', { status: 'Rejected' }],
      [2, expect.any(String), 'Heartbeat', {}],
    ]);
    // ...with nothing of it on this endpoint: no frame, no handler, no count, no trace.
    expect(transport.sent).toEqual([]);
    expect(handled).toEqual([]);
    expect(frames).toEqual([]);
    expect(rpc.counters).toEqual(counters);
    expect(await rpc.warmUp()).toEqual([]);

    rpc.receive(JSON.stringify([2, 'cs-1', 'RemoteStartTransaction', { idTag: 'TAG' }]));
    expect(handled).toEqual([{ idTag: 'TAG' }]);
    expect(transport.take()).toEqual([[3, 'cs-1', { status: 'Accepted' }]]);
  });
});

describe('frames and resilience', () => {
  it("emits 'frame' for every frame in and out, and 'malformed' for bad ones", () => {
    const { transport, rpc } = setup();
    const frames: FrameEvent[] = [];
    const malformed: unknown[] = [];
    rpc.on('frame', (f: FrameEvent) => frames.push(f));
    rpc.on('malformed', (m: unknown) => malformed.push(m));
    rpc.receive('[2,"f1","ClearCache",{}]');
    rpc.receive('[]');
    // Each well-formed frame with the header the RPC read or wrote, so the trace need not parse it.
    expect(frames).toEqual([
      {
        direction: 'in',
        text: '[2,"f1","ClearCache",{}]',
        header: { messageType: 2, messageId: 'f1', action: 'ClearCache' },
      },
      { direction: 'out', text: transport.sent[0], header: { messageType: 3, messageId: 'f1' } },
      { direction: 'in', text: '[]' },
    ]);
    expect(malformed).toEqual([{ reason: 'frame is an empty array', text: '[]' }]);
  });

  it('survives a throwing event listener', () => {
    const { transport, rpc } = setup();
    rpc.on('frame', () => {
      throw new Error('trace disk full');
    });
    rpc.receive('[2,"f2","ClearCache",{}]');
    expect(transport.take()).toEqual([[3, 'f2', { status: 'Accepted' }]]);
  });

  it('logs a structured warning for a refused CALL', () => {
    const { log, lines } = captureLog();
    const { rpc } = setup({ log });
    rpc.receive('[2,"w1","Heartbeat",{}]');
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 40, code: 'NotSupported', messageId: 'w1', action: 'Heartbeat' }),
    );
  });

  it('treats frames above the configured limit as malformed', () => {
    const transport = new FakeTransport();
    const rpc = new RpcEndpoint({
      log: silentLogger(),
      clock: new FakeClock(),
      callTimeoutMs: TIMEOUT,
      maxFrameBytes: 64,
    });
    registerFoundationHandlers(rpc);
    rpc.attach(transport);
    rpc.receive(`[2,"big","DataTransfer",{"vendorId":"${'é'.repeat(20)}"}]`);
    expect(transport.take()).toEqual([[4, 'big', 'FormationViolation', 'frame larger than 64 bytes', {}]]);
    rpc.receive('[2,"small","ClearCache",{}]');
    expect(transport.take()).toEqual([[3, 'small', { status: 'Accepted' }]]);
  });

  it('serialises CALLERROR details as {} when there are none', () => {
    expect(serializeError('x', 'GenericError')).toBe('[4,"x","GenericError","",{}]');
    expect(parseFrame('[4,"x","GenericError","",{}]')).toEqual({
      kind: 'error',
      messageId: 'x',
      code: 'GenericError',
      description: '',
      details: {},
    });
  });
});

describe('normalizeCallErrorCode', () => {
  it('passes every 1.6 code through, in any case', () => {
    for (const code of CALL_ERROR_CODES) {
      expect(normalizeCallErrorCode(code)).toBe(code);
      expect(normalizeCallErrorCode(code.toUpperCase())).toBe(code);
    }
  });

  it('maps what is not a code to GenericError', () => {
    expect(normalizeCallErrorCode(42)).toBe('GenericError');
    expect(normalizeCallErrorCode(undefined)).toBe('GenericError');
    expect(normalizeCallErrorCode('constructor')).toBe('GenericError');
  });
});

describe('security events', () => {
  function watch(rpc: RpcEndpoint): RpcSecurityEvent[] {
    const events: RpcSecurityEvent[] = [];
    rpc.on('securityEvent', (event: RpcSecurityEvent) => events.push(event));
    return events;
  }

  it('reports InvalidMessages for a malformed frame, an invalid request and an invalid answer', async () => {
    const { transport, rpc } = setup();
    const events = watch(rpc);
    rpc.receive('[2,"m1","Reset"');
    rpc.receive(JSON.stringify([2, 'm2', 'Reset', { type: 'Sideways' }]));
    const call = rpc.call('Heartbeat', {});
    rpc.receive(JSON.stringify([3, transport.lastId(), { currentTime: 'yesterday' }]));
    await call.catch(() => undefined);
    expect(events.map((e) => e.type)).toEqual(['InvalidMessages', 'InvalidMessages', 'InvalidMessages']);
    expect(events[1]?.techInfo).toMatch(/^Reset request: /);
    expect(events[2]?.techInfo).toMatch(/^Heartbeat response: /);
  });

  it('reports AttemptedReplayAttacks for an answer repeated or to a call never sent, not for a late one', async () => {
    const { clock, transport, rpc } = setup();
    const events = watch(rpc);
    const answered = rpc.call('Heartbeat', {});
    const answeredId = transport.lastId();
    rpc.receive(JSON.stringify([3, answeredId, { currentTime: '2024-05-01T10:00:00Z' }]));
    await answered;
    await settle();
    const late = rpc.call('Heartbeat', {});
    const lateId = transport.lastId();
    clock.advance(TIMEOUT);
    await late.catch(() => undefined);
    rpc.receive(JSON.stringify([3, lateId, { currentTime: '2024-05-01T10:00:00Z' }]));
    expect(events).toEqual([]);

    rpc.receive(JSON.stringify([3, answeredId, { currentTime: '2024-05-01T10:00:00Z' }]));
    rpc.receive(JSON.stringify([4, 'forged-id', 'GenericError', '', {}]));
    expect(events).toEqual([
      { type: 'AttemptedReplayAttacks', techInfo: `CALLRESULT again for answered call ${answeredId}` },
      { type: 'AttemptedReplayAttacks', techInfo: 'CALLERROR for a call never sent: forged-id' },
    ]);
  });

  it('reports a central-system CALL that reuses a message id on the same connection, and answers it', () => {
    const { transport, rpc } = setup();
    const events = watch(rpc);
    rpc.receive(JSON.stringify([2, 'cs-1', 'ClearCache', {}]));
    rpc.receive(JSON.stringify([2, 'cs-1', 'ClearCache', {}]));
    expect(transport.take()).toEqual([
      [3, 'cs-1', { status: 'Accepted' }],
      [3, 'cs-1', { status: 'Accepted' }],
    ]);
    expect(events).toEqual([
      { type: 'AttemptedReplayAttacks', techInfo: 'ClearCache CALL reuses message id cs-1' },
    ]);
    // A new connection starts a new id space.
    rpc.attach(transport);
    rpc.receive(JSON.stringify([2, 'cs-1', 'ClearCache', {}]));
    expect(events).toHaveLength(1);
  });
});
