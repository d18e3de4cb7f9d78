import { execFile, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/package-root.js';
import { FIRMWARE_VERSION } from '../../src/version.js';
import { DevCsms } from '../csms/server.js';
import { HttpFileServer } from '../support/file-servers.js';
import { imageRoot } from '../support/install-image.js';
import { alterRelease, makeRelease, SupervisedService } from '../support/release-chain.js';
import type { Status } from '../support/status-calls.js';

// The whole firmware release chain in one run, for real: release A installed by scripts/install.sh
// into a temporary root, its chargepointd run through PREFIX/current by a supervisor playing
// systemd (chargepoint.service's ExecStartPre= trial check, ExecStart= and restart rule), an
// UpdateFirmware with a release tarball B from a loopback HTTP server, the shipped
// firmware-install-release.sh switching the link, the restart into B, and B confirming itself
// (firmware-confirm-release.sh) or, when B crashes at every start or is never accepted, the trial
// check (before a start, or from its timer) restoring A, which tells the central system
// InstallationFailed.

const ROOT = PACKAGE_ROOT;
const A = FIRMWARE_VERSION;
const B = '0.2.0-chain';
const BROKEN = '0.2.0-crashes';
const CP = 'CP-RELEASE-CHAIN';
const WAIT = { timeoutMs: 30_000 };

interface Boot {
  firmwareVersion?: string;
}

let work: string;
let files: HttpFileServer;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cp-release-chain-'));
  files = await HttpFileServer.start();
  const images = join(work, 'images');
  // As a build server makes them, served where the central system points the charger.
  for (const version of [B, BROKEN]) {
    const image = makeRelease(version, images);
    writeFileSync(files.file(`chargepoint-${version}.tar.gz`), readFileSync(image));
  }
  // A release every check of the install hook passes (its daemon prints its version) but whose
  // daemon fails at every start: exit 70, which systemd restarts.
  alterRelease(files.file(`chargepoint-${BROKEN}.tar.gz`), BROKEN, (dir) => {
    // The daemon's bundle (scripts/bundle.ts) holds the Runtime.
    const runtime = join(dir, 'dist/src/bin/chargepointd.js');
    const code = readFileSync(runtime, 'utf8');
    // The bundle is minified (no whitespace), names kept.
    const start = 'static async start(opts){';
    expect(code).toContain(start);
    writeFileSync(runtime, code.replace(start, `${start}throw new Error('this release crashes at start');`));
  });
  // The timer's systemctl: records what it is asked; the service is running, not failed.
  mkdirSync(join(work, 'bin'));
  writeFileSync(
    join(work, 'bin/systemctl'),
    '#!/bin/sh\necho "$*" >> "$SYSTEMCTL_LOG"\n[ "$1" != is-failed ] || exit 1\n',
    { mode: 0o755 },
  );
  // Two releases made and packed: seconds on a quiet machine, far more on a busy one.
}, 240_000);

afterAll(async () => {
  await files.close();
  rmSync(work, { recursive: true, force: true });
});

/** One charger: release A installed into a root of its own, its configuration, its central system. */
let root: string;
let prefix: string;
let stateDir: string;
let socket: string;
let csms: DevCsms;
let service: SupervisedService;
/** The environment of the hooks and the daemon: where this root's PREFIX, state and configuration are. */
let hookEnv: NodeJS.ProcessEnv;

const libexec = (name: string) => join(root, 'usr/local/libexec/chargepoint', name);
const current = () => readlinkSync(join(prefix, 'current'));
const releases = () => readdirSync(join(prefix, 'releases')).sort();
const resultFile = () => join(stateDir, 'firmware-result.json');
const trialMark = () => join(prefix, 'trial');

beforeEach(async () => {
  root = imageRoot(mkdtempSync(join(work, 'root-')));
  prefix = join(root, 'opt/chargepoint');
  stateDir = join(root, 'var/lib/chargepoint');
  socket = join(root, 'cpctl.sock');
  const install = spawnSync('bash', [join(ROOT, 'scripts/install.sh')], {
    encoding: 'utf8',
    env: { ...process.env, DESTDIR: root },
  });
  expect(install.stderr).toBe('');
  expect(install.status).toBe(0);
  expect(current()).toBe(`releases/${A}`);

  csms = new DevCsms();
  const { url } = await csms.start();
  // The operator's file in place of the installer's template, with the release hooks.
  const configFile = join(root, 'etc/chargepoint/chargepoint.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      chargePointId: CP,
      identity: { vendor: 'V', model: 'M' },
      csms: { url, reconnect: { initialSeconds: 0.05, maxSeconds: 0.5 } },
      stateDir,
      cli: { socket },
      firmware: {
        install: [libexec('firmware-install-release.sh')],
        afterInstall: 'restart',
        confirm: [libexec('firmware-confirm-release.sh')],
      },
    }),
    { mode: 0o600 },
  );
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  // The hooks' PREFIX, state directory and configuration are the target's paths, rewritten by the
  // installer; inside this root the environment says where they are.
  hookEnv = {
    ...process.env,
    CHARGEPOINT_PREFIX: prefix,
    CHARGEPOINT_STATE_DIR: stateDir,
    CHARGEPOINT_CONFIG: configFile,
  };
  service = new SupervisedService({
    execStartPre: libexec('firmware-trial-check.sh'),
    execStart: [join(prefix, 'current/dist/src/bin/chargepointd.js'), '--config', configFile],
    env: hookEnv,
  });
}, 120_000);

