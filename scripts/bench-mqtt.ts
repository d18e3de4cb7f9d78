/**
 * MQTT figure: how long a connector state change takes to reach a local app over the broker. The
 * main bench starts a broker (`Mosquitto.start()` from test/support/mosquitto.ts) and a daemon whose
 * configuration has `mqtt.url` set to it, then calls benchMqttPublish with the daemon's control socket.
 */
import { request } from '../src/cli/client.js';
import { MqttWatcher } from '../test/support/mosquitto.js';

export interface MqttBenchOptions {
  /** The broker the daemon publishes to, e.g. mqtt://127.0.0.1:1883. */
  brokerUrl: string;
  /** The daemon's control socket (cli.socket), to act out the cable through sim.plug / sim.unplug. */
  socket: string;
  /** The daemon's topic prefix, e.g. `chargepoint/CP-BENCH-01/`. */
  prefix: string;
  /** An idle connector of the simulated board, unplugged; left unplugged. */
  connectorId?: number;
  /** Plugs and unplugs measured; rounded up to an even number. */
  rounds?: number;
}

export interface MqttBenchFigures {
  /** From the sim.plug / sim.unplug request to the subscriber holding the new connector state. */
  mqttStatePublishP50Ms: number;
  mqttStatePublishP99Ms: number;
  rounds: number;
}

export async function benchMqttPublish(options: MqttBenchOptions): Promise<MqttBenchFigures> {
  const connectorId = options.connectorId ?? 1;
  const rounds = Math.ceil((options.rounds ?? 200) / 2) * 2;
  const topic = `${options.prefix}connector/${connectorId}/state`;
  const watcher = await MqttWatcher.connect(options.brokerUrl, topic);
  const status = (wanted: string) => (m: { json: unknown }) =>
    (m.json as { status?: string } | undefined)?.status === wanted;
  try {
    await watcher.waitFor(status('Available'), `${topic} Available (the connector must be idle)`);
    const samples: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const plug = i % 2 === 0;
      const since = watcher.mark();
      const started = performance.now();
      const seen = watcher.waitFor(status(plug ? 'Preparing' : 'Available'), topic, since);
      await request(options.socket, plug ? 'sim.plug' : 'sim.unplug', { connectorId });
      await seen;
      samples.push(performance.now() - started);
    }
    samples.sort((a, b) => a - b);
    const at = (q: number) =>
      Math.round((samples[Math.min(rounds - 1, Math.floor(q * rounds))] ?? 0) * 1000) / 1000;
    return { mqttStatePublishP50Ms: at(0.5), mqttStatePublishP99Ms: at(0.99), rounds };
  } finally {
    await watcher.close();
  }
}
