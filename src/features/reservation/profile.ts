import type { Profile } from '../profile.js';
import { registerCancelReservation } from './cancel-reservation.js';
import { registerReserveNow } from './reserve-now.js';

/** Reservation (spec 3.3): ReserveNow and CancelReservation over the station's reservations. */
export const reservationProfile: Profile = {
  name: 'Reservation',
  capabilities: ['reservation'],
  install(ctx, { reservations }) {
    registerReserveNow(ctx, reservations);
    registerCancelReservation(ctx, reservations);
    return {};
  },
};