afterEach(async () => {
  await service.stop();
  await csms.stop();
  rmSync(root, { recursive: true, force: true });
  // A daemon that ignores SIGTERM is killed after the unit's TimeoutStopSec= (20 s).
}, 30_000);

function statusesSince(mark: number): string[] {
  return csms.calls(CP, 'FirmwareStatusNotification', mark).map((c) => (c.payload as Status).status);
}

/** The BootNotification of a run (the first after `mark`), once the central system has it. */
async function bootSince(mark: number): Promise<Boot> {
  const boot = await csms.waitForCall(CP, 'BootNotification', { since: mark, ...WAIT });
  return boot.payload as Boot;
}

/** The update's outcome as the restarted daemon reports it, whichever it is. */
async function finalStatusSince(mark: number): Promise<void> {
  await csms.waitForCall(CP, 'FirmwareStatusNotification', {
    since: mark,
    where: (p: Status) => p.status === 'Installed' || p.status === 'InstallationFailed',
    ...WAIT,
  });
}

/** Run 1, release A, registered; then the UpdateFirmware for `version`'s tarball. */
async function updateFrom(version: string): Promise<number> {
  service.start();
  await service.run(1);
  expect((await bootSince(0)).firmwareVersion).toBe(A);
  const mark = csms.mark();
  await csms.call(CP, 'UpdateFirmware', {
    location: files.url(`chargepoint-${version}.tar.gz`),
    retrieveDate: new Date().toISOString(),
  });
  return mark;
}

/**
 * One round of chargepoint-firmware-trial.timer (`firmware-trial-check.sh --deadline --restart`,
 * as root): what it asked systemctl, one call a line.
 */
async function trialTimer(): Promise<string[]> {
  const log = join(root, 'systemctl.log');
  await new Promise<void>((resolve, reject) => {
    execFile(
      libexec('firmware-trial-check.sh'),
      ['--deadline', '--restart'],
      { env: { ...hookEnv, PATH: `${join(work, 'bin')}:${process.env.PATH}`, SYSTEMCTL_LOG: log } },
      (error) => (error ? reject(error) : resolve()),
    );
  });
  if (!existsSync(log)) return [];
  const calls = readFileSync(log, 'utf8').trim().split('\n');
  rmSync(log);
  return calls;
}

/** Resolves once `path` is gone (watched, not polled). */
async function fileRemoved(path: string): Promise<void> {
  const watcher = watch(join(path, '..'));
  try {
    while (existsSync(path)) await once(watcher, 'change');
  } finally {
    watcher.close();
  }
}

/** `cpctl firmware --json` of the installed current release, as a technician runs it. */
async function cpctlFirmware(): Promise<Record<string, unknown>> {
  const cpctl = join(prefix, 'current/dist/src/bin/cpctl.js');
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(cpctl, ['--socket', socket, 'firmware', '--json'], (error, out) =>
      error ? reject(error) : resolve(out),
    );
  });
  return JSON.parse(stdout) as Record<string, unknown>;
}

