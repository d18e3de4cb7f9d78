import { EventEmitter } from 'node:events';
import type {
  ConnectorDevices,
  ConnectorFault,
  ConnectorHardware,
  ConnectorHardwareEvents,
  DeviceHealth,
  FaultInput,
  HardwareFault,
  PilotState,
  RfidReader,
} from './types.js';

type Problem = { fault: HardwareFault; info?: string };

/** Any device: reports its health and tells when it changes. */
interface HealthReporting {
  health(): DeviceHealth;
  on(event: 'health', listener: (health: DeviceHealth) => void): unknown;
}

interface HealthSource {
  name: string;
  device: HealthReporting;
}

/**
 * Why an active board fault input faults the connector. An unreadable input counts as active (the
 * safe reading) but is said to be unreadable: a technician looks for a broken wire, not a press.
 */
function faultInputInfo(input: FaultInput): string {
  const name = input.kind === 'emergencyStop' ? 'emergency stop' : 'tamper';
  if (!input.readable()) return `${name} input unreadable`;
  return input.kind === 'emergencyStop' ? 'emergency stop' : 'tamper detected';
}

/** Pilot states in which a cable is plugged into an EV. */
const PLUGGED: ReadonlySet<PilotState> = new Set(['B', 'C', 'D']);

/**
 * One outlet assembled from its devices. The connector is faulted while any device it needs is
 * unhealthy, while the pilot reports E/F, or while a board fault input (emergency stop, tamper)
 * is active; a failed card reader only degrades it. Other sources (an RCD monitor, the simulated
 * board) report through `reportFault`.
 */
export class AssembledConnector extends EventEmitter<ConnectorHardwareEvents> implements ConnectorHardware {
  readonly id: number;
  readonly fixedCable: boolean;
  private readonly sources: HealthSource[];
  private readonly reported = new Map<string, Problem>();
  private wasPlugged: boolean;
  private lastProblem: string;

  constructor(
    readonly devices: ConnectorDevices,
    private readonly faultInputs: readonly FaultInput[] = [],
    private readonly readers: readonly RfidReader[] = [],
  ) {
    super();
    this.id = devices.id;
    this.fixedCable = devices.fixedCable;
    this.sources = [
      { name: 'relay', device: devices.relay },
      { name: 'pilot', device: devices.pilot },
      ...(devices.meter ? [{ name: 'meter', device: devices.meter }] : []),
      ...(devices.lock ? [{ name: 'lock', device: devices.lock }] : []),
      ...(devices.powerSetpoint ? [{ name: 'power setpoint', device: devices.powerSetpoint }] : []),
    ];
    this.wasPlugged = this.plugged();
    this.lastProblem = this.problemKey();
    const refresh = (): void => this.refresh();
    for (const { device } of this.sources) device.on('health', refresh);
    for (const input of faultInputs) input.on('change', refresh);
    for (const reader of readers) reader.on('health', refresh);
    devices.pilot.on('state', (state) => {
      this.emit('pilot', state);
      this.refresh();
    });
  }

  get lock() {
    return this.devices.lock;
  }

  get meter() {
    return this.devices.meter;
  }

  plugged(): boolean {
    return PLUGGED.has(this.devices.pilot.state());
  }

  fault(): ConnectorFault | undefined {
    const input = this.faultInputs.find((i) => i.isActive());
    if (input) return { fault: 'OtherError', info: faultInputInfo(input), kind: input.kind };
    for (const { device } of this.sources) {
      const health = device.health();
      if (!health.ok)
        return { fault: health.fault, ...(health.info ? { info: health.info } : {}), kind: 'device' };
    }
    const pilot = this.devices.pilot.state();
    if (pilot === 'E' || pilot === 'F')
      return { fault: 'EVCommunicationError', info: `pilot state ${pilot}`, kind: 'pilot' };
    const reported = this.reported.values().next().value;
    return reported && { ...reported, kind: 'reported' };
  }

  warning(): Problem | undefined {
    for (const reader of this.readers) {
      const health = reader.health();
      if (!health.ok) return { fault: health.fault, info: health.info ?? `reader ${reader.name}` };
    }
    return undefined;
  }

  /** Every unhealthy device, for diagnostics. */
  problems(): Array<{ device: string } & Problem> {
    const out: Array<{ device: string } & Problem> = [];
    for (const { name, device } of this.sources) {
      const health = device.health();
      if (!health.ok)
        out.push({ device: name, fault: health.fault, ...(health.info ? { info: health.info } : {}) });
    }
    for (const [source, problem] of this.reported) out.push({ device: source, ...problem });
    for (const reader of this.readers) {
      const health = reader.health();
      if (!health.ok)
        out.push({
          device: `reader ${reader.name}`,
          fault: health.fault,
          ...(health.info ? { info: health.info } : {}),
        });
    }
    for (const input of this.faultInputs)
      if (input.isActive()) out.push({ device: input.kind, fault: 'OtherError' });
    return out;
  }

  /** A fault from a source that is not one of the devices (or undefined when it cleared). */
  reportFault(source: string, fault: HardwareFault | undefined, info?: string): void {
    if (fault) this.reported.set(source, { fault, ...(info ? { info } : {}) });
    else this.reported.delete(source);
    this.refresh();
  }

  private problemKey(): string {
    return JSON.stringify([this.fault(), this.warning()]);
  }

  private refresh(): void {
    const plugged = this.plugged();
    if (plugged !== this.wasPlugged) {
      this.wasPlugged = plugged;
      this.emit('plug', plugged);
    }
    const key = this.problemKey();
    if (key !== this.lastProblem) {
      this.lastProblem = key;
      const problem = this.fault() ?? this.warning();
      this.emit('fault', problem?.fault, problem?.info);
    }
  }
}
