/**
 * The daemon's log lines: pino's JSON shape (journald, the log ring and the diagnostics bundles
 * read them), written without loading pino.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function capture(level = 'info') {
  const lines: string[] = [];
  const log = createLogger({
    level,
    base: { chargePointId: 'CP-1' },
    destination: { write: (l) => lines.push(l) },
  });
  const parsed = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { log, lines, parsed };
}

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A script in a fresh temporary directory, run as its own process, with createLogger imported. */
function childScript(body: (dir: string) => string): { dir: string; script: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cp-log-'));
  dirs.push(dir);
  const script = path.join(dir, 'child.ts');
  const prelude = `import { createLogger } from ${JSON.stringify(path.join(ROOT, 'src/log.ts'))};\n`;
  fs.writeFileSync(script, prelude + body(dir));
  return { dir, script };
}

describe('log lines', () => {
  it('are one JSON object per line: level label, ISO time, bindings, fields, message, in that order', () => {
    const { log, lines } = capture();
    log.child({ module: 'link' }).info({ connectorId: 2 }, 'connected');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^\{"level":"info","time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","chargePointId":"CP-1","module":"link","connectorId":2,"msg":"connected"\}\n$/,
    );
  });

  it('drop what is below the level; a message alone or fields alone make a line too', () => {
    const { log, parsed } = capture('warn');
    log.info('not shown');
    log.warn('shown');
    log.error({ code: 7 });
    expect(parsed().map(({ level, msg, code }) => ({ level, msg, code }))).toEqual([
      { level: 'warn', msg: 'shown', code: undefined },
      { level: 'error', msg: undefined, code: 7 },
    ]);
    expect(log.isLevelEnabled('error')).toBe(true);
    expect(log.isLevelEnabled('info')).toBe(false);
  });

  it('never carry a password or an AuthorizationKey, at the top or one level down', () => {
    const { log, lines } = capture();
    const url = { host: 'csms', password: 'hunter2' };
    log.warn({ password: 'p1', authorizationKey: 'k1', url, list: [1] }, 'secrets');
    expect(lines[0]).not.toMatch(/p1|k1|hunter2/);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      password: '[redacted]',
      authorizationKey: '[redacted]',
      url: { host: 'csms', password: '[redacted]' },
      list: [1],
    });
    // The caller's object is left as it was.
    expect(url.password).toBe('hunter2');
  });

  it('show an Error under err as its type, message and stack; a cycle does not lose the line', () => {
    const { log, parsed } = capture();
    log.error(new RangeError('out of range'));
    const cyclic: Record<string, unknown> = { n: 1n };
    cyclic.self = cyclic;
    log.info({ cyclic }, 'odd fields');
    const [error, odd] = parsed();
    expect(error).toMatchObject({
      msg: 'out of range',
      err: {
        type: 'RangeError',
        message: 'out of range',
        stack: expect.stringContaining('RangeError: out of range'),
      },
    });
    expect(odd).toMatchObject({ msg: 'odd fields', cyclic: { n: '1', self: '[Circular]' } });
  });

  it('still land when the process exits at once after logging (a crash exits 70 right away)', () => {
    const { dir, script } = childScript(
      (dir) => `const log = createLogger({ ringDir: ${JSON.stringify(path.join(dir, 'logs'))} });
// A first line big enough that its write is often still in flight at the exit below.
log.info({ big: 'x'.repeat(300_000) }, 'first');
for (let n = 0; n < 200; n++) log.info({ n }, 'line');
log.fatal('crashed');
log.flush();
process.exit(70);
`,
    );
    const run = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, encoding: 'utf8' });
    expect(run.status).toBe(70);
    for (const text of [run.stdout, fs.readFileSync(path.join(dir, 'logs', 'daemon.log'), 'utf8')]) {
      const lines = text.split('\n').filter((line) => line !== '');
      expect(lines).toHaveLength(202);
      expect(lines.map((line) => JSON.parse(line).msg)).toEqual([
        'first',
        ...Array.from({ length: 200 }, () => 'line'),
        'crashed',
      ]);
    }
  });

  it('wait, in order, while a non-blocking stdout is full, and all reach the reader once it reads', async () => {
    const { script } = childScript(
      () => `// A reader that stops reading meets a full pipe; non-blocking, a write to it fails with EAGAIN.
(process.stdout as unknown as { _handle: { setBlocking(on: boolean): void } })._handle.setBlocking(false);
const log = createLogger({ pretty: false });
for (let n = 0; n < 3000; n++) log.info({ n, pad: 'x'.repeat(150) }, 'line');
log.flush(() => process.exit(0));
`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT });
    // Nothing is read until the child has filled the pipe and waits (its backlog timer keeps it alive).
    child.stdout.pause();
    await new Promise((resolve) => setTimeout(resolve, 500));
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    child.stdout.resume();
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(0);
    const numbers = text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => (JSON.parse(line) as { n: number }).n);
    expect(numbers).toEqual(Array.from({ length: 3000 }, (_, n) => n));
  });
});
