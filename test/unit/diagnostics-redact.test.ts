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
    // The URL as the parser writes it, as in the trace: ftp's default port 21 goes.
    expect(redactor.text('"location":"ftp://anonymous:p%40ss@127.0.0.1:21/files/"')).toBe(
      `"location":"ftp://anonymous:${REDACTED}@127.0.0.1/files/"`,
    );
    expect(redactor.text('https://host/path?q=a:b@c')).toBe('https://host/path?q=a:b@c');
  });

  it('a password in a URL inside another, or holding an angle bracket; a line keeps its end', () => {
    expect(redactor.text('{"url":"https://host/r?to=ftp://u:pw-in-query@h/x"}\n')).toBe(
      `{"url":"https://host/r?to=ftp://u:${REDACTED}@h/x"}\n`,
    );
    expect(redactor.text('{"location":"ftp://u:p<w>d@h/x"}')).toBe(`{"location":"ftp://u:${REDACTED}@h/x"}`);
    expect(redactor.text('ftp://u:pw@h/x\n')).toBe(`ftp://u:${REDACTED}@h/x\n`);
    // A frame in a trace line is JSON inside JSON: its escapes stay.
    const frame = JSON.stringify({ text: JSON.stringify({ location: 'ftp://u:pw@h/x/' }) });
    expect(JSON.parse(redactor.text(frame))).toEqual({ text: `{"location":"ftp://u:${REDACTED}@h/x/"}` });
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
