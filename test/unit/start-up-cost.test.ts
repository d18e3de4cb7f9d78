/**
 * What the daemon's start costs before its BootNotification can leave. Checking a schema against
 * the JSON Schema meta-schema means compiling that meta-schema first, some 40 ms per Ajv instance
 * on a 2-core board: our schemas (configuration file, board files, the official OCPP ones) are
 * fixed, compiled by tests, and still checked by strict mode when they compile.
 */
import { Ajv } from 'ajv';
import { afterEach, describe, expect, it, vi } from 'vitest';

describe('start-up cost', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    vi.resetModules();
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
});
