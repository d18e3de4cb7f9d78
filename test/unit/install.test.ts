import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/file.js';
import { elfHeader, imageRoot } from '../support/install-image.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
};

let work: string;
let root: string;
let firstRun: { status: number | null; stdout: string; stderr: string };

function install(env: NodeJS.ProcessEnv = {}, args: string[] = []) {
  const result = spawnSync('bash', [join(ROOT, 'scripts/install.sh'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, DESTDIR: root, ...env },
  });
  if (result.error) throw result.error;
  return result;
}

/** Every entry of the tree: type, mode, modification time, and content hash or link target. */
function snapshot(dir: string): string[] {
  const lines: string[] = [];
  const walk = (path: string) => {
    const st = lstatSync(path);
    const mode = (st.mode & 0o7777).toString(8);
    const name = relative(dir, path) || '.';
    if (st.isSymbolicLink()) lines.push(`${name} link ${mode} ${st.mtimeMs} -> ${readlinkSync(path)}`);
    else if (st.isDirectory()) {
      lines.push(`${name} dir ${mode} ${st.mtimeMs}`);
      for (const entry of readdirSync(path).sort()) walk(join(path, entry));
    } else {
      const hash = createHash('sha256').update(readFileSync(path)).digest('hex');
      lines.push(`${name} file ${mode} ${st.mtimeMs} ${hash}`);
    }
  };
  walk(dir);
  return lines;
}

/** Every symbolic link under dir, as "path -> target". */
function linksIn(dir: string): string[] {
  const links: string[] = [];
  const walk = (path: string) => {
    const st = lstatSync(path);
    if (st.isSymbolicLink()) links.push(`${relative(dir, path)} -> ${readlinkSync(path)}`);
    else if (st.isDirectory()) for (const entry of readdirSync(path)) walk(join(path, entry));
  };
  walk(dir);
  return links.sort();
}

/** A file of the checkout as install.sh writes it for prefix (split and join: no replacement syntax). */
const forPrefix = (file: string, prefix: string) =>
  readFileSync(join(ROOT, file), 'utf8').split('/opt/chargepoint').join(prefix);

const at = (path: string) => join(root, path);
/** This build's release in the default PREFIX. */
const RELEASE = `opt/chargepoint/releases/${PACKAGE.version}`;
const LIBEXEC = 'usr/local/libexec/chargepoint';
/** The files install.sh writes with its PREFIX in place of /opt/chargepoint, and where. */
const PREFIXED_FILES: Record<string, string> = {
  'systemd/chargepoint.service': 'usr/local/lib/systemd/system/chargepoint.service',
  'systemd/chargepoint-firmware-trial.service':
    'usr/local/lib/systemd/system/chargepoint-firmware-trial.service',
  'systemd/chargepoint-firmware-trial.timer': 'usr/local/lib/systemd/system/chargepoint-firmware-trial.timer',
  'systemd/chargepoint.tmpfiles': 'usr/local/lib/tmpfiles.d/chargepoint.conf',
  'scripts/firmware-release-lib.sh': `${LIBEXEC}/firmware-release-lib.sh`,
  'config/chargepoint.example.json': 'etc/chargepoint/chargepoint.json',
};
const modeOf = (path: string) => (statSync(at(path)).mode & 0o7777).toString(8);

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'cp-install-'));
  root = imageRoot(join(work, 'root'));
  firstRun = install();
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

