import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import {
  chmodSync,
  chownSync,
  createReadStream,
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, connect, createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createCa, createServerCert, type Pem } from '../csms/certs.js';

/**
 * Real file servers on 127.0.0.1 for the file-transfer tests (firmware in, diagnostics and logs
 * out): an HTTP(S) server on node:http/https with knobs for the failures a download must survive,
 * vsftpd (plain FTP and explicit FTPS) and a proxy in front of plain FTP that drops a data
 * connection once. Each serves a temporary folder; tests put files there and read uploads back.
 */

/** A TLS identity for a loopback server: a fresh CA (what a client trusts) and a leaf for 127.0.0.1. */
export interface TestTls {
  ca: Pem;
  server: Pem;
}

export function testTls(): TestTls {
  const ca = createCa({ commonName: 'file-servers test CA' });
  return { ca, server: createServerCert(ca) };
}

/** Writes `bytes` random-looking (but reproducible) bytes to `path`; returns their SHA-256 (hex). */
export function writeTestFile(path: string, bytes: number): string {
  mkdirSync(dirname(path), { recursive: true });
  const hash = createHash('sha256');
  const chunk = Buffer.alloc(Math.min(bytes, 1 << 20));
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 7919 + (i >> 8)) & 0xff;
  const out = Buffer.alloc(bytes);
  for (let at = 0; at < bytes; at += chunk.length) chunk.copy(out, at, 0, Math.min(chunk.length, bytes - at));
  writeFileSync(path, out);
  hash.update(out);
  return hash.digest('hex');
}

/** SHA-256 (hex) of a file, streamed. */
export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

// ---------------------------------------------------------------------------------------------
// HTTP / HTTPS

/** What the HTTP server does to the next requests; tests change these between steps. */
export interface HttpKnobs {
  /** Close the connection once after this many body bytes of a GET (then reset to undefined). */
  dropAfterBytesOnce?: number;
  /** Answer every request with this status and no body (e.g. 404, 503). */
  status?: number;
  /** Send a GET's body at most this fast (bytes per second). */
  bytesPerSecond?: number;
  /** Require Basic authentication with these credentials (401 otherwise). */
  credentials?: { user: string; password: string };
  /** Which validator GETs carry (default both): resumption needs one of them. */
  validators?: 'etag' | 'lastModified' | 'both' | 'none';
  /** Mark the ETag weak (W/), as servers do for content they may re-encode. */
  weakEtag?: boolean;
  /** Ignore Range (always 200 with the whole file), as some servers do. */
  ignoreRange?: boolean;
  /** Answer a GET of these paths (no leading slash) with 302 to the given URL. */
  redirects?: Record<string, string>;
}

/** A request as the server saw it. */
export interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  status: number;
}

/**
 * An HTTP or HTTPS file server over a temporary folder (`root`). GET and HEAD serve files
 * (Range `bytes=N-` and `bytes=N-M`, If-Range against the ETag or Last-Modified), PUT stores the
 * body under the path (parents created). Everything else is 405.
 */
export class HttpFileServer {
  readonly knobs: HttpKnobs = {};
  readonly requests: SeenRequest[] = [];

  private constructor(
    private readonly server: Server,
    readonly root: string,
    readonly port: number,
    readonly tls: TestTls | undefined,
  ) {}

