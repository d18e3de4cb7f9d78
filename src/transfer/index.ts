import {
  type DownloadOptions,
  type DownloadResult,
  type FileTransferProtocol,
  TransferError,
  type UploadOptions,
} from './types.js';

export * from './types.js';

/** What SupportedFileTransferProtocols lists: every scheme this module transfers over. */
export function supportedFileTransferProtocols(): FileTransferProtocol[] {
  return ['FTP', 'FTPS', 'HTTP', 'HTTPS'];
}

/** Downloads `url` to `dest` (streamed through `<dest>.part`, resumed, retried). */
export async function download(_options: DownloadOptions): Promise<DownloadResult> {
  throw new TransferError('UnsupportedProtocol', 'file transfer: not implemented yet');
}

/** Uploads `file` as `fileName` into the directory URL `location`. */
export async function upload(_options: UploadOptions): Promise<void> {
  throw new TransferError('UnsupportedProtocol', 'file transfer: not implemented yet');
}
