import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { toTransferError } from './errors.js';
import { TransferError } from './types.js';

/**
 * The shortest wait between two attempts. A central system's retryInterval of 0, against a server
 * that refuses at once, would otherwise retry in a tight loop, a log line each.
 */
export const MIN_RETRY_INTERVAL_S = 1;

/**
 * The most retries of one transfer, whatever the central system asks (the schema bounds neither):
 * two billion retries of an unreachable server would go on for as long as the charger runs.
 */
export const MAX_RETRIES = 100;

export interface RetryPolicy {
  retries: number;
  retryIntervalS: number;
  clock: Clock;
  signal?: AbortSignal;
  log?: Logger;
  /** The URL without credentials, for the log. */
  display: string;
}

/**
 * Runs `attempt` once and up to `retries` more times, `retryIntervalS` apart, while it fails
 * with a retried kind (`RETRIED_KINDS`). Each attempt is numbered from 0.
 */
export async function withRetries<T>(policy: RetryPolicy, attempt: () => Promise<T>): Promise<T> {
  for (let n = 0; ; n++) {
    if (policy.signal?.aborted) throw new TransferError('Cancelled', 'cancelled');
    try {
      return await attempt();
    } catch (caught) {
      const error = toTransferError(caught, policy.signal);
      if (!error.retried || n >= policy.retries) throw error;
      policy.log?.warn(
        { url: policy.display, attempt: n + 1, of: policy.retries + 1, kind: error.kind, err: error.message },
        `transfer failed, retrying in ${policy.retryIntervalS} s`,
      );
      await wait(policy.clock, policy.retryIntervalS * 1000, policy.signal);
    }
  }
}

/** Waits on `clock`; the signal ends the wait with Cancelled. */
function wait(clock: Clock, ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      timer.cancel();
      reject(new TransferError('Cancelled', 'cancelled'));
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}
