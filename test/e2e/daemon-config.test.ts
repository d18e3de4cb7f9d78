import { execFile } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DaemonProcess, standaloneConfig } from '../support/daemon-process.js';

describe('chargepointd refuses impossible security settings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cp-proc-'));
  let daemon: DaemonProcess | undefined;
  afterEach(() => {
    // Before the fix it ran on, retrying a connection that could never succeed.
    if (daemon && daemon.child.exitCode === null) daemon.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('a missing CA bundle on profile 2 exits 78 naming csms.caFile, before anything runs', async () => {
    daemon = DaemonProcess.withConfig(
      dir,
      standaloneConfig(dir, 'CP-PROC-02', {
        csms: { url: 'wss://127.0.0.1:1/ocpp', securityProfile: 2, caFile: join(dir, 'no-such-ca.pem') },
        ocpp: { AuthorizationKey: 'ABCDEF0123456789abcdef0123456789' },
      }),
    );
    expect(await daemon.exitCode()).toBe(78);
    expect(
      daemon.lines.some(
        (l) => l.level === 'fatal' && String(l.msg).startsWith('invalid configuration: csms.caFile:'),
      ),
    ).toBe(true);
    expect(daemon.lines.some((l) => l.msg === 'connecting to central system')).toBe(false);
  });
});

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TEMPLATE = join(ROOT, 'config/chargepoint.example.json');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `chargepointd --check --config FILE` as its own process, from source through tsx. */
function check(file: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'src/bin/chargepointd.ts'), '--check', '--config', file],
      { cwd: ROOT },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
    );
  });
}

/** The installer's template with its placeholders replaced, state and socket in `dir`. */
function filledTemplate(dir: string, replace: Record<string, unknown> = {}): Record<string, unknown> {
  const text = readFileSync(TEMPLATE, 'utf8').replaceAll('CHANGE-ME', 'CP-SITE-7');
  return {
    ...(JSON.parse(text) as Record<string, unknown>),
    stateDir: join(dir, 'state'),
    cli: { socket: join(dir, 'cpctl.sock') },
    ...replace,
  };
}

