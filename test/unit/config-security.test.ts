import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigFileError, parseConfig } from '../../src/config/file.js';
import { MAX_SEND_LOCAL_LIST_LENGTH } from '../../src/ocpp/frames.js';

const dir = mkdtempSync(join(tmpdir(), 'cp-config-'));
const pem = join(dir, 'present.pem');
writeFileSync(pem, '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const KEY = 'ABCDEF0123456789abcdef0123456789';
const doc = (csms: Record<string, unknown>, ocpp: Record<string, unknown> = {}) => ({
  chargePointId: 'CP1',
  identity: { vendor: 'V', model: 'M' },
  csms: { url: 'ws://127.0.0.1:9000/ocpp', ...csms },
  stateDir: 'state',
  ocpp,
});
const wss = 'wss://csms.example:8443/ocpp';

describe('provisioning file: a security profile that cannot connect stops the daemon at start', () => {
  it.each([
    ['a CA file that does not exist', doc({ caFile: 'missing.pem' }), 'csms.caFile'],
    [
      'a client key that does not exist',
      doc({ url: wss, securityProfile: 3, caFile: pem, certFile: pem, keyFile: 'nokey.pem' }),
      'csms.keyFile',
    ],
    ['profile 1 without AuthorizationKey', doc({ securityProfile: 1 }), 'ocpp.AuthorizationKey'],
    [
      'profile 2 without AuthorizationKey',
      doc({ url: wss, securityProfile: 2, caFile: pem }),
      'ocpp.AuthorizationKey',
    ],
    [
      'profile 2 on a ws:// URL',
      doc({ securityProfile: 2, caFile: pem }, { AuthorizationKey: KEY }),
      'csms.url',
    ],
    [
      'profile 2 without a CA',
      doc({ url: wss, securityProfile: 2 }, { AuthorizationKey: KEY }),
      'csms.caFile',
    ],
    [
      'profile 3 on a ws:// URL',
      doc({ securityProfile: 3, caFile: pem, certFile: pem, keyFile: pem }),
      'csms.url',
    ],
    [
      'profile 3 without a CA',
      doc({ url: wss, securityProfile: 3, certFile: pem, keyFile: pem }),
      'csms.caFile',
    ],
    [
      'profile 3 without certFile',
      doc({ url: wss, securityProfile: 3, caFile: pem, keyFile: pem }),
      'csms.certFile',
    ],
    [
      'profile 3 without keyFile',
      doc({ url: wss, securityProfile: 3, caFile: pem, certFile: pem }),
      'csms.keyFile',
    ],
    [
      'a plain URL for profile 2 in urlBySecurityProfile',
      doc({ urlBySecurityProfile: { '2': 'ws://csms.example/ocpp' } }),
      'csms.urlBySecurityProfile.2',
    ],
  ])('%s names %s', (_what, document, field) => {
    expect(() => parseConfig(document, dir)).toThrow(ConfigFileError);
    expect(() => parseConfig(document, dir)).toThrow(
      new RegExp(`^invalid configuration: ${field.replace(/\./g, '\\.')}:`),
    );
  });

  it.each([
    ['profile 0', doc({})],
    ['profile 1 with its password', doc({ securityProfile: 1 }, { AuthorizationKey: KEY })],
    [
      'profile 1 ready to be raised to 2 on another URL',
      doc({ securityProfile: 1, caFile: pem, urlBySecurityProfile: { '2': wss } }, { AuthorizationKey: KEY }),
    ],
    [
      'profile 2 on its own URL',
      doc({ securityProfile: 2, caFile: pem, urlBySecurityProfile: { '2': wss } }, { AuthorizationKey: KEY }),
    ],
    ['profile 3', doc({ url: wss, securityProfile: 3, caFile: pem, certFile: pem, keyFile: pem })],
  ])('%s is accepted', (_what, document) => {
    expect(() => parseConfig(document, dir)).not.toThrow();
  });
});

describe('provisioning file: SendLocalListMaxLength agrees with the frame limit and the list size', () => {
  it('refuses a per-request maximum whose maximal entries would not fit in one frame', () => {
    const document = doc({}, { SendLocalListMaxLength: 5000, LocalAuthListMaxLength: 10_000 });
    expect(() => parseConfig(document, dir)).toThrow(
      `invalid configuration: ocpp.SendLocalListMaxLength: at most ${MAX_SEND_LOCAL_LIST_LENGTH} entries fit in one frame`,
    );
  });

  it('refuses a per-request maximum above LocalAuthListMaxLength (its default too)', () => {
    expect(() =>
      parseConfig(doc({}, { SendLocalListMaxLength: 60, LocalAuthListMaxLength: 50 }), dir),
    ).toThrow(/ocpp\.SendLocalListMaxLength: must not exceed LocalAuthListMaxLength \(50\)/);
    expect(() => parseConfig(doc({}, { LocalAuthListMaxLength: 99 }), dir)).toThrow(/\(99\)/);
  });

  it('accepts the largest that fits', () => {
    const document = doc(
      {},
      { SendLocalListMaxLength: MAX_SEND_LOCAL_LIST_LENGTH, LocalAuthListMaxLength: 10_000 },
    );
    expect(() => parseConfig(document, dir)).not.toThrow();
    // The figure the README documents.
    expect(MAX_SEND_LOCAL_LIST_LENGTH).toBe(938);
  });
});
