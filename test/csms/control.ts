import { chmodSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMMAND_EXIT, type CommandOutcome, type CsmsCommands } from './commands.js';

// The control socket of a running development central system: `npm run csms -- <command>` sends
// its command line as one JSON line {"line": "..."} and gets one back {"output", "exitCode"}. A
// Unix socket (mode 0600) rather than a TCP port: only this machine's user can make the
// central system send CALLs, also when it listens for charge points on 0.0.0.0 or with TLS.

/** Where the central system listening for charge points on `port` takes commands. */
export function controlSocketPath(port: number): string {
  return join(tmpdir(), `dev-csms-${port}.sock`);
}

/**
 * Takes commands on `path`. Call it once the central system's own port is bound: that port is
 * then ours, so a socket file left at `path` is a dead central system's and is replaced.
 */
export async function listenForCommands(path: string, commands: CsmsCommands): Promise<Server> {
  rmSync(path, { force: true });
  const server = createServer((socket) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: string) => {
      text += chunk;
      const end = text.indexOf('\n');
      if (end < 0) return;
      socket.pause();
      answer(text.slice(0, end), commands).then((outcome) => socket.end(`${JSON.stringify(outcome)}\n`));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(path, 0o600);
  return server;
}

async function answer(request: string, commands: CsmsCommands): Promise<CommandOutcome> {
  const { line } = jsonObject(request);
  if (typeof line !== 'string')
    return { output: 'bad request: want {"line": "<command>"}', exitCode: COMMAND_EXIT.usage };
  return commands.run(line);
}

/** Runs one command in the central system listening on `path`; unavailable (69) when none does. */
export function sendCommand(path: string, line: string): Promise<CommandOutcome> {
  return new Promise((resolve) => {
    const socket = createConnection(path);
    let text = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify({ line })}\n`));
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const missing = err.code === 'ENOENT' || err.code === 'ECONNREFUSED';
      resolve({
        output: missing
          ? `no development central system takes commands on ${path} (start it: npm run csms, or npm run dev)`
          : `control socket ${path}: ${err.message}`,
        exitCode: COMMAND_EXIT.unavailable,
      });
    });
    socket.on('end', () => {
      const { output, exitCode } = jsonObject(text);
      resolve(
        typeof output === 'string' && typeof exitCode === 'number'
          ? { output, exitCode }
          : { output: `control socket ${path}: no answer`, exitCode: COMMAND_EXIT.unavailable },
      );
    });
  });
}

/** The members of the JSON object `text` holds; none when it holds anything else, which each side refuses. */
function jsonObject(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? Object.fromEntries(Object.entries(value)) : {};
  } catch {
    return {};
  }
}