describe('chargepointd refuses the installer template until it is filled in', () => {
  let dir: string;
  let daemon: DaemonProcess | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cp-template-'));
  });
  afterEach(() => {
    if (daemon && daemon.child.exitCode === null) daemon.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('exits 78 on the template as shipped, with one line naming every field to fill in', async () => {
    const file = join(dir, 'chargepoint.json');
    copyFileSync(TEMPLATE, file);
    daemon = DaemonProcess.spawn(['--config', file]);
    expect(await daemon.exitCode()).toBe(78);
    const fatal = daemon.lines.filter((l) => l.level === 'fatal');
    expect(fatal).toHaveLength(1);
    const msg = String(fatal[0]?.msg);
    expect(msg).toMatch(/^invalid configuration: the configuration is the installer's template: fill in /);
    for (const field of [
      'chargePointId',
      'identity.chargePointSerialNumber',
      'identity.chargeBoxSerialNumber',
      'csms.url',
      'board',
    ])
      expect(msg).toContain(field);
    expect(msg).toContain('delete "template"');
    // Refused before anything ran: the template's /var/lib/chargepoint was never reached.
    expect(daemon.lines.some((l) => l.msg === 'chargepointd starting')).toBe(false);
  });

  it('exits 78 on a filled-in template that still says board "sim", naming where boards live', async () => {
    daemon = DaemonProcess.withConfig(dir, filledTemplate(dir, { board: 'sim' }));
    expect(await daemon.exitCode()).toBe(78);
    const fatal = daemon.lines.find((l) => l.level === 'fatal');
    expect(fatal?.msg).toMatch(
      /fill in board \(the path of its board file, not "sim"\), then delete "template"/,
    );
    expect(fatal?.problems).toContainEqual(
      expect.stringMatching(/^board: "sim" is the simulated board.*config\/boards\//),
    );
    expect(existsSync(join(dir, 'state'))).toBe(false);
  });

  it('exits 78 on a placeholder left in a file without the template mark', async () => {
    const { template: _mark, ...config } = filledTemplate(dir, { chargePointId: 'CHANGE-ME', board: 'sim' });
    daemon = DaemonProcess.withConfig(dir, config);
    expect(await daemon.exitCode()).toBe(78);
    expect(daemon.lines.find((l) => l.level === 'fatal')?.msg).toBe(
      'invalid configuration: the configuration is not filled in: fill in chargePointId; chargepointd --check --config <file> explains each',
    );
  });
});

describe('chargepointd --check', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cp-check-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, content: unknown): string => {
    const file = join(dir, name);
    writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
    return file;
  };

  it('exits 0 on a valid file and its board, opening nothing', async () => {
    const file = write('chargepoint.json', standaloneConfig(dir, 'CP-CHECK-01'));
    const result = await check(file);
    expect(result).toEqual({
      code: 0,
      stdout: `${file}: valid, board file ${join(ROOT, 'config/boards/sim.json')}: valid\n`,
      stderr: '',
    });
    // No store, no socket: --check validates and goes.
    expect(readdirSync(dir)).toEqual(['chargepoint.json']);
  });

  it('lists every problem, not only the first, and exits 78', async () => {
    const file = write(
      'chargepoint.json',
      standaloneConfig(dir, 'CP CHECK', {
        identity: { vendor: 'V' },
        csms: { url: 'ws://127.0.0.1:9/ocpp', securityProfile: 1 },
        log: { level: 'loud' },
        security: { keyType: 'dsa-1024' },
        bogus: true,
      }),
    );
    const result = await check(file);
    expect(result.code).toBe(78);
    expect(result.stdout).toBe('');
    expect(result.stderr.split('\n')).toEqual([
      `${file}: bogus: is not a known setting`,
      `${file}: chargePointId: must match pattern "^[A-Za-z0-9._~:@!$&'()*+,;=-]+$"`,
      `${file}: identity.model: is required`,
      `${file}: security.keyType: must be one of "ec-p256", "rsa-2048", "rsa-3072"`,
      `${file}: log.level: must be one of "fatal", "error", "warn", "info", "debug", "trace"`,
      '5 problem(s)',
      '',
    ]);
    expect(existsSync(join(dir, 'state'))).toBe(false);
  });

  it('lists every OCPP key the start would refuse, never showing the AuthorizationKey', async () => {
    const file = write(
      'chargepoint.json',
      standaloneConfig(dir, 'CP-CHECK-01', {
        ocpp: {
          heartbeatInterval: 60,
          HeartbeatInterval: 'hourly',
          MeterValuesSampledData: 'Energy.Active.Import.Register,Bogus',
          AuthorizationKey: 's3cret',
        },
      }),
    );
    const result = await check(file);
    expect(result.code).toBe(78);
    expect(result.stderr.split('\n')).toEqual([
      `${file}: ocpp.heartbeatInterval: not a standard configuration key (names are case-sensitive: did you mean HeartbeatInterval?)`,
      `${file}: ocpp.HeartbeatInterval: not an integer: must be between 1 and 604800`,
      `${file}: ocpp.MeterValuesSampledData: 'Bogus' is not a measurand (optionally with a phase)`,
      `${file}: ocpp.AuthorizationKey: length must be between 16 and 40 characters`,
      '4 problem(s)',
      '',
    ]);
    expect(result.stderr).not.toContain('s3cret');
    // Listed also when the file's shape is wrong elsewhere.
    const misshapen = write('misshapen.json', { ...JSON.parse(readFileSync(file, 'utf8')), bogus: true });
    const both = await check(misshapen);
    expect(both.stderr.split('\n').slice(0, 2)).toEqual([
      `${misshapen}: bogus: is not a known setting`,
      `${misshapen}: ocpp.heartbeatInterval: not a standard configuration key (names are case-sensitive: did you mean HeartbeatInterval?)`,
    ]);
    expect(both.stderr).toContain('5 problem(s)');
    // A start refuses the file with the same lines, all at once.
    const daemon = DaemonProcess.spawn(['--config', file]);
    expect(await daemon.exitCode()).toBe(78);
    expect(daemon.lines.find((line) => line.level === 'fatal')?.problems).toEqual(
      result.stderr
        .split('\n')
        .slice(0, 4)
        .map((line) => line.slice(`${file}: `.length)),
    );
  });

  it('reports a firmware.install hook that does not exist or cannot be run, relative paths from the file folder', async () => {
    mkdirSync(join(dir, 'hooks'));
    const runnable = write('hooks/install.sh', '#!/bin/sh\nexit 0\n');
    chmodSync(runnable, 0o755);
    write('hooks/not-executable.sh', '#!/bin/sh\nexit 0\n');
    const withHook = (name: string, install: string[]) =>
      write(name, standaloneConfig(dir, 'CP-CHECK-05', { firmware: { install } }));

    // Run from another folder: the hook is the configuration's, not the working directory's.
    for (const install of [['hooks/install.sh', '--slot'], [runnable], ['true']])
      expect(await check(withHook('valid.json', install))).toMatchObject({ code: 0, stderr: '' });

    const missing = withHook('missing.json', ['hooks/missing.sh']);
    expect(await check(missing)).toEqual({
      code: 78,
      stdout: '',
      stderr: `${missing}: firmware.install: no file ${join(dir, 'hooks/missing.sh')}\n1 problem(s)\n`,
    });
    const notExecutable = withHook('not-executable.json', ['hooks/not-executable.sh']);
    expect((await check(notExecutable)).stderr).toBe(
      `${notExecutable}: firmware.install: ${join(dir, 'hooks/not-executable.sh')} is not executable\n1 problem(s)\n`,
    );
    const folder = withHook('folder.json', ['./hooks']);
    expect((await check(folder)).stderr).toBe(
      `${folder}: firmware.install: ${join(dir, 'hooks')} is not a file\n1 problem(s)\n`,
    );
  });

  it('gives the line and column of a JSON syntax error', async () => {
    const file = write(
      'chargepoint.json',
      '{\n  "chargePointId": "CP-1",\n  "identity": { "vendor": "V" },\n}\n',
    );
    const result = await check(file);
    expect(result.code).toBe(78);
    expect(result.stderr).toBe(
      `configuration file ${file} is not valid JSON: line 4 column 1: Expected double-quoted property name\n1 problem(s)\n`,
    );
  });

  it('gives the line and column of a JSON syntax error V8 gives no position for', async () => {
    const file = write('chargepoint.json', '{\n  "chargePointId": "CP-1",\n  "board": sim\n}\n');
    const result = await check(file);
    expect(result.stderr).toBe(
      `configuration file ${file} is not valid JSON: line 3 column 12: unexpected character\n1 problem(s)\n`,
    );
  });

  it('says where boards live when the board is a name, not a path', async () => {
    const file = write('chargepoint.json', standaloneConfig(dir, 'CP-CHECK-02', { board: 'phoenix-ac-2' }));
    const result = await check(file);
    expect(result.code).toBe(78);
    expect(result.stderr).toContain(
      `${file}: board: no board file ${join(dir, 'phoenix-ac-2')} (board is "sim" or the path of a board file); board files live in ${join(ROOT, 'config/boards')}/ here, and PREFIX/current/config/boards/ once installed (/opt/chargepoint/current/config/boards/ by default): dc-2.json, phoenix-ac-2.json, rpi-ac-1.json, sim-dc.json, sim.json; give the path, e.g. "${join(ROOT, 'config/boards/phoenix-ac-2.json')}"`,
    );
  });

  it("lists the board file's problems with the configuration's", async () => {
    const board = JSON.parse(readFileSync(join(ROOT, 'config/boards/rpi-ac-1.json'), 'utf8')) as {
      connectors: Array<
        Record<string, unknown> & { relay: Record<string, unknown>; lock: Record<string, unknown> }
      >;
    };
    const connector = board.connectors[0];
    if (!connector) throw new Error('rpi-ac-1.json has a connector');
    connector.phases = 2;
    connector.relay.driver = 'gpoi';
    // A gpio lock without its line: that mistake only, not why it is no EV-CC-AC1 lock either.
    delete connector.lock.line;
    const boardFile = write('board.json', board);
    const file = write(
      'chargepoint.json',
      standaloneConfig(dir, 'CP-CHECK-03', { board: 'board.json', log: { level: 'loud' } }),
    );
    const result = await check(file);
    expect(result.code).toBe(78);
    expect(result.stderr.split('\n')).toEqual([
      `${file}: log.level: must be one of "fatal", "error", "warn", "info", "debug", "trace"`,
      `board file ${boardFile}: connectors.0.phases: must be one of 1, 3`,
      `board file ${boardFile}: connectors.0.relay.driver: must be one of "gpio", "ev-cc-ac1"`,
      `board file ${boardFile}: connectors.0.lock.line: is required`,
      '4 problem(s)',
      '',
    ]);
  });

  it('gives the line and column of a syntax error in the board file', async () => {
    const boardFile = write('board.json', '{\n  "kind": "sim",\n  "connectors": [{ "id": 1 }]]\n}\n');
    const file = write('chargepoint.json', standaloneConfig(dir, 'CP-CHECK-04', { board: boardFile }));
    const result = await check(file);
    expect(result.code).toBe(78);
    expect(result.stderr).toBe(
      `board file ${boardFile}: line 3 column 30: Expected ',' or '}' after property value\n1 problem(s)\n`,
    );
  });

  it('lists every placeholder of the installer template', async () => {
    const result = await check(TEMPLATE);
    expect(result.code).toBe(78);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines.at(-1)).toBe('8 problem(s)');
    expect(lines).toContain(
      `${TEMPLATE}: identity.chargePointSerialNumber: still the template's placeholder CHANGE-ME: fill in this charger's serial number`,
    );
    expect(lines).toContain(
      `${TEMPLATE}: template: the file is the installer's template: fill in the fields above, then delete "template"`,
    );
  });
});
