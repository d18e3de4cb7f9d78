import type { MeterReading } from '../../hal/types.js';
import { type Clock, type OcppTime, Schedule } from '../clock.js';
import type { ConfigurationRegistry } from '../config/registry.js';
import type { Logger } from '../log.js';
import type { Station } from './station.js';

const DAY_MS = 86_400_000;

/** The next boundary of `intervalMs`-long intervals counted from midnight (UTC), after `nowMs`. */
export function nextAlignedBoundary(nowMs: number, intervalMs: number): number {
  const midnight = Math.floor(nowMs / DAY_MS) * DAY_MS;
  const next = midnight + (Math.floor((nowMs - midnight) / intervalMs) + 1) * intervalMs;
  // Intervals that do not divide a day restart at the next midnight.
  return Math.min(next, midnight + DAY_MS);
}

export interface AlignedMeteringOptions {
  station: Station;
  config: ConfigurationRegistry;
  clock: Clock;
  time: OcppTime;
  log: Logger;
  /** One reading per connector with a meter, stamped with the boundary it belongs to. */
  onSample(connectorId: number, reading: MeterReading, timestampMs: number): void;
}

/**
 * Clock-aligned meter values: every ClockAlignedDataInterval seconds from midnight, each
 * connector's meter is read and reported with the boundary as its timestamp (0 turns it off).
 */
export class AlignedMetering {
  private readonly schedule: Schedule;

  constructor(private readonly opts: AlignedMeteringOptions) {
    this.schedule = new Schedule(opts.clock, () => {
      const seconds = opts.config.getInt('ClockAlignedDataInterval');
      if (seconds <= 0) return undefined;
      const boundary = nextAlignedBoundary(opts.time.nowMs(), seconds * 1000);
      return { inMs: boundary - opts.time.nowMs(), run: () => void this.sample(boundary) };
    });
    opts.config.onChange('ClockAlignedDataInterval', () => this.schedule.replan());
  }

  start(): void {
    this.schedule.start();
  }

  stop(): void {
    this.schedule.stop();
  }

  private async sample(boundary: number): Promise<void> {
    this.schedule.replan();
    const { station, log } = this.opts;
    for (const id of station.connectorIds()) {
      const meter = station.connector(id)?.meter;
      if (!meter) continue;
      try {
        this.opts.onSample(id, await meter.read(), boundary);
      } catch (error) {
        log.warn({ connectorId: id, err: (error as Error).message }, 'no clock-aligned reading');
      }
    }
  }
}
