/**
 * The bench's reading of its own noise (`floorAgainstItself`): each floor's second run is held
 * against its first exactly as ours is held against them, so a figure that must commit is read
 * against the durable floor and every other against the bare floor.
 */
import { describe, expect, it } from 'vitest';
import { type Comparable, floorAgainstItself, type Stats } from '../../scripts/bench-figures.js';

function stats(p50: number): Stats {
  return { p50, p99: p50 * 4, max: p50 * 8 };
}

/** One round of a charge point whose every latency is `ms`. */
function round(ms: number): Comparable {
  return {
    coldStartToBootNotificationMs: ms * 1000,
    cpuToBootNotificationMs: ms * 900,
    rssAfterBootMb: 50,
    firstRemoteStartToStartTransactionMs: ms * 10,
    firstRemoteStopToStopTransactionMs: ms * 5,
    getConfigurationOneKeyMs: stats(ms),
    changeConfigurationMs: stats(ms),
    triggerHeartbeatToHeartbeatReqMs: stats(ms),
    getConfigurationOneKeyWarmMs: stats(ms),
    triggerHeartbeatToHeartbeatReqWarmMs: stats(ms),
    remoteStartToStartTransactionMs: stats(ms),
    remoteStopToStopTransactionMs: stats(ms),
  };
}

describe('floorAgainstItself', () => {
  const floor = [round(0.1), round(0.1), round(0.1)];
  const durableFloor = [round(0.5), round(0.5), round(0.5)];
  // The second runs: the bare floor 1.2x its first (medians), the durable floor 0.9x.
  const floorAgain = [round(0.12), round(0.3), round(0.11)];
  const durableFloorAgain = [round(0.45), round(0.45), round(2)];
  const band = floorAgainstItself(floorAgain, durableFloorAgain, floor, durableFloor);

  it('reads the figures that keep nothing as the bare floor again / the bare floor', () => {
    expect(band.getConfigurationOneKeyP50Ms).toBe(1.2);
    expect(band.triggerHeartbeatToHeartbeatReqP50Ms).toBe(1.2);
    expect(band.coldStartToBootNotificationMs).toBe(1.2);
    expect(band.rssAfterBootMb).toBe(1);
  });

  it('reads the figures that must commit as the durable floor again / the durable floor', () => {
    expect(band.changeConfigurationP50Ms).toBe(0.9);
    expect(band.remoteStartToStartTransactionP50Ms).toBe(0.9);
    expect(band.remoteStopToStopTransactionP50Ms).toBe(0.9);
    expect(band.firstRemoteStopToStopTransactionMs).toBe(0.9);
    // Their p99s have no durable target: bare floor again / bare floor, like ours'.
    expect(band.remoteStopToStopTransactionP99Ms).toBe(1.2);
  });

  it('has a ratio for every figure the comparison with ours has', () => {
    expect(Object.keys(band)).toContain('getConfigurationOneKeyWarmP50Ms');
    expect(Object.values(band).every((ratio) => Number.isFinite(ratio))).toBe(true);
  });
});
