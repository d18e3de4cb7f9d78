import { describe, expect, it } from 'vitest';
import { classifyTlsFailure } from '../../src/ocpp/tls.js';

/** An error as Node's TLS layer reports it: an OpenSSL-derived code and its message. */
function tlsError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

describe('classifyTlsFailure: the white-paper security event of a failed TLS connection', () => {
  it.each([
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate'],
    ['CERT_HAS_EXPIRED', 'certificate has expired'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames"],
  ])(
    'our check of the server certificate failing (%s) is InvalidCentralSystemCertificate',
    (code, message) => {
      expect(classifyTlsFailure(tlsError(code, message))).toBe('InvalidCentralSystemCertificate');
    },
  );

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
