import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PartFile } from '../../src/transfer/part-file.js';

/** The part file a download writes into, between attempts. */

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cp-transfer-part-'));
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A response that delivers `chunk` and then loses its connection. */
async function* droppedAfter(chunk: Buffer): AsyncGenerator<Buffer> {
  yield chunk;
  throw new Error('aborted');
}

describe('PartFile', () => {
  it('a failed attempt returns only once its last write landed, so the resume offset is final', async () => {
    const dest = join(dir, 'image.bin');
    const part = await PartFile.open(dest);
    const chunk = Buffer.alloc(256 * 1024, 7);

    // The connection drops while the chunk is still being written: the retry that follows
    // asks for Range from `bytes`, which must not move after the attempt has failed.
    await expect(part.receive((sink) => pipeline(Readable.from(droppedAfter(chunk)), sink))).rejects.toThrow(
      'aborted',
    );
    const resumeFrom = part.bytes;
    const result = await part.commit();

    expect(resumeFrom).toBe(chunk.length);
    expect(result).toEqual({ bytes: chunk.length, sha256: createHash('sha256').update(chunk).digest('hex') });
    expect(readFileSync(dest)).toEqual(chunk);
  });

  it('a resumed attempt appends after the bytes of the failed one', async () => {
    const dest = join(dir, 'image.bin');
    const part = await PartFile.open(dest);
    const head = Buffer.alloc(100_000, 1);
    const tail = Buffer.alloc(50_000, 2);

    await expect(part.receive((sink) => pipeline(Readable.from(droppedAfter(head)), sink))).rejects.toThrow(
      'aborted',
    );
    await part.receive((sink) => pipeline(Readable.from([tail]), sink));
    const result = await part.commit();

    const whole = Buffer.concat([head, tail]);
    expect(result).toEqual({ bytes: whole.length, sha256: createHash('sha256').update(whole).digest('hex') });
    expect(readFileSync(dest)).toEqual(whole);
  });
});
