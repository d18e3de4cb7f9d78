import { once } from 'node:events';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { OcppTime } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import { Link } from '../../src/ocpp/link.js';
import { connectErrorCause, httpCause, nextFailure } from '../../src/ocpp/link-failure.js';
import { FakeClock } from '../support/fake-clock.js';

const T0 = Date.parse('2026-11-29T10:00:00.000Z');

function errno(message: string, code?: string): Error {
  const error: NodeJS.ErrnoException = new Error(message);
  if (code !== undefined) error.code = code;
  return error;
}

describe('why an attempt to connect failed', () => {
  it.each([
    ['connect ECONNREFUSED 127.0.0.1:9', 'ECONNREFUSED', 'refused'],
    ['getaddrinfo ENOTFOUND csms.invalid', 'ENOTFOUND', 'dns'],
    ['getaddrinfo EAI_AGAIN csms.example', 'EAI_AGAIN', 'dns'],
    ['self-signed certificate', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'tls'],
    ['certificate has expired', 'CERT_HAS_EXPIRED', 'tls'],
    ['Opening handshake has timed out', undefined, 'timeout'],
    ['connect ETIMEDOUT 10.0.0.1:443', 'ETIMEDOUT', 'timeout'],
    ['read ECONNRESET', 'ECONNRESET', 'network'],
  ])('%s (%s): %s', (message, code, kind) => {
    expect(connectErrorCause(errno(message, code))).toEqual({ kind, message });
  });

  it('an HTTP refusal carries its status and reason phrase', () => {
    expect(httpCause(401)).toEqual({ kind: 'http', httpStatus: 401, message: 'HTTP 401 Unauthorized' });
    expect(httpCause(599)).toEqual({ kind: 'http', httpStatus: 599, message: 'HTTP 599' });
  });

  it('the same cause again continues its run; another starts a new one', () => {
    const refused = { kind: 'refused' as const, message: 'connect ECONNREFUSED 127.0.0.1:9' };
    const first = nextFailure(undefined, refused, 1000);
    expect(first).toEqual({ ...refused, at: 1000, since: 1000, attempts: 1 });
    const again = nextFailure(first, refused, 3000);
    expect(again).toEqual({ ...refused, at: 3000, since: 1000, attempts: 2 });
    const unauthorized = nextFailure(again, httpCause(401), 4000);
    expect(unauthorized).toMatchObject({ kind: 'http', at: 4000, since: 4000, attempts: 1 });
    expect(nextFailure(unauthorized, httpCause(403), 5000)).toMatchObject({ since: 5000, attempts: 1 });
  });
});

describe('OcppTime.sync: where the time comes from and its offset from the system clock', () => {
  it("the system clock until the central system's time, then that time and how far the system clock is", () => {
    const clock = new FakeClock(T0);
    const time = new OcppTime(clock, true);
    expect(time.sync()).toEqual({ source: 'systemClock', followsCentralSystem: true, offsetMs: 0 });
    time.syncTo(new Date(T0 + 5000).toISOString());
    clock.advance(1000);
    expect(time.sync()).toEqual({
      source: 'centralSystem',
      followsCentralSystem: true,
      offsetMs: 5000,
      lastCentralTimeAt: T0 + 5000,
    });
  });

  it('a trusted system clock (NTP) is the time whatever the central system says', () => {
    const clock = new FakeClock(T0);
    const time = new OcppTime(clock, false);
    time.syncTo(new Date(T0 + 5000).toISOString());
    expect(time.sync()).toEqual({ source: 'systemClock', followsCentralSystem: false, offsetMs: 0 });
  });
});

/** A link to `url` on `clock`, with a backoff of 1 to 8 s. */
function linkTo(url: string, clock: FakeClock): Link {
  return new Link({
    chargePointId: 'CP-1',
    credentials: () => ({ url, securityProfile: 0 }),
    pingIntervalSec: () => 0,
    backoff: { initialMs: 1000, maxMs: 8000 },
    connectTimeoutMs: 5000,
    log: silentLogger(),
    clock,
  });
}

describe('Link.condition', () => {
  it('while the port refuses: the URL, the failure and the next attempt; stopped, no attempt is due', async () => {
    const server = createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    server.close();
    await once(server, 'close');
    const clock = new FakeClock(T0);
    const link = linkTo(`ws://127.0.0.1:${port}/ocpp`, clock);
    expect(link.condition()).toEqual({ state: 'idle', since: T0 });
    link.start();
    await once(link, 'connectFailed');
    const condition = link.condition();
    expect(condition).toMatchObject({
      state: 'idle',
      url: `ws://127.0.0.1:${port}/ocpp/CP-1`,
      since: T0,
      lastFailure: { kind: 'refused', at: T0, since: T0, attempts: 1 },
    });
    // Backoff with jitter: between half the first step and the step.
    expect(condition.nextAttemptAt).toBeGreaterThanOrEqual(T0 + 500);
    expect(condition.nextAttemptAt).toBeLessThanOrEqual(T0 + 1000);
    await link.stop();
    expect(link.condition().state).toBe('stopped');
    expect(link.condition().nextAttemptAt).toBeUndefined();
  });

  it.each([
    ['agrees to none', false, 'no subprotocol agreed (ocpp1.6 asked)'],
    ['agrees to another', 'ocpp2.0.1', 'subprotocol ocpp2.0.1 instead of ocpp1.6'],
  ] as const)(
    'a central system that %s: a subprotocol failure, not the network',
    async (_what, agreed, message) => {
      const server = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: () => agreed });
      await once(server, 'listening');
      const { port } = server.address() as { port: number };
      const link = linkTo(`ws://127.0.0.1:${port}/ocpp`, new FakeClock(T0));
      link.start();
      await once(link, 'connectFailed');
      expect(link.condition().lastFailure).toMatchObject({ kind: 'subprotocol', message, attempts: 1 });
      await link.stop();
      server.close();
    },
  );
});
