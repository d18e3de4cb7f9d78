/**
 * The bench's figures and how they are compared: quantiles of samples, medians over rounds, and
 * each comparable figure of ours against the floor's (and the durable floor's) as a ratio. Pure
 * functions, apart from any process or file, so they can be tested on their own.
 */

export interface Stats {
  p50: number;
  p99: number;
  max: number;
}

export const round3 = (n: number) => Math.round(n * 1000) / 1000;

export function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { p50: round3(at(0.5)), p99: round3(at(0.99)), max: round3(sorted.at(-1) ?? Number.NaN) };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const value = sorted.length % 2 === 1 ? sorted[mid] : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  return round3(value ?? Number.NaN);
}

/** The median of each quantile over the rounds. */
export function medianStats(rounds: Stats[]): Stats {
  return {
    p50: median(rounds.map((s) => s.p50)),
    p99: median(rounds.map((s) => s.p99)),
    max: median(rounds.map((s) => s.max)),
  };
}

export interface Comparable {
  coldStartToBootNotificationMs: number;
  /** CPU time of the charge point's main thread when its BootNotification arrived (cpuMs). */
  cpuToBootNotificationMs: number;
  rssAfterBootMb: number;
  /** The first session of a freshly booted charge point (after the bench's idle second). */
  firstRemoteStartToStartTransactionMs: number;
  firstRemoteStopToStopTransactionMs: number;
  getConfigurationOneKeyMs: Stats;
  changeConfigurationMs: Stats;
  triggerHeartbeatToHeartbeatReqMs: Stats;
  /**
   * The same two calls again once the sessions are done, every path warm (V8 has compiled what
   * they run): no target; beside the figures above, what of their excess is warm-up.
   */
  getConfigurationOneKeyWarmMs: Stats;
  triggerHeartbeatToHeartbeatReqWarmMs: Stats;
  remoteStartToStartTransactionMs: Stats;
  remoteStopToStopTransactionMs: Stats;
}

export interface Ratio {
  ours: number;
  floor: number;
  /** ours / floor */
  ratio: number;
  /**
   * For a figure whose path must commit to SQLite (synchronous=FULL) before it answers or sends:
   * the durable floor's figure (the floor committing what it must keep, as ours does), measured in
   * the same rounds by the same code, and ours / that. The bare floor keeps nothing, so no durable
   * charge point can come near its figure on a disk whose fsync takes longer than the whole exchange.
   */
  durableFloor?: number;
  ratioToDurableFloor?: number;
}

const round2 = (n: number) => Math.round(n * 100) / 100;

function ratio(ours: number, floor: number, durableFloor?: number): Ratio {
  const plain = { ours, floor, ratio: round2(ours / floor) };
  if (durableFloor === undefined) return plain;
  return { ...plain, durableFloor, ratioToDurableFloor: round2(ours / durableFloor) };
}

/**
 * Each comparable figure as the median over the rounds: ours, floor, ours / floor; for the figures
 * that must commit, also the durable floor's and ours / that.
 */
export function compare(
  ours: Comparable[],
  floor: Comparable[],
  durableFloor: Comparable[],
): Record<string, Ratio> {
  const num = (rounds: Comparable[], pick: (c: Comparable) => number) => median(rounds.map(pick));
  const scalar = (pick: (c: Comparable) => number, durable = false) =>
    ratio(num(ours, pick), num(floor, pick), durable ? num(durableFloor, pick) : undefined);
  const quantiles = (name: string, pick: (c: Comparable) => Stats, durable = false) => ({
    [`${name}P50Ms`]: scalar((c) => pick(c).p50, durable),
    [`${name}P99Ms`]: scalar((c) => pick(c).p99),
  });
  return {
    coldStartToBootNotificationMs: scalar((c) => c.coldStartToBootNotificationMs),
    cpuToBootNotificationMs: scalar((c) => c.cpuToBootNotificationMs),
    rssAfterBootMb: scalar((c) => c.rssAfterBootMb),
    ...quantiles('getConfigurationOneKey', (c) => c.getConfigurationOneKeyMs),
    ...quantiles('triggerHeartbeatToHeartbeatReq', (c) => c.triggerHeartbeatToHeartbeatReqMs),
    ...quantiles('changeConfiguration', (c) => c.changeConfigurationMs, true),
    ...quantiles('remoteStartToStartTransaction', (c) => c.remoteStartToStartTransactionMs, true),
    ...quantiles('remoteStopToStopTransaction', (c) => c.remoteStopToStopTransactionMs, true),
    firstRemoteStartToStartTransactionMs: scalar((c) => c.firstRemoteStartToStartTransactionMs, true),
    firstRemoteStopToStopTransactionMs: scalar((c) => c.firstRemoteStopToStopTransactionMs, true),
    ...quantiles('getConfigurationOneKeyWarm', (c) => c.getConfigurationOneKeyWarmMs),
    ...quantiles('triggerHeartbeatToHeartbeatReqWarm', (c) => c.triggerHeartbeatToHeartbeatReqWarmMs),
  };
}

/**
 * The comparison with a second run of each floor in ours' place: per figure, the floor's second
 * run / its first, or for a figure that must commit the durable floor's second run / its first.
 * Both sides run the same code, so these ratios are what this run's noise alone makes of a ratio.
 */
export function floorAgainstItself(
  floorAgain: Comparable[],
  durableFloorAgain: Comparable[],
  floor: Comparable[],
  durableFloor: Comparable[],
): Record<string, number> {
  const bare = compare(floorAgain, floor, durableFloor);
  const durable = compare(durableFloorAgain, floor, durableFloor);
  return Object.fromEntries(
    Object.entries(bare).map(([name, r]) => [name, durable[name]?.ratioToDurableFloor ?? r.ratio]),
  );
}