  /** Starts on a free port; `tls` makes it HTTPS (a fresh test CA unless one is given). */
  static async start(options: { tls?: boolean | TestTls } = {}): Promise<HttpFileServer> {
    const root = mkdtempSync(join(tmpdir(), 'cp-http-files-'));
    const tls = options.tls === true ? testTls() : options.tls || undefined;
    const box: { self?: HttpFileServer } = {};
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      const self = box.self;
      if (self) void self.handle(req, res);
    };
    const server = tls
      ? createHttpsServer({ cert: tls.server.cert, key: tls.server.key }, handler)
      : createHttpServer(handler);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const self = new HttpFileServer(server, root, (server.address() as AddressInfo).port, tls);
    box.self = self;
    return self;
  }

  /** The URL of `path` (relative to the root), with credentials when given. */
  url(path: string, credentials?: { user: string; password: string }): string {
    const auth = credentials
      ? `${encodeURIComponent(credentials.user)}:${encodeURIComponent(credentials.password)}@`
      : '';
    return `${this.tls ? 'https' : 'http'}://${auth}127.0.0.1:${this.port}/${path.replace(/^\//, '')}`;
  }

  /** The file at `path` under the root. */
  file(path: string): string {
    return join(this.root, normalize(path));
  }

  /** Writes a test file of `bytes` bytes at `path`; returns its SHA-256. */
  put(path: string, bytes: number): string {
    return writeTestFile(this.file(path), bytes);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
    rmSync(this.root, { recursive: true, force: true });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const record = (status: number) =>
      this.requests.push({ method: req.method ?? '', path, headers: req.headers, status });
    const fail = (status: number) => {
      record(status);
      res.writeHead(status, { 'content-length': 0 }).end();
      req.resume();
    };
    if (this.knobs.status !== undefined) return fail(this.knobs.status);
    const location = this.knobs.redirects?.[path.replace(/^\//, '')];
    if (location !== undefined) {
      record(302);
      res.writeHead(302, { location, 'content-length': 0 }).end();
      return;
    }
    const credentials = this.knobs.credentials;
    if (credentials) {
      const expected = `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString('base64')}`;
      if (req.headers.authorization !== expected) return fail(401);
    }
    const file = this.file(path);
    if (!file.startsWith(this.root)) return fail(403);
    if (req.method === 'PUT') {
      mkdirSync(dirname(file), { recursive: true });
      try {
        await pipeline(req, createWriteStream(file));
      } catch {
        return;
      }
      record(201);
      res.writeHead(201, { 'content-length': 0 }).end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return fail(405);
    let size: number;
    let mtime: Date;
    try {
      const stat = statSync(file);
      if (!stat.isFile()) return fail(404);
      size = stat.size;
      mtime = stat.mtime;
    } catch {
      return fail(404);
    }
    const etag = `${this.knobs.weakEtag ? 'W/' : ''}"${size.toString(16)}-${mtime.getTime().toString(16)}"`;
    const lastModified = mtime.toUTCString();
    const validators = this.knobs.validators ?? 'both';
    const headers: Record<string, string | number> = { 'accept-ranges': 'bytes' };
    if (validators === 'etag' || validators === 'both') headers.etag = etag;
    if (validators === 'lastModified' || validators === 'both') headers['last-modified'] = lastModified;

    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const ifRange = req.headers['if-range'];
    const rangeHolds =
      ifRange === undefined || ifRange === headers.etag || ifRange === headers['last-modified'];
    if (range && rangeHolds && !this.knobs.ignoreRange) {
      start = Number(range[1]);
      if (range[2]) end = Math.min(end, Number(range[2]));
      if (start >= size) {
        record(416);
        res.writeHead(416, { 'content-range': `bytes */${size}`, 'content-length': 0 }).end();
        return;
      }
      status = 206;
      headers['content-range'] = `bytes ${start}-${end}/${size}`;
    }
    headers['content-length'] = end - start + 1;
    record(status);
    res.writeHead(status, headers);
    // An empty file has no byte range to read (end would be -1, which a read stream refuses).
    if (req.method === 'HEAD' || size === 0) {
      res.end();
      return;
    }
    await this.sendBody(res, file, start, end);
  }

  private async sendBody(res: ServerResponse, file: string, start: number, end: number): Promise<void> {
    const drop = this.knobs.dropAfterBytesOnce;
    if (drop !== undefined) this.knobs.dropAfterBytesOnce = undefined;
    const rate = this.knobs.bytesPerSecond;
    let sent = 0;
    const stream = createReadStream(file, { start, end, highWaterMark: 16 * 1024 });
    try {
      for await (const data of stream) {
        let chunk: Buffer = data;
        if (drop !== undefined && sent + chunk.length >= drop) {
          chunk = chunk.subarray(0, drop - sent);
          await new Promise<void>((resolve) => res.write(chunk, () => resolve()));
          // A dropped connection, not a clean end: the client sees fewer bytes than announced.
          res.socket?.destroy();
          return;
        }
        sent += chunk.length;
        if (!res.write(chunk)) await once(res, 'drain');
        if (rate !== undefined)
          await new Promise((resolve) => setTimeout(resolve, (chunk.length / rate) * 1000));
        if (res.destroyed) return;
      }
      res.end();
    } finally {
      stream.destroy();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// vsftpd

const VSFTPD = process.env.VSFTPD ?? '/usr/sbin/vsftpd';
const READY_TIMEOUT_MS = 10_000;
/** The anonymous password vsftpd refuses (deny_email_enable): a wrong password. */
export const REFUSED_FTP_PASSWORD = 'refused-password';
/** The user and password tests log in with: vsftpd's anonymous user, which needs no system account. */
export const FTP_USER = 'anonymous';
export const FTP_PASSWORD = 'ftp-s3cret-pass';

async function freePort(): Promise<number> {
  const server = createTcpServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

function* randomBases(): Generator<number> {
  for (;;) yield 30_000 + Math.floor(Math.random() * 25_000);
}

/** Whether `port` on 127.0.0.1 can be listened on; the probe listener is left open for the caller. */
function probe(server: ReturnType<typeof createTcpServer>, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    // Not events.once(server, 'listening'): it rejects on 'error', and a busy port must be a false.
    server.once('listening', () => resolve(true));
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1');
  });
}

/** `count` consecutive free ports (vsftpd's passive range), from the first of `bases` that has them. */
export async function freePortRange(count: number, bases: Iterable<number> = randomBases()): Promise<number> {
  for (const base of bases) {
    const servers = [];
    let ok = true;
    for (let port = base; port < base + count && ok; port++) {
      const server = createTcpServer();
      if (await probe(server, port)) servers.push(server);
      else ok = false;
    }
    for (const server of servers) server.close();
    await Promise.all(servers.map((server) => once(server, 'close')));
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free ports`);
}

/** Resolves once something on 127.0.0.1:`port` greets with an FTP 220 line. */
async function ftpGreeting(port: number, until: number): Promise<void> {
  for (;;) {
    const greeted = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('data', (data) => {
        socket.destroy();
        resolve(data.toString().startsWith('220'));
      });
      socket.once('error', () => resolve(false));
    });
    if (greeted) return;
    if (Date.now() > until)
      throw new Error(`vsftpd on port ${port} did not greet within ${READY_TIMEOUT_MS} ms`);
    // Connection refused: vsftpd has not bound its port yet; it has no readiness notification.
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * vsftpd on 127.0.0.1 with its own configuration and a temporary root. Login is vsftpd's anonymous
 * user (no system account needed) with any password except `REFUSED_FTP_PASSWORD`; the root is
 * read-only, `files/` under it is writable (downloads are put there, uploads land there).
 * With `tls` it is explicit FTPS only (AUTH TLS, login and data protected; plain logins refused).
 */
export class Vsftpd {
  private child: ChildProcess | undefined;
  private output = '';

  private constructor(
    readonly port: number,
    private readonly dir: string,
    readonly tls: TestTls | undefined,
  ) {}

  static async start(options: { tls?: boolean | TestTls; bytesPerSecond?: number } = {}): Promise<Vsftpd> {
    const dir = mkdtempSync(join(tmpdir(), 'cp-vsftpd-'));
    const tls = options.tls === true ? testTls() : options.tls || undefined;
    const server = new Vsftpd(await freePort(), dir, tls);
    const root = join(dir, 'root');
    mkdirSync(join(root, 'files'), { recursive: true });
    // vsftpd refuses an anonymous root its anonymous user could write; files/ is the ftp user's.
    chmodSync(root, 0o555);
    const ftpIds = ftpAccount();
    if (ftpIds) chownSync(join(root, 'files'), ftpIds.uid, ftpIds.gid);
    else chmodSync(join(root, 'files'), 0o777);
    writeFileSync(join(dir, 'refused'), `${REFUSED_FTP_PASSWORD}\n`);
    const pasv = await freePortRange(10);
    const lines = [
      'listen=YES',
      'listen_address=127.0.0.1',
      `listen_port=${server.port}`,
      'background=NO',
      'anonymous_enable=YES',
      'local_enable=NO',
      `anon_root=${root}`,
      'write_enable=YES',
      'anon_upload_enable=YES',
      'anon_mkdir_write_enable=YES',
      'anon_other_write_enable=YES',
      'anon_umask=022',
      'pasv_enable=YES',
      `pasv_min_port=${pasv}`,
      `pasv_max_port=${pasv + 9}`,
      'pasv_address=127.0.0.1',
      // The seccomp sandbox kills sessions in some containers; the tests need none of it.
      'seccomp_sandbox=NO',
      'deny_email_enable=YES',
      `banned_email_file=${join(dir, 'refused')}`,
      'xferlog_enable=YES',
      'log_ftp_protocol=YES',
      `vsftpd_log_file=${join(dir, 'vsftpd.log')}`,
      ...(options.bytesPerSecond ? [`anon_max_rate=${options.bytesPerSecond}`] : []),
    ];
    if (tls) {
      writeFileSync(join(dir, 'server.pem'), tls.server.cert);
      writeFileSync(join(dir, 'server.key'), tls.server.key, { mode: 0o600 });
      lines.push(
        'ssl_enable=YES',
        'allow_anon_ssl=YES',
        'force_anon_logins_ssl=YES',
        'force_anon_data_ssl=YES',
        `rsa_cert_file=${join(dir, 'server.pem')}`,
        `rsa_private_key_file=${join(dir, 'server.key')}`,
        // Node resumes the control connection's session on data connections only when it can.
        'require_ssl_reuse=NO',
        'ssl_ciphers=HIGH',
      );
    }
    writeFileSync(join(dir, 'vsftpd.conf'), `${lines.join('\n')}\n`);
    await server.startProcess();
    return server;
  }

  /** The folder served as `/` (read-only to clients). */
  get root(): string {
    return join(this.dir, 'root');
  }

  /** The file at `path` (relative to the FTP root). */
  file(path: string): string {
    return join(this.root, normalize(path));
  }

  /** Writes a test file of `bytes` bytes at `path`; returns its SHA-256. */
  put(path: string, bytes: number): string {
    return writeTestFile(this.file(path), bytes);
  }

  /** ftp:// or ftps:// URL of `path`, logging in as `FTP_USER` / `password`. */
  url(path: string, password = FTP_PASSWORD): string {
    return `${this.tls ? 'ftps' : 'ftp'}://${FTP_USER}:${encodeURIComponent(password)}@127.0.0.1:${this.port}/${path.replace(/^\//, '')}`;
  }

  /** vsftpd's log: every FTP command (log_ftp_protocol) and transfer, for tests to check what was asked. */
  log(): string {
    try {
      return readFileSync(join(this.dir, 'vsftpd.log'), 'utf8');
    } catch {
      return '';
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    const exited = once(child, 'exit');
    // Sessions are processes of their own: end the whole group (it was started detached).
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
    await exited;
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async startProcess(): Promise<void> {
    const child = spawn(VSFTPD, [join(this.dir, 'vsftpd.conf')], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.child = child;
    child.stdout?.on('data', (data: Buffer) => (this.output += data.toString()));
    child.stderr?.on('data', (data: Buffer) => (this.output += data.toString()));
    const exited = once(child, 'exit').then(([code]) => {
      throw new Error(`vsftpd exited (${code}) before it was ready:\n${this.output}`);
    });
    await Promise.race([ftpGreeting(this.port, Date.now() + READY_TIMEOUT_MS), exited]);
    exited.catch(() => undefined);
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
  }
}

/** The uid/gid of the `ftp` account vsftpd maps anonymous users to, if the system has it. */
function ftpAccount(): { uid: number; gid: number } | undefined {
  try {
    const line = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((entry) => entry.startsWith('ftp:'));
    const fields = line?.split(':');
    if (!fields || fields.length < 4) return undefined;
    return { uid: Number(fields[2]), gid: Number(fields[3]) };
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// A dropping proxy for plain FTP

/**
 * A proxy in front of a plain-FTP server that can drop a download's data connection once after
 * `dropAfterBytesOnce` bytes: vsftpd has no such knob. It relays the control connection, and
 * for each passive-mode answer (EPSV 229, PASV 227) opens a one-shot data listener of its own.
 */
export class FtpDropProxy {
  dropAfterBytesOnce: number | undefined;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: ReturnType<typeof createTcpServer>,
    readonly port: number,
    private readonly targetPort: number,
  ) {}

  static async start(target: Vsftpd, options: { dropAfterBytesOnce?: number } = {}): Promise<FtpDropProxy> {
    if (target.tls) throw new Error('FtpDropProxy reads the control connection: plain FTP only');
    const box: { self?: FtpDropProxy } = {};
    const server = createTcpServer((client) => box.self?.relay(client));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const self = new FtpDropProxy(server, (server.address() as AddressInfo).port, target.port);
    self.dropAfterBytesOnce = options.dropAfterBytesOnce;
    box.self = self;
    return self;
  }

  /** `url` of the target, pointed at the proxy. */
  url(target: Vsftpd, path: string, password?: string): string {
    return target.url(path, password).replace(`:${target.port}/`, `:${this.port}/`);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.server.close();
    await once(this.server, 'close');
  }

  private track(socket: Socket): Socket {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    return socket;
  }

  private relay(client: Socket): void {
    this.track(client);
    const upstream = this.track(connect(this.targetPort, '127.0.0.1'));
    client.pipe(upstream);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
    let pending = '';
    upstream.on('data', async (data: Buffer) => {
      upstream.pause();
      pending += data.toString('latin1');
      let newline = pending.indexOf('\n');
      while (newline >= 0) {
        const line = pending.slice(0, newline + 1);
        pending = pending.slice(newline + 1);
        client.write(await this.rewrite(line, client), 'latin1');
        newline = pending.indexOf('\n');
      }
      upstream.resume();
    });
  }

  private async rewrite(line: string, control: Socket): Promise<string> {
    const epsv = /^229 (.*)\(\|\|\|(\d+)\|\)/.exec(line);
    if (epsv) return `229 ${epsv[1]}(|||${await this.dataRelay(Number(epsv[2]), control)}|)\r\n`;
    const pasv = /^227 .*\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(line);
    if (pasv) {
      const port = await this.dataRelay(Number(pasv[5]) * 256 + Number(pasv[6]), control);
      return `227 Entering Passive Mode (127,0,0,1,${port >> 8},${port & 0xff}).\r\n`;
    }
    return line;
  }

  /**
   * A one-shot listener relaying to the server's data port. Armed, it ends the data connection
   * after the limit and, once the client has closed it, cuts the session's control connection,
   * as a lost link would: the client has read exactly the bytes before the cut and sees the
   * session fail.
   */
  private async dataRelay(serverPort: number, control: Socket): Promise<number> {
    const listener = createTcpServer((client) => {
      listener.close();
      this.track(client);
      const upstream = this.track(connect(serverPort, '127.0.0.1'));
      client.pipe(upstream);
      client.once('close', () => upstream.destroy());
      upstream.once('end', () => client.end());
      upstream.once('close', () => client.end());
      let relayed = 0;
      upstream.on('data', (data: Buffer) => {
        const limit = this.dropAfterBytesOnce;
        if (limit !== undefined && relayed + data.length >= limit) {
          this.dropAfterBytesOnce = undefined;
          upstream.destroy();
          // The session goes only once the client has read the data to its end and closed it:
          // cut at once, the client can see the control connection fail before it reads any of
          // the data, and how much it resumes from would be up to the scheduler.
          client.once('close', () => control.destroy());
          client.end(data.subarray(0, limit - relayed));
          return;
        }
        relayed += data.length;
        if (!client.write(data)) {
          upstream.pause();
          client.once('drain', () => upstream.resume());
        }
      });
    });
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    return (listener.address() as AddressInfo).port;
  }
}
