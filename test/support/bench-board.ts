/**
 * The bench the hardware-board tests wire up: a Raspberry Pi 4 GPIO controller on a fake sysfs
 * tree, and board files of one connector on its lines.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const CHIP = 'pinctrl-bcm2711';
/** Kernels >= 6.6 number the Raspberry Pi 4 controller from 512. */
export const BASE = 512;
export const RELAY = 17;
export const CONNECTED = 22;
export const READY = 23;
export const LOCK = 5;

export const line = (offset: number) => ({ chip: CHIP, offset });

/** The GPIO pilot on the bench's connected and ready lines. */
export const GPIO_PILOT = {
  driver: 'gpio',
  connected: { line: line(CONNECTED) },
  ready: { line: line(READY) },
};

export interface BenchBoard {
  name: string;
  sysfsRoot: string;
  /** Connector 1's devices besides its id, 16 A and 3 phases. */
  devices: Record<string, unknown>;
  readers?: unknown[];
  /** Board-level fault inputs (emergency stop, tamper). */
  faultInputs?: unknown[];
}

/** Writes `<dir>/board.json`, a hardware board of one connector; returns its path. */
export function writeBenchBoard(dir: string, board: BenchBoard): string {
  const file = join(dir, 'board.json');
  const { name, sysfsRoot, devices, readers, faultInputs } = board;
  const connector = { id: 1, maxCurrentA: 16, phases: 3, ...devices };
  writeFileSync(
    file,
    JSON.stringify({
      name,
      kind: 'hardware',
      sysfsRoot,
      connectors: [connector],
      ...(readers ? { readers } : {}),
      ...(faultInputs ? { faultInputs } : {}),
    }),
  );
  return file;
}
