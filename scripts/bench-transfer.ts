/**
 * File transfer figures: a 50 MB firmware image downloaded over HTTP on loopback by the transfer
 * module (`src/transfer`), its throughput and the downloading process's peak RSS above its idle
 * RSS (target `TRANSFER_RSS_TARGET_MB`: the image must stream to disk, never sit in memory), and
 * the time to SHA-256 the image once it is on disk and to verify its signature (the firmware
 * module's `imageSignatureValid`, RSA-PSS 2048 and ECDSA P-256 over SHA-256). The download runs in a child process of its
 * own, so the server's buffers in this one do not count. The main bench (`scripts/bench.ts`)
 * calls benchTransfer (`--only-transfer` runs nothing else); `node dist/scripts/bench-transfer.js`
 * runs it alone.
 */
import { execFile } from 'node:child_process';
import { constants, createHash, createSign, type SignKeyObjectInput } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { imageSignatureValid } from '../src/firmware/signature.js';
import { download } from '../src/transfer/index.js';
import { HttpFileServer } from '../test/support/file-servers.js';
import { ecCa, rsaCa } from '../test/support/pki.js';

export interface TransferFigures {
  download50MbHttpMBps: number;
  download50MbPeakRssAboveIdleMb: number;
  /** The floor: node:http reading the same response and dropping it, in the same kind of process. */
  nodeHttpRead50MbPeakRssAboveIdleMb: number;
  sha256Of50MbMs: number;
  rsaPss2048SignatureOf50MbMs: number;
  ecdsaP256SignatureOf50MbMs: number;
}

/** The bound on the memory a download may take above idle. */
export const TRANSFER_RSS_TARGET_MB = 10;

const IMAGE_BYTES = 50 * 1024 * 1024;
const MB = 1024 * 1024;
const CHILD_FLAG = '--download-child';

interface ChildReport {
  idleRssBytes: number;
  peakRssBytes: number;
  ms: number;
  sha256: string;
}

const round = (value: number, places = 1) => Math.round(value * 10 ** places) / 10 ** places;

/**
 * In the child: one measured transfer. `mode` is the transfer module's download, or the floor: the
 * same response read by node:http and dropped (no file, no hash), which is what Node itself costs.
 */
async function child(mode: string, url: string, dest: string): Promise<void> {
  const idleRssBytes = process.memoryUsage().rss;
  const started = performance.now();
  let sha256 = '';
  if (mode === 'module') sha256 = (await download({ url, dest, retries: 0, retryIntervalS: 0 })).sha256;
  else {
    const response = await new Promise<IncomingMessage>((resolve, reject) =>
      get(url, resolve).on('error', reject),
    );
    for await (const _chunk of response);
  }
  const ms = performance.now() - started;
  // maxRSS is the process's peak resident set in KiB, kept by the kernel: no sampling to miss it.
  const peakRssBytes = process.resourceUsage().maxRSS * 1024;
  const report: ChildReport = { idleRssBytes, peakRssBytes, ms, sha256 };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

/** The V8 flags the daemon runs with (its entry point's shebang), so the child's heap behaves as the daemon's. */
function daemonNodeFlags(): string[] {
  const entry = fileURLToPath(new URL('../src/bin/chargepointd.js', import.meta.url));
  const source = existsSync(entry) ? entry : entry.replace(/\.js$/, '.ts');
  const shebang = readFileSync(source, 'utf8').split('\n', 1)[0] ?? '';
  return shebang.split(/\s+/).filter((word) => word.startsWith('--'));
}

async function runChild(mode: string, url: string, dest: string): Promise<ChildReport> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [...process.execArgv, ...daemonNodeFlags(), fileURLToPath(import.meta.url), CHILD_FLAG, mode, url, dest],
    { maxBuffer: MB },
  );
  return JSON.parse(stdout);
}

const aboveIdleMb = (report: ChildReport) =>
  round(Math.max(0, report.peakRssBytes - report.idleRssBytes) / MB);

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
    const dest = join(dir, 'image.bin');
    const floor = await runChild('floor', server.url('image.bin'), dest);
    const report = await runChild('module', server.url('image.bin'), dest);
    if (report.sha256 !== sha256) throw new Error('bench-transfer: the downloaded image has another SHA-256');
    const hashed = await sha256Ms(dest);
    if (hashed.sha256 !== sha256) throw new Error('bench-transfer: the image on disk has another SHA-256');
    const rsaPssMs = await signatureMs(dest, rsaCa({ commonName: 'Bench Firmware Signer', ca: false }), {
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
    });
    const ecdsaMs = await signatureMs(dest, ecCa('Bench Firmware Signer'), {});
    return {
      download50MbHttpMBps: round(IMAGE_BYTES / MB / (report.ms / 1000)),
      download50MbPeakRssAboveIdleMb: aboveIdleMb(report),
      nodeHttpRead50MbPeakRssAboveIdleMb: aboveIdleMb(floor),
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
  if (process.argv[2] === CHILD_FLAG)
    await child(process.argv[3] ?? '', process.argv[4] ?? '', process.argv[5] ?? '');
  else {
    const figures = await benchTransfer();
    process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
    if (figures.download50MbPeakRssAboveIdleMb > TRANSFER_RSS_TARGET_MB)
      process.stderr.write(`peak RSS above idle exceeds ${TRANSFER_RSS_TARGET_MB} MB\n`);
  }
}
