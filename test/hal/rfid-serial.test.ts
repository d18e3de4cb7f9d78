import { once } from 'node:events';
import { constants, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { SerialPort } from 'serialport';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BAD_FRAME_LIMIT,
  type SerialRfidOptions,
  SerialRfidReader,
  serialRfidOptionsSchema,
} from '../../hal/drivers/rfid-serial.js';
import type { DeviceHealth } from '../../hal/types.js';
import { createLogger } from '../../src/log.js';
import { FakeClock } from '../support/fake-clock.js';
import { type LogLine, LogSink } from '../support/harness.js';
import { openPtyPair, type PtyPair } from '../support/pty.js';

/** Time that moves only when the test says so; due timers run inside advance(). */

/** The emulated reader: writes to the far end of the pty pair, as the card reader's UART would. */
class Device {
  private constructor(private readonly handle: FileHandle) {}

  static async attach(path: string): Promise<Device> {
    // O_NOCTTY: the test process must never adopt the pty as its controlling terminal.
    return new Device(await open(path, constants.O_WRONLY | constants.O_NOCTTY));
  }

  async send(data: string | Buffer): Promise<void> {
    await this.handle.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

function rdmFrame(data: string, checksum?: string): string {
  let sum = 0;
  for (let i = 0; i < 10; i += 2) sum ^= Number.parseInt(data.slice(i, i + 2), 16);
  return `\x02${data}${checksum ?? sum.toString(16).toUpperCase().padStart(2, '0')}\x03`;
}

/** Resolves once the reader's health satisfies pred (now or on a later 'health' event). */
function healthBecomes(reader: SerialRfidReader, pred: (h: DeviceHealth) => boolean): Promise<DeviceHealth> {
  if (pred(reader.health())) return Promise.resolve(reader.health());
  return new Promise((resolve) => {
    const onHealth = (h: DeviceHealth): void => {
      if (!pred(h)) return;
      reader.off('health', onHealth);
      resolve(h);
    };
    reader.on('health', onHealth);
  });
}

const isFault = (h: DeviceHealth): boolean => !h.ok && h.fault === 'ReaderFailure';
const isOk = (h: DeviceHealth): boolean => h.ok;

describe('SerialRfidReader on a pseudo-terminal', () => {
  let dir: string;
  let clock: FakeClock;
  let sink: LogSink;
  const cleanups: (() => Promise<void>)[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rfid-'));
    clock = new FakeClock(1_000_000);
    sink = new LogSink();
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  async function plugIn(): Promise<{ pair: PtyPair; device: Device }> {
    const pair = await openPtyPair(dir);
    const device = await Device.attach(pair.b);
    let unplugged = false;
    const unplug = async (): Promise<void> => {
      if (unplugged) return;
      unplugged = true;
      await device.close();
      await pair.close();
    };
    cleanups.push(unplug);
    return { pair: { ...pair, close: unplug }, device };
  }

  async function startReader(
    protocol: SerialRfidOptions['protocol'],
    extra: Partial<SerialRfidOptions> = {},
  ): Promise<{ reader: SerialRfidReader; tags: string[] }> {
    const reader = new SerialRfidReader({
      name: 'front',
      path: join(dir, 'a'),
      protocol,
      log: createLogger({ level: 'debug', destination: sink }),
      clock,
      ...extra,
    });
    const tags: string[] = [];
    reader.on('tag', (t) => tags.push(t));
    cleanups.push(() => reader.stop());
    await reader.start();
    return { reader, tags };
  }

  /**
   * `promise`, or a failure naming the step and the reader's last log lines once it has taken 5 s:
   * a step that hangs otherwise only shows as the test's timeout.
   */
  function step<T>(what: string, promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const recent = sink.lines.slice(-8).map((l) => JSON.stringify(l));
        reject(new Error(`${what}: not within 5 s; last log lines:\n${recent.join('\n')}`));
      }, 5000);
    });
    return Promise.race([promise, late]).finally(() => clearTimeout(timer));
  }

  function logged(pred: (line: LogLine) => boolean): Promise<LogLine> {
    const from = sink.lines.length;
    return sink.waitFor((line) => sink.lines.indexOf(line) >= from && pred(line));
  }

  it('reads line-hex UIDs with separators and reports them normalised', async () => {
    const { device } = await plugIn();
    const { reader, tags } = await startReader('line-hex');
    expect(reader.health()).toEqual({ ok: true });

    const first = once(reader, 'tag');
    await device.send('04:a3:2b:1c\r\n');
    expect(await first).toEqual(['04A32B1C']);
    expect(reader.lastRead()).toEqual({ idTag: '04A32B1C', at: clock.now() });

    const second = once(reader, 'tag');
    await device.send('DE AD BE EF\r');
    await second;
    expect(tags).toEqual(['04A32B1C', 'DEADBEEF']);
  });

