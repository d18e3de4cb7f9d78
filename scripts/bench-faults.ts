/**
 * Figures of the daemon under a central system that fails it, on a central system of their own
 * (not the main bench's: its rules are changed while it runs):
 * - a card on the local list (LocalPreAuthorize) swiped while the central system is a black hole
 *   (the WebSocket open, no CALL answered): from `sim.swipe` on the control socket to the
 *   contactor closed, as the control socket's `status` reports the relay;
 * - a graceful stop (SIGTERM to exit) during a transaction while the central system answers
 *   nothing, and while it does not even read the connection (its close frame included).
 */
import { join } from 'node:path';
import type { ConnectorReport } from '../src/cli/api.js';
import { request } from '../src/cli/client.js';
import { STOP_BUDGET_MS } from '../src/runtime.js';
import { DevCsms } from '../test/csms/server.js';
import { CP, spawnDaemon, statusesDone, stopProcess } from './bench-compare.js';
import { type Stats, stats } from './bench-figures.js';

const CONNECTOR = 1;
const LISTED_TAG = 'BENCHLOCAL';
const SWIPES = 10;
const STOP_ROUNDS = 3;
const CONDITION_TIMEOUT_MS = 10_000;

export const FAULT_FIGURES = [
  'localListStartBlackHoleMs',
  'gracefulStopSilentCsmsMs',
  'gracefulStopUnreadingCsmsMs',
] as const;

export type FaultFigures = Record<(typeof FAULT_FIGURES)[number], Stats>;

/** How long the link waits for the close handshake before it drops the socket (src/ocpp/link.ts). */
const SOCKET_CLOSE_MS = 1000;
/** For the process to act on the signal and exit once the runtime has stopped. */
const EXIT_ALLOWANCE_MS = 500;

/**
 * The README's targets for each figure's max. Issue 9: a listed card charges within a second of a
 * black hole. A stop waits at most STOP_BUDGET_MS for the central system in all, and for the
 * socket's close, which a central system that still reads answers at once, SOCKET_CLOSE_MS more.
 */
export const FAULT_TARGETS_MS: Record<keyof FaultFigures, number> = {
  localListStartBlackHoleMs: 1000,
  gracefulStopSilentCsmsMs: STOP_BUDGET_MS + EXIT_ALLOWANCE_MS,
  gracefulStopUnreadingCsmsMs: STOP_BUDGET_MS + SOCKET_CLOSE_MS + EXIT_ALLOWANCE_MS,
};

async function connector(socket: string): Promise<ConnectorReport> {
  const { connectors } = await request(socket, 'status', {});
  const found = connectors.find((c) => c.id === CONNECTOR);
  if (!found) throw new Error(`the daemon reports no connector ${CONNECTOR}`);
  return found;
}

/**
 * Asks the control socket, back to back, until the connector is as `wanted` says: what the
 * station did, whatever reached the central system. One look costs about a millisecond.
 */
async function until(socket: string, what: string, wanted: (c: ConnectorReport) => boolean): Promise<void> {
  const deadline = performance.now() + CONDITION_TIMEOUT_MS;
  while (!wanted(await connector(socket))) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${CONDITION_TIMEOUT_MS} ms`);
  }
}

async function plugged(socket: string): Promise<void> {
  await request(socket, 'sim.plug', { connectorId: CONNECTOR });
  await until(socket, 'Preparing after the plug', (c) => c.status === 'Preparing');
}

/** Swipes of a listed card while no CALL is answered, each on a freshly plugged connector. */
async function localListStartBlackHole(csms: DevCsms, url: string, stateDir: string): Promise<Stats> {
  const socket = join(stateDir, 'cpctl.sock');
  csms.clearFrames();
  const child = spawnDaemon(url, stateDir, { ocpp: { LocalAuthListEnabled: true, LocalPreAuthorize: true } });
  try {
    await statusesDone(csms);
    const list = await csms.call<{ status: string }>(CP, 'SendLocalList', {
      listVersion: 1,
      updateType: 'Full',
      localAuthorizationList: [{ idTag: LISTED_TAG, idTagInfo: { status: 'Accepted' } }],
    });
    if (list.status !== 'Accepted') throw new Error(`SendLocalList: ${list.status}`);
    csms.rules.onCall = () => 'ignore';
    const samples: number[] = [];
    for (let i = 0; i < SWIPES; i++) {
      await plugged(socket);
      const swiped = performance.now();
      await request(socket, 'sim.swipe', { idTag: LISTED_TAG });
      await until(socket, 'the contactor to close after the swipe', (c) => c.relay.closed);
      samples.push(performance.now() - swiped);
      // The cable out ends the session; the unanswered messages stay queued behind.
      await request(socket, 'sim.unplug', { connectorId: CONNECTOR });
      await until(socket, 'Available after the unplug', (c) => c.status === 'Available' && !c.relay.closed);
    }
    return stats(samples);
  } finally {
    csms.rules.onCall = undefined;
    await stopProcess(child);
  }
}

/**
 * SIGTERM to exit while a remote-started transaction runs and the central system answers
 * nothing (`unreading`: nor reads the socket, so the StopTransaction and the close frame go
 * unread too). The daemon must exit 0.
 */
async function gracefulStop(
  csms: DevCsms,
  url: string,
  stateDir: string,
  unreading: boolean,
): Promise<number> {
  const socket = join(stateDir, 'cpctl.sock');
  csms.clearFrames();
  const child = spawnDaemon(url, stateDir);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await statusesDone(csms);
    await plugged(socket);
    const mark = csms.mark();
    const started = csms.waitForCall(CP, 'StartTransaction', { since: mark });
    await csms.call(CP, 'RemoteStartTransaction', { connectorId: CONNECTOR, idTag: 'BENCHSTOP' });
    const start = await started;
    await csms.waitForFrame(
      CP,
      (f) => f.direction === 'out' && f.message?.type === 'result' && f.message.id === start.id,
      { since: mark },
    );
    await until(socket, 'the contactor to close after the remote start', (c) => c.relay.closed);
    csms.rules.onCall = () => 'ignore';
    if (unreading) csms.stopReading(CP);
    const signalled = performance.now();
    child.kill('SIGTERM');
    const code = await exited;
    const stopMs = performance.now() - signalled;
    if (code !== 0) throw new Error(`the daemon exited with ${code} after SIGTERM, not 0`);
    return stopMs;
  } finally {
    csms.rules.onCall = undefined;
    await stopProcess(child);
  }
}

export async function benchUnderFaults(dir: string): Promise<FaultFigures> {
  const csms = new DevCsms({ rules: { boot: { status: 'Accepted', interval: 3600 } } });
  const { url } = await csms.start();
  try {
    const localListStartBlackHoleMs = await localListStartBlackHole(csms, url, join(dir, 'black-hole'));
    const silent: number[] = [];
    const unreading: number[] = [];
    for (let r = 0; r < STOP_ROUNDS; r++) {
      silent.push(await gracefulStop(csms, url, join(dir, `stop-silent-${r}`), false));
      unreading.push(await gracefulStop(csms, url, join(dir, `stop-unreading-${r}`), true));
    }
    return {
      localListStartBlackHoleMs,
      gracefulStopSilentCsmsMs: stats(silent),
      gracefulStopUnreadingCsmsMs: stats(unreading),
    };
  } finally {
    await csms.stop();
  }
}
