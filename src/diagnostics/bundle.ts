import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, stat, statfs } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack as tarPack } from 'tar-stream';
import type { ControlApi } from '../cli/api.js';
import { logRingDirectory, logRingFiles } from '../log.js';
import { SECURITY_LOG_MAX_ROWS, type SecurityLogEntry } from '../store/security-log-repo.js';
import type { TraceEntry } from '../store/trace-repo.js';
import { FIRMWARE_VERSION } from '../version.js';
import { bundleFileName } from './bundle-name.js';
import type { Redactor } from './redact.js';

/** What a bundle holds: everything (GetDiagnostics, GetLog DiagnosticsLog, cpctl) or the security log. */
export type BundleKind = 'diagnostics' | 'securityLog';

/** A span of time, epoch ms, both ends included; an end left out is open. */
export interface TimeWindow {
  start?: number;
  stop?: number;
}

export interface BundleSources {
  chargePointId: string;
  stateDir: string;
  /** The provisioning file as loaded: secrets are removed from it here. */
  provisioning: unknown;
  /** The live runtime's reports, the same cpctl shows: connectors and hardware health, queue, transactions, keys. */
  control: Pick<ControlApi, 'status' | 'queue' | 'transactions' | 'configGet'>;
  trace: { after(afterSeq: number, max: number): TraceEntry[] };
  securityLog: { newest(limit: number): SecurityLogEntry[] };
  redactor: () => Redactor;
  /** OCPP time, epoch ms: names the file. */
  now: () => number;
}

export interface Bundle {
  /** The file under `<stateDir>/diagnostics`. */
  path: string;
  /** Its name: what GetDiagnostics / GetLog answer and the upload is called. */
  fileName: string;
  bytes: number;
}

/** Bundles kept under `<stateDir>/diagnostics`: the newest, for a technician to fetch again. */
export const BUNDLES_KEPT = 3;
/** Finished transactions a bundle lists. */
const BUNDLE_RECENT_TRANSACTIONS = 50;
const TRACE_PAGE = 500;

/** Where bundles are built and kept. */
export function diagnosticsDirectory(stateDir: string): string {
  return join(stateDir, 'diagnostics');
}

/**
 * Builds a gzip-compressed tar for `window` under `<stateDir>/diagnostics`: each large part (log,
 * trace, security log) is filtered line by line into a staging file, then everything is streamed
 * through tar and gzip into the bundle, so nothing of it is held whole in memory. Every line passes
 * the redactor. The file appears under its name only once complete (written aside, then renamed).
 */
export async function buildBundle(
  kind: BundleKind,
  window: TimeWindow,
  sources: BundleSources,
  fileName: string = bundleFileName(kind, sources.chargePointId, sources.now()),
): Promise<Bundle> {
  const dir = diagnosticsDirectory(sources.stateDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const stem = fileName.replace(/\.tar\.gz$/, '');
  // Its own staging folder: a bundle replacing one still being built (GetLog) never shares files.
  const staging = await mkdtemp(join(dir, `.${stem}.staging-`));
  try {
    const parts = await stage(kind, window, sources, staging);
    const path = join(dir, fileName);
    const partial = `${staging}.part`;
    await writeTarGz(partial, stem, staging, parts);
    await rename(partial, path);
    await pruneBundles(dir);
    return { path, fileName, bytes: (await stat(path)).size };
  } finally {
    await rm(staging, { recursive: true, force: true });
    await rm(`${staging}.part`, { recursive: true, force: true });
  }
}

/** Writes each part of the bundle as a file in `staging`; returns their names in bundle order. */
async function stage(
  kind: BundleKind,
  window: TimeWindow,
  sources: BundleSources,
  staging: string,
): Promise<string[]> {
  const redactor = sources.redactor();
  const json = (name: string, value: unknown) =>
    writeLines(join(staging, name), [`${JSON.stringify(redactor.value(value), null, 2)}\n`]).then(() => name);
  const lines = (name: string, source: AsyncIterable<string> | Iterable<string>) =>
    writeLines(join(staging, name), redacted(source, redactor)).then(() => name);
  const parts = [
    await json('manifest.json', {
      kind,
      chargePointId: sources.chargePointId,
      createdAt: new Date(sources.now()).toISOString(),
      window: {
        start: window.start === undefined ? null : new Date(window.start).toISOString(),
        stop: window.stop === undefined ? null : new Date(window.stop).toISOString(),
      },
      firmwareVersion: FIRMWARE_VERSION,
    }),
    await lines('security-log.ndjson', securityLogLines(sources, window)),
  ];
  if (kind === 'securityLog') return parts;
  const { control } = sources;
  parts.push(
    await lines('daemon.log', logLines(logRingDirectory(sources.stateDir), window)),
    await lines('ocpp-trace.ndjson', traceLines(sources, window)),
    await json('configuration.json', {
      ocppKeys: control.configGet([]).configurationKey,
      provisioning: sources.provisioning,
    }),
    await json('status.json', await control.status()),
    await json('queue.json', control.queue()),
    await json('transactions.json', control.transactions(BUNDLE_RECENT_TRANSACTIONS)),
    await json('versions.json', await versions(sources.stateDir)),
  );
  return parts;
}

function within(window: TimeWindow, at: number): boolean {
  return (
    (window.start === undefined || at >= window.start) && (window.stop === undefined || at <= window.stop)
  );
}

/** The daemon's log ring, oldest file first; a line whose time cannot be read is kept. */
async function* logLines(dir: string, window: TimeWindow): AsyncGenerator<string> {
  for (const file of logRingFiles(dir)) {
    const size = await stat(file).then(
      (s) => s.size,
      () => 0,
    );
    if (size === 0) continue;
    // Up to the size seen now: the current file grows while it is read (this very bundle logs).
    const reader = createInterface({ input: createReadStream(file, { end: size - 1 }), crlfDelay: Infinity });
    for await (const line of reader) {
      if (line === '') continue;
      const at = lineTime(line);
      if (at === undefined || within(window, at)) yield `${line}\n`;
    }
  }
}

/** A log line's `time` (pino writes ISO 8601), epoch ms; undefined when it has none. */
function lineTime(line: string): number | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || !('time' in parsed)) return undefined;
  const { time } = parsed;
  const at = typeof time === 'string' ? Date.parse(time) : typeof time === 'number' ? time : Number.NaN;
  return Number.isNaN(at) ? undefined : at;
}

