import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type TlsOptions } from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { classifyTlsFailure, clientTlsOptions } from '../../src/ocpp/tls.js';
import { createCa, createServerCert, type Pem } from '../csms/certs.js';
import { ecCa, ecServerCert } from '../support/pki.js';

/** An error as Node's TLS layer reports it: an OpenSSL-derived code and its message. */
function tlsError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

const DAY_MS = 86_400_000;

describe('classifyTlsFailure: the white-paper security event of a failed TLS connection', () => {
  it.each([
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate'],
    ['CERT_HAS_EXPIRED', 'certificate has expired'],
    ['CERT_NOT_YET_VALID', 'certificate is not yet valid'],
    ['CERT_SIGNATURE_FAILURE', 'certificate signature failure'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'],
    ['ERR_TLS_CERT_ALTNAME_FORMAT', 'Invalid subject alternative name string'],
  ])(
    'our check of the server certificate failing (%s) is InvalidCentralSystemCertificate',
    (code, message) => {
      expect(classifyTlsFailure(tlsError(code, message))).toBe('InvalidCentralSystemCertificate');
    },
  );

  it.each([
    ['ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames"],
    ['HOSTNAME_MISMATCH', 'hostname mismatch'],
    ['IP_ADDRESS_MISMATCH', 'IP address mismatch'],
  ])('a sound certificate for another host (%s) is CentralSystemFailedToAuthenticate', (code, message) => {
    expect(classifyTlsFailure(tlsError(code, message))).toBe('CentralSystemFailedToAuthenticate');
  });

  it.each([
    ['ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'sslv3 alert bad certificate'],
    ['ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN', 'sslv3 alert certificate unknown'],
    ['ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'tlsv1 alert unknown ca'],
    ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'tlsv13 alert certificate required'],
    ['ERR_SSL_TLSV1_ALERT_ACCESS_DENIED', 'tlsv1 alert access denied'],
  ])(
    'the central system refusing our client certificate (alert %s) is FailedToAuthenticateAtCentralSystem',
    (code, message) => {
      expect(classifyTlsFailure(tlsError(code, message))).toBe('FailedToAuthenticateAtCentralSystem');
    },
  );

  it('a protocol version or cipher mismatch keeps its own event; a reset is no security event', () => {
    expect(
      classifyTlsFailure(tlsError('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'tlsv1 alert protocol version')),
    ).toBe('InvalidTLSVersion');
    expect(classifyTlsFailure(tlsError('ERR_SSL_NO_SHARED_CIPHER', 'no shared cipher'))).toBe(
      'InvalidTLSCipherSuite',
    );
    expect(classifyTlsFailure(tlsError('ECONNRESET', 'socket hang up'))).toBeUndefined();
  });
});

describe('classifyTlsFailure against real TLS servers (certificates made at run time)', () => {
  let ca: Pem;
  const closers: Array<() => void> = [];
  afterEach(() => {
    for (const close of closers.splice(0)) close();
  });

  beforeAll(() => {
    ca = createCa({ commonName: 'Test CSMS Root' });
  });

  /**
   * Connects the charge point's TLS client (the options the link uses, trusting `roots`) to a
   * server on the loopback with `server` options, as `host` would be called; returns the event.
   */
  async function eventOf(
    server: TlsOptions,
    host = 'localhost',
    roots = ca.cert,
  ): Promise<string | undefined> {
    const listener = createServer(server, (socket) => socket.end());
    listener.on('tlsClientError', () => {});
    listener.listen(0, '127.0.0.1');
    closers.push(() => listener.close());
    await once(listener, 'listening');
    const { port } = listener.address() as AddressInfo;
    const socket = connect({ host: '127.0.0.1', port, ...clientTlsOptions(host, { ca: roots }) });
    closers.push(() => socket.destroy());
    const outcome = await Promise.race([
      once(socket, 'error').then(([error]: unknown[]) => error),
      once(socket, 'secureConnect').then(() => undefined),
    ]);
    expect(outcome, 'the handshake must fail').toBeDefined();
    return classifyTlsFailure(outcome);
  }

  const served = (pem: Pem): TlsOptions => ({ key: pem.key, cert: pem.cert });

  it('the link options connect to a server with a certificate for its name (the baseline)', async () => {
    const listener = createServer(served(createServerCert(ca)), (socket) => socket.end());
    listener.listen(0, '127.0.0.1');
    closers.push(() => listener.close());
    await once(listener, 'listening');
    const { port } = listener.address() as AddressInfo;
    const socket = connect({ host: '127.0.0.1', port, ...clientTlsOptions('localhost', { ca: ca.cert }) });
    closers.push(() => socket.destroy());
    await once(socket, 'secureConnect');
    expect(socket.authorized).toBe(true);
  });

  it('a valid chain for another host name is CentralSystemFailedToAuthenticate (RSA and ECDSA)', async () => {
    const other = { commonName: 'csms.other.example', altNames: ['csms.other.example'] };
    expect(await eventOf(served(createServerCert(ca, other)))).toBe('CentralSystemFailedToAuthenticate');
    // An address the certificate does not list, called by IP.
    expect(await eventOf(served(createServerCert(ca, other)), '127.0.0.1')).toBe(
      'CentralSystemFailedToAuthenticate',
    );
    // An ECDSA chain from a trusted EC root, the server called by a name it does not carry.
    const ecRoot = ecCa('EC Root');
    expect(await eventOf(served(ecServerCert(ecRoot)), 'csms.example', ecRoot.cert)).toBe(
      'CentralSystemFailedToAuthenticate',
    );
  });

  it('a certificate that fails itself is InvalidCentralSystemCertificate, even for another host', async () => {
    const cases: Array<[string, Pem]> = [
      ['untrusted chain', createServerCert(createCa({ commonName: 'Rogue Root' }))],
      [
        'untrusted chain for another host',
        createServerCert(createCa({ commonName: 'Rogue Root' }), { altNames: ['csms.other.example'] }),
      ],
      [
        'expired',
        createServerCert(ca, {
          notBefore: new Date(Date.now() - 20 * DAY_MS),
          notAfter: new Date(Date.now() - DAY_MS),
        }),
      ],
      [
        'not yet valid',
        createServerCert(ca, {
          notBefore: new Date(Date.now() + DAY_MS),
          notAfter: new Date(Date.now() + 9 * DAY_MS),
        }),
      ],
      ['self-signed', createCa({ commonName: 'localhost' })],
      ['a damaged signature', withDamagedSignature(createServerCert(ca))],
    ];
    for (const [what, pem] of cases) {
      expect(await eventOf(served(pem)), what).toBe('InvalidCentralSystemCertificate');
    }
  });

  it('a server with no certificate at all cannot pick a suite we offer: InvalidTLSCipherSuite', async () => {
    expect(await eventOf({ ciphers: 'aNULL:@SECLEVEL=0', maxVersion: 'TLSv1.2' })).toBe(
      'InvalidTLSCipherSuite',
    );
  });
});

/** The certificate with one byte of its signature flipped: it still parses and matches its key. */
function withDamagedSignature(pem: Pem): Pem {
  const der = Buffer.from(pem.cert.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  der[der.length - 5] = (der[der.length - 5] ?? 0) ^ 0xff;
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return {
    key: pem.key,
    cert: `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`,
  };
}
