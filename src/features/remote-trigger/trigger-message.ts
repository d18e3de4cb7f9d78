import type { HandlerContext } from '../../ocpp/rpc.js';
import type { Station } from '../../station/station.js';
import type { FeatureContext } from '../context.js';
import type { MessageTrigger, TriggerTarget } from '../profile.js';

export type TriggerContext = Pick<FeatureContext, 'rpc' | 'log'> & { station: Pick<Station, 'hasConnector'> };

export type TriggerStatus = 'Accepted' | 'Rejected' | 'NotImplemented';

/**
 * The answer to a TriggerMessage or ExtendedTriggerMessage, and the send after it. A connector id
 * that does not exist is Rejected for every message type, and nothing is sent; a message without
 * a target is NotImplemented. The message is sent even while registration is Pending: the central
 * system asked for it (spec 4.2.1), so it passes the gate.
 */
export function answerTrigger(
  ctx: TriggerContext,
  call: Pick<HandlerContext, 'afterAnswer'>,
  request: { requestedMessage: string; connectorId?: number | undefined },
  send: TriggerTarget | undefined,
): { status: TriggerStatus } {
  const { connectorId, requestedMessage } = request;
  if (connectorId !== undefined && connectorId !== 0 && !ctx.station.hasConnector(connectorId)) {
    ctx.log.info({ requestedMessage, connectorId }, 'trigger for an unknown connector');
    return { status: 'Rejected' };
  }
  if (!send) {
    ctx.log.info({ requestedMessage }, 'trigger for a message no installed profile sends');
    return { status: 'NotImplemented' };
  }
  call.afterAnswer(() => {
    send(connectorId).catch((error: Error) =>
      ctx.log.error({ requestedMessage, err: error.message }, 'triggered message failed'),
    );
  });
  return { status: 'Accepted' };
}

/** TriggerMessage: answered by whatever the installed profiles can send. */
export function registerTriggerMessage(
  ctx: TriggerContext,
  targets: ReadonlyMap<MessageTrigger, TriggerTarget>,
): void {
  ctx.rpc.handle('TriggerMessage', (req, call) =>
    answerTrigger(ctx, call, req, targets.get(req.requestedMessage)),
  );
}
