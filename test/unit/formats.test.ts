/**
 * Our `date-time` check (src/ocpp/formats.ts) against the one it replaces, ajv-formats 3's full
 * `date-time` (through Ajv): the same answer for every text; and our reading of a central system's
 * time (src/ocpp/date-time.ts) against Date.parse, likewise. Random texts are built from the format's own parts,
 * each part sometimes out of range or malformed, so most cases lie near the boundary between
 * valid and not; plus plain random strings. fast-check's failure message carries the seed;
 * `FC_SEED=<seed>` replays the run.
 */
import { Ajv } from 'ajv';
import formats from 'ajv-formats';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dateTimeMs } from '../../src/ocpp/date-time.js';
import { isDateTime } from '../../src/ocpp/formats.js';
import { OCPP_VALIDATORS } from '../../src/ocpp/generated/validators.js';

const SEED = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);
const RUNS = 20_000;

/** The reference: Ajv with ajv-formats, as the validators were generated before. */
const ajv = new Ajv({ strict: false });
formats.default(ajv, ['date-time']);
const referenceValidate = ajv.compile({ type: 'string', format: 'date-time' });
const referenceValid = (text: string): boolean => referenceValidate(text);

function fail(message: string): never {
  throw new Error(message);
}

/** Two digits, mostly in the usual ranges, sometimes any, sometimes not two digits at all. */
const twoDigits = fc.oneof(
  fc.integer({ min: 0, max: 99 }).map((n) => String(n).padStart(2, '0')),
  fc.constantFrom('00', '01', '12', '13', '23', '24', '28', '29', '30', '31', '32', '59', '60', '61'),
  fc.constantFrom('', '1', '123', 'a1', '1 ', '٣٣'),
);
const year = fc.oneof(
  fc.integer({ min: 0, max: 9999 }).map((n) => String(n).padStart(4, '0')),
  fc.constantFrom('1900', '2000', '2024', '2100', '1970', '202', '20245', '2O24'),
);
const dash = fc.constantFrom('-', '-', '-', '/', '');
const colon = fc.constantFrom(':', ':', ':', '.', '');
const separator = fc.constantFrom(
  'T',
  't',
  ' ',
  '\t',
  '\n',
  '\u00a0',
  '\u2028',
  '\ufeff',
  'x',
  '_',
  'TT',
  '',
);
const fraction = fc.oneof(
  fc.constant(''),
  fc.constant('.'),
  fc.stringMatching(/^\.[0-9]{1,9}$/),
  fc.constantFrom('.5Z', ',5', '.a'),
);
const zone = fc.oneof(
  fc.constantFrom('Z', 'z', '', 'UTC', 'Zz', ' Z'),
  fc
    .tuple(
      fc.constantFrom('+', '-', '±'),
      twoDigits,
      fc.constantFrom('', ':', '::'),
      fc.oneof(fc.constant(''), twoDigits),
    )
    .map((parts) => parts.join('')),
);
const nearlyDateTime = fc
  .tuple(
    year,
    dash,
    twoDigits,
    dash,
    twoDigits,
    separator,
    twoDigits,
    colon,
    twoDigits,
    colon,
    twoDigits,
    fraction,
    zone,
  )
  .map((parts) => parts.join(''));