/** The frame trace, page by page, oldest first, with its time also as ISO 8601. */
function* traceLines(sources: BundleSources, window: TimeWindow): Generator<string> {
  let afterSeq = 0;
  for (;;) {
    const page = sources.trace.after(afterSeq, TRACE_PAGE);
    if (page.length === 0) return;
    for (const entry of page) {
      afterSeq = entry.seq;
      if (within(window, entry.at)) {
        yield `${JSON.stringify({ time: new Date(entry.at).toISOString(), ...entry })}\n`;
      }
    }
  }
}

function* securityLogLines(sources: BundleSources, window: TimeWindow): Generator<string> {
  for (const entry of sources.securityLog.newest(SECURITY_LOG_MAX_ROWS)) {
    if (within(window, Date.parse(entry.timestamp))) yield `${JSON.stringify(entry)}\n`;
  }
}

async function* redacted(
  source: AsyncIterable<string> | Iterable<string>,
  redactor: Redactor,
): AsyncGenerator<string> {
  for await (const line of source) yield redactor.text(line);
}

async function writeLines(path: string, source: AsyncIterable<string> | Iterable<string>): Promise<void> {
  await pipeline(Readable.from(source), createWriteStream(path, { mode: 0o600 }));
}

/** Runtime, system and storage facts a maker asks first. */
async function versions(stateDir: string): Promise<Record<string, unknown>> {
  const disk = await statfs(stateDir).catch(() => undefined);
  return {
    firmware: FIRMWARE_VERSION,
    node: process.versions.node,
    v8: process.versions.v8,
    openssl: process.versions.openssl,
    os: { platform: os.platform(), release: os.release(), arch: os.arch(), uptimeS: Math.round(os.uptime()) },
    process: { uptimeS: Math.round(process.uptime()), rssBytes: process.memoryUsage().rss },
    ...(disk
      ? { stateDisk: { freeBytes: disk.bavail * disk.bsize, totalBytes: disk.blocks * disk.bsize } }
      : {}),
  };
}

async function writeTarGz(
  path: string,
  stem: string,
  staging: string,
  parts: readonly string[],
): Promise<void> {
  const pack = tarPack();
  const written = pipeline(pack, createGzip(), createWriteStream(path, { mode: 0o600 }));
  // The file may fail (cannot be created, the disk fails) while the parts are still being packed:
  // that failure is awaited below, after the loop, and must not count as unhandled meanwhile.
  written.catch(() => {});
  try {
    for (const part of parts) {
      const file = join(staging, part);
      const { size, mtime } = await stat(file);
      await pipeline(
        createReadStream(file),
        pack.entry({ name: `${stem}/${part}`, size, mtime, mode: 0o644 }),
      );
    }
    pack.finalize();
  } catch (error) {
    pack.destroy(error instanceof Error ? error : new Error(String(error)));
  }
  await written;
}

/** Only the newest BUNDLES_KEPT bundles stay (their names sort by time within a kind). */
async function pruneBundles(dir: string): Promise<void> {
  const bundles = (await readdir(dir)).filter((name) => name.endsWith('.tar.gz') && !name.startsWith('.'));
  const byAge = await Promise.all(
    bundles.map(async (name) => ({ name, mtime: (await stat(join(dir, name))).mtimeMs })),
  );
  byAge.sort((a, b) => b.mtime - a.mtime);
  for (const { name } of byAge.slice(BUNDLES_KEPT)) await rm(join(dir, name), { force: true });
}
