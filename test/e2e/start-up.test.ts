/**
 * What the daemon loads to start. The MQTT client library is most of the start-up's module time and
 * a few MB of resident memory: a charge point without `mqtt` in its configuration never loads it.
 */
import { describe, expect, it, vi } from 'vitest';
import { useHarness } from '../support/harness.js';

const loaded = vi.hoisted(() => ({ mqtt: 0 }));
vi.mock('mqtt', async (importOriginal) => {
  loaded.mqtt += 1;
  return importOriginal();
});

describe('start-up', () => {
  const start = useHarness();

  it('boots without the MQTT library when no broker is configured, and loads it when one is', async () => {
    const plain = await start();
    await plain.booted();
    expect(loaded.mqtt).toBe(0);
    await plain.stop();

    // Nothing listens there: the bridge keeps retrying on its own, and the charge point boots regardless.
    const bridged = await start({ config: () => ({ mqtt: { url: 'mqtt://127.0.0.1:9' } }) });
    await bridged.booted();
    expect(loaded.mqtt).toBe(1);
  });
});