describe('isDateTime', () => {
  it('answers as ajv-formats date-time does for texts built from its parts', () => {
    fc.assert(
      fc.property(nearlyDateTime, (text) => {
        expect(isDateTime(text), JSON.stringify(text)).toBe(referenceValid(text));
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('answers as ajv-formats date-time does for a valid text with one character changed, added or removed', () => {
    const valid = fc.constantFrom(
      '2024-02-29T23:59:60Z',
      '2026-11-30T04:18:08.123+01:00',
      '1999-12-31t23:59:59.999999-0530',
      '2000-01-01 00:00:00+14',
    );
    const edit = fc.tuple(
      valid,
      fc.nat(),
      fc.constantFrom('change', 'add', 'remove'),
      fc.oneof(
        fc.string({ minLength: 1, maxLength: 1, unit: 'binary' }),
        fc.constantFrom('T', 't', ' ', 'Z', 'z', '+', '-', ':', '.', '0', '9', '\u00a0'),
      ),
    );
    fc.assert(
      fc.property(edit, ([text, at, kind, char]) => {
        const i = at % text.length;
        const edited =
          kind === 'remove'
            ? text.slice(0, i) + text.slice(i + 1)
            : text.slice(0, i) + char + text.slice(kind === 'change' ? i + 1 : i);
        expect(isDateTime(edited), JSON.stringify(edited)).toBe(referenceValid(edited));
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('answers as ajv-formats date-time does for arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40, unit: 'binary' }), (text) => {
        expect(isDateTime(text)).toBe(referenceValid(text));
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it.each([
    ['2024-02-29T12:00:00Z', true],
    ['2023-02-29T12:00:00Z', false],
    ['2026-11-30T04:18:08.123Z', true],
    ['2026-11-30T04:18:08', false],
    ['2026-11-30T23:59:60Z', true],
    ['2026-11-30T22:59:60-01:00', true],
    ['2026-11-30T12:59:60Z', false],
    ['2026-11-30 04:18:08+01:00', true],
    ['2026-11-30T04:18:08.Z', false],
    ['2026-11-30T24:00:00Z', false],
    ['2026-13-01T00:00:00Z', false],
  ])('%s is %s', (text, valid) => {
    expect(isDateTime(text)).toBe(valid);
    expect(referenceValid(text)).toBe(valid);
  });

  it('is the check the generated OCPP validators run', () => {
    const validate = OCPP_VALIDATORS['urn:Heartbeat.conf'] ?? fail('no Heartbeat.conf validator');
    expect(validate({ currentTime: '2026-11-30T04:18:08.123Z' })).toBe(true);
    expect(validate({ currentTime: '2026-11-30T04:18:08' })).toBe(false);
    expect(validate({ currentTime: '2023-02-29T04:18:08Z' })).toBe(false);
  });
});

describe('dateTimeMs', () => {
  const sameAsDateParse = (text: string): void => {
    expect(
      Object.is(dateTimeMs(text), Date.parse(text)),
      `${JSON.stringify(text)}: ${dateTimeMs(text)}`,
    ).toBe(true);
  };

  it('reads every text as Date.parse does, near the form it reads itself or not', () => {
    fc.assert(fc.property(fc.oneof(nearlyDateTime, fc.string()), sameAsDateParse), {
      numRuns: RUNS,
      seed: SEED,
    });
  });

  it('reads a UTC form with one character changed as Date.parse does (a sign, a letter, a space)', () => {
    const changed = fc.tuple(
      fc.constantFrom('2026-11-30T15:50:06Z', '2024-02-29T23:59:59.999Z', '0100-01-01T00:00:00.000Z'),
      fc.nat(),
      fc.constantFrom('a', '-', '+', ' ', '.', ':', 'T', 'Z', '٣', '0', '9'),
    );
    fc.assert(
      fc.property(changed, ([text, at, char]) => {
        const i = at % text.length;
        sameAsDateParse(text.slice(0, i) + char + text.slice(i + 1));
      }),
      { numRuns: RUNS, seed: SEED },
    );
    sameAsDateParse('2026-11-30Ta1:00:00Z');
    sameAsDateParse('2026-11-30T10:00:-1Z');
  });

  it('reads the UTC forms central systems write, at the edges of the calendar and the clock', () => {
    const utc = fc
      .tuple(
        fc.oneof(
          fc.integer({ min: 0, max: 9999 }),
          fc.constantFrom(0, 99, 100, 1900, 1970, 2000, 2100, 2400),
        ),
        fc.integer({ min: 0, max: 13 }),
        fc.integer({ min: 0, max: 32 }),
        fc.integer({ min: 0, max: 25 }),
        fc.integer({ min: 0, max: 61 }),
        fc.integer({ min: 0, max: 61 }),
        fc.option(fc.integer({ min: 0, max: 999 }), { nil: undefined }),
      )
      .map(([y, mo, d, h, mi, s, ms]) => {
        const two = (n: number) => String(n).padStart(2, '0');
        const fraction = ms === undefined ? '' : `.${String(ms).padStart(3, '0')}`;
        return `${String(y).padStart(4, '0')}-${two(mo)}-${two(d)}T${two(h)}:${two(mi)}:${two(s)}${fraction}Z`;
      });
    fc.assert(fc.property(utc, sameAsDateParse), { numRuns: RUNS, seed: SEED });
    for (const text of [
      '2024-02-29T23:59:59.999Z',
      '2023-02-29T00:00:00Z',
      '2026-11-30T24:00:00Z',
      '0099-01-01T00:00:00Z',
    ])
      sameAsDateParse(text);
    expect(dateTimeMs('2026-11-30T15:50:06.042Z')).toBe(Date.UTC(2026, 10, 30, 15, 50, 6, 42));
  });
});
