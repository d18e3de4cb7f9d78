import { ajvFormats } from '../commonjs.js';
import { twoDigits, validDate } from './date-time.js';

/**
 * The JSON-schema `date-time` format of the OCPP 1.6 schemas (RFC 3339 `date-time`, a time zone
 * required), as ajv-formats 3 decides it, without its allocations. ajv-formats splits the text
 * and runs two capturing regular expressions on every timestamp; every frame we send or receive
 * carries one or more (a MeterValues many), and the split strings and match arrays were a
 * measurable part of a hot call's time and of its garbage. The answers are the same for every
 * text: a property test compares the two (test/unit/formats.test.ts).
 */

/** ajv-formats splits at `t` or any white space (`/t|\s/i`), once. */
const SEPARATOR = /[tT\s]/;

/**
 * `HH:MM:SS[.fraction](Z|±HH[[:]MM])` from `at` to the end. The field ranges and the leap-second
 * rule are ajv-formats' own: a second of 60 is valid only at 23:59 UTC.
 */
function validTime(text: string, at: number): boolean {
  const hour = twoDigits(text, at);
  const minute = twoDigits(text, at + 3);
  const second = twoDigits(text, at + 6);
  if (hour < 0 || minute < 0 || second < 0) return false;
  if (text.charCodeAt(at + 2) !== 58 || text.charCodeAt(at + 5) !== 58) return false;
  let i = at + 8;
  if (text.charCodeAt(i) === 46) {
    const digitsFrom = ++i;
    while (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++;
    if (i === digitsFrom) return false;
  }
  let zoneSign = 1;
  let zoneHours = 0;
  let zoneMinutes = 0;
  const zone = text.charCodeAt(i);
  if (zone === 90 || zone === 122) {
    i += 1;
  } else if (zone === 43 || zone === 45) {
    zoneSign = zone === 45 ? -1 : 1;
    zoneHours = twoDigits(text, i + 1);
    if (zoneHours < 0) return false;
    i += 3;
    if (i < text.length) {
      if (text.charCodeAt(i) === 58) i += 1;
      zoneMinutes = twoDigits(text, i);
      if (zoneMinutes < 0) return false;
      i += 2;
    }
  } else {
    return false;
  }
  if (i !== text.length || zoneHours > 23 || zoneMinutes > 59) return false;
  if (hour <= 23 && minute <= 59 && second < 60) return true;
  // A leap second: 23:59:60 in UTC, whatever the offset shows.
  const utcMinute = minute - zoneMinutes * zoneSign;
  const utcHour = hour - zoneHours * zoneSign - (utcMinute < 0 ? 1 : 0);
  return (utcHour === 23 || utcHour === -1) && (utcMinute === 59 || utcMinute === -1) && second < 61;
}

/** True when `text` is a valid `date-time` of the OCPP schemas. */
export function isDateTime(text: string): boolean {
  // The date is 10 characters, the separator one, the time at least 9 (`HH:MM:SSZ`).
  if (text.length < 20 || !SEPARATOR.test(text[10] ?? '')) return false;
  return validDate(text) && validTime(text, 11);
}

/**
 * The two formats the OCPP 1.6 schemas use, as the generated validators read them
 * (scripts/gen-validators.ts): `date-time` ours, `uri` ajv-formats' own.
 */
export const OCPP_FORMATS = {
  'date-time': { validate: isDateTime },
  uri: ajvFormats.fullFormats.uri,
};
