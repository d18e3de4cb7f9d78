import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_FILE_SCHEMA } from '../../src/config/file-schema.js';
import { EXIT } from '../../src/daemon.js';
import { imageRoot } from '../support/install-image.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PREFIX = '/opt/chargepoint';
const LIBEXEC = '/usr/local/libexec/chargepoint';
const UNITS = 'usr/local/lib/systemd/system';
const UNIT = `${UNITS}/chargepoint.service`;

let work: string;
let root: string;
let unit: string;

function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, ...env } });
  if (result.error) throw result.error;
  return result;
}

/**
 * What `systemd-analyze verify` says about a unit. The unit is verified with its paths moved into
 * the install root, so the executables it names are the installed ones (verify checks they exist).
 */
function verifyFindings(
  text: string,
  name = 'chargepoint.service',
): { status: number | null; findings: string[] } {
  const dir = mkdtempSync(join(work, 'verify-'));
  const file = join(dir, name);
  writeFileSync(file, text.replaceAll(PREFIX, join(root, PREFIX)).replaceAll(LIBEXEC, join(root, LIBEXEC)));
  const result = run('systemd-analyze', ['verify', file]);
  const findings = result.stderr.split('\n').filter((line) => line.includes('chargepoint'));
  return { status: result.status, findings };
}

/** Directive -> values, over all sections (the unit repeats no directive across sections). */
function directives(text: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith('[')) continue;
    const at = line.indexOf('=');
    const key = line.slice(0, at);
    map.set(key, [...(map.get(key) ?? []), line.slice(at + 1)]);
  }
  return map;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'cp-systemd-'));
  root = imageRoot(join(work, 'root'));
  const install = run('bash', [join(ROOT, 'scripts/install.sh')], { DESTDIR: root });
  expect(install.stderr).toBe('');
  expect(install.status).toBe(0);
  unit = readFileSync(join(root, UNIT), 'utf8');
  // The installer copies the runtime: seconds on a quiet machine, far more on a busy one.
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('chargepoint.service', () => {
  it('passes systemd-analyze verify as installed', () => {
    expect(verifyFindings(unit)).toEqual({ status: 0, findings: [] });
  });

  it('has a trial timer whose units pass systemd-analyze verify as installed', () => {
    const service = readFileSync(join(root, UNITS, 'chargepoint-firmware-trial.service'), 'utf8');
    expect(verifyFindings(service, 'chargepoint-firmware-trial.service')).toEqual({
      status: 0,
      findings: [],
    });
    expect(directives(service).get('ExecStart')).toEqual([
      `${LIBEXEC}/firmware-trial-check.sh --deadline --restart`,
    ]);
    const timer = readFileSync(join(root, UNITS, 'chargepoint-firmware-trial.timer'), 'utf8');
    expect(directives(timer).get('OnUnitActiveSec')).toEqual(['1min']);
  });

  it('would be caught by the verification with a misspelt directive or a missing executable', () => {
    const typo = verifyFindings(unit.replace('WatchdogSec=', 'WatchdogSecs='));
    expect(typo.findings.join('\n')).toMatch(/WatchdogSecs/);
    const missing = verifyFindings(unit.replace('chargepoint/chargepoint-stop-post', 'chargepoint/nothing'));
    expect(missing.findings.join('\n')).toMatch(/chargepoint\/nothing/);
  });

  it('keeps the exposure score of systemd-analyze security at 2.0 or below', () => {
    const dir = mkdtempSync(join(work, 'security-'));
    const file = join(dir, 'chargepoint.service');
    writeFileSync(file, unit);
    const result = run('systemd-analyze', ['security', '--offline=yes', '--threshold=20', file]);
    expect(result.stdout).toMatch(/Overall exposure level/);
    expect(result.status).toBe(0);
  });

  it('is a notify service with a watchdog, restarted on failure but not on usage or configuration errors', () => {
    const d = directives(unit);
    expect(d.get('Type')).toEqual(['notify']);
    expect(d.get('NotifyAccess')).toEqual(['all']);
    expect(d.get('WatchdogSec')?.[0]).toMatch(/^\d+s$/);
    expect(d.get('Restart')).toEqual(['on-failure']);
    const noRestart = d.get('RestartPreventExitStatus')?.[0]?.split(/\s+/);
    expect(noRestart?.sort()).toEqual([String(EXIT.usage), String(EXIT.config)].sort());
    // The release the current link points at, after the trial check (which may move the link back).
    expect(d.get('ExecStart')).toEqual([
      `${PREFIX}/current/dist/src/bin/chargepointd.js --config /etc/chargepoint/chargepoint.json`,
    ]);
    expect(d.get('ExecStartPre')).toEqual([`-${LIBEXEC}/firmware-trial-check.sh`]);
    expect(d.get('ExecStopPost')).toEqual([`+${LIBEXEC}/chargepoint-stop-post`]);
    expect(d.get('Wants')).toContain('chargepoint-firmware-trial.timer');
  });

  it('runs as its own user in a sandbox that leaves it the state directory and the control socket', () => {
    const d = directives(unit);
    expect(d.get('User')).toEqual(['chargepoint']);
    expect(d.get('SupplementaryGroups')).toEqual(['gpio dialout']);
    for (const [key, value] of [
      ['ProtectSystem', 'strict'],
      ['NoNewPrivileges', 'yes'],
      ['PrivateTmp', 'yes'],
      ['ProtectHome', 'yes'],
      ['CapabilityBoundingSet', ''],
      ['StateDirectory', 'chargepoint'],
      ['StateDirectoryMode', '0700'],
      ['ReadWritePaths', `/var/lib/chargepoint ${PREFIX}`],
      ['RuntimeDirectory', 'chargepoint'],
    ] as const) {
      expect(d.get(key), key).toEqual([value]);
    }
    // The control socket's default lies in the RuntimeDirectory systemd creates for the user.
    expect(CONFIG_FILE_SCHEMA.properties.cli.properties.socket.default).toBe('/run/chargepoint/cpctl.sock');
  });
});

