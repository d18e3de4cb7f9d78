import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigurationRegistry } from '../../src/config/registry.js';
import {
  CONNECTION_FAILURE_WINDOW_MS,
  CRITICAL,
  RATE_WINDOW_MS,
  SecurityEvents,
  type SecurityEventType,
} from '../../src/features/security/security-events.js';
import { createLogger } from '../../src/log.js';
import { Outbox } from '../../src/ocpp/outbox.js';
import type { RpcEndpoint } from '../../src/ocpp/rpc.js';
import { openStore, type Store } from '../../src/store/index.js';
import { OutboxRepo } from '../../src/store/outbox-repo.js';
import { SecurityLogRepo } from '../../src/store/security-log-repo.js';
import { FakeClock } from '../support/fake-clock.js';

const T0 = Date.parse('2024-05-01T12:00:00.000Z');
const silent = createLogger({ level: 'silent' });

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cp-secevents-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface Setup {
  store: Store;
  clock: FakeClock;
  outbox: Outbox;
  events: SecurityEvents;
  repo: SecurityLogRepo;
  /** Ends this run (the service, then the store), as a stop of the daemon does. */
  close(): void;
}

/** The service over a real store and outbox; the outbox is never resumed, so everything stays queued. */
function setup(dir = tempDir(), opts: { maxRows?: number; secrets?: string[] } = {}): Setup {
  const clock = new FakeClock(T0);
  const store = openStore({ dir, log: silent, clock });
  const outbox = new Outbox({
    repo: new OutboxRepo(store.db),
    rpc: { call: () => new Promise(() => {}) } as unknown as RpcEndpoint,
    config: { getInt: () => 3 } as unknown as ConfigurationRegistry,
    clock,
    log: silent,
  });
  const repo = new SecurityLogRepo(store.db, opts.maxRows);
  const events = new SecurityEvents({
    repo,
    outbox,
    time: { iso: () => new Date(clock.now()).toISOString() },
    clock,
    writes: store.health,
    log: silent,
    ...(opts.secrets ? { secrets: () => opts.secrets ?? [] } : {}),
  });
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    events.close();
    store.close();
  };
  cleanups.push(close);
  return { store, clock, outbox, events, repo, close };
}

function queuedTypes(outbox: Outbox): unknown[] {
  return outbox
    .pending()
    .filter((e) => e.action === 'SecurityEventNotification')
    .map((e) => e.payload.type);
}

