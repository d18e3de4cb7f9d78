/**
 * The daemon's own log ring: every line also lands in `<stateDir>/logs`, in a bounded set of files
 * that rotate by size, so a diagnostics bundle has the log where journald is not.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, LOG_RING_FILE, LogRing, logRingFiles } from '../../src/log.js';
import { LogSink } from '../support/harness.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cp-log-ring-'));
  dirs.push(dir);
  return dir;
}

function flushed(target: { flush(cb: (err?: Error) => void): void }): Promise<void> {
  return new Promise((resolve, reject) => target.flush((err) => (err ? reject(err) : resolve())));
}

const line = (n: number) => `${JSON.stringify({ n, msg: `line ${String(n).padStart(4, '0')}` })}\n`;

describe('log ring', () => {
  it('rotates at the size bound and keeps only the newest files', async () => {
    const dir = path.join(tempDir(), 'logs');
    const ring = new LogRing({ dir, maxBytes: 300, files: 3 });
    for (let n = 0; n < 100; n++) {
      ring.write(line(n));
      // Rotation renames while a write may be in flight: let some land between lines.
      if (n % 10 === 0) await flushed(ring);
    }
    await flushed(ring);
    expect(fs.readdirSync(dir).sort()).toEqual([LOG_RING_FILE, `${LOG_RING_FILE}.1`, `${LOG_RING_FILE}.2`]);
    const files = logRingFiles(dir, 3);
    for (const file of files) expect(fs.statSync(file).size).toBeLessThanOrEqual(300);
    const kept = files
      .flatMap((file) => fs.readFileSync(file, 'utf8').split('\n'))
      .filter((text) => text !== '')
      .map((text) => (JSON.parse(text) as { n: number }).n);
    // Oldest first across the files, nothing lost within the ring, the newest line last.
    expect(kept.at(-1)).toBe(99);
    expect(kept).toEqual(kept.map((_, i) => kept[0]! + i));
    expect(kept[0]).toBeGreaterThan(0);
  });

  it('continues an existing file after a restart, counting its size', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, LOG_RING_FILE), 'x'.repeat(290));
    const ring = new LogRing({ dir, maxBytes: 300, files: 2 });
    ring.write(line(1));
    await flushed(ring);
    expect(fs.readFileSync(path.join(dir, `${LOG_RING_FILE}.1`), 'utf8')).toBe('x'.repeat(290));
    expect(fs.readFileSync(path.join(dir, LOG_RING_FILE), 'utf8')).toBe(line(1));
  });

  it('a logger with a ring directory writes each line to its destination and to the ring', async () => {
    const dir = path.join(tempDir(), 'state', 'logs');
    const sink = new LogSink();
    const log = createLogger({ destination: sink, ringDir: dir });
    log.info({ connectorId: 1 }, 'hello ring');
    await new Promise<void>((resolve) => log.flush(() => resolve()));
    expect(sink.find((l) => l.msg === 'hello ring')).toBeDefined();
    const written = JSON.parse(fs.readFileSync(path.join(dir, LOG_RING_FILE), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(written).toMatchObject({ level: 'info', msg: 'hello ring', connectorId: 1 });
    expect(fs.statSync(path.dirname(dir)).mode & 0o777).toBe(0o700);
  });
});
