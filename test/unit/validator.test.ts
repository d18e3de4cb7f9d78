import { afterEach, describe, expect, it, vi } from 'vitest';
import { ACTION_INFO } from '../../src/ocpp/actions.js';
import type { SchemaErrorCode } from '../../src/ocpp/errors.js';
import type { Action } from '../../src/ocpp/generated/messages.js';
import { schemaErrorCode, validateRequest, validateResponse, WARM_UP } from '../../src/ocpp/validator.js';

interface Row {
  name: string;
  direction: 'req' | 'conf';
  action: Action;
  payload: unknown;
  code: SchemaErrorCode;
  field?: string;
}

const profile = (extra: Record<string, unknown> = {}, period: Record<string, unknown> = {}) => ({
  connectorId: 1,
  csChargingProfiles: {
    chargingProfileId: 1,
    stackLevel: 0,
    chargingProfilePurpose: 'TxDefaultProfile',
    chargingProfileKind: 'Absolute',
    chargingSchedule: {
      chargingRateUnit: 'A',
      chargingSchedulePeriod: [{ startPeriod: 0, limit: 6, ...period }],
    },
    ...extra,
  },
});

const validate = (row: Pick<Row, 'direction' | 'action' | 'payload'>) =>
  row.direction === 'req'
    ? validateRequest(row.action, row.payload)
    : validateResponse(row.action, row.payload);

