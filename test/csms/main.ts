/**
 * `npm run csms`: a development central system on the console, to watch a charge point talk OCPP
 * and make it send CALLs; `npm run csms -- <command>` gives a running one a command.
 * Run with --help for the options.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { AuthorizeAnswers } from './authorize.js';
import { createCa, createServerCert, writePemFiles } from './certs.js';
import { COMMAND_EXIT, COMMANDS_HELP, type CommandOutcome, CsmsCommands } from './commands.js';
import { controlSocketPath, listenForCommands, sendCommand } from './control.js';
import { type CsmsOptions, DevCsms, type FrameRecord } from './server.js';

const USAGE = `Usage: npm run csms -- [options]            run a development central system
       npm run csms -- <command> [--port N | --control PATH]
                                             give the one running on port N a command
  --port N              listen port (default $CSMS_PORT or 9000)
  --host ADDR           listen address (default 127.0.0.1; 0.0.0.0 to reach it from a board)
  --tls                 serve wss with a fresh CA and server certificate (the CA file path is printed)
  --boot-status S       answer to BootNotification: Accepted (default), Pending or Rejected
  --interval N          interval in BootNotification answers (default 60)
  --auth ID:PASSWORD    require HTTP Basic auth; repeat for several charge points
  --control PATH        the control socket for commands (default ${controlSocketPath(9000).replace('9000', '<port>')})
  --repl                read commands on stdin even when it is not a terminal (npm run dev uses it)
  -h, --help            this text

${COMMANDS_HELP}`;

/** The words `npm run csms -- <word> ...` takes as a command for a running central system. */
const COMMAND_WORDS = new Set(['send', 'authorize', 'charge-points']);

/**
 * The frames the console keeps: it prints each as it passes and its commands wait for answers,
 * not for frames, so a few for the waiters suffice and a week of heartbeats is not kept.
 */
const CONSOLE_MAX_FRAMES = 1_000;

const BOOT_STATUSES = ['Accepted', 'Pending', 'Rejected'] as const;
type BootStatus = (typeof BOOT_STATUSES)[number];

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

function describeFrame(r: FrameRecord): string {
  const m = r.message;
  const body = !m
    ? `RAW ${r.text}`
    : m.type === 'call'
      ? `CALL ${m.action} ${JSON.stringify(m.payload)}`
      : m.type === 'result'
        ? `RESULT ${m.id} ${JSON.stringify(m.payload)}`
        : `ERROR ${m.id} ${m.code} ${JSON.stringify(m.description)} ${JSON.stringify(m.details)}`;
  // The arrow shows who sent it: "->" charge point to central system, "<-" the other way.
  return `${new Date(r.at).toISOString().slice(11, 23)} ${r.chargePointId} ${r.direction === 'in' ? '->' : '<-'} ${body}`;
}

