import type { MeterReading } from '../../../hal/types.js';
import type { MeterValuesRequest } from '../../ocpp/generated/messages.js';

export type SampledValue = MeterValuesRequest['meterValue'][number]['sampledValue'][number];
export type ReadingContext = NonNullable<SampledValue['context']>;
type Phase = NonNullable<SampledValue['phase']>;

const PHASES: readonly Phase[] = ['L1', 'L2', 'L3'];
const PHASE_TO_NEUTRAL: readonly Phase[] = ['L1-N', 'L2-N', 'L3-N'];

/** One configured item, e.g. "Voltage" or "Current.Import.L2": the measurand and an optional phase. */
function parseItem(item: string): { measurand: string; phase?: string } {
  const m = /^(.*)\.(L1|L2|L3|N|L1-N|L2-N|L3-N|L1-L2|L2-L3|L3-L1)$/.exec(item);
  return m?.[1] && m[2] ? { measurand: m[1], phase: m[2] } : { measurand: item };
}

/**
 * The sampled values a measurand key (MeterValuesSampledData, StopTxnAlignedData, ...) asks for:
 * an empty list asks for none, so nothing is reported or kept for it.
 */
export function configuredValues(
  reading: MeterReading,
  measurands: readonly string[],
  context: ReadingContext,
): SampledValue[] {
  return measurands.length === 0 ? [] : sampledValues(reading, measurands, context);
}

/**
 * Turns a meter reading into OCPP sampled values for the configured measurands the meter
 * supplies (others are skipped, never reported as zero). Per-phase quantities are reported per
 * phase unless the item names one phase. An empty list means the energy register (what a
 * triggered MeterValues reports); scheduled readings go through `configuredValues`.
 */
export function sampledValues(
  reading: MeterReading,
  measurands: readonly string[],
  context: ReadingContext,
): SampledValue[] {
  const wanted = measurands.length > 0 ? measurands : ['Energy.Active.Import.Register'];
  const values: SampledValue[] = [];
  const push = (measurand: string, value: number, unit: SampledValue['unit'] | undefined, phase?: Phase) =>
    values.push({
      value: String(Math.round(value * 1000) / 1000),
      context,
      format: 'Raw',
      measurand: measurand as SampledValue['measurand'],
      location: 'Outlet',
      ...(unit ? { unit } : {}),
      ...(phase ? { phase } : {}),
    });
  const perPhase = (
    measurand: string,
    list: number[] | undefined,
    unit: SampledValue['unit'] | undefined,
    names: readonly Phase[],
    only?: string,
  ) => {
    list?.forEach((v, i) => {
      const phase = list.length > 1 ? names[i] : undefined;
      if (only === undefined || only === phase) push(measurand, v, unit, phase);
    });
  };
  for (const item of wanted) {
    const { measurand, phase } = parseItem(item);
    switch (measurand) {
      case 'Energy.Active.Import.Register':
        push(measurand, reading.energyImportWh, 'Wh');
        break;
      case 'Energy.Active.Export.Register':
        if (reading.energyExportWh !== undefined) push(measurand, reading.energyExportWh, 'Wh');
        break;
      case 'Power.Active.Import':
        if (reading.powerW !== undefined) push(measurand, reading.powerW, 'W');
        break;
      case 'Current.Import':
        perPhase(measurand, reading.currentA, 'A', PHASES, phase);
        break;
      case 'Voltage':
        perPhase(measurand, reading.voltageV, 'V', PHASE_TO_NEUTRAL, phase);
        break;
      case 'Frequency':
        if (reading.frequencyHz !== undefined)
          // OCPP has no unit for hertz: the measurand implies it.
          push(measurand, reading.frequencyHz, undefined);
        break;
      case 'SoC':
        if (reading.socPercent !== undefined) push(measurand, reading.socPercent, 'Percent');
        break;
      case 'Temperature':
        if (reading.temperatureC !== undefined) push(measurand, reading.temperatureC, 'Celsius');
        break;
    }
  }
  return values;
}
