import { EventEmitter } from 'node:events';
import { copyFile, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Clock, OcppTime, Timer } from '../clock.js';
import type { FirmwareConfig } from '../config/file.js';
import { errorMessage } from '../error-message.js';
import type { Logger } from '../log.js';
import type { FirmwareStatusEnumType } from '../ocpp/generated/messages.js';
import type { TransactionEngine } from '../station/transactions.js';
import type { FirmwareRepo, FirmwareSource, FirmwareUpdateRecord } from '../store/firmware-repo.js';
import type { DownloadOptions, DownloadResult, Progress } from '../transfer/types.js';
import { redactUrl } from '../transfer/url.js';
import { type HookOutcome, runInstallHook } from './install-hook.js';
import { imageSignatureValid, signingCertificateProblem } from './signature.js';

export type { FirmwareSource, FirmwareUpdateRecord };

/** The file transfer's download (src/transfer), injected so the pipeline is tested against real servers. */
export type Download = (options: DownloadOptions) => Promise<DownloadResult>;

/** The security events of a firmware update (white paper L01.FR.02/.03, A04 FirmwareUpdated). */
export type FirmwareSecurityEvent =
  | 'InvalidFirmwareSigningCertificate'
  | 'InvalidFirmwareSignature'
  | 'FirmwareUpdated';

/**
 * Where an update's image comes from, fit for a log, a security event or cpctl: a URL's
 * user:password (FTP credentials, often) never leaves the store.
 */
export function shownLocation(record: Pick<FirmwareUpdateRecord, 'source' | 'location'>): string {
  return record.source === 'local' ? record.location : redactUrl(record.location);
}

/**
 * A new update, from UpdateFirmware, SignedUpdateFirmware or a technician's file: the record's
 * fields that say what to fetch and when, before it has an image, a status or a report.
 */
export type FirmwareRequest = Omit<
  FirmwareUpdateRecord,
  'image' | 'status' | 'info' | 'reported' | 'updatedAt'
>;

export type FirmwareRequestAnswer =
  | { status: 'Accepted' | 'AcceptedCanceled' }
  | { status: 'Rejected' | 'InvalidCertificate'; reason: string };

/** The statuses after which nothing more happens to an update. */
const FINAL: ReadonlySet<FirmwareStatusEnumType> = new Set([
  'DownloadFailed',
  'InvalidSignature',
  'InstallationFailed',
  'InstallVerificationFailed',
  'Installed',
]);

/** Whether an update is still under way (not in a final status). */
export function updateRunning(record: Pick<FirmwareUpdateRecord, 'status'>): boolean {
  return !FINAL.has(record.status);
}

/** While the install hook runs or the daemon is about to restart into the image: not cancellable. */
const COMMITTED: ReadonlySet<FirmwareStatusEnumType> = new Set(['Installing', 'InstallRebooting']);

export interface FirmwareUpdatesOptions {
  repo: FirmwareRepo;
  /** `<stateDir>/firmware`: the image, and nothing else, lives here. */
  dir: string;
  /** `<stateDir>/firmware-result.json`: the outcome a rollback outside the daemon left. */
  resultFile: string;
  config: FirmwareConfig;
  download: Download;
  /** The installed ManufacturerRootCertificates (PEM). */
  manufacturerRoots: () => readonly string[];
  /** Takes the charger out of service while installing (the station's). */
  charger: { setOutOfService(reason: string | undefined): void };
  /** The charging sessions, whose end an install waits for (the transaction engine). */
  sessions: Pick<TransactionEngine, 'on' | 'off' | 'sessionsEnded'>;
  /**
   * Tells the central system a status of the update; resolves true once it is delivered (or queued
   * durably), so a final status is marked reported only then.
   */
  notify(record: FirmwareUpdateRecord): Promise<boolean>;
  raise(type: FirmwareSecurityEvent, techInfo: string): void;
  /** After an installed image: stop like a Reset (Hard: exit 11, reboot; Soft: exit 10). */
  restart(type: 'Hard' | 'Soft'): void;
  time: Pick<OcppTime, 'nowMs'>;
  clock: Clock;
  log: Logger;
}

export interface FirmwareUpdatesEvents {
  /** Every status change of the update (also a restart's outcome). */
  status: [record: FirmwareUpdateRecord];
  /** Its final status reached the central system (and a rollback's result file is gone). */
  reported: [record: FirmwareUpdateRecord];
}

class Cancelled extends Error {}

/**
 * The firmware pipeline, one for every entry point: download at retrieveAt (resumed across
 * restarts), signature verification for a signed update, install at installAt once no session is
 * left (the charger out of service meanwhile), the install hook, and after its restart the outcome.
 * The record is persisted at every status, before it is reported, so a restart carries on from it.
 */
