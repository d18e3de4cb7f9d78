import { isIP } from 'node:net';
import type { DetailedPeerCertificate, SecureContextOptions, TLSSocket } from 'node:tls';
import { errorMessage } from '../error-message.js';

/**
 * TLS 1.2 suites the security white paper asks a charge point to support: both ECDSA GCM suites
 * and both RSA GCM suites, plus their ECDHE-RSA twins for forward secrecy with RSA servers.
 * Nothing CBC, nothing without AEAD: a central system offering only weaker suites is refused.
 * TLS 1.3 suites are all AEAD and keep Node's defaults.
 */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'AES128-GCM-SHA256',
  'AES256-GCM-SHA384',
].join(':');

export interface TlsMaterial {
  /** PEM bundle of trusted central-system root certificates. */
  ca: string;
  /** Charge point certificate and key (security profile 3 only). */
  cert?: string;
  key?: string;
}

export interface ClientTlsOptions extends SecureContextOptions {
  minVersion: 'TLSv1.2';
  rejectUnauthorized: true;
  servername?: string;
}

/** Options for the TLS client of security profiles 2 and 3; the host is checked by Node against the cert. */
export function clientTlsOptions(host: string, material: TlsMaterial): ClientTlsOptions {
  return {
    minVersion: 'TLSv1.2',
    ciphers: TLS12_CIPHERS,
    ca: material.ca,
    // Whitepaper 7.1: a partial chain check during the handshake. A root installed under
    // AdditionalRootCertificateCheck is signed by its predecessor, and must anchor the chain alone
    // once that fallback is removed.
    allowPartialTrustChain: true,
    rejectUnauthorized: true,
    // SNI must be a DNS name; for an IP address Node checks the certificate's IP entries instead.
    ...(isIP(host) ? {} : { servername: host }),
    ...(material.cert && material.key ? { cert: material.cert, key: material.key } : {}),
  };
}

/** The white-paper security events a failed TLS connection can be. */
export type TlsFailureEvent =
  | 'InvalidCentralSystemCertificate'
  | 'CentralSystemFailedToAuthenticate'
  | 'FailedToAuthenticateAtCentralSystem'
  | 'InvalidTLSVersion'
  | 'InvalidTLSCipherSuite';

/**
 * The security event (white paper A04) a failed TLS handshake corresponds to, if any:
 *
 * - FailedToAuthenticateAtCentralSystem: the central system sent a certificate alert, about our
 *   client certificate: it refused our credentials.
 * - CentralSystemFailedToAuthenticate: the server's certificate is sound and chains to a root we
 *   trust, but names another host (OpenSSL checks the chain first, Node the name only after it),
 *   so the server did not prove it is the central system we called: we refused its credentials.
 * - InvalidCentralSystemCertificate: the certificate itself fails: a chain to no trusted root, a
 *   self-signed one, expired, not yet valid, a bad signature, unparsable.
 *
 * A server without a certificate never gets that far: only anonymous suites could carry it, and
 * we offer none, so it fails as a suite mismatch (InvalidTLSCipherSuite).
 */
export function classifyTlsFailure(error: unknown): TlsFailureEvent | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  const message = errorMessage(error);
  if (typeof code === 'string') {
    if (/_ALERT_/.test(code) && /CERT|UNKNOWN_CA|ACCESS_DENIED/.test(code))
      return 'FailedToAuthenticateAtCentralSystem';
    if (/ALTNAME_INVALID|HOSTNAME_MISMATCH|IP_ADDRESS_MISMATCH/.test(code))
      return 'CentralSystemFailedToAuthenticate';
    if (/CERT|SELF_SIGNED|ALTNAME|UNABLE_TO_(GET|VERIFY|DECODE)|INVALID_CA/.test(code))
      return 'InvalidCentralSystemCertificate';
    if (/PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|WRONG_VERSION/.test(code)) return 'InvalidTLSVersion';
    if (/NO_CIPHER|NO_SHARED_CIPHER|HANDSHAKE_FAILURE/.test(code)) return 'InvalidTLSCipherSuite';
  }
  if (/protocol version|unsupported protocol/i.test(message)) return 'InvalidTLSVersion';
  if (/does not match certificate|hostname mismatch/i.test(message))
    return 'CentralSystemFailedToAuthenticate';
  if (/certificate|altname|self[- ]signed/i.test(message)) return 'InvalidCentralSystemCertificate';
  if (/cipher|handshake failure/i.test(message)) return 'InvalidTLSCipherSuite';
  return undefined;
}

/**
 * The server's certificate chain as this connection verified it, DER, leaf first. Node completes
 * the chain the server sent with the issuers it found among our trusted roots, so the root that
 * verified the connection is in it or issued its last certificate.
 */
export function peerChain(socket: TLSSocket): Buffer[] {
  const chain: Buffer[] = [];
  let cert: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  while (cert?.raw && !chain.some((der) => der.equals(cert?.raw ?? Buffer.alloc(0)))) {
    chain.push(cert.raw);
    cert = cert.issuerCertificate;
  }
  return chain;
}
