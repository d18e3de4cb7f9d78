import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GpioPilot } from '../../hal/drivers/gpio-devices.js';
import { gpioPilotOptionsSchema } from '../../hal/drivers/gpio-lines.js';
import {
  PILOT_PERIOD_NS,
  type PwmChannelFactory,
  pilotDutyCycleNs,
  sysfsPwmFactory,
} from '../../hal/drivers/pwm-pilot.js';
import { SimRelay } from '../../hal/sim/devices.js';
import { BoardConfigurationError } from '../../hal/types.js';
import { buildBoard, parseBoardFile } from '../../src/config/board-file.js';
import { silentLogger } from '../../src/log.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeGpio, FakeSysfs, testLine } from '../support/fake-gpio.js';
import { FakePwmSysfs } from '../support/fake-pwm.js';

const L = testLine;
const PAUSE = { period: PILOT_PERIOD_NS, duty: PILOT_PERIOD_NS, enable: 1 };

describe('pilot duty cycle (IEC 61851-1)', () => {
  it.each([
    [6, 100_000],
    [16, 266_666],
    [32, 533_333],
    [51, 850_000],
    [63, 892_000],
    [80, 960_000],
  ])('offers %d A as %d ns of the 1 ms period', (amps, ns) => {
    expect(pilotDutyCycleNs(amps, 80)).toBe(ns);
  });

  it('rounds down, so the EV never reads more than offered', () => {
    for (let tenths = 60; tenths <= 800; tenths++) {
      const amps = tenths / 10;
      const percent = (pilotDutyCycleNs(amps, 80) / PILOT_PERIOD_NS) * 100;
      const read = percent <= 85 ? percent * 0.6 : (percent - 64) * 2.5;
      expect(read, `${amps} A`).toBeLessThanOrEqual(amps + 1e-9);
    }
    // No step between 85 % (51 A) and 85 % + 1 ns (52.5 A): 51 A is what can be offered.
    expect(pilotDutyCycleNs(52, 80)).toBe(850_000);
  });

  it('pauses (constant high: the whole period) below 6 A', () => {
    for (const amps of [0, 3, 5.99]) expect(pilotDutyCycleNs(amps, 32)).toBe(PILOT_PERIOD_NS);
  });

  it("clamps to the outlet's maximum and to the table's 80 A", () => {
    expect(pilotDutyCycleNs(63, 32)).toBe(pilotDutyCycleNs(32, 32));
    expect(pilotDutyCycleNs(100, 100)).toBe(960_000);
  });
});

