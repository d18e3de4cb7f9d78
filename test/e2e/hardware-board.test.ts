/**
 * The runtime on a hardware board file with the real drivers, each against an independent stand-in
 * for its hardware: card readers on socat pseudo-terminals, an Eastron SDM630 served by pymodbus
 * (Modbus TCP, and RTU over a pty pair), GPIO on a sysfs tree in a temporary directory. From a card
 * at the reader to StopTransaction at the central system.
 */
import { constants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ModbusMeter } from '../../hal/drivers/modbus-meter.js';
import { Runtime } from '../../src/runtime.js';
import {
  BASE,
  CHIP,
  CONNECTED,
  GPIO_PILOT,
  LOCK,
  line,
  READY,
  RELAY,
  writeBenchBoard,
} from '../support/bench-board.js';
import type { StartReq, StopReq } from '../support/charging.js';
import { DaemonProcess, standaloneConfig } from '../support/daemon-process.js';
import { FakeSysfs } from '../support/fake-gpio.js';
import { FakePwmSysfs } from '../support/fake-pwm.js';
import { CP_ID, Harness } from '../support/harness.js';
import { IMPORT_KWH_REGISTER, loadSdm630, readingWhere } from '../support/modbus-meters.js';
import { ModbusTestServer } from '../support/modbus-server.js';
import { openPtyPair, type PtyPair } from '../support/pty.js';

const CARD = '0A1B2C3D4E';

/** Wh as the meter reports a float32 kWh register. */
const wh = (kwh: number): number => Math.fround(kwh) * 1000;

/** An RDM6300 frame: STX, ten hex data characters, their XOR checksum, ETX. */
function rdm6300Frame(data: string): string {
  let sum = 0;
  for (let i = 0; i < 10; i += 2) sum ^= Number.parseInt(data.slice(i, i + 2), 16);
  return `\x02${data}${sum.toString(16).toUpperCase().padStart(2, '0')}\x03`;
}

/** The far end of a reader's pty: the card reader's UART. */
async function readerDevice(path: string): Promise<FileHandle> {
  // O_NOCTTY: the test process must never adopt the pty as its controlling terminal.
  return open(path, constants.O_WRONLY | constants.O_NOCTTY);
}

