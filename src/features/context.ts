import type { Clock, OcppTime } from '../clock.js';
import type { ConfigurationRegistry } from '../config/registry.js';
import { errorMessage } from '../error-message.js';
import type { Logger } from '../log.js';
import type { Outbox } from '../ocpp/outbox.js';
import type { RpcEndpoint } from '../ocpp/rpc.js';
import type { Station } from '../station/station.js';

export type ResetType = 'Soft' | 'Hard';

/** What a feature module may use; the composition root builds it once. */
export interface FeatureContext {
  rpc: RpcEndpoint;
  config: ConfigurationRegistry;
  station: Station;
  time: OcppTime;
  clock: Clock;
  log: Logger;
  /** Ask the runtime to stop gracefully and exit so the service manager restarts it. */
  requestReset(type: ResetType): void;
}

/**
 * Whether the central system has accepted our BootNotification. Registration opens the RPC gate
 * exactly then; while Pending it may configure us, but nothing starts or stops on its behalf.
 */
export function registrationAccepted(ctx: FeatureContext): boolean {
  return ctx.rpc.gate === 'open';
}

/** Sends a charge-point CALL whose failure is not fatal: logs it and resolves undefined. */
export async function sendQuietly<T>(
  log: Logger,
  action: string,
  send: () => Promise<T>,
): Promise<T | undefined> {
  try {
    return await send();
  } catch (error) {
    log.debug({ action, err: errorMessage(error) }, 'message not delivered');
    return undefined;
  }
}

/**
 * A status the central system must learn even across an outage or a restart (an upload's or an
 * update's outcome): queued in the outbox. A store that cannot write it (a full disk) must not
 * swallow it: then it goes now, unqueued, through `sendNow`. Resolves true once queued or
 * answered.
 */
export async function queueOrSendNow(
  log: Logger,
  outbox: Pick<Outbox, 'enqueue'>,
  action: Parameters<Outbox['enqueue']>[0],
  payload: Record<string, unknown>,
  sendNow: () => Promise<unknown>,
): Promise<boolean> {
  try {
    outbox.enqueue(action, payload);
    return true;
  } catch (err) {
    log.error({ err, action, ...payload }, 'status not queued; sent without a retry');
    return (await sendQuietly(log, action, sendNow)) !== undefined;
  }
}
