import type { Reservations } from '../../station/reservations.js';
import type { FeatureContext } from '../context.js';

/**
 * ReserveNow: the reservation service decides (connector state, ReserveConnectorZeroSupported,
 * replacement of a reservation with the same id) and persists before the answer leaves.
 */
export function registerReserveNow(ctx: FeatureContext, reservations: Reservations): void {
  ctx.rpc.handle('ReserveNow', (req) => ({ status: reservations.reserve(req) }));
}
