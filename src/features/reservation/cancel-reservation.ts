import type { Reservations } from '../../station/reservations.js';
import type { FeatureContext } from '../context.js';

/** CancelReservation: Accepted when a reservation with that id is in force, which then ends. */
export function registerCancelReservation(ctx: FeatureContext, reservations: Reservations): void {
  ctx.rpc.handle('CancelReservation', (req) => ({ status: reservations.cancel(req.reservationId) }));
}