function readArgs() {
  try {
    return parseArgs({
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        tls: { type: 'boolean', default: false },
        'boot-status': { type: 'string', default: 'Accepted' },
        interval: { type: 'string', default: '60' },
        auth: { type: 'string', multiple: true },
        control: { type: 'string' },
        repl: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    fail((err as Error).message);
  }
}

function portOf(value: string | undefined): number {
  const port = Number(value ?? process.env.CSMS_PORT ?? 9000);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    fail(`bad port: ${value ?? process.env.CSMS_PORT}`);
  return port;
}

interface ConsoleOptions {
  csms: CsmsOptions & { port: number };
  /** The control socket; undefined: the default for the port bound. */
  control: string | undefined;
  repl: boolean;
}

function parseOptions(): ConsoleOptions {
  const { values } = readArgs();
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const port = portOf(values.port);
  const interval = Number(values.interval);
  if (!Number.isInteger(interval) || interval < 0) fail(`bad --interval: ${values.interval}`);
  const status = values['boot-status'] as BootStatus;
  if (!BOOT_STATUSES.includes(status)) fail(`bad --boot-status: ${status}`);

  const opts: CsmsOptions & { port: number } = {
    port,
    host: values.host,
    rules: { boot: { status, interval } },
    maxFrames: CONSOLE_MAX_FRAMES,
  };
  if (values.auth) {
    opts.basicAuth = {};
    for (const pair of values.auth) {
      const colon = pair.indexOf(':');
      if (colon <= 0) fail(`bad --auth (want ID:PASSWORD): ${pair}`);
      opts.basicAuth[pair.slice(0, colon)] = pair.slice(colon + 1);
    }
  }
  if (values.tls) {
    const dir = mkdtempSync(join(tmpdir(), 'dev-csms-'));
    const ca = createCa();
    const { certFile: caFile } = writePemFiles(dir, 'ca', ca);
    opts.tls = createServerCert(ca);
    process.stdout.write(`CA certificate (csms.caFile): ${caFile}\n`);
  }
  return { csms: opts, control: values.control, repl: values.repl || process.stdin.isTTY === true };
}

function print(outcome: CommandOutcome): void {
  const out = outcome.exitCode === COMMAND_EXIT.ok || outcome.exitCode === COMMAND_EXIT.callError;
  (out ? process.stdout : process.stderr).write(`${outcome.output}\n`);
}

/**
 * `npm run csms -- <command> ...`: the command to the central system on --port (or --control),
 * its output printed and its status the exit code. The command's own words are passed on as
 * they are, so a JSON payload arrives as typed.
 */
async function runCommand(argv: string[]): Promise<number> {
  const words: string[] = [];
  let port: string | undefined;
  let control: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const [flag, inline] = arg.startsWith('--') ? arg.split(/=(.*)/s) : [arg];
    if (flag === '--port' || flag === '--control') {
      const value = inline ?? argv[++i];
      if (value === undefined) fail(`${flag} needs a value`);
      if (flag === '--port') port = value;
      else control = value;
    } else words.push(arg);
  }
  const outcome = await sendCommand(control ?? controlSocketPath(portOf(port)), words.join(' '));
  print(outcome);
  return outcome.exitCode;
}

async function main(): Promise<void> {
  const [first] = process.argv.slice(2);
  if (first !== undefined && COMMAND_WORDS.has(first)) {
    process.exitCode = await runCommand(process.argv.slice(2));
    return;
  }
  const options = parseOptions();
  const answers = new AuthorizeAnswers();
  options.csms.rules = { ...options.csms.rules, authorize: (idTag) => answers.answer(idTag) };
  const csms = new DevCsms(options.csms);
  csms.on('frame', (r) => process.stdout.write(`${describeFrame(r)}\n`));
  csms.on('connection', (h) => {
    const tls = h.tls ? ` ${h.tls.protocol} ${h.tls.cipher.standardName}` : '';
    const cert = h.tls?.peerCertificate ? ` client cert CN=${h.tls.peerCertificate.subject.CN}` : '';
    process.stdout.write(`${h.chargePointId} connected${tls}${cert}\n`);
  });
  csms.on('refused', (h) => process.stdout.write(`${h.path} refused with HTTP ${h.refusedStatus}\n`));
  csms.on('close', (cpId, code) => process.stdout.write(`${cpId} disconnected (${code})\n`));
  csms.on('tlsError', (err) => process.stdout.write(`TLS handshake failed: ${err.message}\n`));
  const { url, port } = await csms.start();
  process.stdout.write(`Dev CSMS listening: ${url}/<chargePointId>\n`);
  const commands = new CsmsCommands(csms, answers);
  const controlPath = options.control ?? controlSocketPath(port);
  const control = await listenForCommands(controlPath, commands);
  const portArg = options.control ? `--control ${controlPath}` : `--port ${port}`;
  process.stdout.write(
    `Commands: npm run csms -- send <Action> '<json>' ${portArg} (help: npm run csms -- --help)\n`,
  );
  const repl = options.repl ? startRepl(commands) : undefined;

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    process.stdout.write(`${signal}: stopping\n`);
    repl?.close();
    control.close();
    rmSync(controlPath, { force: true });
    csms.stop().then(
      () => {
        process.exitCode = 0;
      },
      (err: unknown) => {
        process.stderr.write(`stop failed: ${String(err)}\n`);
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

/** The console prompt: one command a line, its output printed, then the prompt again. */
function startRepl(commands: CsmsCommands) {
  // No prompt when stdout is a pipe (npm run dev prefixes each line): it would run into the next line.
  const prompt = process.stdout.isTTY ? 'csms> ' : '';
  const rl = createInterface({ input: process.stdin, output: process.stdout, prompt });
  let queue = Promise.resolve();
  rl.on('line', (line) => {
    // One at a time, in the order typed: a CALL's answer prints before the next command runs.
    queue = queue.then(async () => {
      if (line.trim() !== '') print(await commands.run(line));
      rl.prompt();
    });
  });
  // On a terminal readline reads Ctrl-C as a key, not as the signal: pass it on as the signal.
  rl.on('SIGINT', () => process.kill(process.pid, 'SIGINT'));
  rl.prompt();
  return rl;
}

main().catch((err: unknown) => {
  process.stderr.write(`dev CSMS failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
