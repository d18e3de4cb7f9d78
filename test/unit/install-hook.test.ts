import { describe, expect, it } from 'vitest';
import { runInstallHook } from '../../src/firmware/install-hook.js';

describe('runInstallHook (DESIGN.md item 9)', () => {
  it('appends the image path to the argv (no shell) and takes exit 0 as installed', async () => {
    expect(
      await runInstallHook(['sh', '-c', 'test "$0" = "/tmp/image with space"'], '/tmp/image with space'),
    ).toEqual({
      installed: true,
    });
  });

  it('a non-zero exit is a failure whose reason ends with what the hook wrote to stderr', async () => {
    const outcome = await runInstallHook(
      ['sh', '-c', 'echo "$(printf x%.0s $(seq 300))" >&2; echo "bad image" >&2; exit 3'],
      '/tmp/i',
    );
    expect(outcome).toMatchObject({ installed: false });
    const reason = outcome.installed ? '' : outcome.reason;
    expect(reason).toMatch(/^install hook exit 3: x+\nbad image$/);
    expect(reason.length).toBeLessThan(250);
  });

  it('a hook killed by a signal, or one that cannot be started, installed nothing', async () => {
    expect(await runInstallHook(['sh', '-c', 'kill -TERM $$'], '/tmp/i')).toEqual({
      installed: false,
      reason: 'install hook killed by SIGTERM',
    });
    const missing = await runInstallHook(['/nonexistent/firmware-hook'], '/tmp/i');
    expect(missing).toMatchObject({ installed: false, reason: expect.stringMatching(/ENOENT/) });
    expect(await runInstallHook([], '/tmp/i')).toEqual({ installed: false, reason: 'no install hook' });
  });
});
