import type { SetChargingProfileRequest } from '../../ocpp/generated/messages.js';
import type { ChargingProfile, ChargingSchedule } from '../../station/charging-profile-types.js';

/** csChargingProfiles of SetChargingProfile; RemoteStartTransaction's chargingProfile is the same type. */
export type ChargingProfileFrame = SetChargingProfileRequest['csChargingProfiles'];
type ChargingScheduleFrame = ChargingProfileFrame['chargingSchedule'];

/** The one translation of an OCPP charging profile into the station's: times as epoch ms. */
export function profileFromFrame(frame: ChargingProfileFrame, connectorId: number): ChargingProfile {
  return {
    id: frame.chargingProfileId,
    connectorId,
    stackLevel: frame.stackLevel,
    purpose: frame.chargingProfilePurpose,
    kind: frame.chargingProfileKind,
    ...(frame.recurrencyKind ? { recurrency: frame.recurrencyKind } : {}),
    ...(frame.validFrom ? { validFrom: Date.parse(frame.validFrom) } : {}),
    ...(frame.validTo ? { validTo: Date.parse(frame.validTo) } : {}),
    ...(frame.transactionId === undefined ? {} : { transactionId: frame.transactionId }),
    schedule: scheduleFromFrame(frame.chargingSchedule),
  };
}

function scheduleFromFrame(frame: ChargingScheduleFrame): ChargingSchedule {
  return {
    ...(frame.startSchedule ? { startSchedule: Date.parse(frame.startSchedule) } : {}),
    ...(frame.duration === undefined ? {} : { duration: frame.duration }),
    unit: frame.chargingRateUnit,
    ...(frame.minChargingRate === undefined ? {} : { minChargingRate: frame.minChargingRate }),
    periods: frame.chargingSchedulePeriod.map((period) => ({
      startPeriod: period.startPeriod,
      limit: period.limit,
      ...(period.numberPhases === undefined ? {} : { numberPhases: period.numberPhases }),
    })),
  };
}
