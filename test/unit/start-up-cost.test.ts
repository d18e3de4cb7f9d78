/**
 * What the daemon's start costs before its BootNotification can leave. Loading and configuring Ajv
 * costs the boot 40-60 ms on a 2-core board, and checking a schema against the JSON Schema
 * meta-schema some 40 ms more per instance: our schemas (configuration file, board files, the
 * official OCPP ones) are fixed, so they are compiled to standalone code by scripts/gen-validators.ts
 * (with strict mode where it applies) and the daemon never compiles one.
 */
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { afterEach, describe, expect, it, vi } from 'vitest';

describe('start-up cost', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    vi.resetModules();
  });

  it('no schema is compiled while the daemon loads, reads its files and sends its boot', async () => {
    vi.resetModules();
    const compile = vi.spyOn(Ajv.prototype, 'compile');
    const { parseConfig } = await import('../../src/config/file.js');
    const { parseBoardFile } = await import('../../src/config/board-file.js');
    const { validateRequest } = await import('../../src/ocpp/validator.js');
    expect(() => parseConfig({}, '/')).toThrow(/^invalid configuration: /);
    await expect(parseBoardFile({ kind: 'sim' }, 'b.json')).rejects.toThrow(/^board file b.json: /);
    await expect(parseBoardFile({ kind: 'hardware' }, 'h.json')).rejects.toThrow(/^board file h.json: /);
    expect(
      validateRequest('BootNotification', { chargePointVendor: 'V', chargePointModel: 'M' }),
    ).toBeUndefined();
    expect(compile).not.toHaveBeenCalled();
  });

  it('no schema is checked against the meta-schema while the daemon loads and sends its boot', async () => {
    vi.resetModules();
    const metaChecks = vi.spyOn(Ajv.prototype, 'validateSchema');
    await import('../../src/config/file.js');
    await import('../../src/config/board-file.js');
    await import('../../src/config/hardware-board-file.js');
    const { validateRequest } = await import('../../src/ocpp/validator.js');
    expect(
      validateRequest('BootNotification', { chargePointVendor: 'V', chargePointModel: 'M' }),
    ).toBeUndefined();
    expect(metaChecks).not.toHaveBeenCalled();
  });

  it('strict mode still refuses a misspelt keyword when a schema compiles', () => {
    const ajv = new Ajv({ strict: true, validateSchema: false });
    expect(() => ajv.compile({ type: 'object', propertes: {} })).toThrow(/unknown keyword: "propertes"/);
  });

  it('the launcher runs node with the flags that keep the resident size small', () => {
    const shebang = readFileSync(new URL('../../src/bin/chargepointd.ts', import.meta.url), 'utf8').split(
      '\n',
      1,
    )[0];
    const flags = shebang?.split(/\s+/).filter((word) => word.startsWith('--'));
    // A function's feedback (its inline caches) from its first call, not its eighth, makes the
    // first session after boot run warm code (bench: first start 1.9x -> 1.5x the durable floor,
    // first stop 2.45x -> 1.84x, medians of 8 runs) for ~0.5 MB and ~0.05x of the boot; a quarter
    // of V8's interrupt budget tiers the message path up in a quarter of the messages
    // (TriggerMessage in the first 1,000 after boot: about 1.5x -> 1.2x the floor) for another
    // ~0.5 MB, and 12 KB rather than that quarter (16 KB) sooner still (GetConfiguration in the
    // first 1,000: 1.37x -> 1.27x the floor, medians of 15 and 8 bench runs, lower in each of 4
    // runs side by side; RemoteStop unchanged at 1.8x the durable floor; +0.5 MB, medians; 8 KB
    // measured the same within the noise); a quarter of V8's inlining budget per optimized
    // function takes a quarter to a half off the helper thread's compiling while a new kind of
    // message tiers up (first-1,000 p50s, medians of 8 paired bench runs: TriggerMessage 1.42x ->
    // 1.23x the floor, GetConfiguration 1.43x -> 1.36x, against half the budget).
    // --optimize-for-size is gone: its memory-reducing collections deoptimized the message path
    // mid-burst, and the resident size after boot is the same without it (62.1-62.7 MB either way).
    expect(flags).toEqual([
      '--max-semi-space-size=1',
      '--v8-pool-size=1',
      '--no-lazy-feedback-allocation',
      '--interrupt-budget=12288',
      '--max-inlined-bytecode-size-cumulative=230',
    ]);
    // The kernel reads at most 256 bytes of a `#!` line (128 before Linux 5.1).
    expect(shebang?.length).toBeLessThan(256);
  });
});
