import type { FeatureContext } from '../context.js';

/** ChangeAvailability for one connector or (connector 0) the whole charge point; persisted. */
export function registerChangeAvailability(ctx: FeatureContext): void {
  ctx.rpc.handle('ChangeAvailability', (req) => {
    if (req.connectorId !== 0 && !ctx.station.hasConnector(req.connectorId)) {
      ctx.log.info({ connectorId: req.connectorId }, 'ChangeAvailability for an unknown connector');
      return { status: 'Rejected' };
    }
    return { status: ctx.station.changeAvailability(req.connectorId, req.type) };
  });
}