describe('schema violations map to the OCPP-J 1.6 CallError codes', () => {
  const rows: Row[] = [
    {
      name: 'payload is an array',
      direction: 'req',
      action: 'Reset',
      payload: [],
      code: 'FormationViolation',
    },
    { name: 'payload is null', direction: 'req', action: 'Reset', payload: null, code: 'FormationViolation' },
    {
      name: 'payload is a string',
      direction: 'conf',
      action: 'Reset',
      payload: 'Accepted',
      code: 'FormationViolation',
    },
    {
      name: 'payload is a number',
      direction: 'req',
      action: 'ClearCache',
      payload: 1,
      code: 'FormationViolation',
    },
    {
      name: 'additional property at top level',
      direction: 'req',
      action: 'Reset',
      payload: { type: 'Hard', delay: 1 },
      code: 'FormationViolation',
      field: '/delay',
    },
    {
      name: 'additional property in a nested object',
      direction: 'req',
      action: 'SetChargingProfile',
      payload: profile({ note: 'x' }),
      code: 'FormationViolation',
      field: '/csChargingProfiles/note',
    },
    {
      name: 'additional property in an array item of a response',
      direction: 'conf',
      action: 'GetConfiguration',
      payload: { configurationKey: [{ key: 'K', readonly: true, unit: 's' }] },
      code: 'FormationViolation',
      field: '/configurationKey/0/unit',
    },
    {
      name: 'required field missing',
      direction: 'req',
      action: 'BootNotification',
      payload: { chargePointVendor: 'V' },
      code: 'OccurenceConstraintViolation',
      field: '/chargePointModel',
    },
    {
      name: 'required nested field missing',
      direction: 'conf',
      action: 'Authorize',
      payload: { idTagInfo: {} },
      code: 'OccurenceConstraintViolation',
      field: '/idTagInfo/status',
    },
    {
      name: 'array below minItems',
      direction: 'conf',
      action: 'GetInstalledCertificateIds',
      payload: { status: 'Accepted', certificateHashData: [] },
      code: 'OccurenceConstraintViolation',
      field: '/certificateHashData',
    },
    {
      name: 'string where an integer is due',
      direction: 'req',
      action: 'ChangeAvailability',
      payload: { connectorId: '1', type: 'Operative' },
      code: 'TypeConstraintViolation',
      field: '/connectorId',
    },
    {
      name: 'integer field given 1.5',
      direction: 'req',
      action: 'ChangeAvailability',
      payload: { connectorId: 1.5, type: 'Operative' },
      code: 'TypeConstraintViolation',
      field: '/connectorId',
    },
    {
      name: 'number where a string is due',
      direction: 'req',
      action: 'Reset',
      payload: { type: 1 },
      code: 'TypeConstraintViolation',
      field: '/type',
    },
    {
      name: 'null where a string is due',
      direction: 'req',
      action: 'ChangeConfiguration',
      payload: { key: 'K', value: null },
      code: 'TypeConstraintViolation',
      field: '/value',
    },
    {
      name: 'string where a nested object is due',
      direction: 'conf',
      action: 'Authorize',
      payload: { idTagInfo: 'Accepted' },
      code: 'TypeConstraintViolation',
      field: '/idTagInfo',
    },
    {
      name: 'string where a boolean is due',
      direction: 'conf',
      action: 'GetConfiguration',
      payload: { configurationKey: [{ key: 'K', readonly: 'true' }] },
      code: 'TypeConstraintViolation',
      field: '/configurationKey/0/readonly',
    },
    {
      name: 'value outside the enumeration',
      direction: 'req',
      action: 'Reset',
      payload: { type: 'Medium' },
      code: 'PropertyConstraintViolation',
      field: '/type',
    },
    {
      name: 'string longer than maxLength',
      direction: 'req',
      action: 'BootNotification',
      payload: { chargePointVendor: 'V'.repeat(21), chargePointModel: 'M' },
      code: 'PropertyConstraintViolation',
      field: '/chargePointVendor',
    },
    {
      name: 'date-time without time zone',
      direction: 'req',
      action: 'ReserveNow',
      payload: { connectorId: 1, expiryDate: '2024-05-01T10:00:00', idTag: 'T', reservationId: 1 },
      code: 'PropertyConstraintViolation',
      field: '/expiryDate',
    },
    {
      name: 'date-time that is not a date',
      direction: 'conf',
      action: 'BootNotification',
      payload: { status: 'Accepted', currentTime: '2024-13-01T00:00:00Z', interval: 60 },
      code: 'PropertyConstraintViolation',
      field: '/currentTime',
    },
    {
      name: 'uri that is not a URI',
      direction: 'req',
      action: 'UpdateFirmware',
      payload: { location: 'not a uri', retrieveDate: '2024-05-01T10:00:00Z' },
      code: 'PropertyConstraintViolation',
      field: '/location',
    },
    {
      name: 'limit not a multiple of 0.1',
      direction: 'req',
      action: 'SetChargingProfile',
      payload: profile({}, { limit: 6.35 }),
      code: 'PropertyConstraintViolation',
      field: '/csChargingProfiles/chargingSchedule/chargingSchedulePeriod/0/limit',
    },
  ];

  it.each(rows)('$name -> $code', (row) => {
    const failure = validate(row);
    expect(failure?.code).toBe(row.code);
    if (row.field) expect(failure?.message).toContain(row.field);
  });

  it('names the field and the constraint in the message', () => {
    const failure = validateRequest('BootNotification', {
      chargePointVendor: 'V'.repeat(21),
      chargePointModel: 'M',
    });
    expect(failure?.message).toBe('/chargePointVendor must NOT have more than 20 characters');
    expect(validateRequest('Reset', { type: 'Medium' })?.message).toBe('/type must be one of Hard, Soft');
  });

  it('counts a maxLength in characters, not UTF-16 units: 20 emoji are a valid idTag, 21 are not', () => {
    const plug = '\u{1F50C}';
    expect(validateRequest('Authorize', { idTag: plug.repeat(20) })).toBeUndefined();
    expect(validateRequest('Authorize', { idTag: `${plug.repeat(19)}ab` })?.message).toBe(
      '/idTag must NOT have more than 20 characters',
    );
    expect(validateRequest('Authorize', { idTag: plug.repeat(21) })?.message).toBe(
      '/idTag must NOT have more than 20 characters',
    );
  });

  it('names the field inside a definition the schema refers to (a validator of its own)', () => {
    const hash = { hashAlgorithm: 'SHA256', issuerNameHash: 'a', issuerKeyHash: 'b', serialNumber: 'c' };
    expect(
      validateRequest('DeleteCertificate', {
        certificateHashData: { ...hash, issuerNameHash: 'x'.repeat(129) },
      }),
    ).toEqual({
      code: 'PropertyConstraintViolation',
      message: '/certificateHashData/issuerNameHash must NOT have more than 128 characters',
    });
    const { serialNumber: _, ...withoutSerial } = hash;
    expect(
      validateResponse('GetInstalledCertificateIds', {
        status: 'Accepted',
        certificateHashData: [hash, withoutSerial],
      }),
    ).toEqual({
      code: 'OccurenceConstraintViolation',
      message: '/certificateHashData/1/serialNumber is required',
    });
  });

  it('keeps the message short when a peer sends a huge property name', () => {
    const failure = validateRequest('Reset', { type: 'Hard', ['p'.repeat(10_000)]: 1 });
    expect(failure?.code).toBe('FormationViolation');
    expect(failure?.message.length).toBeLessThanOrEqual(255);
  });

  it('maps maxItems (not used by any 1.6 schema) like minItems', () => {
    expect(schemaErrorCode({ keyword: 'maxItems', instancePath: '/key' })).toBe(
      'OccurenceConstraintViolation',
    );
    expect(schemaErrorCode({ keyword: 'pattern', instancePath: '/idTag' })).toBe(
      'PropertyConstraintViolation',
    );
    expect(schemaErrorCode({ keyword: 'minimum', instancePath: '/interval' })).toBe(
      'PropertyConstraintViolation',
    );
  });
});

