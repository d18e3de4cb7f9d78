import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/file.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
};

let work: string;
let root: string;
let firstRun: { status: number | null; stdout: string; stderr: string };

function install(env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync('bash', [join(ROOT, 'scripts/install.sh')], {
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

const at = (path: string) => join(root, path);
const modeOf = (path: string) => (statSync(at(path)).mode & 0o7777).toString(8);

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'cp-install-'));
  root = join(work, 'root');
  firstRun = install();
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

// Each case runs the installer (npm and a copy of the runtime): seconds on a quiet machine, far more on a busy one.
describe('scripts/install.sh into a DESTDIR root', { timeout: 90_000 }, () => {
  it('installs the runtime, the unit and its companions, the directories and a configuration', () => {
    expect(firstRun.stderr).toBe('');
    expect(firstRun.status).toBe(0);
    expect(modeOf('opt/chargepoint/dist/src/bin/chargepointd.js')).toBe('755');
    expect(modeOf('opt/chargepoint/dist/src/bin/cpctl.js')).toBe('755');
    expect(modeOf('opt/chargepoint/libexec/chargepoint-stop-post')).toBe('755');
    for (const file of [
      'opt/chargepoint/package.json',
      'opt/chargepoint/README.md',
      'opt/chargepoint/config/chargepoint.schema.json',
      'opt/chargepoint/config/board.schema.json',
      'opt/chargepoint/config/boards/sim.json',
      'opt/chargepoint/dist/hal/types.js',
    ]) {
      expect(statSync(at(file)).isFile(), file).toBe(true);
    }
    expect(readFileSync(at('usr/local/lib/systemd/system/chargepoint.service'), 'utf8')).toBe(
      readFileSync(join(ROOT, 'systemd/chargepoint.service'), 'utf8'),
    );
    expect(readFileSync(at('usr/local/lib/sysusers.d/chargepoint.conf'), 'utf8')).toBe(
      readFileSync(join(ROOT, 'systemd/chargepoint.sysusers'), 'utf8'),
    );
    expect(readFileSync(at('usr/local/lib/tmpfiles.d/chargepoint.conf'), 'utf8')).toBe(
      readFileSync(join(ROOT, 'systemd/chargepoint.tmpfiles'), 'utf8'),
    );
    expect(readlinkSync(at('usr/local/bin/cpctl'))).toBe('/opt/chargepoint/dist/src/bin/cpctl.js');
    expect(readlinkSync(at('usr/local/bin/chargepointd'))).toBe(
      '/opt/chargepoint/dist/src/bin/chargepointd.js',
    );
    expect(modeOf('etc/chargepoint')).toBe('750');
    // The state holds the AuthorizationKey, and so may the configuration: neither is for the
    // technicians of group chargepoint, who only need the control socket.
    expect(modeOf('var/lib/chargepoint')).toBe('700');
    expect(readdirSync(at('var/lib/chargepoint'))).toEqual([]);
    expect(modeOf('etc/chargepoint/chargepoint.json')).toBe('600');
  });

  it('ships the production dependencies only, and no development files', () => {
    const modules = readdirSync(at('opt/chargepoint/node_modules'));
    for (const name of Object.keys(PACKAGE.dependencies)) expect(modules, name).toContain(name);
    // The build and test tools; a devDependency some production package also needs (@types/node,
    // through mqtt) is rightly installed.
    for (const name of ['typescript', 'vitest', 'tsx', '@biomejs/biome', 'pino-pretty']) {
      expect(existsSync(at(`opt/chargepoint/node_modules/${name}`)), name).toBe(false);
    }
    expect(modules).not.toContain('.bin');
    expect(readdirSync(at('opt/chargepoint/dist')).sort()).toEqual(['hal', 'src']);
    expect(readdirSync(at('opt/chargepoint/config'))).not.toContain('dev.json');
  });

  it('installs a daemon that runs from the prefix with what was installed', () => {
    const result = spawnSync(at('opt/chargepoint/dist/src/bin/chargepointd.js'), ['--version'], {
      encoding: 'utf8',
      cwd: work,
    });
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe(PACKAGE.version);
  });

  it('writes a configuration skeleton that validates, with the paths of an installed system', () => {
    const config = loadConfigFile(at('etc/chargepoint/chargepoint.json'));
    expect(config.chargePointId).toBe('CP-CHANGE-ME');
    expect(config.stateDir).toBe('/var/lib/chargepoint');
    expect(config.cli.socket).toBe('/run/chargepoint/cpctl.sock');
  });

  it('changes nothing when run a second time', () => {
    const before = snapshot(root);
    const again = install();
    expect(again.status).toBe(0);
    expect(again.stdout).toMatch(/unchanged \/opt\/chargepoint/);
    expect(again.stdout).toMatch(/kept \/etc\/chargepoint\/chargepoint\.json/);
    expect(snapshot(root)).toEqual(before);
  });

  it("keeps the operator's configuration and state, and repairs the runtime", () => {
    const configFile = at('etc/chargepoint/chargepoint.json');
    const edited = readFileSync(configFile, 'utf8').replace('CP-CHANGE-ME', 'CP-SITE-7');
    writeFileSync(configFile, edited);
    writeFileSync(at('var/lib/chargepoint/chargepoint.db'), 'state');
    unlinkSync(at('opt/chargepoint/dist/src/daemon.js'));
    writeFileSync(at('opt/chargepoint/stray.txt'), 'left by hand');

    const result = install();
    expect(result.status).toBe(0);
    expect(readFileSync(configFile, 'utf8')).toBe(edited);
    expect(readFileSync(at('var/lib/chargepoint/chargepoint.db'), 'utf8')).toBe('state');
    expect(statSync(at('opt/chargepoint/dist/src/daemon.js')).isFile()).toBe(true);
    expect(readdirSync(at('opt/chargepoint'))).not.toContain('stray.txt');
    expect(readdirSync(at('opt'))).toEqual(['chargepoint']);
  });

  it('installs into another PREFIX and points the unit at it', () => {
    const result = install({ DESTDIR: join(work, 'other'), PREFIX: '/usr/lib/chargepoint' });
    expect(result.status).toBe(0);
    const unit = readFileSync(join(work, 'other/usr/local/lib/systemd/system/chargepoint.service'), 'utf8');
    expect(unit).toMatch(/^ExecStart=\/usr\/lib\/chargepoint\/dist\/src\/bin\/chargepointd\.js /m);
    expect(unit).not.toMatch(/\/opt\/chargepoint/);
  });

  it('refuses a relative DESTDIR or PREFIX', () => {
    for (const env of [{ DESTDIR: 'relative/root' }, { PREFIX: 'opt/chargepoint' }]) {
      const result = install(env);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(/must be an absolute path/);
    }
  });
});
