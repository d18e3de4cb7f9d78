import type { ConnectorHardware } from '../../hal/types.js';
import { type Clock, Schedule } from '../clock.js';
import { errorMessage } from '../error-message.js';
import type { Logger } from '../log.js';

/** The wait before the first retry of a failed contactor command, ms; it doubles after each failure. */
export const OPEN_RETRY_FIRST_MS = 1000;
/** The longest wait between two retries, ms. */
export const OPEN_RETRY_MAX_MS = 10_000;

/** The wait after the `failures`th failure of an episode. */
export function openRetryDelayMs(failures: number): number {
  return Math.min(OPEN_RETRY_FIRST_MS * 2 ** (failures - 1), OPEN_RETRY_MAX_MS);
}

/**
 * The failed commands of one contactor, from the first failure until an open succeeds or is no
 * longer wanted; `settled` are told how it ended (true: opened).
 */
interface Episode {
  readonly hw: ConnectorHardware;
  failures: number;
  readonly schedule: Schedule;
  readonly settled: Array<(opened: boolean) => void>;
}

/**
 * Commands contactors for their owner (charging-limit.ts), and commands open again, on the clock,
 * a contactor whose command failed (a GPIO or Modbus write error): a failed open may have left it
 * closed while energy must not flow, a failed close (a Modbus write may have been applied with its
 * answer lost) leaves its state unknown and its relay faulted (PowerSwitchFailure) until some
 * command of it succeeds, and no other event need come to command it again; so does another
 * output's failed command that faults the relay (`otherOutputFailed`). The retries come 1 s
 * after the failure and twice as long after each one up to 10 s, until an open succeeds (which also
 * clears the relay's fault) or the owner `forget`s it (the contactor may close again). Only opens
 * are retried: opening is always safe, a close is the session's to decide. While an episode runs
 * the contactor is not known open, so its cable stays locked (`settled` tells when that ends). An
 * episode is logged at its first failure and at its end, not at every retry.
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

  /**
   * Resolves once the connector's episode ends: true when its open succeeded, false when the
   * contactor may close again first or the owner stops. With no episode, true at once.
   */
  settled(connectorId: number): Promise<boolean> {
    const episode = this.episodes.get(connectorId);
    if (!episode) return Promise.resolve(true);
    return new Promise((resolve) => episode.settled.push(resolve));
  }

  /** Commands the contactor open; a failure starts an episode. Never rejects. */
  async open(hw: ConnectorHardware): Promise<void> {
    try {
      await hw.devices.relay.set(false);
    } catch (error) {
      this.failed(hw, 'contactor open failed: retrying until it opens', error);
    }
  }

  /** Commands the contactor closed; a failure starts an episode, which commands it open. Never rejects. */
  async close(hw: ConnectorHardware): Promise<void> {
    try {
      await hw.devices.relay.set(true);
    } catch (error) {
      this.failed(hw, 'contactor close failed: commanding it open until its output answers', error);
    }
  }

  /**
   * A command of another output failed and left the relay unhealthy: the EV-CC-AC1's pilot writes
   * the enable coil that is its relay, and a write that fails there faults the relay as a failed
   * open would, with nothing to command it again. For a contactor that is to stay open: an episode,
   * whose open succeeding clears the fault. True when the failure is the episode's (logged by it,
   * once per episode); false when the relay is healthy and the caller is to log it.
   */
  otherOutputFailed(hw: ConnectorHardware, what: string, error: unknown): boolean {
    if (hw.devices.relay.health().ok) return false;
    this.failed(
      hw,
      `${what} not commanded, the relay faulted: commanding the contactor open until its output answers`,
      error,
    );
    return true;
  }

  /** The contactor may close again: its open is not retried any more. */
  forget(connectorId: number): void {
    this.end(connectorId, false);
  }

  /** The owner stops: no more retries. */
  stop(): void {
    for (const id of [...this.episodes.keys()]) this.forget(id);
  }

  private end(connectorId: number, opened: boolean): void {
    const episode = this.episodes.get(connectorId);
    if (!episode) return;
    episode.schedule.stop();
    this.episodes.delete(connectorId);
    for (const resolve of episode.settled.splice(0)) resolve(opened);
  }

  private failed(hw: ConnectorHardware, message: string, error: unknown): void {
    // An episode under way already retries it.
    if (this.episodes.has(hw.id)) return;
    const episode: Episode = {
      hw,
      failures: 1,
      settled: [],
      schedule: new Schedule(this.clock, () => ({
        inMs: openRetryDelayMs(episode.failures),
        run: () => void this.retry(episode),
      })),
    };
    this.log.error({ connectorId: hw.id, err: errorMessage(error) }, message);
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
    this.end(hw.id, true);
    this.log.warn(
      { connectorId: hw.id, failures: episode.failures },
      'contactor opened after failed attempts',
    );
  }
}
