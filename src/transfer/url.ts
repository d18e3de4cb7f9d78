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

/**
 * `text` with its credentials out of sight, for logs and outputs; an unparsable text is not
 * shown at all. Without `passwordMark` the whole user:password goes; with it the user stays and
 * the password becomes the mark (`ftp://user:[redacted]@host/path`): the frame trace shows which
 * account a central system asked for, never its password. The URL comes back as the URL parser
 * writes it (a default port dropped, for one).
 */
export function redactUrl(text: string, passwordMark?: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return '(not a URL)';
  }
  const { username, password } = url;
  url.username = '';
  url.password = '';
  if (passwordMark === undefined) return url.href;
  if (!password) {
    url.username = username;
    return url.href;
  }
  // The password setter would percent-encode the mark's brackets: spliced in after the scheme.
  return url.href.replace('//', `//${username}:${passwordMark}@`);
}

/**
 * A token of free text that could be a URL with a password: a scheme, then an '@', up to
 * whitespace, a quote or an angle bracket (the ends of a URL in JSON, logs or markup), or a
 * backslash: in JSON text it escapes what follows, and the parser would write it as a '/'.
 */
const URL_TOKEN = /[a-z][a-z0-9+.-]*:[^\s"'<>\\]*@[^\s"'<>\\]*/gi;

/**
 * A `scheme://user:password@` the parser-driven passes do not reach: a URL in another's path or
 * query (the parser reads only the outer one), or a password holding a character that ends a token.
 */
const USERINFO_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@"']*):[^\s/@"']*@/gi;

/**
 * `text` with the password of every URL in it replaced by `passwordMark` (see redactUrl): the
 * whole text when the URL parser reads it as a URL with a password, whatever the parser forgives
 * (a tab or newline inside, missing or back slashes), which is how a transfer would read it, its
 * surrounding white space kept (a line keeps its line end); else each URL-like token of it that
 * has a password or cannot be parsed (the parser could not say where a password ends, so none of
 * it is kept). Then, as text, every `scheme://user:password@` still in it.
 */
export function redactUrlsIn(text: string, passwordMark: string): string {
  if (!text.includes('@')) return text;
  let parsed: string;
  if (passwordIn(text)) {
    const start = text.length - text.trimStart().length;
    const end = text.trimEnd().length;
    parsed = `${text.slice(0, start)}${redactUrl(text.slice(start, end), passwordMark)}${text.slice(end)}`;
  } else {
    parsed = text.replace(URL_TOKEN, (token) =>
      passwordIn(token) === '' ? token : redactUrl(token, passwordMark),
    );
  }
  return parsed.replace(USERINFO_PASSWORD, (_, head: string) => `${head}:${passwordMark}@`);
}

/** The password `text` carries as a URL, '' when none, undefined when it is no URL. */
function passwordIn(text: string): string | undefined {
  try {
    return new URL(text).password;
  } catch {
    return undefined;
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