export class FirmwareUpdates extends EventEmitter<FirmwareUpdatesEvents> {
  private record: FirmwareUpdateRecord | undefined;
  /** Cancels the running update's waits and download. */
  private abort: AbortController | undefined;
  /** The running update's steps: a new run begins once a cancelled one has let go of its files. */
  private running: Promise<void> = Promise.resolve();
  private downloaded: Progress | undefined;
  private stopped = false;

  constructor(private readonly opts: FirmwareUpdatesOptions) {
    super();
  }

  /** Only signed images are installed (`firmware.requireSigned`). */
  get requireSigned(): boolean {
    return this.opts.config.requireSigned;
  }

  /** The update running or the last one. */
  current(): FirmwareUpdateRecord | undefined {
    return this.record;
  }

  /** An update is running (not in a final status). */
  busy(): boolean {
    return this.record !== undefined && updateRunning(this.record);
  }

  /** Bytes downloaded so far of the running download. */
  progress(): Progress | undefined {
    return this.downloaded;
  }

  /**
   * Loads the last update (reported once registration is accepted: `reportOutcome`): the outcome of an install that restarted us (or of a rollback done
   * outside the daemon) becomes its final status; an update interrupted by a stop carries on.
   */
  async start(): Promise<void> {
    this.record = this.opts.repo.get();
    const rollback = await this.readRollback();
    const record = this.record;
    if (rollback !== undefined) {
      this.save({
        ...(record ??
          this.newRecord({ source: 'local', location: '', retrieveAt: 0, retries: 0, retryIntervalS: 0 })),
        status: 'InstallationFailed',
        info: rollback,
        reported: false,
      });
    } else if (record?.status === 'InstallRebooting') {
      this.save({ ...record, status: 'Installed', reported: false });
      this.opts.raise('FirmwareUpdated', `firmware from ${shownLocation(record)}`);
      await this.removeImage();
    } else if (record?.status === 'Installing') {
      // The hook never told us: a power cut or a crash while it ran. The old firmware still runs.
      this.save({
        ...record,
        status: 'InstallationFailed',
        info: 'interrupted while installing',
        reported: false,
      });
      await this.removeImage();
    } else if (record && !FINAL.has(record.status)) {
      this.run(record);
    }
  }

  /** Stops waiting and downloading; a running update carries on after the next start. */
  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  /** Registration accepted: a final status the central system has not had yet is reported now. */
  reportOutcome(): void {
    const record = this.record;
    if (record && FINAL.has(record.status) && !record.reported) void this.report(record);
  }

  /**
   * A new update. One running is cancelled (its download aborted, its image removed):
   * AcceptedCanceled; one whose install hook runs cannot be (Rejected). A signed update's signing
   * certificate is checked first: InvalidCertificate, with the security event.
   */
  request(request: FirmwareRequest): FirmwareRequestAnswer {
    const answer = this.begin(request);
    if (this.record && (answer.status === 'Accepted' || answer.status === 'AcceptedCanceled'))
      this.run(this.record);
    return answer;
  }

  private begin(request: FirmwareRequest): FirmwareRequestAnswer {
    const { log } = this.opts;
    if (this.record && COMMITTED.has(this.record.status))
      return { status: 'Rejected', reason: `an install is in progress (${this.record.status})` };
    if (request.signingCertificate !== undefined) {
      const problem = signingCertificateProblem(
        request.signingCertificate,
        this.opts.manufacturerRoots(),
        this.opts.time.nowMs(),
      );
      if (problem) {
        this.opts.raise('InvalidFirmwareSigningCertificate', problem);
        return { status: 'InvalidCertificate', reason: problem };
      }
    }
    const cancelled = this.busy();
    if (cancelled) {
      log.warn(
        { location: this.record && shownLocation(this.record) },
        'firmware update cancelled by a new one',
      );
      this.abort?.abort();
      this.opts.charger.setOutOfService(undefined);
    }
    this.save(this.newRecord(request));
    return { status: cancelled ? 'AcceptedCanceled' : 'Accepted' };
  }

  /**
   * A technician's image (cpctl firmware install): copied under the state directory first (the
   * USB stick may go), then verified if signed and installed like a downloaded one. A file comes
   * without a signature unless the technician brings one; with `requireSigned` it must.
   */
  installFile(request: FirmwareRequest): FirmwareRequestAnswer {
    if (this.opts.config.requireSigned && request.signature === undefined)
      return {
        status: 'Rejected',
        reason: 'firmware.requireSigned: the image needs a signature and its certificate',
      };
    return this.request({ ...request, source: 'local' });
  }

