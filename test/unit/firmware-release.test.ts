import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/package-root.js';
import { FIRMWARE_VERSION } from '../../src/version.js';
import { DevCsms } from '../csms/server.js';
import { imageRoot } from '../support/install-image.js';
import { resumRelease } from '../support/release-chain.js';

const ROOT = PACKAGE_ROOT;
const A = FIRMWARE_VERSION;
const B = '0.2.0-trial';

let work: string;
let root: string;
let prefix: string;
let stateDir: string;
let configFile: string;
let imageB: string;
let fakeBin: string;

type Run = { status: number | null; stdout: string; stderr: string };

function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const result = spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, ...env } });
  if (result.error) throw result.error;
  return result;
}

/**
 * One of the installed hooks, run against the temporary PREFIX: as this test's user (root, as the
 * timer runs it), or as `uid` (the daemon's user, as ExecStartPre and the daemon run them).
 */
function hook(name: string, args: string[] = [], uid?: number): Run {
  const path = join(root, 'usr/local/libexec/chargepoint', name);
  const [command, argv] =
    uid === undefined
      ? [path, args]
      : ['setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', path, ...args]];
  return run(command, argv, {
    CHARGEPOINT_PREFIX: prefix,
    CHARGEPOINT_STATE_DIR: stateDir,
    CHARGEPOINT_CONFIG: configFile,
    PATH: `${fakeBin}:${process.env.PATH}`,
  });
}

const installRelease = (image: string) => hook('firmware-install-release.sh', [image]);
const startCheck = () => hook('firmware-trial-check.sh');
const current = () => readlinkSync(join(prefix, 'current'));
const releases = () => readdirSync(join(prefix, 'releases')).sort();
const resultFile = () => join(stateDir, 'firmware-result.json');
const systemctlLog = () => join(fakeBin, 'systemctl.log');

function trial(): Record<string, string> | undefined {
  const file = join(prefix, 'trial');
  if (!existsSync(file)) return undefined;
  return Object.fromEntries(
    readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split('=') as [string, string]),
  );
}

/** The version the daemon of the current release reports. */
function runningVersion(): string {
  return run(join(prefix, 'current/dist/src/bin/chargepointd.js'), ['--version']).stdout.trim();
}

/** A copy of image B changed by `edit` (given the unpacked release directory), packed again. */
function alteredImage(name: string, edit: (dir: string) => void): string {
  const dir = mkdtempSync(join(work, 'alter-'));
  expect(run('tar', ['-xzf', imageB, '-C', dir]).status).toBe(0);
  edit(join(dir, `chargepoint-${B}`));
  const image = join(work, name);
  expect(run('tar', ['-czf', image, '-C', dir, '.']).status).toBe(0);
  return image;
}

function setConfirmTimeout(seconds: number): void {
  writeFileSync(configFile, JSON.stringify({ firmware: { confirmTimeoutSeconds: seconds } }));
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'cp-release-'));
  root = imageRoot(join(work, 'root'));
  prefix = join(root, 'opt/chargepoint');
  stateDir = join(root, 'var/lib/chargepoint');
  configFile = join(work, 'chargepoint.json');
  fakeBin = join(work, 'bin');
  // Release A, installed the way a charger is set up.
  const install = run('bash', [join(ROOT, 'scripts/install.sh')], { DESTDIR: root });
  expect(install.stderr).toBe('');
  expect(install.status).toBe(0);
  // Release B, as a build server makes it.
  const made = run('bash', [
    join(ROOT, 'scripts/make-release.sh'),
    '--version',
    B,
    '--out',
    join(work, 'images'),
  ]);
  expect(made.stderr).toBe('');
  expect(made.status).toBe(0);
  imageB = made.stdout.trim();
  expect(imageB).toBe(join(work, 'images', `chargepoint-${B}.tar.gz`));
  // The timer's restart goes to systemctl: this one only records.
  mkdirSync(fakeBin);
  // `is-failed` answers with the status in bin/is-failed (0: the service failed).
  writeFileSync(
    join(fakeBin, 'systemctl'),
    `#!/bin/sh\necho "$*" >> '${systemctlLog()}'\n[ "$1" != is-failed ] || exit "$(cat '${fakeBin}/is-failed')"\n`,
  );
  chmodSync(join(fakeBin, 'systemctl'), 0o755);
  // Installing copies and unpacks the runtime twice: seconds on a quiet machine, far more on a busy one.
}, 240_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

