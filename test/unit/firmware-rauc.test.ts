import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

const HOOK = fileURLToPath(new URL('../../scripts/firmware-install-rauc.sh', import.meta.url));

let work: string;
let fakeBin: string;
let calls: string;
let bundle: string;
let stateDir: string;

/**
 * The hook with a `rauc` on PATH that records its arguments, answers `status --output-format=json`
 * with the slots of `slots()`, and exits with $FAKE_RAUC_STATUS.
 */
function rauc(args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(HOOK, args, {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${fakeBin}:/usr/bin:/bin`, CHARGEPOINT_STATE_DIR: stateDir, ...env },
  });
  if (result.error) throw result.error;
  return result;
}

const recorded = () => (existsSync(calls) ? readFileSync(calls, 'utf8') : '');
const resultFile = () => join(stateDir, 'firmware-result.json');
const pendingFile = () => join(stateDir, 'rauc-pending');

/** What `rauc status` reports: booted from `booted`, slot B (rootfs.1) the bootloader's first choice. */
function slots(booted: 'A' | 'B'): void {
  const status = {
    compatible: 'charger',
    booted,
    boot_primary: 'rootfs.1',
    slots: [
      { 'rootfs.0': { class: 'rootfs', bootname: 'A', state: booted === 'A' ? 'booted' : 'inactive' } },
      { 'rootfs.1': { class: 'rootfs', bootname: 'B', state: booted === 'B' ? 'booted' : 'inactive' } },
    ],
  };
  writeFileSync(join(work, 'status.json'), JSON.stringify(status));
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'cp-rauc-'));
  fakeBin = join(work, 'bin');
  calls = join(work, 'rauc.calls');
  bundle = join(work, 'update-2.0.raucb');
  mkdirSync(fakeBin);
  stateDir = join(work, 'state');
  mkdirSync(stateDir);
  writeFileSync(
    join(fakeBin, 'rauc'),
    [
      '#!/bin/sh',
      `echo "$*" >> '${calls}'`,
      `[ "$*" != "status --output-format=json" ] || cat '${work}/status.json'`,
      `exit "\${FAKE_RAUC_STATUS:-0}"`,
      '',
    ].join('\n'),
  );
  chmodSync(join(fakeBin, 'rauc'), 0o755);
  writeFileSync(bundle, 'a bundle');
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

beforeEach(() => {
  for (const file of [calls, resultFile(), pendingFile()]) rmSync(file, { force: true });
  slots('A');
});

describe('firmware-install-rauc.sh (A/B slots through RAUC)', () => {
  it('installs a bundle with rauc install, records the slot it made primary, and exits 0', () => {
    const result = rauc([bundle]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(recorded()).toBe(`install ${bundle}\nstatus --output-format=json\n`);
    expect(readFileSync(pendingFile(), 'utf8')).toBe('B\n');
  });

  it('still counts a bundle installed when rauc status does not name the new slot', () => {
    writeFileSync(join(work, 'status.json'), '{}');
    const result = rauc([bundle]);
    expect(result.status).toBe(0);
    expect(result.stderr).toMatch(/a fallback will not be reported/);
    expect(existsSync(pendingFile())).toBe(false);
  });

  it('reports nothing when the new slot booted', () => {
    expect(rauc([bundle]).status).toBe(0);
    slots('B');
    const check = rauc(['--check']);
    expect(check.status).toBe(0);
    expect(existsSync(resultFile())).toBe(false);
    expect(existsSync(pendingFile())).toBe(false);
  });

  it('tells the daemon InstallationFailed when the bootloader fell back to the old slot', () => {
    expect(rauc([bundle]).status).toBe(0);
    const check = rauc(['--check']);
    expect(check.status).toBe(0);
    expect(JSON.parse(readFileSync(resultFile(), 'utf8'))).toEqual({
      status: 'InstallationFailed',
      info: 'slot B did not boot; the bootloader fell back to A',
    });
    expect(existsSync(pendingFile())).toBe(false);
  });

  it('checks nothing when no install is pending', () => {
    expect(rauc(['--check']).status).toBe(0);
    expect(recorded()).toBe('');
    expect(existsSync(resultFile())).toBe(false);
  });

  it('fails when rauc refuses the bundle, so the daemon reports InstallationFailed', () => {
    const result = rauc([bundle], { FAKE_RAUC_STATUS: '1' });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/rauc install .* failed/);
    expect(recorded()).toBe(`install ${bundle}\n`);
  });

  it('confirms the booted slot with rauc status mark-good', () => {
    const result = rauc(['--confirm', '2.0.0']);
    expect(result.status).toBe(0);
    expect(recorded()).toBe('status mark-good\n');
  });

  it('fails the confirmation when RAUC cannot mark the slot, so the daemon tries again', () => {
    const result = rauc(['--confirm', '2.0.0'], { FAKE_RAUC_STATUS: '1' });
    expect(result.status).not.toBe(0);
    expect(recorded()).toBe('status mark-good\n');
  });

  it('calls nothing for a missing bundle or wrong arguments', () => {
    for (const args of [
      [join(work, 'missing.raucb')],
      [],
      [bundle, 'extra'],
      ['--confirm'],
      ['--check', 'x'],
    ]) {
      const result = rauc(args);
      expect(result.status, args.join(' ')).not.toBe(0);
    }
    expect(recorded()).toBe('');
  });

  it('says so when RAUC is not installed', () => {
    const result = rauc([bundle], { PATH: '/usr/bin:/bin' });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/rauc is not installed/);
  });
});
