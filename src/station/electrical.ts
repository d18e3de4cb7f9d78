import type { ConnectorDevices } from '../../hal/types.js';
import type { ConnectorElectrical } from './charging-profile-types.js';

/** IEC 60038 nominal phase voltage: what A and W convert with when the board file does not say. */
export const DEFAULT_NOMINAL_VOLTAGE_V = 230;

/** The electrical facts of an outlet that smart charging converts and limits with. */
export function electricalOf(devices: ConnectorDevices): ConnectorElectrical {
  return {
    maxCurrentA: devices.maxCurrentA,
    phases: devices.phases,
    voltageV: devices.nominalVoltageV ?? DEFAULT_NOMINAL_VOLTAGE_V,
  };
}
