import type { ConfigurationRegistry } from '../../config/registry.js';
import type { Logger } from '../../log.js';
import { checkProfileScheme, type Link, type SecurityProfile } from '../../ocpp/link.js';
import type { RpcEndpoint } from '../../ocpp/rpc.js';
import { TRIAL_ATTEMPTS, watchConnectionTrial } from './connection-trial.js';

export interface SecurityProfileOptions {
  config: ConfigurationRegistry;
  link: Link;
  /** A change made by ChangeConfiguration reconnects only after its answer has left. */
  rpc: Pick<RpcEndpoint, 'afterAnswer'>;
  log: Logger;
  /** Central-system URL for a profile (its scheme must suit it), and the certificate files installed. */
  urlFor: (profile: SecurityProfile) => string;
  /** Whether a valid central-system root is installed (the certificate store, provisioned roots included). */
  centralSystemRootInstalled: () => boolean;
  /** Why the charge point has no valid certificate and key to authenticate with (profile 3), if it has none. */
  chargePointCertificateProblem: () => string | undefined;
}

/**
 * Raising SecurityProfile (white paper A05): only to a profile whose prerequisites are installed
 * (for 3 a charge point certificate valid now, A05.FR.04),
 * then reconnect with it. If the central system will not take the new profile, go back to the
 * previous one rather than stay unreachable; once connected with the new one, it stays.
 * A new AuthorizationKey on profiles 1-2 also means reconnecting with it (A01).
 */
export class SecurityProfileSwitch {
  /** The profile to go back to while the raised one has not connected yet. */
  private previous: string | undefined;
  private reverting = false;

  constructor(private readonly opts: SecurityProfileOptions) {
    const { config, link, rpc } = opts;
    config.guard('SecurityProfile', (value) => this.prerequisiteMissing(Number(value) as SecurityProfile));
    config.onChange('SecurityProfile', (value, previous) => this.onProfileChanged(value, previous));
    config.onChange('AuthorizationKey', () => {
      const profile = config.getInt('SecurityProfile');
      if (profile === 1 || profile === 2) rpc.afterAnswer(() => link.reconnect('AuthorizationKey changed'));
    });
    watchConnectionTrial(link, {
      onTrial: () => this.previous !== undefined,
      confirm: () => this.onConnected(),
      giveUp: () => this.fallBack(),
    });
  }

  private prerequisiteMissing(next: SecurityProfile): string | undefined {
    const { config, centralSystemRootInstalled, chargePointCertificateProblem, urlFor } = this.opts;
    if ((next === 1 || next === 2) && !config.get('AuthorizationKey')) return 'AuthorizationKey is not set';
    if (next >= 2 && !centralSystemRootInstalled()) return 'no central-system root certificate installed';
    const certificateProblem = next === 3 ? chargePointCertificateProblem() : undefined;
    if (certificateProblem) return certificateProblem;
    return checkProfileScheme(urlFor(next), next);
  }

  private onProfileChanged(value: string, previous: string | undefined): void {
    if (this.reverting) return;
    this.opts.log.warn({ securityProfile: value, previous }, 'security profile raised; reconnecting with it');
    this.previous = previous;
    this.opts.rpc.afterAnswer(() => this.opts.link.reconnect('SecurityProfile changed'));
  }

  private onConnected(): void {
    this.opts.log.info(
      { securityProfile: this.opts.config.get('SecurityProfile') },
      'connected with the new security profile',
    );
    this.previous = undefined;
  }

  private fallBack(): void {
    const { previous } = this;
    if (previous === undefined) return;
    this.previous = undefined;
    this.opts.log.error(
      {
        securityProfile: this.opts.config.get('SecurityProfile'),
        fallback: previous,
        attempts: TRIAL_ATTEMPTS,
      },
      'cannot connect with the new security profile; falling back to the previous one',
    );
    this.reverting = true;
    try {
      this.opts.config.change('SecurityProfile', previous, 'runtime');
    } finally {
      this.reverting = false;
    }
    this.opts.link.reconnect('security profile fallback');
  }
}
