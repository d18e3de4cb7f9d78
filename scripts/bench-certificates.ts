/**
 * Charge point certificate figures: how long a new key pair and its CSR take (the renewal's cost on
 * the charger, EC P-256 and RSA 2048), and a TLS connection to a central system that asks for a
 * client certificate (security profile 3), from the TCP connect to the open WebSocket. The main
 * bench (`scripts/bench.ts`) calls benchCertificates; `node dist/scripts/bench-certificates.js`
 * runs it alone.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import WebSocket from 'ws';
import { clientTlsOptions } from '../src/ocpp/tls.js';
import { createCertificateRequest, type KeyType } from '../src/security/csr.js';
import { createCa, createServerCert, type Pem } from '../test/csms/certs.js';
import { DevCsms } from '../test/csms/server.js';

export interface CertificateFigures {
  csrEcP256P50Ms: number;
  csrRsa2048P50Ms: number;
  tlsConnectEcClientCertP50Ms: number;
  tlsConnectRsaClientCertP50Ms: number;
}

const CSR_ROUNDS: Record<KeyType, number> = { 'ec-p256': 100, 'rsa-2048': 20, 'rsa-3072': 5 };
const CONNECTS = 50;
const CP = 'CP-BENCH-TLS';

function p50(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return Math.round((sorted[Math.floor(sorted.length / 2)] ?? 0) * 1000) / 1000;
}

async function csrTimes(type: KeyType): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < CSR_ROUNDS[type]; i++) {
    const started = performance.now();
    await createCertificateRequest(type, { organization: 'Bench CPO', commonName: 'SN-BENCH' });
    samples.push(performance.now() - started);
  }
  return samples;
}

/** A client certificate for a request of ours, signed by the CA with openssl (forge signs RSA keys only). */
async function clientCertificate(dir: string, ca: Pem, type: KeyType): Promise<Pem> {
  const request = await createCertificateRequest(type, { organization: 'Bench CPO', commonName: 'SN-BENCH' });
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const out = join(dir, `${type}.pem`);
  execFileSync(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      file(`${type}.csr`, request.csrPem),
      '-CA',
      file('ca.pem', ca.cert),
      '-CAkey',
      file('ca.key', ca.key),
      '-set_serial',
      '0x01',
      '-days',
      '30',
      '-sha256',
      '-out',
      out,
    ],
    { stdio: 'pipe' },
  );
  return { cert: readFileSync(out, 'utf8'), key: request.privateKeyPem };
}

/** TCP connect, TLS handshake with the client certificate, WebSocket upgrade: until `open`. */
async function connectTimes(url: string, ca: Pem, client: Pem): Promise<number[]> {
  const samples: number[] = [];
  const target = `${url}/${CP}`;
  for (let i = 0; i < CONNECTS; i++) {
    const started = performance.now();
    const ws = new WebSocket(target, ['ocpp1.6'], {
      perMessageDeflate: false,
      ...clientTlsOptions('127.0.0.1', { ca: ca.cert, cert: client.cert, key: client.key }),
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    samples.push(performance.now() - started);
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      ws.close(1000);
    });
  }
  return samples;
}

export async function benchCertificates(): Promise<CertificateFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'cp-bench-certs-'));
  const ca = createCa({ commonName: 'Bench Root' });
  const server = createServerCert(ca);
  const csms = new DevCsms({ tls: { key: server.key, cert: server.cert, ca: ca.cert, requestCert: true } });
  const { url } = await csms.start();
  try {
    const csrEcP256P50Ms = p50(await csrTimes('ec-p256'));
    const csrRsa2048P50Ms = p50(await csrTimes('rsa-2048'));
    const ec = await clientCertificate(dir, ca, 'ec-p256');
    const rsa = await clientCertificate(dir, ca, 'rsa-2048');
    const tlsConnectEcClientCertP50Ms = p50(await connectTimes(url, ca, ec));
    const tlsConnectRsaClientCertP50Ms = p50(await connectTimes(url, ca, rsa));
    return { csrEcP256P50Ms, csrRsa2048P50Ms, tlsConnectEcClientCertP50Ms, tlsConnectRsaClientCertP50Ms };
  } finally {
    await csms.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const invokedAs = process.argv[1] === undefined ? '' : pathToFileURL(process.argv[1]).href;
if (import.meta.url === invokedAs) {
  process.stdout.write(`${JSON.stringify(await benchCertificates(), null, 2)}\n`);
}
