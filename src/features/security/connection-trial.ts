/** Failed connection attempts in a row before what is on trial is given up. */
export const TRIAL_ATTEMPTS = 3;

/** The link's connection outcomes (Link emits them). */
export interface ConnectionOutcomes {
  on(event: 'open' | 'connectFailed', listener: () => void): unknown;
}

export interface ConnectionTrial {
  /** Whether something is on trial now (a raised security profile, a new client certificate). */
  onTrial(): boolean;
  /** A connection opened with it: it stays. */
  confirm(): void;
  /** TRIAL_ATTEMPTS attempts in a row failed with it: go back to what worked. */
  giveUp(): void;
}

/**
 * The one rule for trying a new way of connecting (white paper A05 for the profile, A02.FR.08-10
 * for the certificate): the next connection that opens confirms it, and the central system refusing
 * it TRIAL_ATTEMPTS times in a row gives it up rather than leave the charger unreachable.
 */
export function watchConnectionTrial(link: ConnectionOutcomes, trial: ConnectionTrial): void {
  let failures = 0;
  link.on('open', () => {
    failures = 0;
    if (trial.onTrial()) trial.confirm();
  });
  link.on('connectFailed', () => {
    if (!trial.onTrial()) return;
    failures += 1;
    if (failures < TRIAL_ATTEMPTS) return;
    failures = 0;
    trial.giveUp();
  });
}
