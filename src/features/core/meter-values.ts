import type { MeterReading } from '../../../hal/types.js';
import type { MeterValuesRequest } from '../../ocpp/generated/messages.js';

type SampledValue = MeterValuesRequest['meterValue'][number]['sampledValue'][number];
type ReadingContext = NonNullable<SampledValue['context']>;

/** Turns a meter reading into OCPP sampled values for the configured measurands the meter supplies. */
export function sampledValues(
  reading: MeterReading,
  measurands: readonly string[],
  context: ReadingContext,
): SampledValue[] {
  const wanted = measurands.length > 0 ? measurands : ['Energy.Active.Import.Register'];
  const values: SampledValue[] = [];
  for (const measurand of wanted) {
    if (measurand === 'Energy.Active.Import.Register') {
      values.push({
        value: String(reading.energyImportWh),
        context,
        measurand,
        location: 'Outlet',
        unit: 'Wh',
      });
    } else if (measurand === 'Power.Active.Import' && reading.powerW !== undefined) {
      values.push({ value: String(reading.powerW), context, measurand, location: 'Outlet', unit: 'W' });
    }
  }
  return values;
}
