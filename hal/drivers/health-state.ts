import type { DeviceHealth } from '../types.js';
import { HEALTHY } from '../types.js';

/** Holds a device's health and announces only real changes (the 'health' event contract). */
export class HealthState {
  private current: DeviceHealth = HEALTHY;

  constructor(private readonly onChange: (health: DeviceHealth) => void) {}

  get(): DeviceHealth {
    return this.current;
  }

  set(next: DeviceHealth): void {
    const key = (h: DeviceHealth): string => (h.ok ? 'ok' : `${h.fault}:${h.info ?? ''}`);
    if (key(next) === key(this.current)) return;
    this.current = next;
    this.onChange(next);
  }
}