  private newRecord(request: FirmwareRequest): FirmwareUpdateRecord {
    return {
      ...request,
      status: 'DownloadScheduled',
      reported: false,
      updatedAt: new Date(this.opts.clock.now()).toISOString(),
    };
  }

  /** Runs the update from its status on; a cancel or a stop ends the run quietly. */
  private run(record: FirmwareUpdateRecord): void {
    const abort = new AbortController();
    this.abort = abort;
    const previous = this.running;
    this.running = previous
      .then(() => this.steps(record, abort.signal))
      .catch((error: Error) => {
        if (error instanceof Cancelled || abort.signal.aborted) return;
        this.fail('InstallationFailed', error.message);
      });
  }

  private async steps(start: FirmwareUpdateRecord, signal: AbortSignal): Promise<void> {
    const { time, log } = this.opts;
    this.throwIfCancelled(signal);
    let record = start;
    if (!record.image && record.source === 'local') record = await this.copy(record, signal);
    else if (!record.image) {
      if (record.retrieveAt > time.nowMs()) {
        record = this.advance(record, { status: 'DownloadScheduled' });
        await this.until(record.retrieveAt, signal);
      }
      record = await this.fetch(record, signal);
    }
    const image = record.image;
    if (!image || FINAL.has(record.status)) return;
    if (record.signature !== undefined && record.signingCertificate !== undefined) {
      if (!(await imageSignatureValid(image, record.signature, record.signingCertificate))) {
        this.throwIfCancelled(signal);
        this.opts.raise('InvalidFirmwareSignature', `image from ${shownLocation(record)}`);
        await this.removeImage();
        this.fail('InvalidSignature', 'the signature does not match the image');
        return;
      }
      this.throwIfCancelled(signal);
      record = this.advance(record, { status: 'SignatureVerified' });
    }
    const { installAt } = record;
    if (installAt !== undefined && installAt > time.nowMs()) {
      record = this.advance(record, { status: 'InstallScheduled' });
      await this.until(installAt, signal);
    }
    this.opts.charger.setOutOfService('firmware install');
    await this.sessionsEnded(signal);
    record = this.advance(record, { status: 'Installing' });
    const hook = this.opts.config.install;
    const outcome: HookOutcome = hook
      ? await runInstallHook(hook, image, log)
      : { installed: false, reason: 'no install hook configured (firmware.install)' };
    if (!outcome.installed) {
      this.opts.charger.setOutOfService(undefined);
      await this.removeImage();
      this.fail('InstallationFailed', outcome.reason);
      return;
    }
    // Kept, not reported: InstallRebooting announces a reboot before installing (L01.FR.15), and
    // ours comes after the install; the next start turns it into Installed.
    this.save({ ...record, status: 'InstallRebooting' });
    log.info({ image }, 'firmware installed: restarting into it');
    this.opts.restart(this.opts.config.afterInstall === 'restart' ? 'Soft' : 'Hard');
  }

  /** A technician's file, copied into the firmware folder: the USB stick may go once it is Downloaded. */
  private async copy(record: FirmwareUpdateRecord, signal: AbortSignal): Promise<FirmwareUpdateRecord> {
    const image = this.imagePath(record.location);
    try {
      await this.emptyImageDir();
      await copyFile(record.location, image);
      this.throwIfCancelled(signal);
    } catch (error) {
      this.throwIfCancelled(signal);
      await this.removeImage();
      this.fail('DownloadFailed', `cannot copy ${record.location}: ${errorMessage(error)}`);
      return this.record ?? record;
    }
    return this.arrived(record, image);
  }

  /** Downloads the image into the firmware folder (one image at a time: the folder is emptied). */
  private async fetch(start: FirmwareUpdateRecord, signal: AbortSignal): Promise<FirmwareUpdateRecord> {
    const record = this.advance(start, { status: 'Downloading' });
    await this.emptyImageDir();
    const image = this.imagePath(record.location);
    this.downloaded = { bytes: 0 };
    try {
      await this.opts.download({
        url: record.location,
        dest: image,
        retries: record.retries,
        retryIntervalS: record.retryIntervalS,
        signal,
        onProgress: (progress) => {
          this.downloaded = progress;
        },
      });
    } catch (error) {
      this.throwIfCancelled(signal);
      await this.removeImage();
      this.fail('DownloadFailed', errorMessage(error));
      return this.record ?? record;
    } finally {
      this.downloaded = undefined;
    }
    this.throwIfCancelled(signal);
    return this.arrived(record, image);
  }

