/**
 * Boot pays only for what boot needs (issue 8, boot time and RSS after boot): the code of rare
 * operations (transfers, diagnostics bundles, the MQTT bridge when not configured, certificate
 * requests, hardware drivers on a simulated board) loads on first use, and the daemon loads no
 * package it does not use (pino). The daemon runs as its own process with a probe imported after
 * tsx: an ESM resolve hook lists every module imported, and at exit the probe lists the files in
 * the CommonJS module cache (what the packages require); a graceful stop right after the boot
 * report leaves both as boot made them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { DevCsms } from '../csms/server.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CP = 'CP-LAZY';

/** Appends each module the daemon imports (its file URL) to LOADED_MODULES_FILE. */
const HOOKS = `
import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (resolved.url.startsWith('file:')) appendFileSync(process.env.LOADED_MODULES_FILE, resolved.url + '\\n');
  return resolved;
}
`;

/**
 * Imported after tsx, so its hook sees every import first; at the stop signal (before the stop
 * runs) Node's own modules loaded, and on exit the CommonJS files loaded.
 */
const PROBE = `
import { createRequire, register } from 'node:module';
import { writeFileSync } from 'node:fs';
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(HOOKS)}));
const require = createRequire(import.meta.url);
process.on('exit', () => writeFileSync(process.env.LOADED_FILES_FILE, JSON.stringify(Object.keys(require.cache))));
process.on('SIGTERM', () => writeFileSync(process.env.LOADED_BUILTINS_FILE, JSON.stringify(process.moduleLoadList)));
`;

/** The package a file of node_modules belongs to. */
function packageOf(file: string): string | undefined {
  return /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file)?.[1];
}

/** What boot must not load: each loads with the first operation that needs it. */
const LAZY_MODULES = [
  'src/transfer/index.ts',
  'src/transfer/http.ts',
  'src/transfer/ftp.ts',
  'src/mqtt/bridge.ts',
  'src/diagnostics/bundle.ts',
  'src/security/csr.ts',
  'src/security/der.ts',
  'src/config/hardware-board-file.ts',
  'hal/hardware-board.ts',
];
/** Packages boot must not load: the rare operations' (above) and pino, which the daemon does without. */
const LAZY_PACKAGES = [
  'basic-ftp',
  'tar-stream',
  'mqtt',
  'modbus-serial',
  'serialport',
  'node-forge',
  'pino',
  'thread-stream',
  'sonic-boom',
];

let dir: string | undefined;
let csms: DevCsms | undefined;
let daemon: ChildProcess | undefined;
afterEach(async () => {
  if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
    daemon.kill('SIGKILL');
    await once(daemon, 'exit');
  }
  daemon = undefined;
  await csms?.stop();
  csms = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** What a daemon loaded by the end of its boot: modules (ESM), CommonJS files and Node's own modules. */
interface BootLoads {
  modules: string[];
  files: string[];
  builtins: string[];
  packages: Set<string | undefined>;
}

/** Boots the daemon `program` (run by node with `nodeArgs` first) with the probe; stops it at once. */
async function bootLoads(nodeArgs: string[], program: string): Promise<BootLoads> {
  dir = mkdtempSync(join(tmpdir(), 'cp-lazy-'));
  csms = new DevCsms();
  const { url } = await csms.start();
  const probe = join(dir, 'probe.mjs');
  writeFileSync(probe, PROBE);
  const config = join(dir, 'chargepoint.json');
  writeFileSync(
    config,
    JSON.stringify({
      chargePointId: CP,
      identity: { vendor: 'V', model: 'M' },
      csms: { url },
      stateDir: join(dir, 'state'),
      cli: { socket: join(dir, 'cpctl.sock') },
    }),
  );
  const modulesFile = join(dir, 'modules.txt');
  const filesFile = join(dir, 'files.json');
  const builtinsFile = join(dir, 'builtins.json');
  daemon = spawn(process.execPath, [...nodeArgs, '--import', probe, program, '--config', config], {
    cwd: ROOT,
    stdio: 'ignore',
    env: {
      ...process.env,
      LOADED_MODULES_FILE: modulesFile,
      LOADED_FILES_FILE: filesFile,
      LOADED_BUILTINS_FILE: builtinsFile,
    },
  });
  await csms.waitForCall(CP, 'BootNotification');
  await csms.waitForCall(CP, 'StatusNotification', {
    where: (p: { connectorId: number }) => p.connectorId === 2,
  });
  const exited = once(daemon, 'exit');
  daemon.kill('SIGTERM');
  expect(await exited).toEqual([0, null]);

  const modules = readFileSync(modulesFile, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((url) => relative(ROOT, fileURLToPath(url)));
  const files: string[] = JSON.parse(readFileSync(filesFile, 'utf8'));
  const builtins: string[] = JSON.parse(readFileSync(builtinsFile, 'utf8'));
  return { modules, files, builtins, packages: new Set([...modules, ...files].map(packageOf)) };
}

describe('modules loaded at boot', () => {
  it('leaves the code of rare operations and unused packages unloaded', async () => {
    const { modules, files, builtins, packages } = await bootLoads(
      ['--import', 'tsx'],
      join(ROOT, 'src/bin/chargepointd.ts'),
    );
    // The probe sees what boot loads: the runtime (ESM) and the store's driver (CommonJS).
    expect(modules).toContain('src/runtime.ts');
    expect(packages).toContain('better-sqlite3');
    expect(
      modules.filter((module) => LAZY_MODULES.includes(module) || module.startsWith('hal/drivers/')),
    ).toEqual([]);
    expect(LAZY_PACKAGES.filter((name) => packages.has(name))).toEqual([]);
    // The global `performance` loads perf_hooks at its first touch; the clock uses process.hrtime.
    expect(builtins).toContain('NativeModule net');
    expect(builtins).not.toContain('NativeModule perf_hooks');
    // The validators are compiled at build time: Ajv's runtime helpers load, its compiler does not.
    expect(files.filter((file) => /node_modules\/ajv\/dist\/(ajv|core)\.js$/.test(file))).toEqual([]);
  });

  it('runs the built daemon from its bundle, whose first-use chunks stay unloaded (npm run build)', async () => {
    const { modules, packages } = await bootLoads([], join(ROOT, 'dist/src/bin/chargepointd.js'));
    const ours = modules.filter((module) => packageOf(module) === undefined);
    // Only the bundle and its chunks (scripts/bundle.ts): no module of dist/src loads on its own.
    expect(ours).toContain('dist/src/bin/chargepointd.js');
    expect(
      ours.filter((module) => !/^dist\/src\/bin\/(chargepointd\.js|chunks\/[\w-]+\.js)$/.test(module)),
    ).toEqual([]);
    // esbuild names a chunk of code only imported on first use after its module (ftp-<hash>.js,
    // bridge-<hash>.js ...), and the code boot imports `chunk-<hash>.js`: only those load.
    expect(
      ours.filter((module) => module.startsWith('dist/src/bin/chunks/') && !/\/chunk-\w+\.js$/.test(module)),
    ).toEqual([]);
    expect(packages).toContain('better-sqlite3');
    expect(LAZY_PACKAGES.filter((name) => packages.has(name))).toEqual([]);
  });
});
