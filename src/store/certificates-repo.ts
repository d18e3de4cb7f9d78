import type Database from 'better-sqlite3';
import type { IssuerHashes, RootCertificateType } from '../security/root-certificate.js';

/** A root certificate installed over OCPP; its PEM is the file `file` under stateDir/certs. */
export interface InstalledCertificateRow {
  certificateType: RootCertificateType;
  /** SHA-256 of the DER, hex. */
  fingerprint: string;
  file: string;
  subject: string;
  serialNumber: string;
  hashes: IssuerHashes;
  notAfter: number;
  installedAt: string;
}

export type CertificateMark = 'hidden' | 'fallback';

interface Row {
  certificate_type: RootCertificateType;
  fingerprint: string;
  file: string;
  subject: string;
  serial_number: string;
  hash_data: string;
  not_after: number;
  installed_at: string;
}

/** The only SQL of the certificate store (migration 11). */
export class CertificatesRepo {
  private readonly selectAll: Database.Statement<[], Row>;
  private readonly insert: Database.Statement<[Row]>;
  private readonly deleteOne: Database.Statement<[RootCertificateType, string]>;
  private readonly selectMarks: Database.Statement<
    [],
    { certificate_type: RootCertificateType; fingerprint: string; mark: CertificateMark }
  >;
  private readonly upsertMark: Database.Statement<[RootCertificateType, string, CertificateMark]>;
  private readonly deleteMark: Database.Statement<[RootCertificateType, string]>;

  constructor(private readonly db: Database.Database) {
    this.selectAll = db.prepare('SELECT * FROM certificates ORDER BY installed_at, fingerprint');
    this.insert = db.prepare(
      `INSERT OR REPLACE INTO certificates
         (certificate_type, fingerprint, file, subject, serial_number, hash_data, not_after, installed_at)
       VALUES (@certificate_type, @fingerprint, @file, @subject, @serial_number, @hash_data, @not_after, @installed_at)`,
    );
    this.deleteOne = db.prepare('DELETE FROM certificates WHERE certificate_type = ? AND fingerprint = ?');
    this.selectMarks = db.prepare('SELECT certificate_type, fingerprint, mark FROM certificate_marks');
    this.upsertMark = db.prepare(
      `INSERT INTO certificate_marks (certificate_type, fingerprint, mark) VALUES (?, ?, ?)
       ON CONFLICT (certificate_type, fingerprint) DO UPDATE SET mark = excluded.mark`,
    );
    this.deleteMark = db.prepare(
      'DELETE FROM certificate_marks WHERE certificate_type = ? AND fingerprint = ?',
    );
  }

  all(): InstalledCertificateRow[] {
    return this.selectAll.all().map((row) => ({
      certificateType: row.certificate_type,
      fingerprint: row.fingerprint,
      file: row.file,
      subject: row.subject,
      serialNumber: row.serial_number,
      hashes: JSON.parse(row.hash_data) as IssuerHashes,
      notAfter: row.not_after,
      installedAt: row.installed_at,
    }));
  }

  /** Adds a root and, in the same SQL transaction, marks the roots it replaces as its fallbacks. */
  add(cert: InstalledCertificateRow, fallbacks: readonly string[] = []): void {
    this.db.transaction(() => {
      this.insertRow(cert);
      for (const fingerprint of fallbacks) this.upsertMark.run(cert.certificateType, fingerprint, 'fallback');
    })();
  }

  private insertRow(cert: InstalledCertificateRow): void {
    this.insert.run({
      certificate_type: cert.certificateType,
      fingerprint: cert.fingerprint,
      file: cert.file,
      subject: cert.subject,
      serial_number: cert.serialNumber,
      hash_data: JSON.stringify(cert.hashes),
      not_after: cert.notAfter,
      installed_at: cert.installedAt,
    });
  }

  remove(certificateType: RootCertificateType, fingerprint: string): void {
    this.db.transaction(() => {
      this.deleteOne.run(certificateType, fingerprint);
      this.deleteMark.run(certificateType, fingerprint);
    })();
  }

  marks(): Map<string, CertificateMark> {
    return new Map(
      this.selectMarks.all().map((row) => [markKey(row.certificate_type, row.fingerprint), row.mark]),
    );
  }

  setMark(
    certificateType: RootCertificateType,
    fingerprint: string,
    mark: CertificateMark | undefined,
  ): void {
    if (mark) this.upsertMark.run(certificateType, fingerprint, mark);
    else this.deleteMark.run(certificateType, fingerprint);
  }
}

export function markKey(certificateType: RootCertificateType, fingerprint: string): string {
  return `${certificateType}:${fingerprint}`;
}
