/**
 * Boot pays only for what boot needs (issue 8, boot time and RSS after boot): the code of rare
 * operations (FTP transfers, diagnostics bundles) loads on first use. The daemon runs as its own
 * process with a preloaded probe that writes the packages in its CommonJS module cache when it
 * exits; a graceful stop right after the boot report leaves the cache as boot made it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { DevCsms } from '../csms/server.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CP = 'CP-LAZY';

/** On exit, the names of the packages whose files are in the module cache, one JSON array. */
const PROBE = `
const { writeFileSync } = require('node:fs');
process.on('exit', () => {
  const packages = new Set();
  for (const file of Object.keys(require.cache)) {
    const match = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(file);
    if (match) packages.add(match[1]);
  }
  writeFileSync(process.env.LOADED_PACKAGES_FILE, JSON.stringify([...packages]));
});
`;

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

describe('modules loaded at boot', () => {
  it('leaves basic-ftp and tar-stream unloaded until a transfer or a bundle needs them', async () => {
    dir = mkdtempSync(join(tmpdir(), 'cp-lazy-'));
    csms = new DevCsms();
    const { url } = await csms.start();
    const probe = join(dir, 'probe.cjs');
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
    const loadedFile = join(dir, 'loaded.json');
    daemon = spawn(
      process.execPath,
      ['--require', probe, '--import', 'tsx', join(ROOT, 'src/bin/chargepointd.ts'), '--config', config],
      { cwd: ROOT, stdio: 'ignore', env: { ...process.env, LOADED_PACKAGES_FILE: loadedFile } },
    );
    await csms.waitForCall(CP, 'BootNotification');
    await csms.waitForCall(CP, 'StatusNotification', {
      where: (p: { connectorId: number }) => p.connectorId === 2,
    });
    const exited = once(daemon, 'exit');
    daemon.kill('SIGTERM');
    expect(await exited).toEqual([0, null]);

    const loaded: string[] = JSON.parse(readFileSync(loadedFile, 'utf8'));
    // The probe sees what boot loads: the store's driver is a CommonJS package like the two below.
    expect(loaded).toContain('better-sqlite3');
    expect(loaded).not.toContain('basic-ftp');
    expect(loaded).not.toContain('tar-stream');
  });
});