describe('GpioPilot with a PWM output on a fake sysfs tree', () => {
  let root: string;
  let sysfs: FakePwmSysfs;
  let gpio: FakeGpio;
  let relay: SimRelay;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'pwm-tree-'));
    sysfs = new FakePwmSysfs(root).chip(0, 2);
    gpio = new FakeGpio();
    relay = new SimRelay();
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  function pilot(pwm: PwmChannelFactory = sysfsPwmFactory(root)): GpioPilot {
    return new GpioPilot(
      { connected: { line: L(10) }, ready: { line: L(11) }, pwm: { chip: 0, channel: 1 } },
      { lines: gpio.factory, pwm, clock: new FakeClock(), logger: silentLogger() },
      { maxCurrentA: 32, relay },
    );
  }

  it('safe() drives the pause level before start, opening nothing else', () => {
    // A killed run left the channel offering 32 A.
    sysfs.exported(0, 1, { period: PILOT_PERIOD_NS, duty: 533_333, enable: 1 });
    pilot().safe();
    expect(sysfs.channel(0, 1)).toEqual(PAUSE);
    expect(gpio.lines.size).toBe(0);
    expect(sysfs.written(0, 'export')).toBe('');
  });

  it('offers the limit as its duty cycle whatever the relay, pauses at 0 A, and unexports at stop', async () => {
    sysfs.exported(0, 1);
    const p = pilot();
    await p.start();
    try {
      expect(sysfs.channel(0, 1)).toEqual({ period: PILOT_PERIOD_NS, duty: 533_333, enable: 1 });
      await p.setCurrentLimit(16);
      expect(sysfs.channel(0, 1).duty).toBe(266_666);
      await p.setCurrentLimit(63);
      expect(sysfs.channel(0, 1).duty).toBe(533_333);
      await p.setCurrentLimit(0);
      expect(sysfs.channel(0, 1)).toEqual(PAUSE);
      await p.setCurrentLimit(6);
      await relay.set(true);
      expect(sysfs.channel(0, 1)).toEqual({ period: PILOT_PERIOD_NS, duty: 100_000, enable: 1 });
      expect(p.health()).toEqual({ ok: true });
    } finally {
      await p.stop();
    }
    expect(sysfs.channel(0, 1)).toEqual(PAUSE);
    expect(sysfs.written(0, 'unexport')).toBe('1');
  });

  it('shortens a longer duty cycle before the period, so the kernel refuses no write', async () => {
    sysfs.exported(0, 1, { period: 20_000_000, duty: 15_000_000, enable: 1 });
    const writes: string[] = [];
    const recording: PwmChannelFactory = (ref) => {
      const channel = sysfsPwmFactory(root)(ref);
      return {
        drive(period, duty) {
          const before = sysfs.channel(0, 1);
          channel.drive(period, duty);
          writes.push(`${before.period}/${before.duty} -> ${JSON.stringify(sysfs.channel(0, 1))}`);
        },
        close: () => channel.close(),
      };
    };
    const p = pilot(recording);
    p.safe();
    expect(writes[0]).toBe(`20000000/15000000 -> ${JSON.stringify(PAUSE)}`);
    await p.stop();
  });

  it('exports a channel that is not there yet and waits for the kernel to create it', async () => {
    // Plays the kernel: once "1" is written to export, pwm1 appears (its enable file last).
    const kernel = spawn(
      'sh',
      [
        '-c',
        'while [ ! -s export ]; do sleep 0.01; done; mkdir pwm1 && echo 0 > pwm1/period && echo 0 > pwm1/duty_cycle && echo 0 > pwm1/enable',
      ],
      { cwd: sysfs.chipDir(0), stdio: 'ignore' },
    );
    try {
      const p = pilot();
      p.safe();
      expect(sysfs.written(0, 'export')).toBe('1');
      expect(sysfs.channel(0, 1)).toEqual(PAUSE);
      await p.stop();
      expect(sysfs.written(0, 'unexport')).toBe('1');
    } finally {
      if (kernel.exitCode === null) {
        kernel.kill();
        await once(kernel, 'exit');
      }
    }
  });

  it('an export the kernel does not answer is a configuration error naming the channel', () => {
    const slow = sysfsPwmFactory(root, 30);
    expect(() => slow({ chip: 0, channel: 1 })).toThrow(BoardConfigurationError);
    expect(() => slow({ chip: 0, channel: 1 })).toThrow(/pwmchip0\/pwm1: .*not writable 30 ms after export/);
    expect(readFileSync(join(sysfs.chipDir(0), 'export'), 'utf8')).toBe('1');
  });

  it('a channel beyond the chip, or a missing chip or PWM interface, is a configuration error', () => {
    expect(() => sysfsPwmFactory(root)({ chip: 0, channel: 2 })).toThrow(/chip 0 has 2 channels \(0-1\)/);
    expect(() => sysfsPwmFactory(root)({ chip: 3, channel: 0 })).toThrow(BoardConfigurationError);
    expect(() => sysfsPwmFactory(root)({ chip: 3, channel: 0 })).toThrow(
      `no PWM chip 3 in ${join(root, 'class', 'pwm')}`,
    );
    const bare = mkdtempSync(join(tmpdir(), 'pwm-none-'));
    try {
      expect(() => sysfsPwmFactory(bare)({ chip: 0, channel: 0 })).toThrow(
        `no PWM sysfs interface at ${join(bare, 'class', 'pwm')}`,
      );
    } finally {
      rmSync(bare, { recursive: true, force: true });
    }
  });

  it('reports a PWM write that fails, and recovers on the next one', async () => {
    sysfs.exported(0, 1);
    let refuse = false;
    const flaky: PwmChannelFactory = (ref) => {
      const channel = sysfsPwmFactory(root)(ref);
      return {
        drive(period, duty) {
          if (refuse) throw new Error('EIO: i/o error, write');
          channel.drive(period, duty);
        },
        close: () => channel.close(),
      };
    };
    const p = pilot(flaky);
    await p.start();
    refuse = true;
    await expect(p.setCurrentLimit(10)).rejects.toThrow(/pilot PWM pwmchip0\/pwm1: EIO/);
    expect(p.health()).toMatchObject({ ok: false, fault: 'InternalError' });
    refuse = false;
    await p.setCurrentLimit(10);
    expect(p.health()).toEqual({ ok: true });
    expect(sysfs.channel(0, 1).duty).toBe(166_666);
    await p.stop();
  });
});

describe('board file: pilot.pwm', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'pwm-board-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const doc = (sysfsRoot: string) => ({
    name: 'pwm-board',
    kind: 'hardware',
    sysfsRoot,
    connectors: [
      {
        id: 1,
        maxCurrentA: 16,
        phases: 1,
        relay: { driver: 'gpio', line: { chip: 'pinctrl-bcm2711', offset: 17 } },
        pilot: {
          driver: 'gpio',
          connected: { line: { chip: 'pinctrl-bcm2711', offset: 22 } },
          ready: { line: { chip: 'pinctrl-bcm2711', offset: 23 } },
          pwm: { chip: 0, channel: 0 },
        },
      },
    ],
  });

  it('the schema takes { chip, channel } and nothing else', () => {
    const validate = new Ajv({ strict: false }).compile(gpioPilotOptionsSchema);
    const pilot = doc(root).connectors[0]!.pilot;
    expect(validate(pilot)).toBe(true);
    expect(validate({ ...pilot, pwm: { chip: 0 } })).toBe(false);
    expect(validate({ ...pilot, pwm: { chip: 0, channel: 0, period: 1 } })).toBe(false);
  });

  it('a missing pwmchip is a configuration error when the outputs are driven safe (exit 78)', async () => {
    new FakeSysfs(root).chip('pinctrl-bcm2711', 512, 58);
    new FakePwmSysfs(root);
    const file = await parseBoardFile(doc(root), 'pwm-board.json');
    const board = await buildBoard(file, {
      log: silentLogger(),
      clock: new FakeClock(),
      gpioLines: new FakeGpio().factory,
    });
    expect(() => board.safe()).toThrow(BoardConfigurationError);
    expect(() => board.safe()).toThrow(/connector 1 pilot: PWM pwmchip0\/pwm0: no PWM chip 0/);
    await board.stop();
  });
});
