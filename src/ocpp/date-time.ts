/**
 * The OCPP date-time text read without V8's general date parser: the calendar checks the schema
 * format (formats.ts) shares, and the epoch time of a central system's timestamp.
 */

const DAYS_IN_MONTH = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isLeapYear(year: number): boolean {
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}

/** The value of the two ASCII digits at `at`, or -1. */
export function twoDigits(text: string, at: number): number {
  const tens = text.charCodeAt(at) - 48;
  const ones = text.charCodeAt(at + 1) - 48;
  return tens >= 0 && tens <= 9 && ones >= 0 && ones <= 9 ? tens * 10 + ones : -1;
}

/** The days of `month` (1-12) in `year`. */
function daysIn(year: number, month: number): number {
  return month === 2 && isLeapYear(year) ? 29 : (DAYS_IN_MONTH[month] ?? 0);
}

/**
 * `YYYY-MM-DD` at the start of `text`, a real day of a real month, as one number
 * (year * 10000 + month * 100 + day, so nothing is allocated), or -1.
 */
function calendarDate(text: string): number {
  const century = twoDigits(text, 0);
  const yearOfCentury = twoDigits(text, 2);
  const month = twoDigits(text, 5);
  const day = twoDigits(text, 8);
  if (century < 0 || yearOfCentury < 0 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45) return -1;
  if (month < 1 || month > 12 || day < 1) return -1;
  const year = century * 100 + yearOfCentury;
  return day <= daysIn(year, month) ? year * 10000 + month * 100 + day : -1;
}

/** `YYYY-MM-DD`, a real day of a real month. */
export function validDate(text: string): boolean {
  return calendarDate(text) >= 0;
}

/**
 * `Date.parse(text)`, read directly when the text is a UTC time as central systems write it
 * (`YYYY-MM-DDTHH:MM:SSZ` or `YYYY-MM-DDTHH:MM:SS.sssZ`, a year from 100 on): every heartbeat's
 * answer carries one, and V8's date parser tokenizes it through its general grammar (its
 * keywords, its legacy forms), a measurable part of a triggered heartbeat's exchange. Any other
 * text goes to Date.parse, and the answer is the same for every text (test/unit/formats.test.ts).
 */
export function dateTimeMs(text: string): number {
  const length = text.length;
  // The shape: dashes, 'T', colons, the fraction's dot, 'Z'.
  if (
    (length !== 20 && length !== 24) ||
    text.charCodeAt(4) !== 45 ||
    text.charCodeAt(7) !== 45 ||
    text.charCodeAt(10) !== 84 ||
    text.charCodeAt(13) !== 58 ||
    text.charCodeAt(16) !== 58 ||
    (length === 24 && text.charCodeAt(19) !== 46) ||
    text.charCodeAt(length - 1) !== 90
  )
    return Date.parse(text);
  const date = calendarDate(text);
  const hour = twoDigits(text, 11);
  const minute = twoDigits(text, 14);
  const second = twoDigits(text, 17);
  const hundreds = length === 24 ? text.charCodeAt(20) - 48 : 0;
  const rest = length === 24 ? twoDigits(text, 21) : 0;
  // twoDigits is -1 for anything but two digits. Date.UTC reads years 0-99 as 1900-1999 (so a
  // year from 100 on: a date from 1000000), and Date.parse refuses 24:00 with minutes or seconds.
  if (
    date < 1_000_000 ||
    hour < 0 ||
    hour > 23 ||
    minute < 0 ||
    minute > 59 ||
    second < 0 ||
    second > 59 ||
    hundreds < 0 ||
    hundreds > 9 ||
    rest < 0
  )
    return Date.parse(text);
  const year = Math.floor(date / 10000);
  const month = Math.floor(date / 100) % 100;
  const day = date % 100;
  return Date.UTC(year, month - 1, day, hour, minute, second, hundreds * 100 + rest);
}
