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

/** The hook with a `rauc` on PATH that records its arguments and exits with $FAKE_RAUC_STATUS. */
function rauc(args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(HOOK, args, {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${fakeBin}:/usr/bin:/bin`, ...env },
  });
  if (result.error) throw result.error;
  return result;
}

const recorded = () => (existsSync(calls) ? readFileSync(calls, 'utf8') : '');

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'cp-rauc-'));
  fakeBin = join(work, 'bin');
  calls = join(work, 'rauc.calls');
  bundle = join(work, 'update-2.0.raucb');
  mkdirSync(fakeBin);
  writeFileSync(
    join(fakeBin, 'rauc'),
    `#!/bin/sh\necho "$*" >> '${calls}'\nexit "\${FAKE_RAUC_STATUS:-0}"\n`,
  );
  chmodSync(join(fakeBin, 'rauc'), 0o755);
  writeFileSync(bundle, 'a bundle');
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

beforeEach(() => rmSync(calls, { force: true }));

describe('firmware-install-rauc.sh (A/B slots through RAUC)', () => {
  it('installs a bundle with rauc install and exits 0', () => {
    const result = rauc([bundle]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(recorded()).toBe(`install ${bundle}\n`);
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
    for (const args of [[join(work, 'missing.raucb')], [], [bundle, 'extra'], ['--confirm']]) {
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
