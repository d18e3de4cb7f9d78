import { describe, expect, it } from 'vitest';
import { runInstallHook, STDERR_LOG_TAIL } from '../../src/firmware/install-hook.js';
import { createLogger } from '../../src/log.js';
import { LogSink } from '../support/harness.js';

/** A logger whose lines the test reads. */
function captured(): { sink: LogSink; log: ReturnType<typeof createLogger> } {
  const sink = new LogSink();
  return { sink, log: createLogger({ level: 'info', destination: sink }) };
}

describe('runInstallHook (DESIGN.md item 9)', () => {
  it('appends the image path to the argv (no shell) and takes exit 0 as installed', async () => {
    const { log } = captured();
    expect(
      await runInstallHook(['sh', '-c', 'test "$0" = "/tmp/image with space"'], '/tmp/image with space', log),
    ).toEqual({
      installed: true,
    });
  });

  it('a non-zero exit is a failure whose reason ends with what the hook wrote to stderr', async () => {
    const { log } = captured();
    const outcome = await runInstallHook(
      ['sh', '-c', 'echo "$(printf x%.0s $(seq 300))" >&2; echo "bad image" >&2; exit 3'],
      '/tmp/i',
      log,
    );
    expect(outcome).toMatchObject({ installed: false });
    const reason = outcome.installed ? '' : outcome.reason;
    expect(reason).toMatch(/^install hook exit 3: x+\nbad image$/);
    expect(reason.length).toBeLessThan(250);
  });

  it('a hook killed by a signal, or one that cannot be started, installed nothing', async () => {
    const { log } = captured();
    expect(await runInstallHook(['sh', '-c', 'kill -TERM $$'], '/tmp/i', log)).toEqual({
      installed: false,
      reason: 'install hook killed by SIGTERM',
    });
    const missing = await runInstallHook(['/nonexistent/firmware-hook'], '/tmp/i', log);
    expect(missing).toMatchObject({ installed: false, reason: expect.stringMatching(/ENOENT/) });
    expect(await runInstallHook([], '/tmp/i', log)).toEqual({ installed: false, reason: 'no install hook' });
  });

  it('what a successful hook wrote to stderr is logged at info, in one line', async () => {
    const { sink, log } = captured();
    const outcome = await runInstallHook(
      ['sh', '-c', 'echo "unpacked release 0.2.0" >&2; echo "slot B marked primary" >&2'],
      '/tmp/i',
      log,
    );
    expect(outcome).toEqual({ installed: true });
    expect(sink.lines).toEqual([
      expect.objectContaining({
        level: 'info',
        msg: 'firmware install hook succeeded',
        hook: 'sh',
        exitCode: 0,
        stderr: 'unpacked release 0.2.0\nslot B marked primary',
      }),
    ]);
  });

  it("the logged stderr is its last 4 KB, a URL's password redacted; a failure is logged at warn", async () => {
    const { sink, log } = captured();
    await runInstallHook(
      [
        'sh',
        '-c',
        'head -c 10000 /dev/zero | tr "\\0" y >&2; echo >&2; echo "fetched https://fw:s3cret-pw@files.example/x.bin" >&2',
      ],
      '/tmp/i',
      log,
    );
    const [success] = sink.lines;
    const said = String(success?.stderr);
    expect(said.length).toBeLessThanOrEqual(STDERR_LOG_TAIL);
    expect(said).toMatch(/^y+\nfetched https:\/\/fw:\[redacted\]@files\.example\/x\.bin$/);
    expect(JSON.stringify(sink.lines)).not.toContain('s3cret-pw');

    await runInstallHook(['sh', '-c', 'echo "rauc: bundle signature invalid" >&2; exit 1'], '/tmp/i', log);
    expect(sink.lines[1]).toMatchObject({
      level: 'warn',
      msg: 'firmware install hook failed',
      exitCode: 1,
      stderr: 'rauc: bundle signature invalid',
    });
  });
});
