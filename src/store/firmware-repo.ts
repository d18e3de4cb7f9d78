import type Database from 'better-sqlite3';
import type { FirmwareStatusEnumType } from '../ocpp/generated/messages.js';

/** Who asked for the update: the central system (plain or signed) or a technician (cpctl). */
export type FirmwareSource = 'UpdateFirmware' | 'SignedUpdateFirmware' | 'local';

/** The firmware update the charger knows of: the one running, else the last one. */
export interface FirmwareUpdateRecord {
  source: FirmwareSource;
  /** SignedUpdateFirmware's requestId: in every SignedFirmwareStatusNotification of it. */
  requestId?: number;
  /** Where the image comes from: a URL, or the file a technician named. */
  location: string;
  /** When to download (ms since the epoch, OCPP time). */
  retrieveAt: number;
  /** When to install at the earliest (ms since the epoch, OCPP time). */
  installAt?: number;
  retries: number;
  retryIntervalS: number;
  signingCertificate?: string;
  signature?: string;
  /** The image under `<stateDir>/firmware/` once it is there. */
  image?: string;
  status: FirmwareStatusEnumType;
  /** Why it failed, for the technician (1.6's FirmwareStatusNotification has no field for it). */
  info?: string;
  /** Its final status reached the central system (or needs not). */
  reported: boolean;
  updatedAt: string;
}

interface Row {
  source: FirmwareSource;
  request_id: number | null;
  location: string;
  retrieve_at: number;
  install_at: number | null;
  retries: number;
  retry_interval_s: number;
  signing_certificate: string | null;
  signature: string | null;
  image: string | null;
  status: FirmwareStatusEnumType;
  info: string | null;
  reported: number;
  updated_at: string;
}

/** The only SQL of firmware updates (migration 12): one row, replaced by each new update. */
export class FirmwareRepo {
  private readonly select: Database.Statement<[], Row>;
  private readonly upsert: Database.Statement<Row>;

  constructor(db: Database.Database) {
    this.select = db.prepare('SELECT * FROM firmware_update WHERE id = 1');
    this.upsert = db.prepare(
      `INSERT OR REPLACE INTO firmware_update (id, source, request_id, location, retrieve_at, install_at,
         retries, retry_interval_s, signing_certificate, signature, image, status, info, reported, updated_at)
       VALUES (1, @source, @request_id, @location, @retrieve_at, @install_at, @retries, @retry_interval_s,
         @signing_certificate, @signature, @image, @status, @info, @reported, @updated_at)`,
    );
  }

  get(): FirmwareUpdateRecord | undefined {
    const row = this.select.get();
    if (!row) return undefined;
    return {
      source: row.source,
      ...(row.request_id === null ? {} : { requestId: row.request_id }),
      location: row.location,
      retrieveAt: row.retrieve_at,
      ...(row.install_at === null ? {} : { installAt: row.install_at }),
      retries: row.retries,
      retryIntervalS: row.retry_interval_s,
      ...(row.signing_certificate === null ? {} : { signingCertificate: row.signing_certificate }),
      ...(row.signature === null ? {} : { signature: row.signature }),
      ...(row.image === null ? {} : { image: row.image }),
      status: row.status,
      ...(row.info === null ? {} : { info: row.info }),
      reported: row.reported === 1,
      updatedAt: row.updated_at,
    };
  }

  save(record: FirmwareUpdateRecord): void {
    this.upsert.run({
      source: record.source,
      request_id: record.requestId ?? null,
      location: record.location,
      retrieve_at: record.retrieveAt,
      install_at: record.installAt ?? null,
      retries: record.retries,
      retry_interval_s: record.retryIntervalS,
      signing_certificate: record.signingCertificate ?? null,
      signature: record.signature ?? null,
      image: record.image ?? null,
      status: record.status,
      info: record.info ?? null,
      reported: record.reported ? 1 : 0,
      updated_at: record.updatedAt,
    });
  }
}