describe('a hardware board end to end: RFID on ptys, SDM630 over Modbus, GPIO on a sysfs tree', () => {
  let dir: string;
  let sysfs: FakeSysfs;
  const closers: Array<() => Promise<void> | void> = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cp-hw-'));
    sysfs = new FakeSysfs(join(dir, 'sys')).chip(CHIP, BASE, 58);
  });
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The SDM630 on Modbus TCP, or on RTU at the far end of a pty pair; returns the board-file transport. */
  async function meterOn(
    transport: 'tcp' | 'rtu',
  ): Promise<{ server: ModbusTestServer; transport: Record<string, unknown> }> {
    if (transport === 'tcp') {
      const server = await ModbusTestServer.start({ type: 'tcp' }, [1]);
      closers.push(() => server.stop());
      return { server, transport: { type: 'tcp', host: '127.0.0.1', port: server.port } };
    }
    mkdirSync(join(dir, 'rs485'));
    const bus = await openPtyPair(join(dir, 'rs485'));
    closers.push(() => bus.close());
    const server = await ModbusTestServer.start({ type: 'rtu', path: bus.b }, [1]);
    closers.push(() => server.stop());
    return { server, transport: { type: 'rtu', path: bus.a, baudRate: 9600 } };
  }

  async function pty(name: string): Promise<PtyPair> {
    mkdirSync(join(dir, name));
    const pair = await openPtyPair(join(dir, name));
    closers.push(() => pair.close());
    return pair;
  }

  it.each([['tcp' as const], ['rtu' as const]])(
    'a card at the RDM6300 reader starts, the line reader stops; the bill is the register rise (Modbus %s)',
    async (transport) => {
      const { server, transport: meterTransport } = await meterOn(transport);
      const startKwh = 1234.567;
      await loadSdm630(server, 1, startKwh);
      const rdm = await pty('rdm6300');
      const panel = await pty('panel');

      const boardFile = writeBenchBoard(dir, {
        name: 'bench-ac',
        sysfsRoot: sysfs.root,
        devices: {
          relay: { driver: 'gpio', line: line(RELAY) },
          pilot: GPIO_PILOT,
          lock: { driver: 'gpio', line: line(LOCK) },
          meter: {
            driver: 'modbus',
            transport: meterTransport,
            model: 'SDM630',
            unitId: 1,
            pollIntervalMs: 100,
          },
        },
        readers: [
          {
            name: 'front',
            connectors: [1],
            device: { driver: 'serial', path: rdm.a, protocol: 'rdm6300' },
          },
          {
            name: 'panel',
            connectors: [1],
            device: { driver: 'serial', path: panel.a, protocol: 'line-hex' },
          },
        ],
      });

      const h = await Harness.create({ deferStart: true, config: () => ({ board: boardFile }) });
      closers.push(() => h.stop());
      h.runtime = await Runtime.start({ config: h.config, log: h.log });
      const meter = h.runtime.board.connectors[0]?.meter;
      if (!(meter instanceof ModbusMeter)) throw new Error('connector 1 has no Modbus meter');
      await h.status(1, 'Available', 0);

      let mark = h.csms.mark();
      sysfs.drive(BASE + CONNECTED, 1);
      await h.status(1, 'Preparing', mark);

      const front = await readerDevice(rdm.b);
      closers.push(() => front.close());
      await front.write(Buffer.from(rdm6300Frame(CARD), 'latin1'));
      const start = await h.csms.waitForCall(CP_ID, 'StartTransaction', { since: mark });
      const started = start.payload as StartReq;
      expect(started).toMatchObject({ connectorId: 1, idTag: CARD });
      // The engine bills whole Wh; the register itself is fractional (1234567.0166 Wh).
      expect(started.meterStart).toBe(Math.round(wh(startKwh)));

      sysfs.drive(BASE + READY, 1);
      await h.status(1, 'Charging', mark);
      expect(sysfs.level(BASE + RELAY)).toBe(1);
      expect(sysfs.level(BASE + LOCK)).toBe(1);

      // The register rises while the EV charges, never by a whole number of Wh.
      let kwh = startKwh;
      for (const step of [0.4321, 1.2345, 0.0617]) {
        kwh += step;
        const seen = readingWhere(meter, (r) => r.energyImportWh === wh(kwh));
        await server.setFloat(1, 'input', IMPORT_KWH_REGISTER, kwh);
        await seen;
      }

      mark = h.csms.mark();
      const panelDevice = await readerDevice(panel.b);
      closers.push(() => panelDevice.close());
      await panelDevice.write(`${CARD}\r\n`);
      const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: mark });
      const stopped = stop.payload as StopReq;
      expect(stopped.reason ?? 'Local').toBe('Local');
      expect(stopped.meterStop).toBe(Math.round(wh(kwh)));
      expect(stopped.meterStop - started.meterStart).toBe(Math.round(wh(kwh)) - Math.round(wh(startKwh)));
      expect(sysfs.level(BASE + RELAY)).toBe(0);

      sysfs.drive(BASE + CONNECTED, 0);
      await h.status(1, 'Available', mark);
    },
  );
});

describe('a contactor found closed at boot on a GPIO board (feedback contact)', () => {
  const FEEDBACK = 24;
  let dir: string;
  let harness: Harness | undefined;

  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('is Faulted from the first StatusNotification, never Available, until a settled reading finds it open', async () => {
    dir = mkdtempSync(join(tmpdir(), 'cp-hw-weld-'));
    const sysfs = new FakeSysfs(join(dir, 'sys')).chip(CHIP, BASE, 58);
    // The contact is closed before anything commands it: welded, or still opening after the last run.
    sysfs.drive(BASE + FEEDBACK, 1);
    const boardFile = writeBenchBoard(dir, {
      name: 'bench-weld',
      sysfsRoot: sysfs.root,
      devices: {
        relay: { driver: 'gpio', line: line(RELAY), feedback: { line: line(FEEDBACK), settleMs: 2000 } },
        pilot: GPIO_PILOT,
      },
    });
    const h = await Harness.create({
      deferStart: true,
      config: () => ({ board: boardFile }),
      // The bench has no meter: no measurand may be asked for.
      ocpp: {
        MeterValuesSampledData: '',
        MeterValuesAlignedData: '',
        StopTxnSampledData: '',
        StopTxnAlignedData: '',
      },
    });
    harness = h;
    h.runtime = await Runtime.start({ config: h.config, log: h.log });
    const first = await h.csms.waitForCall(CP_ID, 'StatusNotification', {
      where: (p: { connectorId: number }) => p.connectorId === 1,
    });
    expect(first.payload).toMatchObject({
      status: 'Faulted',
      errorCode: 'PowerSwitchFailure',
      info: 'contactor welded',
    });
    // It was only slow to open: once open for the settle time, the connector is offered.
    sysfs.drive(BASE + FEEDBACK, 0);
    await h.status(1, 'Available', 0);
    const statuses = h.csms
      .calls(CP_ID, 'StatusNotification')
      .map((c) => c.payload as { connectorId: number; status: string })
      .filter((p) => p.connectorId === 1)
      .map((p) => p.status);
    expect(statuses).toEqual(['Faulted', 'Available']);
    expect(sysfs.level(BASE + RELAY)).toBe(0);
  });
});