describe('SecurityEvents', () => {
  it('marks exactly the seven critical events of the white paper', () => {
    const critical = Object.entries(CRITICAL)
      .filter(([, yes]) => yes)
      .map(([type]) => type)
      .sort();
    expect(critical).toEqual([
      'FirmwareUpdated',
      'MemoryExhaustion',
      'ResetOrReboot',
      'SecurityLogWasCleared',
      'SettingSystemTime',
      'StartupOfTheDevice',
      'TamperDetectionActivated',
    ]);
  });

  it('logs every event and queues each critical one durably, in order, with its timestamp', () => {
    const dir = tempDir();
    const { events, clock, close } = setup(dir);
    events.raise('StartupOfTheDevice', 'firmware 1.0');
    clock.advance(1000);
    events.raise('TamperDetectionActivated');
    events.raise('ResetOrReboot', 'Hard reset');
    close();

    // A new run over the same directory finds the log and the queue as they were.
    const after = setup(dir);
    expect(after.events.newest(10)).toEqual([
      {
        id: 1,
        timestamp: '2024-05-01T12:00:00.000Z',
        type: 'StartupOfTheDevice',
        techInfo: 'firmware 1.0',
        critical: true,
      },
      { id: 2, timestamp: '2024-05-01T12:00:01.000Z', type: 'TamperDetectionActivated', critical: true },
      {
        id: 3,
        timestamp: '2024-05-01T12:00:01.000Z',
        type: 'ResetOrReboot',
        techInfo: 'Hard reset',
        critical: true,
      },
    ]);
    expect(after.outbox.pending().map((e) => e.payload)).toEqual([
      { type: 'StartupOfTheDevice', timestamp: '2024-05-01T12:00:00.000Z', techInfo: 'firmware 1.0' },
      { type: 'TamperDetectionActivated', timestamp: '2024-05-01T12:00:01.000Z' },
      { type: 'ResetOrReboot', timestamp: '2024-05-01T12:00:01.000Z', techInfo: 'Hard reset' },
    ]);
  });

  it('queues a non-critical event once while one of its type still waits', () => {
    const { events, outbox, repo } = setup();
    for (let i = 0; i < 5; i++) events.raise('ReconfigurationOfSecurityParameters', `change ${i}`);
    events.raise('InvalidChargePointCertificate', 'not for our key');
    events.raise('StartupOfTheDevice');
    events.raise('StartupOfTheDevice');
    expect(repo.count()).toBe(8);
    expect(queuedTypes(outbox)).toEqual([
      'ReconfigurationOfSecurityParameters',
      'InvalidChargePointCertificate',
      'StartupOfTheDevice',
      'StartupOfTheDevice',
    ]);
  });

  it('queues the non-critical type again once the waiting one is delivered', async () => {
    const { events, outbox } = setup();
    events.raise('InvalidChargePointCertificate', 'first');
    const [entry] = outbox.pending();
    outbox.emit('delivered', entry!, {});
    events.raise('InvalidChargePointCertificate', 'second');
    expect(
      outbox
        .pending()
        .map((e) => e.payload.techInfo)
        .filter((t) => t !== undefined),
    ).toEqual(['first', 'second']);
  });

  it('keeps the newest rows only', () => {
    const { events, repo } = setup(tempDir(), { maxRows: 5 });
    for (let i = 1; i <= 12; i++) events.raise('ReconfigurationOfSecurityParameters', `change ${i}`);
    expect(repo.count()).toBe(5);
    expect(events.newest(100).map((e) => e.techInfo)).toEqual([
      'change 8',
      'change 9',
      'change 10',
      'change 11',
      'change 12',
    ]);
    expect(events.newest(2).map((e) => e.techInfo)).toEqual(['change 11', 'change 12']);
  });

  it('records at most one InvalidMessages per minute, then the count of the rest', () => {
    const { events, clock, repo } = setup();
    for (let i = 0; i < 1000; i++) events.raise('InvalidMessages', `bad frame ${i}`);
    expect(repo.newest(10).map((e) => e.techInfo)).toEqual(['bad frame 0']);
    clock.advance(RATE_WINDOW_MS);
    expect(repo.newest(10).map((e) => e.techInfo)).toEqual([
      'bad frame 0',
      '999 more in 60 s; last: bad frame 999',
    ]);
    // The summary opened a new window: a frame within it waits for its end.
    events.raise('InvalidMessages', 'one more');
    expect(repo.count()).toBe(2);
    clock.advance(RATE_WINDOW_MS);
    expect(repo.newest(1)[0]?.techInfo).toBe('1 more in 60 s; last: one more');
    // A quiet window closes: the next one is recorded at once.
    clock.advance(RATE_WINDOW_MS);
    events.raise('InvalidMessages', 'much later');
    expect(repo.newest(1)[0]?.techInfo).toBe('much later');
  });

  it('a days-long outage: one connection failure at once, then one summary per hour, one queued notification per type', () => {
    const { events, clock, repo, outbox } = setup();
    const attemptEveryMs = 97_000;
    events.raise('FailedToAuthenticateAtCentralSystem', 'HTTP 401 on upgrade (attempt 0)');
    // The first one is recorded (and queued) at once.
    expect(repo.newest(10).map((e) => e.techInfo)).toEqual(['HTTP 401 on upgrade (attempt 0)']);
    expect(queuedTypes(outbox)).toEqual(['FailedToAuthenticateAtCentralSystem']);
    const hours = 3 * 24;
    let attempts = 1;
    for (let elapsed = attemptEveryMs; elapsed < hours * 3_600_000; elapsed += attemptEveryMs) {
      clock.advance(attemptEveryMs);
      events.raise('FailedToAuthenticateAtCentralSystem', `HTTP 401 on upgrade (attempt ${attempts})`);
      events.raise('InvalidCentralSystemCertificate', `certificate has expired (attempt ${attempts})`);
      attempts++;
    }

    // The first, then a summary at the end of each hour but the last, still open.
    const refusals = repo.newest(1000).filter((e) => e.type === 'FailedToAuthenticateAtCentralSystem');
    expect(refusals.length).toBe(hours);
    expect(repo.newest(1000).filter((e) => e.type === 'InvalidCentralSystemCertificate')).toHaveLength(hours);
    // Nothing is lost from the count: the summaries add up to every attempt after the first.
    const counted = refusals
      .slice(1)
      .map((e) => Number(/^(\d+) more in 3600 s; last: /.exec(e.techInfo ?? '')?.[1]));
    expect(counted.every((n) => n > 0)).toBe(true);
    const recorded = counted.reduce((sum, n) => sum + n, 1);
    // The attempts of the window still open are counted when it ends.
    clock.advance(CONNECTION_FAILURE_WINDOW_MS);
    const last = repo
      .newest(1000)
      .filter((e) => e.type === 'FailedToAuthenticateAtCentralSystem')
      .at(-1);
    expect(recorded + Number(/^(\d+) more/.exec(last?.techInfo ?? '')?.[1])).toBe(attempts);
    expect(last?.techInfo).toMatch(new RegExp(`last: HTTP 401 on upgrade \\(attempt ${attempts - 1}\\)$`));
    // One notification per type waits for the central system, not one per attempt or hour.
    expect(queuedTypes(outbox)).toEqual([
      'FailedToAuthenticateAtCentralSystem',
      'InvalidCentralSystemCertificate',
    ]);
  });

  it('the refusal of a central-system CALL is recorded and queued every time: no window, even while a TLS failure of its type waits', () => {
    const { events, clock, repo, outbox } = setup();
    events.raise('InvalidCentralSystemCertificate', 'certificate has expired (attempt 0)');
    events.raiseForCall('InvalidCentralSystemCertificate', 'install refused 1');
    events.raiseForCall('InvalidCentralSystemCertificate', 'install refused 2');
    // The reconnect loop's window is still its own: the next attempt is held and counted.
    events.raise('InvalidCentralSystemCertificate', 'certificate has expired (attempt 1)');
    expect(repo.newest(10).map((e) => e.techInfo)).toEqual([
      'certificate has expired (attempt 0)',
      'install refused 1',
      'install refused 2',
    ]);
    expect(queuedTypes(outbox)).toEqual([
      'InvalidCentralSystemCertificate',
      'InvalidCentralSystemCertificate',
      'InvalidCentralSystemCertificate',
    ]);
    clock.advance(CONNECTION_FAILURE_WINDOW_MS);
    expect(repo.newest(1)[0]?.techInfo).toBe('1 more in 3600 s; last: certificate has expired (attempt 1)');
  });

  it('limits each noisy type on its own and leaves other types alone', () => {
    const { events, repo } = setup();
    const types: SecurityEventType[] = ['InvalidMessages', 'AttemptedReplayAttacks', 'SettingSystemTime'];
    for (let i = 0; i < 3; i++) for (const type of types) events.raise(type, String(i));
    expect(repo.newest(10).map((e) => `${e.type} ${e.techInfo}`)).toEqual([
      'InvalidMessages 0',
      'AttemptedReplayAttacks 0',
      'SettingSystemTime 0',
      'SettingSystemTime 1',
      'SettingSystemTime 2',
    ]);
  });

  it('cuts techInfo to 255 characters and removes secrets from it', () => {
    const { events, outbox } = setup(tempDir(), { secrets: ['s3cr3tKey0123456'] });
    events.raise('ReconfigurationOfSecurityParameters', `key s3cr3tKey0123456 set ${'x'.repeat(400)}`);
    events.raise('MemoryExhaustion', '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----');
    const [first, second] = events.newest(2);
    expect(first?.techInfo).toHaveLength(255);
    expect(first?.techInfo).toMatch(/^key \[redacted\] set x+$/);
    expect(second?.techInfo).toBe('[private key material removed]');
    expect(JSON.stringify(outbox.pending())).not.toContain('s3cr3tKey0123456');
    expect(JSON.stringify(outbox.pending())).not.toContain('MIIB');
  });

  it('clears the log and records the clearing as a critical, queued event', () => {
    const { events, outbox } = setup();
    events.raise('StartupOfTheDevice');
    events.raise('InvalidTLSVersion', 'TLSv1.1');
    expect(events.clear('cpctl')).toBe(2);
    expect(events.newest(10)).toMatchObject([
      { type: 'SecurityLogWasCleared', techInfo: 'cleared by cpctl', critical: true },
    ]);
    expect(queuedTypes(outbox)).toEqual(['StartupOfTheDevice', 'InvalidTLSVersion', 'SecurityLogWasCleared']);
  });
});