  it('ignores line-hex garbage, binary noise and an overlong line without crashing', async () => {
    const { device } = await plugIn();
    const { reader, tags } = await startReader('line-hex');

    const good = once(reader, 'tag');
    await device.send('Reader v1.2 ready\r\n');
    await device.send(Buffer.from([0xff, 0x00, 0xfe, 0x0d]));
    await device.send('Z'.repeat(2000));
    await device.send('\r\n');
    await device.send('CAFE0001\r\n');
    await good;

    expect(tags).toEqual(['CAFE0001']);
    expect(reader.health()).toEqual({ ok: true });
    expect(sink.count((l) => l.event === 'reader-bad-frame' && l.reason === 'overflow')).toBe(1);
  });

  it('reads RDM6300 frames through noise and drops a frame with a bad checksum', async () => {
    const { device } = await plugIn();
    const { reader, tags } = await startReader('rdm6300');
    const healthEvents: DeviceHealth[] = [];
    reader.on('health', (h) => healthEvents.push(h));

    const rejected = logged((l) => l.event === 'reader-bad-frame' && l.reason === 'checksum');
    const good = once(reader, 'tag');
    await device.send(Buffer.from([0x00, 0xff, 0x02, 0x41]));
    await device.send(rdmFrame('62E3086CED', '09'));
    await device.send('\r\nnoise');
    await device.send(rdmFrame('0F002C5D6A'));
    await good;
    await rejected;

    expect(tags).toEqual(['0F002C5D6A']);
    // Noise between good frames is a glitch, not a failed reader.
    expect(healthEvents).toEqual([]);
  });

  it('reports one event while a card stays on the reader and again after it was away', async () => {
    const { device } = await plugIn();
    const { reader, tags } = await startReader('rdm6300', { repeatSuppressMs: 1500 });

    const first = once(reader, 'tag');
    await device.send(rdmFrame('0F002C5D6A'));
    await first;

    // Held for 10 s, repeated every second: each repeat restarts the window, so none is reported.
    for (let i = 0; i < 10; i++) {
      clock.advance(1000);
      const repeat = logged((l) => l.event === 'reader-repeat');
      await device.send(rdmFrame('0F002C5D6A'));
      await repeat;
    }
    expect(tags).toEqual(['0F002C5D6A']);

    // Taken away longer than the window: presenting it again is a new read.
    clock.advance(1500);
    const again = once(reader, 'tag');
    await device.send(rdmFrame('0F002C5D6A'));
    await again;

    // Another card at once is never suppressed, nor the first card right after it.
    const other = once(reader, 'tag');
    await device.send(rdmFrame('62E3086CED'));
    await other;
    const back = once(reader, 'tag');
    await device.send(rdmFrame('0F002C5D6A'));
    await back;

    expect(tags).toEqual(['0F002C5D6A', '0F002C5D6A', '62E3086CED', '0F002C5D6A']);
  });

  it('fails on a run of unreadable frames and recovers with the next good one', async () => {
    const { device } = await plugIn();
    const { reader } = await startReader('rdm6300');

    const failed = healthBecomes(reader, isFault);
    for (let i = 0; i < BAD_FRAME_LIMIT; i++) await device.send(rdmFrame('0F002C5D6A', '00'));
    const fault = await failed;
    expect(fault).toMatchObject({ ok: false, fault: 'ReaderFailure' });
    expect(!fault.ok && fault.info).toContain('unreadable');

    const recovered = healthBecomes(reader, isOk);
    const tag = once(reader, 'tag');
    await device.send(rdmFrame('0F002C5D6A'));
    expect(await tag).toEqual(['0F002C5D6A']);
    await recovered;
  });

  it('survives the device being unplugged and reads again once it is back', async () => {
    const { pair, device } = await plugIn();
    const { reader, tags } = await startReader('line-hex', { reopenIntervalMs: 2000 });

    const before = once(reader, 'tag');
    await device.send('04A32B1C\r\n');
    await step('the first tag', before);

    const lost = healthBecomes(reader, isFault);
    await step('unplugging', pair.close());
    // The hangup ends the port at once, or the presence check one interval on sees the node gone.
    if (!isFault(reader.health())) clock.advance(2000);
    const fault = await step('the fault', lost);
    expect(!fault.ok && fault.info).toMatch(/closed/);
    expect(sink.count((l) => l.event === 'reader-port-lost' && l.level === 'warn')).toBe(1);

    // Still unplugged at the first retry: stays failed and tries again later.
    const retried = logged((l) => l.event === 'reader-reopen-failed');
    clock.advance(2000);
    await step('the failed reopen', retried);
    expect(isFault(reader.health())).toBe(true);

    const replugged = await step('plugging in again', plugIn());
    // A loaded machine may still refuse the fresh terminal at the first retry: each later retry
    // (one interval on) may open it.
    const back = healthBecomes(reader, isOk);
    for (let retry = 0; retry < 5 && !isOk(reader.health()); retry++) {
      const attempt = logged((l) => l.event === 'reader-reopened' || l.event === 'reader-reopen-failed');
      clock.advance(2000);
      await step(`reopen attempt ${retry + 1}`, attempt);
    }
    await step('the reader healthy again', back);

    const after = once(reader, 'tag');
    await replugged.device.send('DEADBEEF\r\n');
    await step('the tag after the replug', after);
    expect(tags).toEqual(['04A32B1C', 'DEADBEEF']);
  });

