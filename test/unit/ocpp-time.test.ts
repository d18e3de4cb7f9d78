import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { OcppTime, type OcppTimeEvents } from '../../src/clock.js';
import { FakeClock } from '../support/fake-clock.js';

const BOOT = 0; // a board without an RTC starts at 1970
const CS_T0 = Date.parse('2026-11-29T10:00:00.000Z');
const YEARS_57 = Date.parse('2083-11-29T10:00:00.000Z') - CS_T0;
const SECOND = 1000;
const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

function setup(followCentralSystem: boolean) {
  const clock = new FakeClock(BOOT);
  const lines: Array<{ msg: string } & Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const time = new OcppTime(clock, followCentralSystem, { log });
  const adjusted: OcppTimeEvents['adjusted'][0][] = [];
  const securityEvents: OcppTimeEvents['securityEvent'][0][] = [];
  time.on('adjusted', (event) => adjusted.push(event));
  time.on('securityEvent', (event) => securityEvents.push(event));
  return { clock, time, lines, adjusted, securityEvents };
}

describe('OcppTime: the central system clock on the monotonic clock', () => {
  it('follows the system clock until the central system gives its time', () => {
    const { clock, time } = setup(true);
    expect(time.source).toBe('systemClock');
    clock.advance(5 * SECOND);
    expect(time.nowMs()).toBe(BOOT + 5 * SECOND);
    time.syncTo(iso(CS_T0));
    expect(time.source).toBe('centralSystem');
    clock.advance(30 * SECOND);
    expect(time.iso()).toBe(iso(CS_T0 + 30 * SECOND));
  });

  it('ignores steps of the system clock once it has the central system time, and reports each', () => {
    const { clock, time, lines, adjusted, securityEvents } = setup(true);
    time.syncTo(iso(CS_T0));
    adjusted.length = 0;
    clock.stepWall(YEARS_57);
    clock.advance(10 * SECOND);
    expect(time.nowMs()).toBe(CS_T0 + 10 * SECOND);
    clock.stepWall(-YEARS_57 - HOUR);
    clock.advance(10 * SECOND);
    expect(time.nowMs()).toBe(CS_T0 + 20 * SECOND);
    expect(adjusted).toEqual([]);
    expect(securityEvents.map((e) => e.type)).toEqual(['SettingSystemTime', 'SettingSystemTime']);
    expect(
      lines.filter((l) => l.msg.startsWith('system clock stepped')).map((l) => [l.stepMs, l.followed]),
    ).toEqual([
      [YEARS_57, false],
      [-YEARS_57 - HOUR, false],
    ]);
  });

  it('a trusted system clock is the time, steps included (and reported)', () => {
    const { clock, time, adjusted, securityEvents } = setup(false);
    time.syncTo(iso(CS_T0));
    expect(time.nowMs()).toBe(BOOT);
    clock.stepWall(CS_T0);
    expect(time.nowMs()).toBe(BOOT + CS_T0);
    expect(adjusted).toEqual([{ byMs: CS_T0, source: 'systemClock' }]);
    expect(securityEvents).toHaveLength(1);
  });

  it('an answer within a second of our time is not taken: network delay never sets timestamps back', () => {
    const { clock, time, adjusted } = setup(true);
    time.syncTo(iso(CS_T0));
    clock.advance(60 * SECOND);
    time.syncTo(iso(CS_T0 + 60 * SECOND - 300));
    expect(time.nowMs()).toBe(CS_T0 + 60 * SECOND);
    time.syncTo(iso(CS_T0 + 60 * SECOND + 5 * SECOND));
    expect(time.nowMs()).toBe(CS_T0 + 65 * SECOND);
    expect(adjusted.map((e) => e.source)).toEqual(['centralSystem', 'centralSystem']);
    expect(adjusted[1]).toEqual({ byMs: 5 * SECOND, source: 'centralSystem' });
  });

  it('slewing is no step', () => {
    const { clock, time, securityEvents } = setup(true);
    for (let minute = 0; minute < 120; minute++) {
      clock.stepWall(30); // 500 ppm, the most NTP slews
      clock.advance(60 * SECOND);
      time.nowMs();
    }
    expect(securityEvents).toEqual([]);
  });

  it('watches for steps while nothing reads the time', () => {
    const { clock, time, securityEvents } = setup(true);
    time.start();
    clock.stepWall(-HOUR);
    clock.advance(15 * SECOND);
    expect(securityEvents).toHaveLength(1);
    time.stop();
    expect(clock.pending).toBe(0);
  });

  it('stamps an earlier monotonic instant on the current timeline', () => {
    const { clock, time } = setup(true);
    const began = clock.monotonic();
    clock.advance(5 * SECOND);
    time.syncTo(iso(CS_T0));
    expect(time.atMonotonic(began)).toBe(CS_T0 - 5 * SECOND);
  });
});
