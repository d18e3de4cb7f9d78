import { statfs } from 'node:fs/promises';
import { localIoError } from './errors.js';
import { type FsSpace, type StatfsFunction, TransferError } from './types.js';

export const systemStatfs: StatfsFunction = (path) => statfs(path);

/**
 * Refuses (NoSpace) a download of `bytes` more into `dir` unless `reserveBytes` stay free
 * afterwards: the store and the logs must go on writing while an image lands.
 */
export async function ensureSpace(
  dir: string,
  bytes: number,
  reserveBytes: number,
  statfsOf: StatfsFunction,
): Promise<void> {
  let space: FsSpace;
  try {
    space = await statfsOf(dir);
  } catch (error) {
    throw localIoError(error, `cannot read the free space of ${dir}`);
  }
  const { bavail, bsize } = space;
  const free = bavail * bsize;
  if (bytes + reserveBytes > free)
    throw new TransferError(
      'NoSpace',
      `${bytes} bytes to download, ${free} free and ${reserveBytes} to keep free in ${dir}`,
    );
}