  /**
   * The image is here: Downloaded, unless it is empty. Zero bytes are no firmware: 1.6's
   * DownloadFailed ("failed to download firmware"), so the charger is never taken out of service
   * for it and the hook never sees it. A download never arrives empty (the transfer counts an
   * empty file as a failed attempt, retried as UpdateFirmware asked: a file not yet published);
   * this is for a technician's local file, copied once.
   */
  private async arrived(record: FirmwareUpdateRecord, image: string): Promise<FirmwareUpdateRecord> {
    if ((await stat(image)).size > 0) return this.advance(record, { status: 'Downloaded', image });
    await this.removeImage();
    this.fail('DownloadFailed', `the image from ${shownLocation(record)} is empty (0 bytes)`);
    return this.record ?? record;
  }

  private imagePath(location: string): string {
    let name = '';
    try {
      name = basename(new URL(location).pathname);
    } catch {
      name = basename(location);
    }
    // The name is the server's: nothing but a plain file name is kept.
    const safe = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '');
    return join(this.opts.dir, safe || 'image');
  }

  /** The firmware folder, made if missing and emptied: it holds one image at a time. */
  private async emptyImageDir(): Promise<void> {
    await this.removeImage();
    await mkdir(this.opts.dir, { recursive: true, mode: 0o700 });
  }

  private async removeImage(): Promise<void> {
    const names = await readdir(this.opts.dir).catch(() => []);
    for (const name of names) await rm(join(this.opts.dir, name), { force: true, recursive: true });
  }

  /** Resolves at `atMs` of the OCPP time (on the injected clock); rejects when cancelled. */
  private until(atMs: number, signal: AbortSignal): Promise<void> {
    const delay = atMs - this.opts.time.nowMs();
    return this.waitFor(signal, (done) => {
      const timer: Timer = this.opts.clock.setTimeout(done, delay);
      return () => timer.cancel();
    });
  }

  /** Resolves once no connector holds a session (a running transaction is never cut). */
  private sessionsEnded(signal: AbortSignal): Promise<void> {
    const { sessions, log } = this.opts;
    if (sessions.sessionsEnded()) return Promise.resolve();
    log.info('firmware install waits for the sessions to end');
    return this.waitFor(signal, (done) => {
      const onChanged = () => {
        if (sessions.sessionsEnded()) done();
      };
      sessions.on('changed', onChanged);
      return () => sessions.off('changed', onChanged);
    });
  }

  private waitFor(signal: AbortSignal, arm: (done: () => void) => () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(new Cancelled());
        return;
      }
      const disarm = arm(() => {
        signal.removeEventListener('abort', onAbort);
        disarm();
        resolve();
      });
      const onAbort = () => {
        disarm();
        reject(new Cancelled());
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private throwIfCancelled(signal: AbortSignal): void {
    if (signal.aborted) throw new Cancelled();
  }

  /** The next status: persisted, then reported. */
  private advance(record: FirmwareUpdateRecord, change: Partial<FirmwareUpdateRecord>): FirmwareUpdateRecord {
    const next = { ...record, ...change };
    this.save(next);
    void this.report(next);
    return next;
  }

  private fail(status: FirmwareStatusEnumType, info: string): void {
    const record = this.record;
    if (!record) return;
    this.opts.log.warn({ status, info, location: shownLocation(record) }, 'firmware update failed');
    const next: FirmwareUpdateRecord = { ...record, status, info, reported: false };
    delete next.image;
    this.save(next);
    void this.report(next);
  }

  private save(record: FirmwareUpdateRecord): void {
    const next = { ...record, updatedAt: new Date(this.opts.clock.now()).toISOString() };
    this.opts.repo.save(next);
    this.record = next;
  }

  private async report(record: FirmwareUpdateRecord): Promise<void> {
    if (this.stopped) return;
    this.emit('status', record);
    const delivered = await this.opts.notify(record);
    const now = this.record;
    // A new update may have begun meanwhile: only the same final status is marked.
    if (!delivered || !FINAL.has(record.status) || now?.status !== record.status || now.reported) return;
    this.save({ ...now, reported: true });
    await rm(this.opts.resultFile, { force: true });
    this.emit('reported', { ...now, reported: true });
  }

  /** The info of a rollback done outside the daemon, if one happened (contract with the release hooks). */
  private async readRollback(): Promise<string | undefined> {
    let text: string;
    try {
      text = await readFile(this.opts.resultFile, 'utf8');
    } catch {
      return undefined;
    }
    try {
      const parsed: unknown = JSON.parse(text);
      const info =
        typeof parsed === 'object' && parsed !== null && 'info' in parsed ? String(parsed.info) : undefined;
      return info ?? 'rolled back';
    } catch {
      return 'rolled back (unreadable firmware-result.json)';
    }
  }
}
