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

/**
 * `feed` shared by every listener: it is subscribed to once while anyone listens and left when the
 * last one goes, so a hundred live views cost each emitter one listener, not a hundred (and Node's
 * leak warning, past ten, stays quiet).
 */
export function sharedFeed(feed: ChangeFeed): ChangeFeed {
  const listeners = new Set<() => void>();
  let leave: (() => void) | undefined;
  const notify = (): void => {
    for (const listener of [...listeners]) listener();
  };
  return (listener) => {
    // Its own entry: the same function subscribed twice is two subscriptions.
    const entry = (): void => listener();
    listeners.add(entry);
    leave ??= feed(notify);
    return () => {
      if (!listeners.delete(entry) || listeners.size > 0) return;
      leave?.();
      leave = undefined;
    };
  };
}
