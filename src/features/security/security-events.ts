import type { Clock, Timer } from '../../clock.js';
import type { Logger } from '../../log.js';
import type { SecurityEventNotificationRequest } from '../../ocpp/generated/messages.js';
import type { Outbox, OutboxEntry } from '../../ocpp/outbox.js';
import type { StoreHealth } from '../../store/health.js';
import type { SecurityLogEntry, SecurityLogRepo } from '../../store/security-log-repo.js';

/**
 * The security events of the white paper "Improved security for OCPP 1.6-J" (section 8), with the
 * spelling of Edition 2 and of most implementations for the two authentication events.
 */
export type SecurityEventType =
  | 'FirmwareUpdated'
  | 'FailedToAuthenticateAtCentralSystem'
  | 'CentralSystemFailedToAuthenticate'
  | 'SettingSystemTime'
  | 'StartupOfTheDevice'
  | 'ResetOrReboot'
  | 'SecurityLogWasCleared'
  | 'ReconfigurationOfSecurityParameters'
  | 'MemoryExhaustion'
  | 'InvalidMessages'
  | 'AttemptedReplayAttacks'
  | 'TamperDetectionActivated'
  | 'InvalidFirmwareSignature'
  | 'InvalidFirmwareSigningCertificate'
  | 'InvalidCentralSystemCertificate'
  | 'InvalidChargePointCertificate'
  | 'InvalidTLSVersion'
  | 'InvalidTLSCipherSuite';

/** The white paper's "critical" column: these must reach the central system whatever happens. */
export const CRITICAL: Readonly<Record<SecurityEventType, boolean>> = {
  FirmwareUpdated: true,
  FailedToAuthenticateAtCentralSystem: false,
  CentralSystemFailedToAuthenticate: false,
  SettingSystemTime: true,
  StartupOfTheDevice: true,
  ResetOrReboot: true,
  SecurityLogWasCleared: true,
  ReconfigurationOfSecurityParameters: false,
  MemoryExhaustion: true,
  InvalidMessages: false,
  AttemptedReplayAttacks: false,
  TamperDetectionActivated: true,
  InvalidFirmwareSignature: false,
  InvalidFirmwareSigningCertificate: false,
  InvalidCentralSystemCertificate: false,
  InvalidChargePointCertificate: false,
  InvalidTLSVersion: false,
  InvalidTLSCipherSuite: false,
};

export function isSecurityEventType(type: string): type is SecurityEventType {
  return Object.hasOwn(CRITICAL, type);
}

/** SecurityEventNotification.req techInfo is CiString255. */
export const TECH_INFO_MAX = 255;

/** The window of the events a central system can cause with its frames. */
export const RATE_WINDOW_MS = 60_000;
/**
 * The window of the connection failures. They come once per reconnect attempt, and the backoff
 * spaces attempts by up to `csms.reconnect.maxSeconds` (default 120 s): a minute would let every
 * attempt of a days-long outage through. An hour keeps such an outage to about one row an hour
 * per type, so it cannot roll the 10,000-row log over in a year.
 */
export const CONNECTION_FAILURE_WINDOW_MS = 3_600_000;

/**
 * Events that can come in floods, and their window: at most one of each type per window is
 * recorded, the first at once; the rest are counted and recorded together when the window ends,
 * so neither a hostile central system (its frames) nor an unreachable one (each reconnect attempt,
 * its certificate refused again) can roll the log over or fill the queue. A refused InstallCertificate
 * is not counted here (`raiseForCall`).
 */
export const RATE_LIMITS: Readonly<Partial<Record<SecurityEventType, number>>> = {
  InvalidMessages: RATE_WINDOW_MS,
  AttemptedReplayAttacks: RATE_WINDOW_MS,
  FailedToAuthenticateAtCentralSystem: CONNECTION_FAILURE_WINDOW_MS,
  CentralSystemFailedToAuthenticate: CONNECTION_FAILURE_WINDOW_MS,
  InvalidCentralSystemCertificate: CONNECTION_FAILURE_WINDOW_MS,
  InvalidTLSVersion: CONNECTION_FAILURE_WINDOW_MS,
  InvalidTLSCipherSuite: CONNECTION_FAILURE_WINDOW_MS,
};

export interface SecurityEventsOptions {
  repo: SecurityLogRepo;
  outbox: Pick<Outbox, 'enqueue' | 'on'>;
  /** OCPP time: the event's timestamp. */
  time: { iso(): string };
  clock: Clock;
  /** The store's health: a write the disk refuses is reported there, never thrown at the detector. */
  writes: Pick<StoreHealth, 'attempt'>;
  log: Logger;
  /** Values that must never appear in a techInfo (the AuthorizationKey), read at each event. */
  secrets?: () => readonly (string | undefined)[];
  /**
   * A critical event the disk refused to record (a full disk is itself MemoryExhaustion): it cannot
   * wait in the queue, so it goes now, unqueued, when the charge point is online.
   */
  sendUnrecorded?: (notification: SecurityEventNotificationRequest) => void;
}

/**
 * Whether a non-critical event's notification is queued: `always`, or only when none of its type
 * still waits (`unless-waiting`; a critical one is always queued).
 */
type Queueing = 'always' | 'unless-waiting';

interface Window {
  timer: Timer;
  lengthMs: number;
  suppressed: number;
  lastTechInfo?: string;
}

/**
 * Security events (white paper A04): every event goes to the security log (bounded, kept across
 * restarts); each is also queued as SecurityEventNotification on the outbox, the same durable
 * queue as the transaction messages, so it arrives in order after any outage or power cut. A
 * critical event is always queued; a non-critical one (the OCTT expects e.g.
 * InvalidCentralSystemCertificate to be sent) only when no notification of its type still waits,
 * so a central system that refuses every reconnect for days does not queue one per attempt; the
 * refusal of a central-system CALL (`raiseForCall`) is always queued.
 */