// Each case runs the installer (npm and a copy of the runtime): seconds on a quiet machine, far more on a busy one.
describe('scripts/install.sh into a DESTDIR root', { timeout: 90_000 }, () => {
  it('installs the runtime as a release, the unit and its companions, the directories and a configuration', () => {
    expect(firstRun.stderr).toBe('');
    expect(firstRun.status).toBe(0);
    expect(readdirSync(at('opt/chargepoint')).sort()).toEqual(['current', 'releases']);
    expect(readdirSync(at('opt/chargepoint/releases'))).toEqual([PACKAGE.version]);
    // Relative: the link is right inside a DESTDIR root as on the target.
    expect(readlinkSync(at('opt/chargepoint/current'))).toBe(`releases/${PACKAGE.version}`);
    expect(modeOf(`${RELEASE}/dist/src/bin/chargepointd.js`)).toBe('755');
    expect(modeOf(`${RELEASE}/dist/src/bin/cpctl.js`)).toBe('755');
    for (const file of [
      'package.json',
      'README.md',
      'MANIFEST',
      'SHA256SUMS',
      'config/chargepoint.schema.json',
      'config/board.schema.json',
      'config/boards/sim.json',
    ]) {
      expect(statSync(at(`${RELEASE}/${file}`)).isFile(), file).toBe(true);
    }
    expect(readFileSync(at(`${RELEASE}/MANIFEST`), 'utf8')).toMatch(
      new RegExp(`^format=1\nversion=${PACKAGE.version}\nnode=20\nsha256sums=[0-9a-f]{64}\n$`),
    );
    // Root runs these: outside the releases, where no firmware update reaches.
    expect(modeOf(`${LIBEXEC}/chargepoint-stop-post`)).toBe('755');
    for (const hook of [
      'firmware-install-release.sh',
      'firmware-confirm-release.sh',
      'firmware-trial-check.sh',
      'firmware-install-rauc.sh',
    ]) {
      expect(modeOf(`${LIBEXEC}/${hook}`), hook).toBe('755');
    }
    expect(modeOf(`${LIBEXEC}/firmware-release-lib.sh`)).toBe('644');
    for (const unit of [
      'chargepoint.service',
      'chargepoint-firmware-trial.service',
      'chargepoint-firmware-trial.timer',
    ]) {
      expect(readFileSync(at(`usr/local/lib/systemd/system/${unit}`), 'utf8'), unit).toBe(
        readFileSync(join(ROOT, 'systemd', unit), 'utf8'),
      );
    }
    expect(readFileSync(at('usr/local/lib/sysusers.d/chargepoint.conf'), 'utf8')).toBe(
      readFileSync(join(ROOT, 'systemd/chargepoint.sysusers'), 'utf8'),
    );
    expect(readFileSync(at('usr/local/lib/tmpfiles.d/chargepoint.conf'), 'utf8')).toBe(
      readFileSync(join(ROOT, 'systemd/chargepoint.tmpfiles'), 'utf8'),
    );
    // Relative, so that they resolve inside the DESTDIR root too.
    expect(readlinkSync(at('usr/local/bin/cpctl'))).toBe(
      '../../../opt/chargepoint/current/dist/src/bin/cpctl.js',
    );
    expect(readlinkSync(at('usr/local/bin/chargepointd'))).toBe(
      '../../../opt/chargepoint/current/dist/src/bin/chargepointd.js',
    );
    expect(readFileSync(at('usr/share/bash-completion/completions/cpctl'), 'utf8')).toBe(
      readFileSync(join(ROOT, 'scripts/cpctl-completion.bash'), 'utf8'),
    );
    expect(modeOf('usr/share/bash-completion/completions/cpctl')).toBe('644');
    expect(modeOf('etc/chargepoint')).toBe('750');
    // The state holds the AuthorizationKey, and so may the configuration: neither is for the
    // technicians of group chargepoint, who only need the control socket.
    expect(modeOf('var/lib/chargepoint')).toBe('700');
    expect(readdirSync(at('var/lib/chargepoint'))).toEqual([]);
    expect(modeOf('etc/chargepoint/chargepoint.json')).toBe('600');
  });

  it('ships the production dependencies only, and no development files', () => {
    const modules = readdirSync(at(`${RELEASE}/node_modules`));
    for (const name of Object.keys(PACKAGE.dependencies)) expect(modules, name).toContain(name);
    // The build and test tools, and the type packages (mqtt lists @types/ws and @types/node as
    // dependencies, but nothing loads them).
    for (const name of ['typescript', 'vitest', 'tsx', '@biomejs/biome', 'pino-pretty', '@types']) {
      expect(existsSync(at(`${RELEASE}/node_modules/${name}`)), name).toBe(false);
    }
    expect(modules).not.toContain('.bin');
    // The runtime is the two bundles and their chunks: tsc's module files are never loaded.
    expect(readdirSync(at(`${RELEASE}/dist`))).toEqual(['src']);
    expect(readdirSync(at(`${RELEASE}/dist/src`))).toEqual(['bin']);
    expect(readdirSync(at(`${RELEASE}/dist/src/bin`)).sort()).toEqual([
      'chargepointd.js',
      'chunks',
      'cpctl.js',
    ]);
    expect(readdirSync(at(`${RELEASE}/config`))).not.toContain('dev.json');
  });

  it('ships no build intermediates, type declarations, source maps or test folders', () => {
    const release = at(RELEASE);
    const files = readdirSync(release, { recursive: true, encoding: 'utf8' });
    const found = (pattern: RegExp) => files.filter((file) => pattern.test(file));
    expect(found(/\.(map|tsbuildinfo)$|\.d\.[cm]?ts$/)).toEqual([]);
    expect(found(/(^|\/)@types$/)).toEqual([]);
    expect(found(/^node_modules\/(@[^/]+\/)?[^/@]+\/tests?$/)).toEqual([]);
    // Nor deeper down (sonic-boom/types/tests), nor TypeScript sources and type tests, which no
    // Node 20 runs (rfdc/index.test-d.ts, worker-timers-broker/src/module.ts).
    expect(found(/(^|\/)(tests?|__tests__)$/)).toEqual([]);
    expect(found(/\.[cm]?ts$/)).toEqual([]);
    // A native addon keeps its .node file, and its sources for a rebuild, not what built it.
    expect(found(/^node_modules\/(better-sqlite3|epoll)\/build\/(?!Release$|Release\/[^/]+\.node$)/)).toEqual(
      [],
    );
    expect(found(/\/prebuilds\/(?!linux-)/)).toEqual([]);
    for (const addon of [
      'node_modules/better-sqlite3/build/Release/better_sqlite3.node',
      'node_modules/better-sqlite3/binding.gyp',
      'node_modules/epoll/build/Release/epoll.node',
    ]) {
      expect(files, addon).toContain(addon);
    }
    // The checksums describe the pruned tree.
    const sums = readFileSync(at(`${RELEASE}/SHA256SUMS`), 'utf8');
    expect(sums).not.toMatch(/\.map\n|obj\.target|@types/);
  });

  it('makes only relative links, each resolving inside the root', () => {
    const links: string[] = [];
    const walk = (path: string) => {
      const st = lstatSync(path);
      if (st.isSymbolicLink()) links.push(path);
      else if (st.isDirectory()) for (const entry of readdirSync(path)) walk(join(path, entry));
    };
    walk(root);
    expect(links.length).toBeGreaterThanOrEqual(3);
    for (const link of links) {
      const target = readlinkSync(link);
      expect(target, link).not.toMatch(/^\//);
      expect(existsSync(link), `${link} -> ${target}`).toBe(true);
      expect(relative(root, realpathSync(link)), link).not.toMatch(/^\.\./);
    }
  });

  it('makes the same links where realpath takes no options (BusyBox)', () => {
    // BusyBox's realpath, the one of a plain board image: paths only, no --relative-to.
    const bin = join(work, 'busybox-bin');
    mkdirSync(bin);
    const gnu = spawnSync('sh', ['-c', 'command -v realpath'], { encoding: 'utf8' }).stdout.trim();
    writeFileSync(
      join(bin, 'realpath'),
      `#!/bin/sh\nfor arg; do\n  case "$arg" in -*) echo "realpath: unrecognized option: $arg" >&2 && exit 1 ;; esac\ndone\nexec ${gnu} "$@"\n`,
      { mode: 0o755 },
    );
    const path = `${bin}:${process.env.PATH}`;
    const plain = imageRoot(join(work, 'busybox-root'));
    const result = install({ DESTDIR: plain, PATH: path });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(linksIn(plain)).toEqual(linksIn(root));

    // A deeper PREFIX spelt with doubled slashes, . and .., read as text like GNU's realpath -m -s.
    const deep = imageRoot(join(work, 'busybox-deep'));
    const prefix = `${work}//spelt/../busybox-prefix/./`;
    const spelt = install({ DESTDIR: deep, PREFIX: prefix, PATH: path });
    expect(spelt.stderr).toBe('');
    expect(spelt.status).toBe(0);
    expect(readlinkSync(join(deep, 'usr/local/bin/cpctl'))).toBe(
      relative('/usr/local/bin', join(work, 'busybox-prefix/current/dist/src/bin/cpctl.js')),
    );
    const daemon = spawnSync(join(deep, 'usr/local/bin/chargepointd'), ['--version'], { encoding: 'utf8' });
    expect(daemon.stdout.trim()).toBe(PACKAGE.version);
  });

  it('installs a daemon that runs through the current link with what was installed', () => {
    const result = spawnSync(at('opt/chargepoint/current/dist/src/bin/chargepointd.js'), ['--version'], {
      encoding: 'utf8',
      cwd: work,
    });
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe(PACKAGE.version);
  });

  it('writes the configuration template, which the installed daemon refuses until it is filled in', () => {
    const file = at('etc/chargepoint/chargepoint.json');
    expect(readFileSync(file, 'utf8')).toBe(
      readFileSync(join(ROOT, 'config/chargepoint.example.json'), 'utf8'),
    );
    expect(firstRun.stdout).toContain(
      'install: fill in /etc/chargepoint/chargepoint.json (every CHANGE-ME, board), then delete its "template" line',
    );
    const refused = spawnSync(
      at('opt/chargepoint/current/dist/src/bin/chargepointd.js'),
      ['--check', '--config', file],
      {
        encoding: 'utf8',
      },
    );
    expect(refused.status).toBe(78);
    expect(refused.stderr).toContain(`${file}: chargePointId: still the template's placeholder CHANGE-ME`);
    // The boards of an installation are reached through the current link, which updates move.
    expect(refused.stderr).toContain(
      `${file}: board: still the template's placeholder CHANGE-ME: fill in the path of this charger's board file; board files live in ${at('opt/chargepoint/current/config/boards')}/:`,
    );

    const filled = JSON.parse(readFileSync(file, 'utf8').replaceAll('CHANGE-ME', 'CP-SITE-7')) as Record<
      string,
      unknown
    >;
    delete filled.template;
    const provisioned = join(work, 'provisioned.json');
    writeFileSync(
      provisioned,
      JSON.stringify({ ...filled, board: at(`${RELEASE}/config/boards/rpi-ac-1.json`) }),
    );
    const config = loadConfigFile(provisioned);
    expect(config.stateDir).toBe('/var/lib/chargepoint');
    expect(config.cli.socket).toBe('/run/chargepoint/cpctl.sock');
  });

  it('warns that the native modules must be rebuilt when the target is another architecture', {
    timeout: 180_000,
  }, () => {
    const other = process.arch === 'arm64' ? 'x86_64' : 'aarch64';
    const otherNode = process.arch === 'arm64' ? 'x64' : 'arm64';
    const foreign = install({ TARGET_ARCH: other });
    expect(foreign.status).toBe(0);
    // serialport ships prebuilt addons for x64, arm64 and 32-bit arm; these two are built here.
    expect(foreign.stderr).toMatch(
      new RegExp(
        `^install: warning: the target is ${otherNode}, this machine ${process.arch}: the native modules \\(better-sqlite3 epoll\\) were built for ${process.arch} and must be rebuilt for ${otherNode} `,
      ),
    );
    // An architecture serialport has no prebuilt addon for: its addon is to be rebuilt as well.
    expect(install({}, ['--arch', 'riscv64']).stderr).toMatch(
      /^install: warning: the target is riscv64, .*: the native modules \(@serialport\/bindings-cpp better-sqlite3 epoll\) /,
    );
    // The same architecture under uname's name is no reason to warn.
    const same = install({}, ['--arch', process.arch === 'x64' ? 'x86_64' : process.arch]);
    expect(same.status).toBe(0);
    expect(same.stderr).toBe('');
  });

  it('reads the architecture of a DESTDIR image from its ELF header when no --arch is given', {
    timeout: 240_000,
  }, () => {
    const foreign = process.arch === 'arm64' ? 'x64' : 'arm64';
    // A merged /usr (bin -> usr/bin) and BusyBox's absolute /bin/sh -> /bin/busybox: both are
    // followed inside the image, not on this machine.
    const image = join(work, 'image-foreign');
    mkdirSync(join(image, 'usr/bin'), { recursive: true });
    symlinkSync('usr/bin', join(image, 'bin'));
    symlinkSync('/bin/busybox', join(image, 'usr/bin/sh'));
    writeFileSync(join(image, 'usr/bin/busybox'), elfHeader(foreign), { mode: 0o755 });
    const read = install({ DESTDIR: image });
    expect(read.status).toBe(0);
    expect(read.stderr).toMatch(
      new RegExp(
        `^install: warning: the target is ${foreign} \\(the ELF header of its bin/sh\\), this machine ${process.arch}: the native modules \\(better-sqlite3 epoll\\) were built for ${process.arch} and must be rebuilt for ${foreign} \\(on the target: cd /opt/chargepoint/releases/${PACKAGE.version} && npm rebuild\\)\n$`,
      ),
    );

    // What it cannot read, it says, and what would tell it.
    const script = join(work, 'image-script');
    mkdirSync(join(script, 'bin'), { recursive: true });
    writeFileSync(join(script, 'bin/sh'), '#!/bin/busybox sh\n', { mode: 0o755 });
    const empty = join(work, 'image-empty');
    for (const [dest, why] of [
      [script, 'its bin/sh is no ELF executable of an architecture Node runs on'],
      [empty, 'none of bin/sh, usr/bin/node, bin/busybox is there'],
    ] as const) {
      const unknown = install({ DESTDIR: dest });
      expect(unknown.status, dest).toBe(0);
      expect(unknown.stderr, dest).toBe(
        `install: warning: cannot tell the architecture of ${dest} (${why}): if it is not ${process.arch}, its native modules must be rebuilt there; give --arch to be told which\n`,
      );
    }
  });

  it('changes nothing when run a second time', () => {
    const before = snapshot(root);
    const again = install();
    expect(again.status).toBe(0);
    expect(again.stdout).toContain(`unchanged /opt/chargepoint/releases/${PACKAGE.version}`);
    expect(again.stdout).toMatch(/kept \/etc\/chargepoint\/chargepoint\.json/);
    expect(snapshot(root)).toEqual(before);
  });

  it("keeps the operator's configuration and state, and repairs the runtime", () => {
    const configFile = at('etc/chargepoint/chargepoint.json');
    const edited = readFileSync(configFile, 'utf8').replaceAll('CHANGE-ME', 'CP-SITE-7');
    writeFileSync(configFile, edited);
    writeFileSync(at('var/lib/chargepoint/chargepoint.db'), 'state');
    unlinkSync(at(`${RELEASE}/dist/src/bin/chargepointd.js`));
    writeFileSync(at(`${RELEASE}/stray.txt`), 'left by hand');

    const result = install();
    expect(result.status).toBe(0);
    expect(readFileSync(configFile, 'utf8')).toBe(edited);
    expect(readFileSync(at('var/lib/chargepoint/chargepoint.db'), 'utf8')).toBe('state');
    expect(statSync(at(`${RELEASE}/dist/src/bin/chargepointd.js`)).isFile()).toBe(true);
    expect(readdirSync(at(RELEASE))).not.toContain('stray.txt');
    expect(readdirSync(at('opt'))).toEqual(['chargepoint']);
    expect(readdirSync(at('opt/chargepoint/releases'))).toEqual([PACKAGE.version]);
  });

  it('keeps the other releases, makes its own current and clears a trial mark', () => {
    mkdirSync(at('opt/chargepoint/releases/0.0.9'));
    writeFileSync(at('opt/chargepoint/releases/0.0.9/MANIFEST'), 'version=0.0.9\n');
    symlinkSync('releases/0.0.9', at('opt/chargepoint/next'));
    renameSync(at('opt/chargepoint/next'), at('opt/chargepoint/current'));
    writeFileSync(at('opt/chargepoint/trial'), 'version=0.0.9\n');

    const result = install();
    expect(result.status).toBe(0);
    expect(readlinkSync(at('opt/chargepoint/current'))).toBe(`releases/${PACKAGE.version}`);
    expect(readdirSync(at('opt/chargepoint/releases')).sort()).toEqual(['0.0.9', PACKAGE.version].sort());
    expect(readdirSync(at('opt/chargepoint')).sort()).toEqual(['current', 'releases']);
    rmSync(at('opt/chargepoint/releases/0.0.9'), { recursive: true });
  });

  it('migrates a prefix of the flat layout, keeping configuration and state', () => {
    const old = imageRoot(join(work, 'flat'));
    const at = (path: string) => join(old, path);
    for (const dir of [
      'opt/chargepoint/dist/src/bin',
      'opt/chargepoint/node_modules/ws',
      'opt/chargepoint/libexec',
    ])
      mkdirSync(at(dir), { recursive: true });
    writeFileSync(at('opt/chargepoint/dist/src/bin/chargepointd.js'), 'old build');
    writeFileSync(at('opt/chargepoint/libexec/chargepoint-stop-post'), 'old helper');
    writeFileSync(at('opt/chargepoint/package.json'), '{}');
    mkdirSync(at('etc/chargepoint'), { recursive: true });
    writeFileSync(at('etc/chargepoint/chargepoint.json'), '{"kept":true}');
    mkdirSync(at('var/lib/chargepoint'), { recursive: true });
    writeFileSync(at('var/lib/chargepoint/chargepoint.db'), 'state');

    const result = install({ DESTDIR: old });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/migrated \/opt\/chargepoint to the releases layout/);
    expect(readdirSync(at('opt/chargepoint')).sort()).toEqual(['current', 'releases']);
    expect(readlinkSync(at('opt/chargepoint/current'))).toBe(`releases/${PACKAGE.version}`);
    expect(readFileSync(at('etc/chargepoint/chargepoint.json'), 'utf8')).toBe('{"kept":true}');
    expect(readFileSync(at('var/lib/chargepoint/chargepoint.db'), 'utf8')).toBe('state');
    const daemon = spawnSync(at('opt/chargepoint/current/dist/src/bin/chargepointd.js'), ['--version'], {
      encoding: 'utf8',
    });
    expect(daemon.stdout.trim()).toBe(PACKAGE.version);
  });

  it('links the commands through PREFIX/current even where this machine has that link (a real install)', () => {
    // Without DESTDIR the target is this machine, whose PREFIX/current install.sh has just made:
    // here a PREFIX that this machine holds, its current link pointing at an older release.
    const prefix = join(work, 'host-prefix');
    mkdirSync(join(prefix, 'releases/0.0.1'), { recursive: true });
    symlinkSync('releases/0.0.1', join(prefix, 'current'));
    const result = install({ DESTDIR: join(work, 'linked'), PREFIX: prefix });
    expect(result.status).toBe(0);
    // Pinned to a release, the commands would stay on it after a firmware update moves current.
    expect(readlinkSync(join(work, 'linked/usr/local/bin/cpctl'))).toBe(
      relative('/usr/local/bin', join(prefix, 'current/dist/src/bin/cpctl.js')),
    );
  });

  it('installs into another PREFIX and points the unit at it', () => {
    const result = install({ DESTDIR: join(work, 'other'), PREFIX: '/usr/lib/chargepoint' });
    expect(result.status).toBe(0);
    const unit = readFileSync(join(work, 'other/usr/local/lib/systemd/system/chargepoint.service'), 'utf8');
    expect(unit).toMatch(/^ExecStart=\/usr\/lib\/chargepoint\/current\/dist\/src\/bin\/chargepointd\.js /m);
    expect(unit).not.toMatch(/\/opt\/chargepoint/);
    // The hooks and the ownership of the releases follow the prefix too.
    const lib = readFileSync(
      join(work, 'other/usr/local/libexec/chargepoint/firmware-release-lib.sh'),
      'utf8',
    );
    expect(lib).toMatch(/^PREFIX="\$\{CHARGEPOINT_PREFIX:-\/usr\/lib\/chargepoint\}"$/m);
    const tmpfiles = readFileSync(join(work, 'other/usr/local/lib/tmpfiles.d/chargepoint.conf'), 'utf8');
    expect(tmpfiles).toMatch(/^d \/usr\/lib\/chargepoint\/releases 0755 chargepoint chargepoint -$/m);
    expect(tmpfiles).not.toMatch(/\/opt\/chargepoint/);
  });

  it("installs into a PREFIX holding sed's | and & and glob's [ ], from a DESTDIR and TMPDIR with spaces and quotes too", {
    timeout: 240_000,
  }, () => {
    const tmp = join(work, "tmp 'R&D' [1]");
    mkdirSync(tmp);
    const other = process.arch === 'arm64' ? 'x86_64' : 'aarch64';
    for (const [i, prefix] of ['/opt/R&D', '/opt/lab|2[1]'].entries()) {
      const dest = join(work, `dest ${i} R&D|x [1]`);
      const result = install({ DESTDIR: dest, PREFIX: prefix, TMPDIR: tmp }, ['--arch', other]);
      expect(result.status, prefix).toBe(0);
      // The prebuilt serialport addons are found under a PREFIX with glob syntax too.
      expect(result.stderr, prefix).toContain('the native modules (better-sqlite3 epoll) were built');
      expect(result.stderr, prefix).toContain(
        `(on the target: cd ${prefix}/releases/${PACKAGE.version} && npm rebuild)`,
      );
      for (const [file, installed] of Object.entries(PREFIXED_FILES)) {
        expect(readFileSync(join(dest, installed), 'utf8'), `${prefix} ${installed}`).toBe(
          forPrefix(file, prefix),
        );
      }
      const sourced = spawnSync(
        'bash',
        ['-c', '. "$1" && printf %s "$PREFIX"', 'bash', join(dest, LIBEXEC, 'firmware-release-lib.sh')],
        {
          encoding: 'utf8',
          env: { PATH: process.env.PATH },
        },
      );
      expect(sourced.stdout, prefix).toBe(prefix);
      const config = JSON.parse(readFileSync(join(dest, 'etc/chargepoint/chargepoint.json'), 'utf8')) as {
        board: string;
      };
      expect(config.board).toBe(`${prefix}/current/config/boards/CHANGE-ME.json`);
      expect(readlinkSync(join(dest, 'usr/local/bin/cpctl'))).toBe(
        relative('/usr/local/bin', `${prefix}/current/dist/src/bin/cpctl.js`),
      );
      const daemon = spawnSync(join(dest, 'usr/local/bin/chargepointd'), ['--version'], { encoding: 'utf8' });
      expect(daemon.stdout.trim(), prefix).toBe(PACKAGE.version);
      // The addons survive the pruning of a release staged under such a TMPDIR.
      expect(
        existsSync(
          join(
            dest,
            prefix,
            `releases/${PACKAGE.version}/node_modules/better-sqlite3/build/Release/better_sqlite3.node`,
          ),
        ),
        prefix,
      ).toBe(true);
    }
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('cleans up its staged release when it fails, whatever TMPDIR holds', () => {
    const tmp = join(work, "tmp 'failing'");
    mkdirSync(tmp);
    const dest = join(work, 'failing');
    // A file where the releases directory goes: the release cannot be installed.
    mkdirSync(join(dest, 'opt/chargepoint'), { recursive: true });
    writeFileSync(join(dest, 'opt/chargepoint/releases'), '');
    const result = install({ DESTDIR: dest, TMPDIR: tmp });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/releases/);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('refuses a PREFIX that the unit, tmpfiles.d, the hooks or the configuration would read as syntax', () => {
    // Spaces would need quoting in the unit and tmpfiles.d and %20 in its Documentation= URL; %
    // is a specifier there, $ a variable in ExecStart=, and the hooks read PREFIX in "${...:-...}".
    for (const prefix of [
      '/opt/charge point',
      '/opt/cp\tsite',
      '/opt/100%',
      '/opt/$HOME',
      '/opt/a"b',
      "/opt/a'b",
      '/opt/a\\b',
      '/opt/a`b`',
      '/opt/a}b',
    ]) {
      const dest = join(work, 'refused');
      const result = install({ DESTDIR: dest, PREFIX: prefix });
      expect(result.status, prefix).toBe(1);
      expect(result.stderr, prefix).toBe(
        `install: PREFIX cannot hold white space, control characters, quotes, \\, $, \`, % or }: the unit, tmpfiles.d, the firmware hooks and the configuration would read them as syntax: ${prefix}\n`,
      );
      expect(existsSync(dest), prefix).toBe(false);
    }
  });

  it('refuses a relative DESTDIR or PREFIX', () => {
    for (const env of [{ DESTDIR: 'relative/root' }, { PREFIX: 'opt/chargepoint' }]) {
      const result = install(env);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(/must be an absolute path/);
    }
  });
});
