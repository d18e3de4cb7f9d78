/**
 * The last pass over every line of a diagnostics bundle: no spelling of the AuthorizationKey, no
 * password in a URL, no private key, no secret-named field leaves the charger.
 */
import { describe, expect, it } from 'vitest';
import { Redactor } from '../../src/diagnostics/redact.js';
import { REDACTED } from '../../src/ocpp/trace.js';

const CP = 'CP-1';
const PASSWORD = 'sixteen-bytes-pw-01';
const hex = Buffer.from(PASSWORD).toString('hex').toUpperCase();

describe('Redactor', () => {
  const redactor = new Redactor(CP, [hex, undefined]);

  it('every spelling of the AuthorizationKey', () => {
    const basic = Buffer.from(`${CP}:${PASSWORD}`).toString('base64');
    for (const spelling of [hex, hex.toLowerCase(), PASSWORD, basic, `Basic ${basic}`]) {
      const text = redactor.text(`{"msg":"x","v":"${spelling}"}`);
      expect(text).toContain(REDACTED);
      for (const secret of [hex, hex.toLowerCase(), PASSWORD, basic]) expect(text).not.toContain(secret);
    }
  });

  it('a password in a URL, the user kept', () => {
    expect(redactor.text('"location":"ftp://anonymous:p%40ss@127.0.0.1:21/files/"')).toBe(
      `"location":"ftp://anonymous:${REDACTED}@127.0.0.1:21/files/"`,
    );
    expect(redactor.text('https://host/path?q=a:b@c')).toBe('https://host/path?q=a:b@c');
  });

  it('PEM private keys, also unterminated', () => {
    const pem = '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI\n-----END EC PRIVATE KEY-----';
    expect(redactor.text(`a ${pem} b`)).toBe(`a ${REDACTED} b`);
    expect(redactor.text('x -----BEGIN PRIVATE KEY-----\nMIIEv')).toBe(`x ${REDACTED}`);
  });

  it('secret-named fields and {key, value} configuration entries in JSON values', () => {
    expect(
      redactor.value({
        ocpp: { AuthorizationKey: 'anything', HeartbeatInterval: 60 },
        mqtt: { url: 'mqtt://user:pw@broker', password: 'x' },
        keys: [
          { key: 'AuthorizationKey', readonly: false, value: 'anything' },
          { key: 'HeartbeatInterval', readonly: false, value: '60' },
        ],
      }),
    ).toEqual({
      ocpp: { AuthorizationKey: REDACTED, HeartbeatInterval: 60 },
      mqtt: { url: `mqtt://user:${REDACTED}@broker`, password: REDACTED },
      keys: [
        { key: 'AuthorizationKey', readonly: false, value: REDACTED },
        { key: 'HeartbeatInterval', readonly: false, value: '60' },
      ],
    });
  });
});