// Every case starts from release A current and confirmed, as the installer left it.
beforeEach(() => {
  symlinkSync(`releases/${A}`, join(prefix, 'current.next'));
  renameSync(join(prefix, 'current.next'), join(prefix, 'current'));
  rmSync(join(prefix, `releases/${B}`), { recursive: true, force: true });
  rmSync(join(prefix, 'trial'), { force: true });
  rmSync(resultFile(), { force: true });
  rmSync(systemctlLog(), { force: true });
  setConfirmTimeout(600);
});

describe('firmware-install-release.sh and the trial of the new release', { timeout: 120_000 }, () => {
  it('installs B beside A, switches the link to it and puts it on trial', () => {
    const result = installRelease(imageB);
    expect(result.stderr).toMatch(/release 0\.2\.0-trial installed beside/);
    expect(result.status).toBe(0);
    expect(current()).toBe(`releases/${B}`);
    expect(releases()).toEqual([A, B].sort());
    expect(runningVersion()).toBe(B);
    expect(trial()).toMatchObject({ version: B, previous: A, starts: '0' });
    expect(Number(trial()?.since)).toBeCloseTo(Date.now() / 1000, -1);
  });

  it('restores A when B starts three times without confirming, and tells the central system', () => {
    expect(installRelease(imageB).status).toBe(0);
    for (const start of [1, 2, 3]) {
      const check = startCheck();
      expect(check.status).toBe(0);
      expect(current(), `start ${start}`).toBe(`releases/${B}`);
      expect(trial()?.starts).toBe(String(start));
    }
    expect(existsSync(resultFile())).toBe(false);

    const fourth = startCheck();
    expect(fourth.status).toBe(0);
    expect(fourth.stderr).toMatch(/restored release/);
    expect(current()).toBe(`releases/${A}`);
    expect(runningVersion()).toBe(A);
    expect(trial()).toBeUndefined();
    expect(JSON.parse(readFileSync(resultFile(), 'utf8'))).toEqual({
      status: 'InstallationFailed',
      info: `release ${B} did not confirm in 3 starts; restored ${A}`,
    });
    // B stays for inspection; A's later starts are plain starts.
    expect(releases()).toEqual([A, B].sort());
    expect(startCheck().status).toBe(0);
    expect(current()).toBe(`releases/${A}`);
  });

  it('keeps B once B confirms: the trial is cleared and later starts change nothing', () => {
    expect(installRelease(imageB).status).toBe(0);
    expect(startCheck().status).toBe(0);
    // A confirmation from another version (the old daemon still up) does not count for B.
    expect(hook('firmware-confirm-release.sh', [A]).status).toBe(0);
    expect(trial()?.version).toBe(B);

    const confirmed = hook('firmware-confirm-release.sh', [B]);
    expect(confirmed.status).toBe(0);
    expect(confirmed.stderr).toMatch(/release 0\.2\.0-trial confirmed/);
    expect(trial()).toBeUndefined();
    for (let start = 0; start < 4; start++) expect(startCheck().status).toBe(0);
    expect(current()).toBe(`releases/${B}`);
    expect(existsSync(resultFile())).toBe(false);
  });

  it("B's own daemon confirms itself through the shipped hook once its BootNotification is Accepted", async () => {
    expect(installRelease(imageB).status).toBe(0);
    // As systemd starts it: the check (ExecStartPre), then the daemon through the current link.
    expect(startCheck().status).toBe(0);
    const csms = new DevCsms();
    const { url } = await csms.start();
    const daemonConfig = join(work, 'daemon.json');
    writeFileSync(
      daemonConfig,
      JSON.stringify({
        chargePointId: 'CP-RELEASE',
        identity: { vendor: 'V', model: 'M' },
        csms: { url },
        stateDir: join(work, 'daemon-state'),
        cli: { socket: join(work, 'daemon.sock') },
        ocpp: { WebSocketPingInterval: 0 },
        firmware: { confirm: [join(root, 'usr/local/libexec/chargepoint/firmware-confirm-release.sh')] },
      }),
    );
    const daemon = spawn(join(prefix, 'current/dist/src/bin/chargepointd.js'), ['--config', daemonConfig], {
      env: { ...process.env, CHARGEPOINT_PREFIX: prefix, CHARGEPOINT_STATE_DIR: stateDir },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(daemon, 'exit');
    try {
      const boot = await csms.waitForCall('CP-RELEASE', 'BootNotification', { timeoutMs: 30_000 });
      expect((boot.payload as { firmwareVersion: string }).firmwareVersion).toBe(B);
      const lines = createInterface({ input: daemon.stdout });
      for await (const line of lines) {
        const entry = JSON.parse(line) as { msg: string };
        if (entry.msg === 'firmware confirmed' || entry.msg === 'firmware confirmation hook failed') {
          expect(entry.msg).toBe('firmware confirmed');
          break;
        }
      }
      expect(trial()).toBeUndefined();
      expect(current()).toBe(`releases/${B}`);
    } finally {
      daemon.kill('SIGTERM');
      await exited;
      await csms.stop();
    }
  });

  it.each([
    ['running', '1', 'try-restart'],
    ['failed (an exit systemd does not restart)', '0', 'restart'],
  ])(
    'restores A from the timer when B, %s, never confirms within confirmTimeoutSeconds',
    (_state, isFailed, restart) => {
      writeFileSync(join(fakeBin, 'is-failed'), isFailed);
      setConfirmTimeout(60);
      expect(installRelease(imageB).status).toBe(0);
      expect(startCheck().status).toBe(0);
      // Within the time: the timer neither restores nor counts a start.
      expect(hook('firmware-trial-check.sh', ['--deadline', '--restart']).status).toBe(0);
      expect(trial()).toMatchObject({ version: B, starts: '1' });
      expect(existsSync(systemctlLog())).toBe(false);

      // The switch was 61 s ago.
      const mark = readFileSync(join(prefix, 'trial'), 'utf8');
      const since = Math.floor(Date.now() / 1000) - 61;
      writeFileSync(join(prefix, 'trial'), mark.replace(/^since=\d+$/m, `since=${since}`));
      const late = hook('firmware-trial-check.sh', ['--deadline', '--restart']);
      expect(late.status).toBe(0);
      expect(current()).toBe(`releases/${A}`);
      expect(trial()).toBeUndefined();
      expect(JSON.parse(readFileSync(resultFile(), 'utf8'))).toEqual({
        status: 'InstallationFailed',
        info: `release ${B} did not confirm within 60s; restored ${A}`,
      });
      expect(readFileSync(systemctlLog(), 'utf8')).toBe(
        `is-failed --quiet chargepoint.service\n--no-block ${restart} chargepoint.service\n`,
      );
    },
  );

  it.each([
    ['a truncated tarball', /is not a readable \.tar\.gz/, () => truncated()],
    [
      'a file changed after the release was made',
      /a file of release 0\.2\.0-trial does not match SHA256SUMS/,
      () =>
        alteredImage('changed.tar.gz', (dir) => writeFileSync(join(dir, 'dist/src/bin/cpctl.js'), 'evil')),
    ],
    [
      'a file SHA256SUMS does not list',
      /holds files SHA256SUMS does not list/,
      () => alteredImage('extra.tar.gz', (dir) => writeFileSync(join(dir, 'dist/src/extra.js'), '')),
    ],
    [
      'a link in the release',
      /holds something other than files and directories: passwd/,
      () => alteredImage('link.tar.gz', (dir) => symlinkSync('/etc/passwd', join(dir, 'passwd'))),
    ],
    [
      'no MANIFEST',
      /has no MANIFEST/,
      () => alteredImage('nomanifest.tar.gz', (dir) => rmSync(join(dir, 'MANIFEST'))),
    ],
    [
      'a release that needs a newer Node.js',
      /needs Node\.js 99/,
      () =>
        alteredImage('node.tar.gz', (dir) => {
          const manifest = readFileSync(join(dir, 'MANIFEST'), 'utf8');
          writeFileSync(join(dir, 'MANIFEST'), manifest.replace(/^node=\d+$/m, 'node=99'));
        }),
    ],
    [
      'a release whose daemon does not load, consistent sums and all',
      /release 0\.2\.0-trial does not start/,
      () =>
        alteredImage('broken.tar.gz', (dir) => {
          // The daemon's bundle (scripts/bundle.ts): what the service starts.
          writeFileSync(
            join(dir, 'dist/src/bin/chargepointd.js'),
            '#!/usr/bin/env node\nthrow new Error("broken build");\n',
          );
          resumRelease(dir);
        }),
    ],
    [
      'a release that is not the version its MANIFEST says',
      /release 0\.2\.0-trial reports version '9\.9\.9'/,
      () =>
        alteredImage('version.tar.gz', (dir) => {
          const pkg = readFileSync(join(dir, 'package.json'), 'utf8');
          writeFileSync(join(dir, 'package.json'), pkg.replace(`"version": "${B}"`, '"version": "9.9.9"'));
          resumRelease(dir);
        }),
    ],
    ['a file that is not an image', /is not a readable \.tar\.gz/, () => join(ROOT, 'package.json')],
  ])('refuses %s: exit non-zero, nothing switched, nothing left behind', (_name, reason, image) => {
    const result = installRelease(image());
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(reason);
    expect(current()).toBe(`releases/${A}`);
    expect(releases()).toEqual([A]);
    expect(trial()).toBeUndefined();
  });

  it("lets the daemon's user take the lock and confirm after root's timer ran first", () => {
    const daemonUser = 65534;
    expect(installRelease(imageB).status).toBe(0);
    rmSync(join(prefix, '.lock'), { force: true });
    // As on a charger: PREFIX is the daemon user's (chargepoint.tmpfiles), reachable by it.
    chmodSync(work, 0o711);
    chownSync(prefix, daemonUser, daemonUser);
    try {
      expect(hook('firmware-trial-check.sh', ['--deadline']).status).toBe(0);
      const confirmed = hook('firmware-confirm-release.sh', [B], daemonUser);
      expect(confirmed.stderr).toMatch(/release 0\.2\.0-trial confirmed/);
      expect(confirmed.status).toBe(0);
      expect(trial()).toBeUndefined();
    } finally {
      chownSync(prefix, 0, 0);
      chmodSync(work, 0o700);
    }
  });

  it('refuses the release that is already running', () => {
    expect(installRelease(imageB).status).toBe(0);
    expect(hook('firmware-confirm-release.sh', [B]).status).toBe(0);
    const again = installRelease(imageB);
    expect(again.status).not.toBe(0);
    expect(again.stderr).toMatch(/release 0\.2\.0-trial is already running/);
    expect(current()).toBe(`releases/${B}`);
    expect(trial()).toBeUndefined();
  });
});

/** Image B cut in the middle: gzip and tar both fail. */
function truncated(): string {
  const bytes = readFileSync(imageB);
  const image = join(work, 'truncated.tar.gz');
  writeFileSync(image, bytes.subarray(0, Math.floor(bytes.length / 2)));
  return image;
}
