import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { removeFileDurably, writeFileDurably } from '../../src/fs/durable-file.js';

describe('durable files', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cp-durable-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the whole text under the name with the mode asked, leaving no temporary file', () => {
    writeFileDurably(dir, 'a.pem', 'one', 0o600);
    writeFileDurably(dir, 'a.pem', 'two', 0o600);
    expect(readFileSync(join(dir, 'a.pem'), 'utf8')).toBe('two');
    expect(statSync(join(dir, 'a.pem')).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['a.pem']);
  });

  it('a temporary file a power cut left, readable by all, does not lend its mode to a key file', () => {
    writeFileSync(join(dir, 'key.pem.tmp'), 'half written', { mode: 0o644 });
    writeFileDurably(dir, 'key.pem', 'secret', 0o600);
    expect(statSync(join(dir, 'key.pem')).mode & 0o777).toBe(0o600);
  });

  it('removes a file; one already gone is no error', () => {
    writeFileDurably(dir, 'a.pem', 'one', 0o644);
    removeFileDurably(dir, 'a.pem');
    removeFileDurably(dir, 'a.pem');
    expect(readdirSync(dir)).toEqual([]);
  });
});
