import type { ConnectorLock } from '../../hal/types.js';

/**
 * Every unlock of `lock` with its outcome, in order; `released` resolves at the first that
 * succeeds. `onUnlocked` runs at each successful one (a test recording the order of events).
 */
export function watchUnlocks(
  lock: ConnectorLock,
  onUnlocked: () => void = () => {},
): { unlocks: boolean[]; released: Promise<void> } {
  const unlockIt = lock.unlock.bind(lock);
  const unlocks: boolean[] = [];
  const released = new Promise<void>((resolve) => {
    lock.unlock = async () => {
      const unlocked = await unlockIt();
      unlocks.push(unlocked);
      if (unlocked) {
        onUnlocked();
        resolve();
      }
      return unlocked;
    };
  });
  return { unlocks, released };
}
