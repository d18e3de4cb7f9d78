import type { MeterReading } from '../../hal/types.js';
import { type Clock, type OcppTime, Schedule } from '../clock.js';
import type { ConfigurationRegistry } from '../config/registry.js';
import { errorMessage } from '../error-message.js';
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
  /** Boundaries are of this time; its `adjusted` events re-plan the next one. */
  time: Pick<OcppTime, 'nowMs' | 'on'>;
  log: Logger;
  /** One reading per connector with a meter, stamped with the boundary it belongs to. */
  onSample(connectorId: number, reading: MeterReading, timestampMs: number): void;
  /**
   * Where the last reported boundary outlives a restart (a value that only rises: the store's
   * setting floors). Without it a restart whose clock reads earlier than the last run's could
   * report a boundary again.
   */
  marks?: { get(key: string): string | undefined; set(key: string, value: string): boolean };
}

/** The key of the last reported boundary among the persisted marks. */
export const LAST_ALIGNED_BOUNDARY = 'ClockAlignedDataBoundary';

/**
 * Clock-aligned meter values: every ClockAlignedDataInterval seconds from midnight, each
 * connector's meter is read and reported with the boundary as its timestamp (0 turns it off).
 *
 * Boundaries are of the OCPP time, and each is reported at most once: a plan never picks one at or
 * before the last boundary reported, whatever moved meanwhile (the time stepped back, a re-plan, a
 * new interval, a timer that fired a moment early). A time set back therefore leaves a gap until
 * it has caught up, never a repeat, also across a restart (the last boundary is kept in `marks`). When the time is adjusted the pending boundary is planned
 * afresh, so a reading is taken when its boundary comes, not a stepped distance away from it.
 */
export class AlignedMetering {
  private readonly schedule: Schedule;
  /** The last boundary reported (epoch ms, OCPP time), this run or an earlier one. */
  private lastBoundary: number;

  constructor(private readonly opts: AlignedMeteringOptions) {
    const persisted = Number(opts.marks?.get(LAST_ALIGNED_BOUNDARY));
    this.lastBoundary = Number.isFinite(persisted) ? persisted : Number.NEGATIVE_INFINITY;
    this.schedule = new Schedule(opts.clock, () => {
      const seconds = opts.config.getInt('ClockAlignedDataInterval');
      if (seconds <= 0) return undefined;
      const now = opts.time.nowMs();
      const boundary = nextAlignedBoundary(Math.max(now, this.lastBoundary), seconds * 1000);
      return { inMs: boundary - now, run: () => void this.sample(boundary) };
    });
    opts.config.onChange('ClockAlignedDataInterval', () => this.schedule.replan());
    opts.time.on('adjusted', () => this.schedule.replan());
  }

  start(): void {
    this.schedule.start();
  }

  stop(): void {
    this.schedule.stop();
  }

  private async sample(boundary: number): Promise<void> {
    this.lastBoundary = boundary;
    this.opts.marks?.set(LAST_ALIGNED_BOUNDARY, String(boundary));
    this.schedule.replan();
    const { station, log } = this.opts;
    for (const id of station.connectorIds()) {
      const meter = station.connector(id)?.meter;
      if (!meter) continue;
      try {
        this.opts.onSample(id, await meter.read(), boundary);
      } catch (error) {
        log.warn({ connectorId: id, err: errorMessage(error) }, 'no clock-aligned reading');
      }
    }
  }
}