describe('chargepointd on a hardware board', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 78 (configuration) when the GPIO interface of the board is missing, naming the line', async () => {
    dir = mkdtempSync(join(tmpdir(), 'cp-hw-proc-'));
    // A sysfs tree with the chip but without the export interface (and no exported lines).
    const chip = join(dir, 'sys', 'class', 'gpio', `gpiochip${BASE}`);
    mkdirSync(chip, { recursive: true });
    writeFileSync(join(chip, 'label'), `${CHIP}\n`);
    writeFileSync(join(chip, 'base'), `${BASE}\n`);
    writeFileSync(join(chip, 'ngpio'), '58\n');
    const boardFile = join(dir, 'board.json');
    writeFileSync(
      boardFile,
      JSON.stringify({
        name: 'no-gpio',
        kind: 'hardware',
        sysfsRoot: join(dir, 'sys'),
        connectors: [
          {
            id: 1,
            maxCurrentA: 16,
            phases: 1,
            relay: { driver: 'gpio', line: line(RELAY) },
            pilot: { driver: 'gpio', connected: { line: line(CONNECTED) }, ready: { line: line(READY) } },
            // Never reached: the relays start first, and their line cannot be opened.
            meter: {
              driver: 'modbus',
              transport: { type: 'tcp', host: '127.0.0.1', port: 9 },
              model: 'SDM630',
              unitId: 1,
            },
          },
        ],
      }),
    );
    const daemon = DaemonProcess.withConfig(dir, standaloneConfig(dir, 'CP-HW-01', { board: boardFile }));
    expect(await daemon.exitCode()).toBe(78);
    const fatal = daemon.lines.find((l) => l.level === 'fatal');
    expect(String(fatal?.err)).toContain(`${CHIP}:${RELAY}`);
    expect(String(fatal?.err)).toContain(join(dir, 'sys', 'class', 'gpio', 'export'));
  });

  it('exits 78 (configuration) when the pilot PWM chip is missing, naming it, with the relay driven open', async () => {
    dir = mkdtempSync(join(tmpdir(), 'cp-hw-pwm-'));
    const sysfs = new FakeSysfs(join(dir, 'sys')).chip(CHIP, BASE, 58);
    // The PWM interface is there, but not the chip the board file names (no dtoverlay=pwm).
    new FakePwmSysfs(join(dir, 'sys')).chip(1, 2);
    sysfs.drive(BASE + RELAY, 1);
    const boardFile = join(dir, 'board.json');
    writeFileSync(
      boardFile,
      JSON.stringify({
        name: 'no-pwm',
        kind: 'hardware',
        sysfsRoot: join(dir, 'sys'),
        connectors: [
          {
            id: 1,
            maxCurrentA: 16,
            phases: 1,
            relay: { driver: 'gpio', line: line(RELAY) },
            pilot: {
              driver: 'gpio',
              connected: { line: line(CONNECTED) },
              ready: { line: line(READY) },
              pwm: { chip: 0, channel: 0 },
            },
          },
        ],
      }),
    );
    const daemon = DaemonProcess.withConfig(dir, standaloneConfig(dir, 'CP-HW-02', { board: boardFile }));
    expect(await daemon.exitCode()).toBe(78);
    const fatal = daemon.lines.find((l) => l.level === 'fatal');
    expect(String(fatal?.err)).toContain('PWM pwmchip0/pwm0: no PWM chip 0');
    // The other outputs were driven safe all the same: a killed run's closed contactor is open.
    expect(sysfs.level(BASE + RELAY)).toBe(0);
  });
});
