import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { TraceEntry } from '../../src/store/trace-repo.js';
import { answered, charging } from '../support/charging.js';
import { cpctl } from '../support/cpctl-process.js';
import { CP_ID, useHarness } from '../support/harness.js';

/** A password the OCTT could send: 16 bytes in hex. */
const SECRET = 'f00dfeedC0ffeeBabe4242C0ffeeBabe';

const parse = (stdout: string): TraceEntry[] =>
  stdout
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as TraceEntry);

describe('the OCPP frame trace against the running daemon', () => {
  const start = useHarness();

  it('cpctl trace shows a whole charging session, every frame in the order it went', async () => {
    const h = await start();
    await h.booted();
    const transactionId = await charging(h, 'CARD01');
    const mark = h.csms.mark();
    h.board.unplug(1);
    const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
    await answered(h.csms, stop.id);
    await h.status(1, 'Available', mark);

    // Exactly what went over the wire, as the central system saw it, in the same order (its last
    // answer may still be on its way to the charge point).
    const wire = h.csms.frames
      .filter((f) => f.chargePointId === CP_ID && f.message)
      .map((f) => `${f.direction === 'in' ? 'out' : 'in'} ${f.message!.id}`)
      .slice(0, -1);
    const socket = h.config.cli.socket;
    const json = await cpctl(socket, 'trace', '--limit', '1000', '--json');
    expect(json.code).toBe(0);
    const entries = parse(json.stdout);
    expect(entries.map((e) => `${e.direction} ${e.messageId}`).slice(0, wire.length)).toEqual(wire);
    const session = entries.map((e) => `${e.direction} ${e.messageType} ${e.action}`);
    for (const step of [
      'out 2 BootNotification',
      'in 3 BootNotification',
      'out 2 StartTransaction',
      'in 3 StartTransaction',
      'out 2 StopTransaction',
      'in 3 StopTransaction',
    ]) {
      expect(session).toContain(step);
    }
    const started = entries.find((e) => e.action === 'StartTransaction' && e.messageType === 3)!;
    expect(started.text).toContain(`"transactionId":${transactionId}`);

    const human = await cpctl(socket, 'trace', '--action', 'StopTransaction');
    const lines = human.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/ -> CALL +StopTransaction +\S+ \[2,/);
    expect(lines[1]).toMatch(/ <- RESULT +StopTransaction +\S+ \[3,/);
  });

  it('ChangeConfiguration(AuthorizationKey): the secret is neither in the trace table nor in cpctl trace', async () => {
    const h = await start();
    await h.booted();
    const answer = await h.csms.call(CP_ID, 'ChangeConfiguration', {
      key: 'AuthorizationKey',
      value: SECRET,
    });
    expect(answer).toEqual({ status: 'Accepted' });
    expect(h.runtime.config.get('AuthorizationKey')).toBe(SECRET);

    const socket = h.config.cli.socket;
    const json = await cpctl(socket, 'trace', '--action', 'ChangeConfiguration', '--json');
    const [call, result] = parse(json.stdout);
    expect(call).toMatchObject({ direction: 'in', messageType: 2, action: 'ChangeConfiguration' });
    expect(JSON.parse(call!.text)[3]).toEqual({ key: 'AuthorizationKey', value: '[redacted]' });
    expect(result).toMatchObject({ direction: 'out', messageType: 3, action: 'ChangeConfiguration' });
    for (const args of [
      ['trace', '--limit', '1000'],
      ['trace', '--limit', '1000', '--json'],
    ]) {
      const out = await cpctl(socket, ...args);
      expect(out.code).toBe(0);
      expect(out.stdout).not.toContain(SECRET);
    }

    const db = new Database(join(h.stateDir, 'chargepoint.db'), { readonly: true });
    try {
      const rows = db.prepare('SELECT * FROM ocpp_trace').all() as Array<Record<string, unknown>>;
      expect(rows.length).toBeGreaterThan(5);
      expect(JSON.stringify(rows)).not.toContain(SECRET);
      expect(
        db.prepare("SELECT COUNT(*) AS n FROM ocpp_trace WHERE text LIKE '%' || ? || '%'").get(SECRET),
      ).toEqual({
        n: 0,
      });
    } finally {
      db.close();
    }
  });

  it('keeps at most trace.maxFrames frames', async () => {
    const h = await start({ config: () => ({ trace: { maxFrames: 4 } }) });
    await h.booted();
    for (let i = 0; i < 3; i++) await h.csms.call(CP_ID, 'GetConfiguration', { key: ['HeartbeatInterval'] });
    const entries = parse((await cpctl(h.config.cli.socket, 'trace', '--limit', '100', '--json')).stdout);
    expect(entries.map((e) => `${e.direction} ${e.messageType} ${e.action}`)).toEqual([
      'in 2 GetConfiguration',
      'out 3 GetConfiguration',
      'in 2 GetConfiguration',
      'out 3 GetConfiguration',
    ]);
  });
});
