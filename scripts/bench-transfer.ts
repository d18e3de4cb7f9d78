/**
 * File transfer figures: the built daemon (`chargepointd`, spawned as the other phases spawn it)
 * given an UpdateFirmware by the development central system for a 50 MB image served over HTTP on
 * 127.0.0.1, retrieveDate now. Its resident size at idle before, its peak during the download
 * (target `TRANSFER_RSS_TARGET_MB` above idle: the image must stream to disk, never sit in
 * memory), and the throughput from FirmwareStatusNotification Downloading to Downloaded, as the
 * central system receives them. Then the time to SHA-256 the image and to verify its signature
 * (the firmware module's `imageSignatureValid`, RSA-PSS 2048 and ECDSA P-256 over SHA-256). The
 * main bench (`scripts/bench.ts`) calls benchTransfer (`--only-transfer` runs nothing else);
 * `node dist/scripts/bench-transfer.js` runs it alone.
 */
import { constants, createHash, createSign, type SignKeyObjectInput } from 'node:crypto';
import { chmodSync, createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { imageSignatureValid } from '../src/firmware/signature.js';
import { DevCsms } from '../test/csms/server.js';
import { HttpFileServer } from '../test/support/file-servers.js';
import { ecCa, rsaCa } from '../test/support/pki.js';
import { CP, rssMb, settle, spawnDaemon, statusesDone, stopProcess } from './bench-compare.js';

export interface TransferFigures {
  /** Image bytes / time from Downloading to Downloaded. */
  download50MbHttpMBps: number;
  daemonIdleRssMb: number;
  /** The daemon's peak resident size from the UpdateFirmware to Downloaded. */
  daemonPeakRssDuring50MbDownloadMb: number;
  download50MbPeakRssAboveIdleMb: number;
  /** How the peak was read: the kernel's high-water mark (reset before the download), or VmRSS polled. */
  peakRssFrom: 'VmHWM' | 'VmRSS polled';
  sha256Of50MbMs: number;
  rsaPss2048SignatureOf50MbMs: number;
  ecdsaP256SignatureOf50MbMs: number;
}

/** The bound on the memory a download may take above idle. */
export const TRANSFER_RSS_TARGET_MB = 10;

const IMAGE_BYTES = 50 * 1024 * 1024;
const MB = 1024 * 1024;
/**
 * Idle is read once start-up's garbage is gone: V8's memory reducer returns some 6 MB about 8 s
 * after the start (README), and a download reusing that room would look cheaper than it is.
 */
const IDLE_SETTLE_MS = 10_000;
/** Between two looks at VmRSS while the download runs: the only peak where VmHWM cannot be reset. */
const RSS_POLL_MS = 5;
/** A 50 MB download on a busy machine, generously. */
const STATUS_TIMEOUT_MS = 120_000;

const round = (value: number, places = 1) => Math.round(value * 10 ** places) / 10 ** places;

/**
 * Resets the process's VmHWM to its current VmRSS (`/proc/<pid>/clear_refs`, value 5, Linux 4.0+),
 * so the next VmHWM is the peak since now; false where the kernel does not allow it.
 */
function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * An install hook that records the SHA-256 of the image it was given and declines it (exit 1:
 * InstallationFailed, the daemon runs on), so the bench can check what was downloaded.
 */
function hashingHook(dir: string): { argv: string[]; hashFile: string } {
  const hashFile = join(dir, 'installed.sha256');
  const script = join(dir, 'install-hook.sh');
  writeFileSync(script, `#!/bin/sh\nsha256sum "$1" | cut -d' ' -f1 > "${hashFile}"\nexit 1\n`);
  chmodSync(script, 0o755);
  return { argv: [script], hashFile };
}

interface DaemonDownload {
  mbps: number;
  idleRssMb: number;
  peakRssMb: number;
  peakRssFrom: TransferFigures['peakRssFrom'];
}

/** The daemon downloading the server's `image.bin` (of `sha256`) on an UpdateFirmware. */
async function daemonDownload(dir: string, server: HttpFileServer, sha256: string): Promise<DaemonDownload> {
  const csms = new DevCsms({ rules: { boot: { status: 'Accepted', interval: 3600 } } });
  const { url } = await csms.start();
  const hook = hashingHook(dir);
  const child = spawnDaemon(url, join(dir, 'daemon'), { config: { firmware: { install: hook.argv } } });
  try {
    const pid = child.pid ?? 0;
    await statusesDone(csms);
    await settle(IDLE_SETTLE_MS);
    const idleRssMb = rssMb(pid);
    const hwm = resetPeakRss(pid);
    let polledMb = idleRssMb;
    const poll = setInterval(() => {
      polledMb = Math.max(polledMb, rssMb(pid));
    }, RSS_POLL_MS);
    const since = csms.mark();
    // Looked for among the frames recorded since the UpdateFirmware, whenever they came.
    const status = (name: string) =>
      csms.waitForCall(CP, 'FirmwareStatusNotification', {
        since,
        timeoutMs: STATUS_TIMEOUT_MS,
        where: (p: { status: string }) => p.status === name,
      });
    let peakRssMb: number;
    let started: number;
    let ended: number;
    try {
      await csms.call(CP, 'UpdateFirmware', {
        location: server.url('image.bin'),
        retrieveDate: new Date().toISOString(),
      });
      ended = (await status('Downloaded')).record.at;
      peakRssMb = Math.max(polledMb, rssMb(pid, hwm ? 'VmHWM' : 'VmRSS'));
      started = (await status('Downloading')).record.at;
    } finally {
      clearInterval(poll);
    }
    await status('InstallationFailed');
    if (readFileSync(hook.hashFile, 'utf8').trim() !== sha256)
      throw new Error('bench-transfer: the daemon downloaded an image with another SHA-256');
    return {
      mbps: round(IMAGE_BYTES / MB / ((ended - started) / 1000)),
      idleRssMb,
      peakRssMb,
      peakRssFrom: hwm ? 'VmHWM' : 'VmRSS polled',
    };
  } finally {
    await stopProcess(child);
    await csms.stop();
  }
}

async function sha256Ms(file: string): Promise<{ ms: number; sha256: string }> {
  const started = performance.now();
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return { ms: performance.now() - started, sha256: hash.digest('hex') };
}

/**
 * Signs `file` with the certificate's key as a firmware signer would (`padding` for RSA-PSS), then
 * times the firmware module's verification of it.
 */
async function signatureMs(
  file: string,
  signer: { cert: string; key: string },
  padding: Omit<SignKeyObjectInput, 'key'>,
): Promise<number> {
  const sign = createSign('sha256');
  await pipeline(createReadStream(file), sign);
  const signature = sign.sign({ key: signer.key, ...padding }).toString('base64');
  const started = performance.now();
  const valid = await imageSignatureValid(file, signature, signer.cert);
  const ms = performance.now() - started;
  if (!valid) throw new Error('bench-transfer: the image signature does not verify');
  return ms;
}

export async function benchTransfer(): Promise<TransferFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'cp-bench-transfer-'));
  const server = await HttpFileServer.start();
  try {
    const sha256 = server.put('image.bin', IMAGE_BYTES);
    const download = await daemonDownload(dir, server, sha256);
    const image = server.file('image.bin');
    const hashed = await sha256Ms(image);
    if (hashed.sha256 !== sha256) throw new Error('bench-transfer: the image on disk has another SHA-256');
    const rsaPssMs = await signatureMs(image, rsaCa({ commonName: 'Bench Firmware Signer', ca: false }), {
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
    });
    const ecdsaMs = await signatureMs(image, ecCa('Bench Firmware Signer'), {});
    return {
      download50MbHttpMBps: download.mbps,
      daemonIdleRssMb: download.idleRssMb,
      daemonPeakRssDuring50MbDownloadMb: download.peakRssMb,
      download50MbPeakRssAboveIdleMb: round(Math.max(0, download.peakRssMb - download.idleRssMb)),
      peakRssFrom: download.peakRssFrom,
      sha256Of50MbMs: round(hashed.ms),
      rsaPss2048SignatureOf50MbMs: round(rsaPssMs),
      ecdsaP256SignatureOf50MbMs: round(ecdsaMs),
    };
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const figures = await benchTransfer();
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
  if (figures.download50MbPeakRssAboveIdleMb > TRANSFER_RSS_TARGET_MB)
    process.stderr.write(`peak RSS above idle exceeds ${TRANSFER_RSS_TARGET_MB} MB\n`);
}
