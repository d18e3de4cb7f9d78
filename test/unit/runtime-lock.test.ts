import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_SIM_SPEC, SimBoard } from '../../hal/sim/board.js';
import { parseConfig } from '../../src/config/file.js';
import { silentLogger } from '../../src/log.js';
import { Runtime } from '../../src/runtime.js';
import { lockStateDirectory } from '../../src/store/index.js';
import { StateDirectoryLockedError } from '../../src/store/state-lock.js';
import { FakeClock } from '../support/fake-clock.js';

describe('a second runtime on a state directory in use', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cp-lock-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is turned away before it touches the board the running one drives', async () => {
    const stateDir = join(dir, 'state');
    const held = lockStateDirectory(stateDir);
    const board = new SimBoard(DEFAULT_SIM_SPEC, new FakeClock());
    const safe = vi.spyOn(board, 'safe');
    const start = vi.spyOn(board, 'start');
    const stop = vi.spyOn(board, 'stop');
    const config = parseConfig(
      {
        chargePointId: 'CP-LOCK-01',
        identity: { vendor: 'V', model: 'M' },
        csms: { url: 'ws://127.0.0.1:9/ocpp' },
        stateDir,
        board: 'sim',
        cli: { socket: join(dir, 'cpctl.sock') },
      },
      dir,
    );
    await expect(Runtime.start({ config, log: silentLogger(), board })).rejects.toThrow(
      StateDirectoryLockedError,
    );
    expect([safe, start, stop].map((spy) => spy.mock.calls.length)).toEqual([0, 0, 0]);
    held.release();
  });
});