describe('valid payloads pass', () => {
  it.each([
    ['date-time in UTC with fractions', '2024-05-01T10:00:00.123Z'],
    ['date-time with an offset', '2024-05-01T12:00:00+02:00'],
  ])('%s', (_name, expiryDate) => {
    expect(
      validateRequest('ReserveNow', { connectorId: 1, expiryDate, idTag: 'T', reservationId: 1 }),
    ).toBeUndefined();
  });

  it('accepts multiples of 0.1 despite binary floating point (0.3, 6.3, 32.1)', () => {
    for (const limit of [0.3, 6.3, 32.1]) {
      expect(validateRequest('SetChargingProfile', profile({}, { limit }))).toBeUndefined();
    }
  });

  it('accepts an integer written as 1.0 in JSON (it parses to 1)', () => {
    const payload: unknown = JSON.parse('{"connectorId":1.0,"type":"Operative"}');
    expect(validateRequest('ChangeAvailability', payload)).toBeUndefined();
  });

  it('accepts an ftp URI and an empty GetConfiguration', () => {
    expect(
      validateRequest('UpdateFirmware', {
        location: 'ftp://127.0.0.1:21/fw.bin',
        retrieveDate: '2024-05-01T10:00:00Z',
      }),
    ).toBeUndefined();
    expect(validateRequest('GetConfiguration', {})).toBeUndefined();
  });

  it('does not mutate what it validates', () => {
    const payload = { connectorId: '1', type: 'Operative', extra: { nested: true } };
    const copy = structuredClone(payload);
    validateRequest('ChangeAvailability', payload);
    expect(payload).toEqual(copy);
    const valid = { configurationKey: [{ key: 'K', readonly: false }] };
    validateResponse('GetConfiguration', valid);
    expect(valid).toEqual({ configurationKey: [{ key: 'K', readonly: false }] });
  });

  it('has a validator for every one of the 78 schemas of the catalogue', () => {
    for (const action of Object.keys(ACTION_INFO) as Action[]) {
      expect(validateRequest(action, [])?.code).toBe('FormationViolation');
      expect(validateResponse(action, [])?.code).toBe('FormationViolation');
    }
  });
});

/** Event-loop turns enough for a validator module's warm-up (one validator per turn) to finish. */
async function afterWarmUp(): Promise<void> {
  for (let i = 0; i <= WARM_UP.length + 1; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

describe('warm-up', () => {
  afterEach(async () => {
    // A module instance of an earlier test still warming up would count in the next test's spies.
    await afterWarmUp();
    vi.restoreAllMocks();
    vi.resetModules();
  });

  it('runs nothing at import time', async () => {
    vi.resetModules();
    const { OCPP_VALIDATORS } = await import('../../src/ocpp/generated/validators.js');
    const runs = WARM_UP.map(([action, direction]) =>
      vi.spyOn(OCPP_VALIDATORS, `urn:${action}.${direction}`),
    );
    await import('../../src/ocpp/validator.js');
    await afterWarmUp();
    for (const run of runs) expect(run).not.toHaveBeenCalled();
  });

  it('warms each validator with a valid message, so its whole body has run, not only the first required check', () => {
    for (const [action, direction, payload] of WARM_UP) {
      const failure =
        direction === 'req' ? validateRequest(action, payload) : validateResponse(action, payload);
      expect(failure, `${action}.${direction}`).toBeUndefined();
    }
    // The session's messages carry what a first session sends and receives.
    const stop = WARM_UP.find(([action, direction]) => action === 'StopTransaction' && direction === 'req');
    expect(stop?.[2]).toMatchObject({
      transactionData: [{ sampledValue: [{ context: 'Transaction.Begin' }] }, {}],
    });
  });

  it('runs what a session needs once, in the turns after the first validation, so a first session pays no first run', async () => {
    vi.resetModules();
    const { OCPP_VALIDATORS } = await import('../../src/ocpp/generated/validators.js');
    const runs = WARM_UP.map(([action, direction]) =>
      vi.spyOn(OCPP_VALIDATORS, `urn:${action}.${direction}`),
    );
    const fresh = await import('../../src/ocpp/validator.js');

    fresh.validateRequest('BootNotification', { chargePointVendor: 'V', chargePointModel: 'M' });
    // The boot's own message is not held up: nothing more runs in its turn.
    for (const run of runs) expect(run).not.toHaveBeenCalled();
    await afterWarmUp();
    for (const run of runs) expect(run).toHaveBeenCalledTimes(1);
  });
});
