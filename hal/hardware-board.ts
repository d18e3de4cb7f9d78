import { errorMessage } from '../src/error-message.js';
import type { Logger } from '../src/log.js';
import { AssembledConnector } from './connector.js';
import {
  type Board,
  type ConnectorDevices,
  type FaultInput,
  type Lifecycle,
  type ReaderAssignment,
  rewrapBoardError,
  type SmartChargingCapabilities,
} from './types.js';

export interface HardwareBoardParts {
  name: string;
  connectors: ConnectorDevices[];
  readers: ReaderAssignment[];
  faultInputs: FaultInput[];
  log: Logger;
  supplyMaxCurrentA?: number;
  smartCharging?: SmartChargingCapabilities;
}

/**
 * A board of real drivers. `safe()` comes first of all: every relay, pilot and power setpoint output is driven to
 * its safe level (a killed run leaves a sysfs line where it was, contactor closed included), even
 * when another output or a fault input cannot be opened. Start order then puts safety first:
 * fault inputs, relays, pilots, locks and meters, the readers last. Stop runs backwards, so the
 * contactors are opened before anything else lets go, and releases what only `safe()` opened. A
 * device that fails to start is a board-file or wiring error and stops the start; the ones
 * already started are stopped again.
 */
export class HardwareBoard implements Board {
  readonly name: string;
  readonly connectors: AssembledConnector[];
  readonly readers: ReaderAssignment[];
  readonly faultInputs: FaultInput[];
  readonly supplyMaxCurrentA?: number;
  readonly smartCharging?: SmartChargingCapabilities;
  private readonly startOrder: Array<{ name: string; device: Lifecycle }>;
  private started: Array<{ name: string; device: Lifecycle }> = [];
  /** Outputs `safe()` opened; stopped with the rest even when the board never started. */
  private safed: Array<{ name: string; device: Lifecycle }> = [];

  constructor(private readonly parts: HardwareBoardParts) {
    this.name = parts.name;
    this.readers = parts.readers;
    this.faultInputs = parts.faultInputs;
    if (parts.supplyMaxCurrentA !== undefined) this.supplyMaxCurrentA = parts.supplyMaxCurrentA;
    if (parts.smartCharging) this.smartCharging = parts.smartCharging;
    this.connectors = parts.connectors.map(
      (devices) =>
        new AssembledConnector(
          devices,
          parts.faultInputs,
          parts.readers.filter((r) => r.connectorIds.includes(devices.id)).map((r) => r.reader),
        ),
    );
    const each = <K extends 'relay' | 'pilot' | 'lock' | 'meter' | 'powerSetpoint'>(kind: K) =>
      parts.connectors.flatMap((c) => {
        const device = c[kind];
        return device ? [{ name: `connector ${c.id} ${kind}`, device }] : [];
      });
    this.startOrder = [
      ...parts.faultInputs.map((f) => ({ name: f.kind, device: f })),
      ...each('relay'),
      ...each('pilot'),
      ...each('powerSetpoint'),
      ...each('lock'),
      ...each('meter'),
      ...parts.readers.map((r) => ({ name: `reader ${r.reader.name}`, device: r.reader })),
    ];
  }

  safe(): void {
    let first: Error | undefined;
    for (const c of this.parts.connectors) {
      const outputs = [
        { name: `connector ${c.id} relay`, device: c.relay },
        { name: `connector ${c.id} pilot`, device: c.pilot },
        ...(c.powerSetpoint ? [{ name: `connector ${c.id} power setpoint`, device: c.powerSetpoint }] : []),
      ];
      for (const { name, device } of outputs) {
        try {
          device.safe();
          this.safed.push({ name, device });
        } catch (error) {
          this.parts.log.error({ device: name, err: errorMessage(error) }, 'output not driven safe');
          first ??= named(name, error);
        }
      }
    }
    if (first) throw first;
  }

  async start(): Promise<void> {
    for (const entry of this.startOrder) {
      try {
        await entry.device.start();
      } catch (error) {
        await this.stop();
        throw named(entry.name, error);
      }
      this.started.push(entry);
    }
  }

  async stop(): Promise<void> {
    const unstarted = this.safed.filter((s) => !this.started.some((entry) => entry.device === s.device));
    for (const entry of [...this.started.reverse(), ...unstarted]) {
      await entry.device.stop().catch((error: Error) => {
        this.parts.log.error({ device: entry.name, err: error.message }, 'device did not stop cleanly');
      });
    }
    this.started = [];
    this.safed = [];
  }
}

/** A device's failure, naming the device; a configuration error stays one (the daemon exits 78). */
function named(name: string, error: unknown): Error {
  return rewrapBoardError(error, `${name}: ${errorMessage(error)}`);
}
