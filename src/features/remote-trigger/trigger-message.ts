import type { Station } from '../../station/station.js';
import type { FeatureContext } from '../context.js';
import type { MessageTrigger, TriggerTarget } from '../profile.js';

/**
 * TriggerMessage: answer first, then send the requested message. A connector id that does not
 * exist is Rejected for every message type, and nothing is sent; a message no installed profile
 * provides is NotImplemented. The message is sent even while registration is Pending: the central
 * system asked for it (spec 4.2.1), so it passes the gate.
 */
export function registerTriggerMessage(
  ctx: Pick<FeatureContext, 'rpc' | 'log'> & { station: Pick<Station, 'hasConnector'> },
  targets: ReadonlyMap<MessageTrigger, TriggerTarget>,
): void {
  ctx.rpc.handle('TriggerMessage', (req, call) => {
    const { connectorId, requestedMessage } = req;
    if (connectorId !== undefined && connectorId !== 0 && !ctx.station.hasConnector(connectorId)) {
      ctx.log.info({ requestedMessage, connectorId }, 'TriggerMessage for an unknown connector');
      return { status: 'Rejected' };
    }
    const send = targets.get(requestedMessage);
    if (!send) {
      ctx.log.info({ requestedMessage }, 'TriggerMessage for a message no installed profile sends');
      return { status: 'NotImplemented' };
    }
    call.afterAnswer(() => {
      send(connectorId).catch((error: Error) =>
        ctx.log.error({ requestedMessage, err: error.message }, 'triggered message failed'),
      );
    });
    return { status: 'Accepted' };
  });
}