describe('chargepoint-stop-post', () => {
  /** Runs the installed helper as systemd would after a stop, with a systemctl that only records. */
  function stopPost(env: Record<string, string>): { status: number | null; systemctl: string } {
    const bin = mkdtempSync(join(work, 'bin-'));
    const log = join(bin, 'systemctl.log');
    writeFileSync(join(bin, 'systemctl'), `#!/bin/sh\necho "$*" >> '${log}'\n`);
    chmodSync(join(bin, 'systemctl'), 0o755);
    const result = run(join(root, LIBEXEC, 'chargepoint-stop-post'), [], {
      PATH: `${bin}:/usr/bin:/bin`,
      ...env,
    });
    let systemctl = '';
    try {
      systemctl = readFileSync(log, 'utf8');
    } catch {}
    return { status: result.status, systemctl };
  }

  it('reboots the board when the daemon exited for a Reset Hard', () => {
    expect(
      stopPost({ SERVICE_RESULT: 'exit-code', EXIT_CODE: 'exited', EXIT_STATUS: String(EXIT.hardReset) }),
    ).toEqual({ status: 0, systemctl: '--no-block reboot\n' });
  });

  it.each([
    ['a stop', { SERVICE_RESULT: 'success', EXIT_CODE: 'exited', EXIT_STATUS: String(EXIT.stopped) }],
    [
      'a Reset Soft',
      { SERVICE_RESULT: 'exit-code', EXIT_CODE: 'exited', EXIT_STATUS: String(EXIT.softReset) },
    ],
    ['a watchdog kill', { SERVICE_RESULT: 'watchdog', EXIT_CODE: 'dumped', EXIT_STATUS: 'ABRT' }],
    ['a signal numbered 11', { SERVICE_RESULT: 'signal', EXIT_CODE: 'killed', EXIT_STATUS: '11' }],
    ['no information', {}],
  ])('does nothing after %s', (_name, env) => {
    expect(stopPost(env)).toEqual({ status: 0, systemctl: '' });
  });
});

describe('sysusers.d and tmpfiles.d declarations', () => {
  it('create the user without a login and give the configuration and the state to the user alone', () => {
    mkdirSync(join(root, 'etc'), { recursive: true });
    // As an older install left it: the tmpfiles declaration tightens it on the next boot.
    chmodSync(join(root, 'etc/chargepoint/chargepoint.json'), 0o640);
    const sysusers = run('systemd-sysusers', [`--root=${root}`]);
    expect(sysusers.status, sysusers.stderr).toBe(0);
    const tmpfiles = run('systemd-tmpfiles', [`--root=${root}`, '--create']);
    expect(tmpfiles.status, tmpfiles.stderr).toBe(0);

    const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8');
    const user = passwd
      .split('\n')
      .find((line) => line.startsWith('chargepoint:'))
      ?.split(':');
    expect(user?.[5]).toBe('/var/lib/chargepoint');
    expect(user?.[6]).toMatch(/nologin$/);
    const groups = readFileSync(join(root, 'etc/group'), 'utf8');
    for (const group of ['chargepoint', 'gpio', 'dialout'])
      expect(groups).toMatch(new RegExp(`^${group}:`, 'm'));

    const uid = Number(user?.[2]);
    const gid = Number(user?.[3]);
    const owner = (path: string) => {
      const st = statSync(join(root, path));
      return { uid: st.uid, gid: st.gid, mode: (st.mode & 0o7777).toString(8) };
    };
    expect(owner('etc/chargepoint')).toEqual({ uid: 0, gid, mode: '750' });
    // The daemon (User=chargepoint) reads the file; the group's technicians must not (AuthorizationKey).
    expect(owner('etc/chargepoint/chargepoint.json')).toEqual({ uid, gid, mode: '600' });
    expect(owner('var/lib/chargepoint')).toEqual({ uid, gid, mode: '700' });
    // The firmware hook, run by the daemon, adds releases and switches the current link.
    expect(owner('opt/chargepoint')).toEqual({ uid, gid, mode: '755' });
    expect(owner('opt/chargepoint/releases')).toEqual({ uid, gid, mode: '755' });
  });
});