describe('the firmware release chain, from UpdateFirmware to the confirmed or restored release', () => {
  it('A installs B, restarts into it, and B reports Installed and confirms itself', {
    timeout: 60_000,
  }, async () => {
    const mark = await updateFrom(B);

    const a = await service.run(1);
    expect(await a.ended).toEqual({ code: 10, signal: null });
    const b = await service.run(2);
    expect(b.preStderr).toMatch(`release ${B} on trial: start 1 of 3`);
    expect((await bootSince(mark)).firmwareVersion).toBe(B);
    await finalStatusSince(mark);
    const confirmation = await b.waitForLog('firmware confirmed', 'firmware confirmation hook failed');
    expect(confirmation.msg).toBe('firmware confirmed');

    expect(statusesSince(mark)).toEqual(['Downloading', 'Downloaded', 'Installing', 'Installed']);
    expect(current()).toBe(`releases/${B}`);
    expect(releases()).toEqual([A, B].sort());
    expect(existsSync(trialMark())).toBe(false);
    expect(existsSync(resultFile())).toBe(false);

    // Confirmed means kept: the next start is a plain start of B.
    const reset = csms.mark();
    await csms.call(CP, 'Reset', { type: 'Soft' });
    expect(await b.ended).toEqual({ code: 10, signal: null });
    const again = await service.run(3);
    expect(again.preStderr).toBe('');
    expect((await bootSince(reset)).firmwareVersion).toBe(B);
    expect(current()).toBe(`releases/${B}`);
  });

  it('B crashes at every start: after three starts the trial check restores A, which reports InstallationFailed', {
    timeout: 60_000,
  }, async () => {
    const mark = await updateFrom(BROKEN);

    expect(await (await service.run(1)).ended).toEqual({ code: 10, signal: null });
    for (const start of [1, 2, 3]) {
      const run = await service.run(1 + start);
      expect(run.preStderr, `start ${start}`).toMatch(`release ${BROKEN} on trial: start ${start} of 3`);
      expect(await run.ended, `start ${start}`).toEqual({ code: 70, signal: null });
      expect((await run.waitForLog('cannot start')).err).toBe('this release crashes at start');
    }
    const restored = await service.run(5);
    expect(restored.preStderr).toMatch(
      `release ${BROKEN} did not confirm in 3 starts: restored release ${A}`,
    );
    expect((await bootSince(mark)).firmwareVersion).toBe(A);
    await finalStatusSince(mark);
    // Told: the restored daemon removes the rollback's result.
    await fileRemoved(resultFile());

    expect(statusesSince(mark)).toEqual(['Downloading', 'Downloaded', 'Installing', 'InstallationFailed']);
    expect(csms.calls(CP, 'BootNotification', mark).map((c) => (c.payload as Boot).firmwareVersion)).toEqual([
      A,
    ]);
    expect(current()).toBe(`releases/${A}`);
    expect(existsSync(trialMark())).toBe(false);
    // The failed release stays for inspection until the next install.
    expect(releases()).toEqual([A, BROKEN].sort());
    expect(await cpctlFirmware()).toMatchObject({
      status: 'InstallationFailed',
      info: `release ${BROKEN} did not confirm in 3 starts; restored ${A}`,
      reported: true,
    });
    expect(restored.child.exitCode).toBeNull();
  });

  it('B never registers: past confirmTimeoutSeconds the timer restores A and restarts the service, and A reports InstallationFailed', {
    timeout: 60_000,
  }, async () => {
    // The central system turns B away: it runs on, never accepted, never confirming.
    csms.rules.boot = (req) => ({
      status: req.firmwareVersion === B ? 'Rejected' : 'Accepted',
      interval: 300,
    });
    const mark = await updateFrom(B);

    expect(await (await service.run(1)).ended).toEqual({ code: 10, signal: null });
    const b = await service.run(2);
    const turnedAway = await csms.waitForCall(CP, 'BootNotification', { since: mark, ...WAIT });
    expect((turnedAway.payload as Boot).firmwareVersion).toBe(B);
    // Within the time, the timer leaves B on trial.
    expect(await trialTimer()).toEqual([]);
    expect(current()).toBe(`releases/${B}`);

    // Only the clock is faked: the switch was confirmTimeoutSeconds (600 s by default) and more ago.
    const backdated = readFileSync(trialMark(), 'utf8').replace(
      /^since=\d+$/m,
      `since=${Math.floor(Date.now() / 1000) - 601}`,
    );
    writeFileSync(trialMark(), backdated);
    expect(await trialTimer()).toEqual([
      'is-failed --quiet chargepoint.service',
      '--no-block try-restart chargepoint.service',
    ]);
    expect(current()).toBe(`releases/${A}`);
    expect(existsSync(trialMark())).toBe(false);
    // systemd does what the timer asked.
    await service.restart();
    expect(await b.ended).toEqual({ code: 0, signal: null });
    const restored = await service.run(3);
    expect(restored.preStderr).toBe('');
    expect((await bootSince(turnedAway.record.seq)).firmwareVersion).toBe(A);
    await finalStatusSince(mark);
    await fileRemoved(resultFile());

    expect(statusesSince(mark)).toEqual(['Downloading', 'Downloaded', 'Installing', 'InstallationFailed']);
    expect(b.log.some((e) => e.msg === 'firmware confirmed')).toBe(false);
    expect(await cpctlFirmware()).toMatchObject({
      status: 'InstallationFailed',
      info: `release ${B} did not confirm within 600s; restored ${A}`,
      reported: true,
    });
  });
});
