import { EventEmitter } from 'node:events';
import type {
  Board,
  ConnectorHardware,
  ConnectorHardwareEvents,
  ConnectorLock,
  HardwareFault,
  Meter,
  MeterReading,
} from '../types.js';

/** The simulated board's options; a board file may name more connectors. */
export interface SimBoardOptions {
  connectors?: number;
  fixedCable?: boolean;
}

class SimMeter implements Meter {
  readonly measurands = ['Energy.Active.Import.Register', 'Power.Active.Import'];
  readonly type = 'SIM-METER';
  readonly serialNumber: string;
  energyWh = 0;
  powerW = 0;

  constructor(connectorId: number) {
    this.serialNumber = `SIM-${connectorId}`;
  }

  async read(): Promise<MeterReading> {
    return { energyImportWh: Math.round(this.energyWh), powerW: this.powerW };
  }
}

class SimLock implements ConnectorLock {
  failing = false;
  locked = false;

  async lock(): Promise<boolean> {
    if (this.failing) return false;
    this.locked = true;
    return true;
  }

  async unlock(): Promise<boolean> {
    if (this.failing) return false;
    this.locked = false;
    return true;
  }
}

/** A connector whose cable and faults are acted out by commands instead of sensors. */
export class SimConnector extends EventEmitter<ConnectorHardwareEvents> implements ConnectorHardware {
  readonly meter: SimMeter;
  readonly lock: SimLock | undefined;
  private isPlugged = false;
  private currentFault: { fault: HardwareFault; info?: string } | undefined;

  constructor(
    readonly id: number,
    readonly fixedCable: boolean,
  ) {
    super();
    this.meter = new SimMeter(id);
    this.lock = fixedCable ? undefined : new SimLock();
  }

  plugged(): boolean {
    return this.isPlugged;
  }

  fault(): { fault: HardwareFault; info?: string } | undefined {
    return this.currentFault;
  }

  setPlugged(plugged: boolean): void {
    if (plugged === this.isPlugged) return;
    this.isPlugged = plugged;
    this.emit('plug', plugged);
  }

  setFault(fault: HardwareFault | undefined, info?: string): void {
    this.currentFault = fault ? { fault, ...(info ? { info } : {}) } : undefined;
    this.emit('fault', fault, info);
  }
}

/** The default board: runs the whole runtime on any Linux machine. */
export class SimBoard implements Board {
  readonly name = 'sim';
  readonly connectors: SimConnector[];

  constructor(options: SimBoardOptions = {}) {
    const count = options.connectors ?? 2;
    this.connectors = Array.from(
      { length: count },
      (_, i) => new SimConnector(i + 1, options.fixedCable ?? false),
    );
  }

  connector(id: number): SimConnector | undefined {
    return this.connectors.find((c) => c.id === id);
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {}
}
