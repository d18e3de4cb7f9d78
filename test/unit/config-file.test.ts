import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigFileError, loadConfigFile, parseConfig } from '../../src/config/file.js';
import { CONFIG_FILE_SCHEMA } from '../../src/config/file-schema.js';

const minimal = {
  chargePointId: 'CP1',
  identity: { vendor: 'V', model: 'M' },
  csms: { url: 'ws://127.0.0.1:9000/ocpp' },
  stateDir: 'state',
};

describe('provisioning file', () => {
  it('applies defaults and resolves paths against the file folder', () => {
    const cfg = parseConfig(minimal, '/etc/chargepoint');
    expect(cfg.stateDir).toBe('/etc/chargepoint/state');
    expect(cfg.board).toBe('sim');
    expect(cfg.csms.securityProfile).toBe(0);
    expect(cfg.csms.reconnect).toEqual({ initialSeconds: 1, maxSeconds: 120 });
    expect(cfg.log.level).toBe('info');
  });

  it.each([
    [{ ...minimal, chargePointId: '' }, 'chargePointId'],
    [{ ...minimal, csms: { url: 'http://x' } }, 'csms.url'],
    [{ ...minimal, csms: { ...minimal.csms, securityProfile: 4 } }, 'csms.securityProfile'],
    [{ ...minimal, identity: { vendor: 'V' } }, 'identity.model'],
    [{ ...minimal, identity: { vendor: 'V'.repeat(21), model: 'M' } }, 'identity.vendor'],
    [{ ...minimal, bogus: 1 }, 'bogus'],
    [{ ...minimal, ocpp: { HeartbeatInterval: [1] } }, 'ocpp.HeartbeatInterval'],
    [{ ...minimal, ocppForced: ['HeartbeatInterval'] }, 'ocppForced'],
  ])('names the bad field (%#)', (doc, field) => {
    expect(() => parseConfig(doc, '/tmp')).toThrow(ConfigFileError);
    expect(() => parseConfig(doc, '/tmp')).toThrow(new RegExp(`${field.replace('.', '\\.')}`));
  });

  it('reports unreadable and non-JSON files clearly', () => {
    expect(() => loadConfigFile('/nonexistent/cp.json')).toThrow(/cannot read configuration file/);
  });

  it('ships a published schema identical to the one the loader uses, and a valid dev config', () => {
    const published = JSON.parse(
      readFileSync(new URL('../../config/chargepoint.schema.json', import.meta.url), 'utf8'),
    );
    expect(published).toEqual(JSON.parse(JSON.stringify(CONFIG_FILE_SCHEMA)));
    expect(() => loadConfigFile(new URL('../../config/dev.json', import.meta.url).pathname)).not.toThrow();
  });
});
