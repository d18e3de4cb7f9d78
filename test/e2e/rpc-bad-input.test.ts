import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BAD_FRAMES } from '../support/bad-frames.js';
import { CP_ID, Harness } from '../support/harness.js';

type Parsed = { type: string; id: string; code?: string };

describe('RPC: bad input over a real WebSocket', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await Harness.create();
    await h.booted();
  });
  afterAll(async () => {
    await h.stop();
  });

  it('has a matrix of at least 30 bad frames', () => {
    expect(BAD_FRAMES.length).toBeGreaterThanOrEqual(30);
  });

  for (const c of BAD_FRAMES) {
    it(`answers "${c.name}" ${c.expect.kind === 'callerror' ? `with ${c.expect.code}` : 'with nothing'}`, async () => {
      const mark = h.csms.mark();
      h.csms.sendRaw(CP_ID, c.text);
      // A valid call after the bad frame: its answer proves the link still works and orders the check.
      const probe = h.csms.call(CP_ID, 'GetConfiguration', { key: ['NumberOfConnectors'] });
      await expect(probe).resolves.toMatchObject({
        configurationKey: [{ key: 'NumberOfConnectors', value: '2' }],
      });
      const answers = h.csms.frames
        .filter((f) => f.seq > mark && f.direction === 'in' && f.message && f.message.type !== 'call')
        .map((f) => f.message as Parsed);
      const expect_ = c.expect;
      if (expect_.kind === 'none') {
        // Only the probe's own result came back.
        expect(answers.filter((a) => a.type === 'error')).toEqual([]);
      } else {
        expect(answers).toContainEqual(
          expect.objectContaining({ type: 'error', id: expect_.messageId, code: expect_.code }),
        );
      }
    });
  }

  it('logged and counted the malformed frames, and never dropped the connection', () => {
    expect(h.runtime.rpc.counters.malformed).toBeGreaterThan(0);
    expect(h.csms.handshakes.length).toBe(1);
    expect(h.sink.count((l) => l.level === 'warn')).toBeGreaterThan(0);
  });
});
