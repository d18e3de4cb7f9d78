import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

// `npm run setup` (scripts/setup.sh) run step by step in a copy of the project's manifests: the
// lock file is the real one, the npm is the machine's, and the registry the one CI installs from.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface LockEntry {
  dev?: boolean;
  hasInstallScript?: boolean;
}
interface Lock {
  packages: Record<string, LockEntry>;
}

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A temp project: scripts/setup.sh, package.json and `lock` (default the real package-lock.json). */
function project(lock = readFileSync(join(ROOT, 'package-lock.json'), 'utf8')): string {
  const dir = mkdtempSync(join(tmpdir(), 'cp-setup-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'scripts'));
  copyFileSync(join(ROOT, 'scripts/setup.sh'), join(dir, 'scripts/setup.sh'));
  copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  writeFileSync(join(dir, 'package-lock.json'), lock);
  return dir;
}

function setup(dir: string, steps: string[], env: NodeJS.ProcessEnv = process.env) {
  const result = spawnSync('/bin/bash', [join(dir, 'scripts/setup.sh'), ...steps], {
    encoding: 'utf8',
    env,
  });
  if (result.error) throw result.error;
  return result;
}

describe('npm run setup: the locked dependencies', () => {
  it('installs a lock file as it is, even one this npm would write differently, and warns of nothing', {
    timeout: 180_000,
  }, () => {
    // Another npm computes some fields of the lock differently (npm 10 drops the libc fields
    // npm 11 writes); `npm install` rewrites such a lock to its own view. A dev flag left off
    // stands for any such field.
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as Lock;
    const vitest = lock.packages['node_modules/vitest'];
    expect(vitest?.dev).toBe(true);
    delete vitest?.dev;
    const written = `${JSON.stringify(lock, null, 2)}\n`;
    const dir = project(written);

    // No install scripts: the native builds take minutes and touch no file setup could leave behind.
    const result = setup(dir, ['deps'], { ...process.env, npm_config_ignore_scripts: 'true' });

    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(readFileSync(join(dir, 'package-lock.json'), 'utf8')).toBe(written);
    expect(readFileSync(join(dir, 'package.json'), 'utf8')).toBe(
      readFileSync(join(ROOT, 'package.json'), 'utf8'),
    );
    expect(existsSync(join(dir, 'node_modules/ws/package.json'))).toBe(true);
  });

  it('allows the install scripts of exactly the locked packages that have one (npm 11 warns of any other)', () => {
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as Lock;
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      allowScripts?: Record<string, boolean>;
    };
    const withScripts = Object.entries(lock.packages)
      .filter(([, entry]) => entry.hasInstallScript)
      .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
    expect(withScripts.length).toBeGreaterThan(0);
    expect(Object.keys(manifest.allowScripts ?? {}).sort()).toEqual([...new Set(withScripts)].sort());
    expect(Object.values(manifest.allowScripts ?? {}).every((allowed) => allowed)).toBe(true);
  });

  it('leaves a node_modules that links to a shared install alone (npm ci would empty it)', () => {
    const dir = project();
    const shared = join(dir, 'shared-node_modules');
    mkdirSync(join(shared, 'some-package'), { recursive: true });
    writeFileSync(join(shared, 'some-package/package.json'), '{"name":"some-package","version":"1.0.0"}');
    symlinkSync(shared, join(dir, 'node_modules'));

    const result = setup(dir, ['deps']);

    expect(result.status).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(`setup: node_modules links to ${shared}, a shared install: not reinstalled\n`);
    expect(existsSync(join(shared, 'some-package/package.json'))).toBe(true);
  });

  it('never lets npm look for a newer npm, whose weekly notice on stderr is no failure but reads like one', () => {
    // An npm that does what the real one does outside CI once a week, unless told not to.
    const bin = mkdtempSync(join(tmpdir(), 'cp-setup-bin-'));
    dirs.push(bin);
    for (const tool of ['dirname', 'readlink']) symlinkSync(`/usr/bin/${tool}`, join(bin, tool));
    writeFileSync(
      join(bin, 'npm'),
      [
        '#!/bin/bash',
        'for arg in "$@"; do [ "$arg" = --no-update-notifier ] && exit 0; done',
        '[ "$npm_config_update_notifier" = false ] && exit 0',
        'echo "npm notice New minor version of npm available! 11.0.0 -> 11.9.0" >&2',
      ].join('\n'),
    );
    chmodSync(join(bin, 'npm'), 0o755);

    const result = setup(project(), ['deps'], { PATH: bin });

    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('refuses an unknown step with a usage exit', () => {
    const result = setup(project(), ['deploy']);
    expect(result.status).toBe(64);
    expect(result.stderr).toBe("setup: unknown step 'deploy' (packages, deps, build)\n");
  });
});

describe('npm run setup: the Debian packages', () => {
  /**
   * A PATH with the few commands setup.sh runs, an apt-get that talks as it does on a container
   * and exits with `status`, and neither socat nor systemd-analyze: so both are "missing".
   */
  function fakeApt(status: number): { env: NodeJS.ProcessEnv; calls: string } {
    const bin = mkdtempSync(join(tmpdir(), 'cp-setup-bin-'));
    dirs.push(bin);
    for (const tool of ['dirname', 'id', 'mktemp', 'rm', 'cat', 'env', 'readlink']) {
      symlinkSync(`/usr/bin/${tool}`, join(bin, tool));
    }
    const calls = join(bin, 'calls');
    writeFileSync(
      join(bin, 'apt-get'),
      [
        '#!/bin/bash',
        `echo "$DEBIAN_FRONTEND apt-get $*" >> ${calls}`,
        'echo "Selecting previously unselected package socat."',
        'echo "debconf: delaying package configuration, since apt-utils is not installed" >&2',
        'echo "invoke-rc.d: could not determine current runlevel" >&2',
        `[ "$1" = install ] && [ ${status} -ne 0 ] && echo "E: Unable to locate package socat" >&2`,
        `[ "$1" = install ] && exit ${status}`,
        'exit 0',
      ].join('\n'),
    );
    writeFileSync(join(bin, 'sudo'), '#!/bin/bash\nexec "$@"\n');
    chmodSync(join(bin, 'apt-get'), 0o755);
    chmodSync(join(bin, 'sudo'), 0o755);
    return { env: { PATH: bin, TMPDIR: bin }, calls };
  }

  /**
   * What setup.sh finds missing under fakeApt: socat and systemd, which its PATH hides, and those
   * of the others this machine lacks (setup.sh looks for them by their absolute paths).
   */
  function missingUnderFakeApt(): string {
    const pymodbus = spawnSync('/usr/bin/python3', ['-c', 'import pymodbus']).status === 0;
    return [
      'socat',
      ...(pymodbus ? [] : ['python3-pymodbus']),
      ...(existsSync('/usr/sbin/mosquitto') ? [] : ['mosquitto']),
      'systemd',
      ...(existsSync('/usr/sbin/vsftpd') ? [] : ['vsftpd']),
    ].join(' ');
  }

  it('installs the missing ones with one line of output, apt and debconf chatter kept in a log', () => {
    const { env, calls } = fakeApt(0);
    const missing = missingUnderFakeApt();
    const result = setup(project(), ['packages'], env);

    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(
      new RegExp(`^setup: installing ${missing} \\(apt-get; its output: \\S+\\)\\n$`),
    );
    expect(readFileSync(calls, 'utf8')).toBe(
      ` apt-get update -qq\nnoninteractive apt-get install -y -qq ${missing}\n`,
    );
  });

  it('shows what apt said when it fails, and fails', () => {
    const { env } = fakeApt(100);
    const result = setup(project(), ['packages'], env);

    expect(result.status).toBe(1);
    expect(result.stderr).toContain('E: Unable to locate package socat');
    expect(result.stderr).toContain(`setup: apt-get failed installing ${missingUnderFakeApt()}\n`);
  });
});
