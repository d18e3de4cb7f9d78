import { createHash, type Hash } from 'node:crypto';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Writable } from 'node:stream';
import type { AttemptContext } from './context.js';
import { localIoError } from './errors.js';
import { type DownloadResult, type Progress, TransferError } from './types.js';

/**
 * `<dest>.part`: a download in progress. Bytes are written at their offset and hashed after the
 * write succeeded, in order, so the hash always covers exactly the bytes in the file and a resumed
 * attempt continues both where the last one stopped. Nothing larger than one chunk is held.
 */
export class PartFile {
  private hash: Hash = createHash('sha256');
  private written = 0;
  /** The write in flight, if any: `written` moves when it lands. */
  private writing: Promise<void> = Promise.resolve();
  /** The size the server announced, for progress. */
  total: number | undefined;

  private constructor(
    private readonly handle: FileHandle,
    readonly path: string,
    private readonly dest: string,
    private readonly onProgress: ((progress: Progress) => void) | undefined,
  ) {}

  /**
   * Opens `<dest>.part` empty: a part left by an earlier run comes with no validator to check it
   * against, so it is not trusted.
   */
  static async open(dest: string, onProgress?: (progress: Progress) => void): Promise<PartFile> {
    const path = `${dest}.part`;
    try {
      return new PartFile(await open(path, 'w', 0o600), path, dest, onProgress);
    } catch (error) {
      throw localIoError(error, `cannot create ${path}`);
    }
  }

  /** Bytes in the file so far. */
  get bytes(): number {
    return this.written;
  }

  /** Starts over (the server cannot resume, or its file changed). */
  async restart(): Promise<void> {
    try {
      await this.handle.truncate(0);
    } catch (error) {
      throw localIoError(error, `cannot truncate ${this.path}`);
    }
    this.hash = createHash('sha256');
    this.written = 0;
  }

  /**
   * Runs one attempt's `transfer` into a fresh sink appending at the current offset. A failed
   * transfer can reject while the sink's last write is still in flight; the next attempt resumes
   * from `bytes`, so this returns (or throws) only once that write has landed and `bytes` is final.
   */
  async receive(transfer: (sink: Writable) => Promise<void>): Promise<void> {
    const sink = this.sink();
    try {
      await transfer(sink);
    } finally {
      sink.destroy();
      await this.writing;
    }
  }

  private sink(): Writable {
    return new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        this.writing = this.handle.write(chunk, 0, chunk.length, this.written).then(
          () => {
            this.hash.update(chunk);
            this.written += chunk.length;
            this.onProgress?.({
              bytes: this.written,
              ...(this.total !== undefined ? { total: this.total } : {}),
            });
            done();
          },
          (error: unknown) => done(localIoError(error, `cannot write ${this.path}`)),
        );
      },
    });
  }

  /** Makes the download durable as `dest`: fsync, rename, fsync of the directory. */
  async commit(): Promise<DownloadResult> {
    try {
      await this.handle.sync();
      await this.handle.close();
      await rename(this.path, this.dest);
      const dir = await open(dirname(this.dest), 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    } catch (error) {
      throw localIoError(error, `cannot complete ${this.dest}`);
    }
    return { bytes: this.written, sha256: this.hash.digest('hex') };
  }

  /** Closes and removes the part (a failed or cancelled download). */
  async discard(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    await rm(this.path, { force: true });
  }
}

/**
 * One download attempt's body into `part`, over HTTP or FTP alike: the size the server announced
 * (`total`) is checked against the free space first, and against the bytes in the part after, so
 * a connection that ended early is a Server failure the next attempt resumes. An attempt that
 * leaves the part empty downloaded nothing: an Empty failure, retried like a 404.
 */
export async function receiveInto(
  part: PartFile,
  total: number | undefined,
  ctx: AttemptContext,
  display: string,
  transfer: (sink: Writable) => Promise<void>,
): Promise<void> {
  part.total = total;
  await ctx.ensureSpace(total === undefined ? 0 : total - part.bytes);
  await part.receive(transfer);
  if (total !== undefined && part.bytes !== total)
    throw new TransferError('Server', `${display}: ${part.bytes} of ${total} bytes received`);
  if (part.bytes === 0) throw new TransferError('Empty', `${display} is empty (0 bytes)`);
}
