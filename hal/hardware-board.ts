import type { Logger } from '../src/log.js';
import { AssembledConnector } from './connector.js';
import {
  type Board,
  BoardConfigurationError,
  type ConnectorDevices,
  type FaultInput,
  type Lifecycle,
  type ReaderAssignment,
} from './types.js';

export interface HardwareBoardParts {
  name: string;
  connectors: ConnectorDevices[];
  readers: ReaderAssignment[];
  faultInputs: FaultInput[];
  log: Logger;
}

/**
 * A board of real drivers. Start order puts safety first: fault inputs, then the relays (their
 * outputs come up open), then pilots, locks and meters, the readers last. Stop runs backwards,
 * so the contactors are opened before anything else lets go. A device that fails to start is a
 * board-file or wiring error and stops the start; the ones already started are stopped again.
 */
export class HardwareBoard implements Board {
  readonly name: string;
  readonly connectors: AssembledConnector[];
  readonly readers: ReaderAssignment[];
  readonly faultInputs: FaultInput[];
  private readonly startOrder: Array<{ name: string; device: Lifecycle }>;
  private started: Array<{ name: string; device: Lifecycle }> = [];

  constructor(private readonly parts: HardwareBoardParts) {
    this.name = parts.name;
    this.readers = parts.readers;
    this.faultInputs = parts.faultInputs;
    this.connectors = parts.connectors.map(
      (devices) =>
        new AssembledConnector(
          devices,
          parts.faultInputs,
          parts.readers.filter((r) => r.connectorIds.includes(devices.id)).map((r) => r.reader),
        ),
    );
    const each = <K extends 'relay' | 'pilot' | 'lock' | 'meter'>(kind: K) =>
      parts.connectors.flatMap((c) => {
        const device = c[kind];
        return device ? [{ name: `connector ${c.id} ${kind}`, device }] : [];
      });
    this.startOrder = [
      ...parts.faultInputs.map((f) => ({ name: f.kind, device: f })),
      ...each('relay'),
      ...each('pilot'),
      ...each('lock'),
      ...each('meter'),
      ...parts.readers.map((r) => ({ name: `reader ${r.reader.name}`, device: r.reader })),
    ];
  }

  async start(): Promise<void> {
    for (const entry of this.startOrder) {
      try {
        await entry.device.start();
      } catch (error) {
        await this.stop();
        const message = `${entry.name}: ${(error as Error).message}`;
        throw error instanceof BoardConfigurationError
          ? new BoardConfigurationError(message, { cause: error })
          : new Error(message, { cause: error });
      }
      this.started.push(entry);
    }
  }

  async stop(): Promise<void> {
    for (const entry of this.started.reverse()) {
      await entry.device.stop().catch((error: Error) => {
        this.parts.log.error({ device: entry.name, err: error.message }, 'device did not stop cleanly');
      });
    }
    this.started = [];
  }
}