  it('notices another device behind its path with no hangup at all, and reads from the new one', async () => {
    const { device } = await plugIn();
    const { reader, tags } = await startReader('line-hex', { reopenIntervalMs: 2000 });
    const first = once(reader, 'tag');
    await device.send('04A32B1C\r\n');
    await step('the first tag', first);

    // The old terminal stays open (no hangup, reads just stop coming); the path now names another.
    const other = await openPtyPair(mkdtempSync(join(tmpdir(), 'rfid-other-')));
    cleanups.push(() => other.close());
    const otherDevice = await Device.attach(other.b);
    cleanups.push(() => otherDevice.close());
    rmSync(join(dir, 'a'));
    symlinkSync(realpathSync(other.a), join(dir, 'a'));
    const lost = healthBecomes(reader, isFault);
    clock.advance(2000);
    const fault = await step('the fault', lost);
    expect(!fault.ok && fault.info).toBe('port closed: another device is there');

    const back = healthBecomes(reader, isOk);
    clock.advance(2000);
    await step('the reader healthy again', back);
    const second = once(reader, 'tag');
    await otherDevice.send('DEADBEEF\r\n');
    await step('the tag from the new device', second);
    expect(tags).toEqual(['04A32B1C', 'DEADBEEF']);
  });

  it('starts without the device, retries on the clock, and reads once it appears', async () => {
    const healthEvents: DeviceHealth[] = [];
    const reader = new SerialRfidReader({
      name: 'front',
      path: join(dir, 'a'),
      protocol: 'rdm6300',
      reopenIntervalMs: 5000,
      log: createLogger({ level: 'debug', destination: sink }),
      clock,
    });
    reader.on('health', (h) => healthEvents.push(h));
    cleanups.push(() => reader.stop());
    await reader.start();
    expect(reader.health()).toMatchObject({ ok: false, fault: 'ReaderFailure' });
    expect(healthEvents).toHaveLength(1);
    expect(clock.pending).toBe(1);

    const { device } = await plugIn();
    const back = healthBecomes(reader, isOk);
    clock.advance(5000);
    await back;

    const tag = once(reader, 'tag');
    await device.send(rdmFrame('62E3086CED'));
    expect(await tag).toEqual(['62E3086CED']);
  });

  it('stop() cancels the retry timer of an absent device', async () => {
    const { reader } = await startReader('line-hex');
    expect(clock.pending).toBe(1);
    await reader.stop();
    expect(clock.pending).toBe(0);
  });

  it('stop() releases the port, so another process could open it', async () => {
    const { pair } = await plugIn();
    const { reader } = await startReader('line-hex');
    expect(reader.health()).toEqual({ ok: true });
    await reader.stop();

    // serialport locks the tty exclusively: opening it again only works if the reader closed it.
    const port = new SerialPort({ path: pair.a, baudRate: 9600, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
    await new Promise<void>((resolve) => port.close(() => resolve()));
  });
});

describe('serialRfidOptionsSchema', () => {
  const validate = new Ajv({ strict: true }).compile(serialRfidOptionsSchema);

  it('accepts a board-file reader entry', () => {
    expect(validate({ driver: 'serial', path: '/dev/ttyUSB0', protocol: 'rdm6300' })).toBe(true);
    expect(
      validate({
        driver: 'serial',
        path: '/dev/serial/by-id/usb-reader',
        protocol: 'line-hex',
        baudRate: 115200,
        repeatSuppressMs: 3000,
        reopenIntervalMs: 1000,
      }),
    ).toBe(true);
  });

  it('refuses unknown fields, protocols and bad numbers', () => {
    expect(validate({ driver: 'serial', path: '/dev/ttyUSB0', protocol: 'wiegand' })).toBe(false);
    expect(validate({ driver: 'serial', path: '/dev/ttyUSB0', protocol: 'rdm6300', baud: 9600 })).toBe(false);
    expect(validate({ driver: 'serial', path: '/dev/ttyUSB0', protocol: 'rdm6300', baudRate: 0 })).toBe(
      false,
    );
    expect(validate({ driver: 'gpio', path: '/dev/ttyUSB0', protocol: 'rdm6300' })).toBe(false);
    expect(validate({ driver: 'serial', protocol: 'rdm6300' })).toBe(false);
  });
});
