import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigFileError, checkConfig, loadConfigFile, parseConfig } from '../../src/config/file.js';
import { CONFIG_FILE_SCHEMA } from '../../src/config/file-schema.js';
import { parseJson } from '../../src/config/json-text.js';

const TEMPLATE = new URL('../../config/chargepoint.example.json', import.meta.url).pathname;
const BOARD = new URL('../../config/boards/rpi-ac-1.json', import.meta.url).pathname;

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

  it('resolves a firmware.install program given as a relative path against the file folder; a bare name is left to PATH', () => {
    const install = (argv: string[]) =>
      parseConfig({ ...minimal, firmware: { install: argv } }, '/etc/chargepoint').firmware.install;
    expect(install(['hooks/install.sh', 'args/stay', '--slot'])).toEqual([
      '/etc/chargepoint/hooks/install.sh',
      'args/stay',
      '--slot',
    ]);
    expect(install(['../libexec/install.sh'])).toEqual(['/etc/libexec/install.sh']);
    expect(install(['./install.sh'])).toEqual(['/etc/chargepoint/install.sh']);
    expect(install(['/usr/local/libexec/chargepoint/firmware-install-release.sh'])).toEqual([
      '/usr/local/libexec/chargepoint/firmware-install-release.sh',
    ]);
    expect(install(['rauc', 'install'])).toEqual(['rauc', 'install']);
    expect(parseConfig(minimal, '/etc/chargepoint').firmware.install).toBeUndefined();
  });

  it("resolves the file's other programs the same way: firmware.confirm and reset.hardResetCommand", () => {
    const cfg = parseConfig(
      {
        ...minimal,
        firmware: { confirm: ['hooks/confirm.sh', 'good'] },
        reset: { hardResetCommand: ['./reboot-board', 'now'] },
      },
      '/etc/chargepoint',
    );
    expect(cfg.firmware.confirm).toEqual(['/etc/chargepoint/hooks/confirm.sh', 'good']);
    expect(cfg.reset.hardResetCommand).toEqual(['/etc/chargepoint/reboot-board', 'now']);
    const bare = parseConfig({ ...minimal, reset: { hardResetCommand: ['systemctl', 'reboot'] } }, '/etc');
    expect(bare.reset.hardResetCommand).toEqual(['systemctl', 'reboot']);
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
    const dev = loadConfigFile(new URL('../../config/dev.json', import.meta.url).pathname);
    // Its hook is the checkout's, wherever the daemon runs from.
    expect(dev.firmware.install).toEqual([
      new URL('../../scripts/firmware-install-dev.sh', import.meta.url).pathname,
    ]);
  });
});

/** The problems of a document, none if it is valid. */
function problemsOf(document: unknown, baseDir = '/tmp'): string[] {
  const checked = checkConfig(document, baseDir);
  return 'problems' in checked ? checked.problems : [];
}

describe('provisioning file: every problem at once', () => {
  it('lists every schema error, each naming its field', () => {
    expect(
      problemsOf({
        ...minimal,
        chargePointId: '',
        csms: { url: 'http://x', securityProfile: 4 },
        log: { level: 'loud' },
      }),
    ).toEqual([
      'chargePointId: must NOT have fewer than 1 characters',
      `chargePointId: must match pattern "^[A-Za-z0-9._~:@!$&'()*+,;=-]+$"`,
      'csms.url: must match pattern "^wss?://[^\\s]+$"',
      'csms.securityProfile: must be <= 3',
      'log.level: must be one of "fatal", "error", "warn", "info", "debug", "trace"',
    ]);
  });

  it('lists every rule the schema cannot say, not only the first', () => {
    expect(
      problemsOf({
        ...minimal,
        csms: { url: 'ws://x/ocpp', securityProfile: 3 },
        ocppForced: ['HeartbeatInterval'],
      }),
    ).toEqual([
      'ocppForced: HeartbeatInterval has no value in ocpp',
      'csms.url: security profile 3 needs a wss:// URL',
      'csms.caFile: security profile 3 needs a CA bundle',
      'csms.certFile: security profile 3 needs a client certificate',
      'csms.keyFile: security profile 3 needs a client key',
    ]);
  });

  it('names an enum setting with its allowed values', () => {
    expect(() => parseConfig({ ...minimal, firmware: { afterInstall: 'halt' } }, '/tmp')).toThrow(
      'invalid configuration: firmware.afterInstall: must be one of "reboot", "restart"',
    );
  });

  it('says where the boards are when the board is a bare name', () => {
    const [problem] = problemsOf({ ...minimal, board: 'rpi-ac-1' }, '/etc/chargepoint');
    expect(problem).toMatch(
      /^board: no board file \/etc\/chargepoint\/rpi-ac-1 \(board is "sim" or the path of a board file\); board files live in .*\/config\/boards\/ here, and PREFIX\/current\/config\/boards\/ once installed/,
    );
    expect(problem).toMatch(/e\.g\. ".*\/config\/boards\/rpi-ac-1\.json"$/);
  });
});

