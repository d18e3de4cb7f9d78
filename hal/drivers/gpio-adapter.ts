/**
 * The only module that touches onoff. Deliberately raw (no active-low, no debounce) so every
 * decision lives in gpio-devices.ts, where tests reach it through a fake GpioLineFactory.
 */
import { Gpio } from 'onoff';

/** One exported sysfs GPIO line, at its raw electrical level. */
export interface GpioLine {
  read(): 0 | 1;
  write(v: 0 | 1): void;
  /** `onError` receives failures of the interrupt poller, which otherwise have nowhere to go. */
  watch(cb: (v: 0 | 1) => void, onError: (err: Error) => void): void;
  unwatchAll(): void;
  close(): void;
}

/**
 * 'high' and 'low' open an output already at that raw level: sysfs sets direction and value in
 * one write, so an active-low output is never driven active while it is being configured.
 */
export type GpioDirection = 'in' | 'high' | 'low';

export type GpioLineFactory = (
  sysfsNumber: number,
  direction: GpioDirection,
  edge: 'none' | 'both',
) => GpioLine;

export const onoffLineFactory: GpioLineFactory = (sysfsNumber, direction, edge) => {
  const gpio = new Gpio(sysfsNumber, direction, edge);
  return {
    read: () => gpio.readSync(),
    write: (v) => gpio.writeSync(v),
    watch: (cb, onError) => gpio.watch((err, value) => (err ? onError(err) : cb(value))),
    unwatchAll: () => gpio.unwatchAll(),
    close: () => gpio.unexport(),
  };
};