export class SecurityEvents {
  private readonly windows = new Map<SecurityEventType, Window>();
  /** Non-critical notifications queued and not yet delivered or given up, per type. */
  private readonly waiting = new Map<string, number>();
  private closed = false;

  constructor(private readonly opts: SecurityEventsOptions) {
    const settled = (entry: OutboxEntry) => {
      if (entry.action !== 'SecurityEventNotification') return;
      const type = String(entry.payload.type);
      const left = (this.waiting.get(type) ?? 0) - 1;
      if (left > 0) this.waiting.set(type, left);
      else this.waiting.delete(type);
    };
    opts.outbox.on('delivered', settled);
    opts.outbox.on('deadLettered', settled);
  }

  /** Records (and, as the class says, queues) a security event. Never throws. */
  raise(type: SecurityEventType, techInfo?: string): void {
    if (this.closed) return;
    const info = techInfo === undefined ? undefined : this.clean(techInfo);
    const windowMs = RATE_LIMITS[type];
    if (windowMs !== undefined) {
      const window = this.windows.get(type);
      if (window) {
        window.suppressed += 1;
        if (info !== undefined) window.lastTechInfo = info;
        return;
      }
      this.openWindow(type, windowMs);
    }
    this.record(type, info, 'unless-waiting');
  }

  /**
   * Records and queues an event that is the refusal of one central-system CALL (an
   * InstallCertificate refused: TC_078 expects its InvalidCentralSystemCertificate every time).
   * The central system's own CALLs bound these (one in flight, each answered), so neither the
   * type's rate window, which is there for a reconnect loop's TLS failures, nor the one waiting
   * notification per type holds it back; nor does it open or fill that window. Never throws.
   */
  raiseForCall(type: SecurityEventType, techInfo?: string): void {
    if (this.closed) return;
    this.record(type, techInfo === undefined ? undefined : this.clean(techInfo), 'always');
  }

  /** The newest `limit` entries of the log, oldest first. */
  newest(limit: number): SecurityLogEntry[] {
    return this.opts.repo.newest(limit);
  }

  count(): number {
    return this.opts.repo.count();
  }

  /**
   * Empties the log (a technician's explicit request); the clearing itself is the first entry of
   * the new log and a critical event. Returns the entries removed.
   */
  clear(origin: string): number {
    let removed = 0;
    this.opts.writes.attempt('security log clear', () => {
      removed = this.opts.repo.clear(() =>
        this.write('SecurityLogWasCleared', `cleared by ${origin}`, 'always'),
      );
    });
    this.opts.log.warn({ removed, origin }, 'security log cleared');
    return removed;
  }

  /** Stops the rate-limit timers; what they held is recorded now. */
  close(): void {
    for (const [type, window] of this.windows) {
      window.timer.cancel();
      if (window.suppressed > 0) this.record(type, summary(window), 'unless-waiting');
    }
    this.windows.clear();
    this.closed = true;
  }

  private openWindow(type: SecurityEventType, lengthMs: number): void {
    const window: Window = {
      lengthMs,
      suppressed: 0,
      timer: this.opts.clock.setTimeout(() => {
        this.windows.delete(type);
        if (window.suppressed === 0) return;
        // What the window held is one event, and opens the next window.
        this.openWindow(type, lengthMs);
        this.record(type, summary(window), 'unless-waiting');
      }, lengthMs),
    };
    this.windows.set(type, window);
  }

  private record(type: SecurityEventType, techInfo: string | undefined, queue: Queueing): void {
    const critical = CRITICAL[type];
    this.opts.log.warn({ securityEvent: type, techInfo, critical }, 'security event recorded');
    try {
      const written = this.opts.writes.attempt('security event', () => this.write(type, techInfo, queue));
      if (!written && critical) {
        const timestamp = this.opts.time.iso();
        this.opts.sendUnrecorded?.({ type, timestamp, ...(techInfo === undefined ? {} : { techInfo }) });
      }
    } catch (err) {
      this.opts.log.error({ err, securityEvent: type }, 'security event could not be recorded');
    }
  }

  /** Log row and notification in one SQL transaction. */
  private write(type: SecurityEventType, techInfo: string | undefined, queue: Queueing): void {
    const timestamp = this.opts.time.iso();
    const critical = CRITICAL[type];
    const send = critical || queue === 'always' || !this.waiting.has(type);
    this.opts.repo.add({ timestamp, type, critical, ...(techInfo === undefined ? {} : { techInfo }) }, () => {
      if (!send) return;
      this.opts.outbox.enqueue('SecurityEventNotification', {
        type,
        timestamp,
        ...(techInfo === undefined ? {} : { techInfo }),
      });
    });
    if (send && !critical) this.waiting.set(type, (this.waiting.get(type) ?? 0) + 1);
  }

  /** techInfo goes to the central system and into the log: no secret, at most 255 characters. */
  private clean(techInfo: string): string {
    let text = techInfo.includes('PRIVATE KEY') ? '[private key material removed]' : techInfo;
    for (const secret of this.opts.secrets?.() ?? []) {
      if (secret) text = text.split(secret).join('[redacted]');
    }
    return text.slice(0, TECH_INFO_MAX);
  }
}

function summary(window: Window): string {
  const last = window.lastTechInfo === undefined ? '' : `; last: ${window.lastTechInfo}`;
  return `${window.suppressed} more in ${window.lengthMs / 1000} s${last}`.slice(0, TECH_INFO_MAX);
}
