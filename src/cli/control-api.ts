import { SimBoard } from '../../hal/sim/board.js';
import type { Board, HardwareFault, MeterReading } from '../../hal/types.js';
import type { ConfigurationRegistry } from '../config/registry.js';
import type { Registration } from '../features/core/registration.js';
import type { Logger } from '../log.js';
import type { Link } from '../ocpp/link.js';
import type { Station } from '../station/station.js';
import { FIRMWARE_VERSION } from '../version.js';
import {
  type ConnectorReport,
  type ControlApi,
  ControlError,
  type SimControls,
  type StatusReport,
} from './api.js';

export interface ControlDeps {
  chargePointId: string;
  board: Board;
  station: Station;
  config: ConfigurationRegistry;
  link: Link;
  registration: Registration;
  log: Logger;
}

/** Fault codes a simulated fault may carry: every ChargePointErrorCode a device can cause. */
const SIM_FAULTS: ReadonlySet<string> = new Set<HardwareFault>([
  'ConnectorLockFailure',
  'EVCommunicationError',
  'GroundFailure',
  'HighTemperature',
  'InternalError',
  'OverCurrentFailure',
  'OverVoltage',
  'PowerMeterFailure',
  'PowerSwitchFailure',
  'ReaderFailure',
  'UnderVoltage',
  'WeakSignal',
  'OtherError',
]);

/** Statuses in which a technician may toggle a relay: nothing is plugged and nothing charges. */
const IDLE = new Set(['Available', 'Unavailable', 'Faulted']);

/** The daemon's side of the control socket: reads the live runtime, changes only what is safe. */
export class RuntimeControl implements ControlApi {
  readonly sim: SimControls | undefined;

  constructor(private readonly deps: ControlDeps) {
    this.sim = deps.board instanceof SimBoard ? simControls(deps.board, deps.log) : undefined;
  }

  async status(): Promise<StatusReport> {
    const { board, config, link, registration, chargePointId } = this.deps;
    const connectors = await Promise.all(board.connectors.map((c) => this.connectorReport(c.id)));
    return {
      version: FIRMWARE_VERSION,
      chargePointId,
      board: board.name,
      link: { state: link.state, securityProfile: config.getInt('SecurityProfile') },
      registration: registration.status,
      connectors,
      readers: board.readers.map(({ reader, connectorIds }) => {
        const lastRead = reader.lastRead();
        return {
          name: reader.name,
          connectorIds: [...connectorIds],
          health: reader.health(),
          ...(lastRead ? { lastRead } : {}),
        };
      }),
      faultInputs: board.faultInputs.map((f) => ({ kind: f.kind, active: f.isActive() })),
    };
  }

  configGet(keys: string[]) {
    const { configurationKey = [], unknownKey = [] } = this.deps.config.list(keys);
    return { configurationKey: [...configurationKey], unknownKey: [...unknownKey] };
  }

  configSet(key: string, value: string) {
    return this.deps.config.change(key, value, 'local');
  }

  async halMeterRead(connectorId: number): Promise<MeterReading> {
    const meter = this.hardware(connectorId).meter;
    if (!meter) throw new ControlError(`connector ${connectorId} has no meter`);
    try {
      return await meter.read();
    } catch (error) {
      throw new ControlError(`meter of connector ${connectorId} cannot be read: ${(error as Error).message}`);
    }
  }

  halLastRfid() {
    return this.deps.board.readers.map(({ reader }) => ({
      reader: reader.name,
      ...(reader.lastRead() ?? {}),
    }));
  }

  async halRelay(connectorId: number, closed: boolean): Promise<void> {
    const hw = this.hardware(connectorId);
    const status = this.deps.station.status(connectorId)?.status ?? 'unknown';
    if (!IDLE.has(status) || hw.plugged()) {
      throw new ControlError(
        `connector ${connectorId} is ${status}: relays can be toggled only while it is idle`,
      );
    }
    this.deps.log.warn({ connectorId, closed, origin: 'local' }, 'relay toggled by a technician');
    await hw.devices.relay.set(closed);
  }

  private hardware(connectorId: number) {
    const hw = this.deps.station.connector(connectorId);
    if (!hw)
      throw new ControlError(
        `no connector ${connectorId} (connectors: ${this.deps.station.connectorIds().join(', ')})`,
      );
    return hw;
  }

  private async connectorReport(id: number): Promise<ConnectorReport> {
    const { station } = this.deps;
    const hw = this.hardware(id);
    const snapshot = station.status(id);
    const { relay, pilot, meter } = hw.devices;
    const feedback = relay.feedback();
    let reading: ConnectorReport['meter'];
    if (meter) reading = await meter.read().catch((error: Error) => ({ error: error.message }));
    return {
      id,
      status: snapshot?.status ?? 'unknown',
      errorCode: snapshot?.errorCode ?? 'NoError',
      ...(snapshot?.info ? { info: snapshot.info } : {}),
      availability: station.availabilityOf(id),
      plugged: hw.plugged(),
      pilot: pilot.state(),
      currentLimitA: pilot.currentLimit(),
      relay: { closed: relay.isClosed(), ...(feedback === undefined ? {} : { feedback }) },
      ...(reading ? { meter: reading } : {}),
      faults: hw.problems(),
    };
  }
}

function simControls(board: SimBoard, log: Logger): SimControls {
  /** The sim board throws RangeError for a connector or reader it does not have: a technician's typo. */
  const guard =
    <A extends unknown[]>(name: string, fn: (...args: A) => void) =>
    (...args: A): void => {
      try {
        fn(...args);
      } catch (error) {
        if (error instanceof RangeError) throw new ControlError(error.message);
        throw error;
      }
      log.info({ command: name, args }, 'simulated board command');
    };
  return {
    plug: guard('plug', (c: number) => board.plug(c)),
    unplug: guard('unplug', (c: number) => board.unplug(c)),
    ev: guard('ev', (c: number, mode: 'charge' | 'pause') => board.ev(c, mode)),
    swipe: guard('swipe', (idTag: string, reader?: number) => board.swipe(idTag, reader)),
    fault: guard('fault', (c: number, code: string) => {
      if (!SIM_FAULTS.has(code)) throw new ControlError(`${code} is not a hardware fault code`);
      board.fault(c, code as HardwareFault);
    }),
    clear: guard('clear', (c: number) => board.clear(c)),
    lockFail: guard('lockFail', (c: number, failing: boolean) => board.lockFail(c, failing)),
    meter: guard('meter', (c: number, powerW: number) => board.meter(c, powerW)),
  };
}
