import type { ConnectorHardware } from '../../hal/types.js';
import { type Clock, Schedule } from '../clock.js';
import type { Logger } from '../log.js';

/** The wait before the first retry of a failed contactor open, ms; it doubles after each failure. */
export const OPEN_RETRY_FIRST_MS = 1000;
/** The longest wait between two retries, ms. */
export const OPEN_RETRY_MAX_MS = 10_000;

/** The wait after the `failures`th failure of an episode. */
export function openRetryDelayMs(failures: number): number {
  return Math.min(OPEN_RETRY_FIRST_MS * 2 ** (failures - 1), OPEN_RETRY_MAX_MS);
}

/** The failed opens of one contactor, from the first failure until an open succeeds or is no longer wanted. */
interface Episode {
  readonly hw: ConnectorHardware;
  failures: number;
  readonly schedule: Schedule;
}

/**
 * Opens contactors for their owner (charging-limit.ts), and tries again an open whose command failed
 * (a GPIO or Modbus write error). Such a contactor may still be closed while energy must not flow,
 * and no other event need come to command it again: it is retried on the clock, 1 s after the
 * failure and twice as long after each one up to 10 s, until an open succeeds or the owner `forget`s
 * it (the contactor may close again). An episode is logged at its first failure and at its end, not
 * at every retry. Only opens are retried: opening is always safe, a close is the session's to decide.
 */
export class ContactorOpenRetries {
  private readonly episodes = new Map<number, Episode>();

  constructor(
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** While an episode runs its retries own the open: an evaluation does not command it in between. */
  retrying(connectorId: number): boolean {
    return this.episodes.has(connectorId);
  }

  /** Commands the contactor open; a failure starts an episode. Never rejects. */
  async open(hw: ConnectorHardware): Promise<void> {
    try {
      await hw.devices.relay.set(false);
    } catch (error) {
      this.failed(hw, error);
    }
  }

  /** The contactor may close again: its open is not retried any more. */
  forget(connectorId: number): void {
    this.episodes.get(connectorId)?.schedule.stop();
    this.episodes.delete(connectorId);
  }

  close(): void {
    for (const id of [...this.episodes.keys()]) this.forget(id);
  }

  private failed(hw: ConnectorHardware, error: unknown): void {
    // An episode under way already retries it.
    if (this.episodes.has(hw.id)) return;
    const episode: Episode = {
      hw,
      failures: 1,
      schedule: new Schedule(this.clock, () => ({
        inMs: openRetryDelayMs(episode.failures),
        run: () => void this.retry(episode),
      })),
    };
    this.log.error(
      { connectorId: hw.id, err: error instanceof Error ? error.message : String(error) },
      'contactor open failed: retrying until it opens',
    );
    this.episodes.set(hw.id, episode);
    episode.schedule.start();
  }

  private async retry(episode: Episode): Promise<void> {
    const { hw } = episode;
    let opened = true;
    try {
      await hw.devices.relay.set(false);
    } catch {
      opened = false;
    }
    // Forgotten while the command was under way: the contactor may close now, nothing to retry.
    if (this.episodes.get(hw.id) !== episode) return;
    if (!opened) {
      episode.failures += 1;
      episode.schedule.replan();
      return;
    }
    this.forget(hw.id);
    this.log.warn(
      { connectorId: hw.id, failures: episode.failures },
      'contactor opened after failed attempts',
    );
  }
}
