/**
 * `npm run csms`: a development central system on the console, to watch a charge point talk OCPP.
 * Run with --help for the options.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createCa, createServerCert, writePemFiles } from './certs.js';
import { type CsmsOptions, DevCsms, type FrameRecord } from './server.js';

const USAGE = `Usage: npm run csms -- [options]
  --port N              listen port (default $CSMS_PORT or 9000)
  --host ADDR           listen address (default 127.0.0.1; 0.0.0.0 to reach it from a board)
  --tls                 serve wss with a fresh CA and server certificate (the CA file path is printed)
  --boot-status S       answer to BootNotification: Accepted (default), Pending or Rejected
  --interval N          interval in BootNotification answers (default 60)
  --auth ID:PASSWORD    require HTTP Basic auth; repeat for several charge points
  -h, --help            this text`;

const BOOT_STATUSES = ['Accepted', 'Pending', 'Rejected'] as const;
type BootStatus = (typeof BOOT_STATUSES)[number];

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

function describeFrame(r: FrameRecord): string {
  const m = r.message;
  const body = !m
    ? `RAW ${r.text}`
    : m.type === 'call'
      ? `CALL ${m.action} ${JSON.stringify(m.payload)}`
      : m.type === 'result'
        ? `RESULT ${m.id} ${JSON.stringify(m.payload)}`
        : `ERROR ${m.id} ${m.code} ${JSON.stringify(m.description)} ${JSON.stringify(m.details)}`;
  // The arrow shows who sent it: "->" charge point to central system, "<-" the other way.
  return `${new Date(r.at).toISOString().slice(11, 23)} ${r.chargePointId} ${r.direction === 'in' ? '->' : '<-'} ${body}`;
}

function readArgs() {
  try {
    return parseArgs({
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        tls: { type: 'boolean', default: false },
        'boot-status': { type: 'string', default: 'Accepted' },
        interval: { type: 'string', default: '60' },
        auth: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    fail((err as Error).message);
  }
}

function parseOptions(): CsmsOptions & { port: number } {
  const { values } = readArgs();
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const port = Number(values.port ?? process.env.CSMS_PORT ?? 9000);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    fail(`bad port: ${values.port ?? process.env.CSMS_PORT}`);
  const interval = Number(values.interval);
  if (!Number.isInteger(interval) || interval < 0) fail(`bad --interval: ${values.interval}`);
  const status = values['boot-status'] as BootStatus;
  if (!BOOT_STATUSES.includes(status)) fail(`bad --boot-status: ${status}`);

  const opts: CsmsOptions & { port: number } = {
    port,
    host: values.host,
    rules: { boot: { status, interval } },
  };
  if (values.auth) {
    opts.basicAuth = {};
    for (const pair of values.auth) {
      const colon = pair.indexOf(':');
      if (colon <= 0) fail(`bad --auth (want ID:PASSWORD): ${pair}`);
      opts.basicAuth[pair.slice(0, colon)] = pair.slice(colon + 1);
    }
  }
  if (values.tls) {
    const dir = mkdtempSync(join(tmpdir(), 'dev-csms-'));
    const ca = createCa();
    const { certFile: caFile } = writePemFiles(dir, 'ca', ca);
    opts.tls = createServerCert(ca);
    process.stdout.write(`CA certificate (csms.caFile): ${caFile}\n`);
  }
  return opts;
}

async function main(): Promise<void> {
  const csms = new DevCsms(parseOptions());
  csms.on('frame', (r) => process.stdout.write(`${describeFrame(r)}\n`));
  csms.on('connection', (h) => {
    const tls = h.tls ? ` ${h.tls.protocol} ${h.tls.cipher.standardName}` : '';
    const cert = h.tls?.peerCertificate ? ` client cert CN=${h.tls.peerCertificate.subject.CN}` : '';
    process.stdout.write(`${h.chargePointId} connected${tls}${cert}\n`);
  });
  csms.on('refused', (h) => process.stdout.write(`${h.path} refused with HTTP ${h.refusedStatus}\n`));
  csms.on('close', (cpId, code) => process.stdout.write(`${cpId} disconnected (${code})\n`));
  csms.on('tlsError', (err) => process.stdout.write(`TLS handshake failed: ${err.message}\n`));
  const { url } = await csms.start();
  process.stdout.write(`Dev CSMS listening: ${url}/<chargePointId>\n`);

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    process.stdout.write(`${signal}: stopping\n`);
    csms.stop().then(
      () => {
        process.exitCode = 0;
      },
      (err: unknown) => {
        process.stderr.write(`stop failed: ${String(err)}\n`);
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`dev CSMS failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
