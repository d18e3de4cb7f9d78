import { type FileTransferProtocol, TransferError } from './types.js';

/** A transfer URL taken apart: the credentials are kept out of everything that may be logged. */
export interface TransferTarget {
  protocol: FileTransferProtocol;
  host: string;
  port: number;
  /** Decoded user and password from the URL's user:password, when given. */
  user?: string;
  password?: string;
  /** The URL without credentials: what logs and error messages may show. */
  display: string;
  /** The URL without credentials, for the HTTP request line. */
  url: URL;
}

const PROTOCOLS: Readonly<Record<string, { protocol: FileTransferProtocol; port: number }>> = {
  'ftp:': { protocol: 'FTP', port: 21 },
  'ftps:': { protocol: 'FTPS', port: 21 },
  'http:': { protocol: 'HTTP', port: 80 },
  'https:': { protocol: 'HTTPS', port: 443 },
};

export function parseTransferUrl(text: string): TransferTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // The text itself may carry a password: never echo it.
    throw new TransferError('UnsupportedProtocol', 'not a URL');
  }
  const scheme = PROTOCOLS[url.protocol];
  if (!scheme) throw new TransferError('UnsupportedProtocol', `unsupported scheme ${url.protocol}`);
  const user = url.username ? decodeURIComponent(url.username) : undefined;
  const password = url.password ? decodeURIComponent(url.password) : undefined;
  url.username = '';
  url.password = '';
  return {
    protocol: scheme.protocol,
    // URL keeps the brackets of an IPv6 literal; sockets want the bare address.
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : scheme.port,
    ...(user !== undefined ? { user } : {}),
    ...(password !== undefined ? { password } : {}),
    display: url.href,
    url,
  };
}

/** `text` with any user:password removed, for logs (an unparsable text is not shown at all). */
export function redactUrl(text: string): string {
  try {
    const url = new URL(text);
    url.username = '';
    url.password = '';
    return url.href;
  } catch {
    return '(not a URL)';
  }
}

/**
 * The FTP path of a URL: RFC 1738 paths are relative to the login directory, so the leading
 * slash goes; each segment is percent-decoded.
 */
export function ftpPath(target: TransferTarget): string {
  return target.url.pathname
    .replace(/^\/+/, '')
    .split('/')
    .map((segment) => decodeURIComponent(segment))
    .join('/');
}