describe('provisioning file: JSON syntax', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cp-config-json-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['{\n  "a": 1,\n}', 'line 3 column 1: Expected double-quoted property name'],
    ['{\n  "a": }', 'line 2 column 8: unexpected "}"'],
    ['{\n  "a": tru\n}', 'line 2 column 11: unexpected "\\n"'],
    ['{\n  "a": [1, 2\n', "line 3 column 1: Expected ',' or ']' after array element"],
    ['{"a": 1} x', 'line 1 column 10: unexpected character'],
    ['{\n  "a": "x', 'line 2 column 10: Unterminated string'],
    ['{\n  "a":', 'line 2 column 7: unexpected end of the text'],
  ])('%j fails at %s', (text, message) => {
    expect(() => parseJson(text)).toThrow(message);
  });

  it('reads a file an editor saved with a byte order mark (RFC 8259 lets a reader ignore it)', () => {
    expect(parseJson('\uFEFF{"a": 1}')).toEqual({ a: 1 });
    expect(() => parseJson('\uFEFF{"a": }')).toThrow('line 1 column 7: unexpected "}"');
  });

  it('a file names the line and column, and never quotes its text (it may hold a password)', () => {
    const file = join(dir, 'cp.json');
    writeFileSync(file, '{\n  "ocpp": { "AuthorizationKey": "s3cret-password" \n  "x": 1 }\n}\n');
    expect(() => loadConfigFile(file)).toThrow(
      `configuration file ${file} is not valid JSON: line 3 column 3: Expected ',' or '}' after property value`,
    );
    expect(() => loadConfigFile(file)).not.toThrow(/s3cret/);
  });

  it('never shows a character of a password written without its quotes', () => {
    const file = join(dir, 'cp-unquoted.json');
    writeFileSync(file, '{\n  "ocpp": { "AuthorizationKey": s3cret }\n}\n');
    expect(() => loadConfigFile(file)).toThrow(
      `configuration file ${file} is not valid JSON: line 2 column 33: unexpected character`,
    );
    expect(() => loadConfigFile(file)).not.toThrow(/"s"|s3/);
  });
});

describe('provisioning file: the installer template', () => {
  const template = JSON.parse(readFileSync(TEMPLATE, 'utf8')) as Record<string, unknown>;
  const filled = JSON.parse(readFileSync(TEMPLATE, 'utf8').replaceAll('CHANGE-ME', 'CP-SITE-7')) as Record<
    string,
    unknown
  >;

  it('is refused as shipped, naming every placeholder, the simulated board and the mark', () => {
    expect(problemsOf(template).map((problem) => problem.split(':')[0])).toEqual([
      'chargePointId',
      'identity.vendor',
      'identity.model',
      'identity.chargePointSerialNumber',
      'identity.chargeBoxSerialNumber',
      'csms.url',
      'board',
      'template',
    ]);
  });

  it('is refused on the simulated board while it is marked as the template', () => {
    expect(problemsOf({ ...filled, board: 'sim' }).map((problem) => problem.split(':')[0])).toEqual([
      'board',
      'template',
    ]);
  });

  it('is refused with its mark deleted but its board left as shipped: a charger never runs the simulation unasked', () => {
    // Filled in field by field, as a technician does, and the mark deleted: only the board is left.
    const { template: _mark, ...unmarked } = template;
    const provisioned = {
      ...unmarked,
      chargePointId: 'CP-SITE-7',
      identity: { vendor: 'ACME', model: 'AC22', chargePointSerialNumber: 'S7', chargeBoxSerialNumber: 'S7' },
      csms: { url: 'wss://csms.example.com/ocpp', securityProfile: 0 },
    };
    const problems = problemsOf(provisioned);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^board: still the template's placeholder CHANGE-ME: fill in the path of this charger's board file; board files live in .*\/config\/boards\/.*rpi-ac-1\.json/,
    );
  });

  it('runs once filled in and unmarked; the simulated board stays for development files', () => {
    const { template: _mark, ...provisioned } = filled;
    expect(problemsOf({ ...provisioned, board: BOARD })).toEqual([]);
    expect(problemsOf({ ...minimal, board: 'sim' })).toEqual([]);
  });

  it('a placeholder is refused anywhere, mark or not', () => {
    expect(() =>
      parseConfig(
        { ...minimal, identity: { vendor: 'V', model: 'M', chargeBoxSerialNumber: 'CHANGE-ME' } },
        '/tmp',
      ),
    ).toThrow(
      'invalid configuration: the configuration is not filled in: fill in identity.chargeBoxSerialNumber; chargepointd --check --config <file> explains each',
    );
  });
});
