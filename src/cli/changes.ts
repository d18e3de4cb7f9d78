/**
 * The daemon's side of the live views (`cpctl status --watch`, `transactions --watch`): a feed that
 * tells a listener what the control API reports may read differently now, built from the events
 * of the modules whose state it reports.
 */

/** Subscribes a listener; the returned function ends the subscription. */
export type ChangeFeed = (listener: () => void) => () => void;

interface Emitter<E extends string> {
  on(event: E, listener: () => void): unknown;
  off(event: E, listener: () => void): unknown;
}

/** Any of `events` of `emitter` is a change. */
export function changesOf<E extends string>(emitter: Emitter<E>, events: readonly E[]): ChangeFeed {
  return (listener) => {
    for (const event of events) emitter.on(event, listener);
    return () => {
      for (const event of events) emitter.off(event, listener);
    };
  };
}

/** A change of any of the feeds. */
export function mergeFeeds(feeds: readonly ChangeFeed[]): ChangeFeed {
  return (listener) => {
    const ends = feeds.map((feed) => feed(listener));
    return () => {
      for (const end of ends) end();
    };
  };
}
