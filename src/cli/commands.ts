/**
 * cpctl's commands: argv -> one control-socket request -> human or JSON output and an exit code.
 * One declarative table (COMMANDS) gives each command its words, arguments, options, help and what
 * it does; every exit code cpctl can make is in EXIT, with its meaning in EXIT_MEANINGS.
 */
import { closeSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { KEY_DEFINITIONS } from '../config/keys.js';
import { errorMessage } from '../error-message.js';
import { LOG_LEVELS } from '../log.js';
import { PACKAGE_ROOT } from '../package-root.js';
import type { TraceEntry } from '../store/trace-repo.js';
import { FIRMWARE_VERSION } from '../version.js';
import type { ConfigEntry } from './api.js';
import { RemoteError, request, stream } from './client.js';
import {
  DEFAULT_FOLLOW_BACKLOG,
  DEFAULT_LIMITS_DURATION_S,
  DEFAULT_RECENT_TRANSACTIONS,
  DEFAULT_SECURITY_LOG_ENTRIES,
  DEFAULT_TRACE_FRAMES,
  FAULT_CODES,
  type Method,
  type Params,
  ProtocolError,
  type Result,
  validateRequest,
} from './protocol.js';
import {
  renderAuth,
  renderFirmware,
  renderLimits,
  renderMeter,
  renderQueue,
  renderSecurityLog,
  renderStatus,
  renderTransactions,
  table,
  time,
  traceLine,
} from './render.js';
import { renderSelfTest } from './render-selftest.js';
import { watchRequest, watchView } from './watch.js';

export const DEFAULT_SOCKET = '/run/chargepoint/cpctl.sock';

/** Every exit code cpctl makes (sysexits where one fits); README's table lists them all. */
export const EXIT = {
  ok: 0,
  refused: 1,
  usage: 64,
  unavailable: 69,
  software: 70,
  cannotCreate: 73,
  ioError: 74,
  timeout: 75,
  protocol: 76,
  permission: 77,
  /** 128 + SIGINT, as a shell reports a command Ctrl-C ended. */
  interrupted: 130,
} as const;

/** What each exit code means, as `cpctl help` prints it. */
export const EXIT_MEANINGS: Record<keyof typeof EXIT, string> = {
  ok: 'done',
  refused:
    'refused by the daemon (the reason follows), an unknown configuration key, or a change not confirmed at the prompt',
  usage:
    'bad command, argument or option; or a change that cannot be undone, without --yes and not on a terminal',
  unavailable: 'chargepointd is not running, or the control socket failed',
  software: 'a bug in cpctl',
  cannotCreate: 'cannot write the output file (diagnostics)',
  ioError: 'cannot write to stdout (a full disk, a terminal gone)',
  timeout: 'chargepointd did not answer in time',
  protocol: 'the answer on the socket makes no sense (is it chargepointd?)',
  permission: "permission denied on the control socket (root or the daemon's group)",
  interrupted:
    'interrupted (Ctrl-C) before the answer: the daemon may still do what was asked (a selftest it ends, the contactor opened)',
};

export interface CpctlIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Ends a `trace --follow` or a `--watch` (exit 0); without it, they last until the process is killed. */
  signal?: AbortSignal;
  /** stdout is a terminal: `--watch` redraws in place rather than printing a block per change. */
  tty?: boolean;
  /**
   * Asks the technician a yes/no question (a change that cannot be undone); absent when nobody
   * can answer (stdin is not a terminal): such a change then needs --yes.
   */
  confirm?: (question: string) => Promise<boolean>;
}

/** The bash completion script `cpctl completion bash` prints, shipped with the package. */
export const COMPLETION_SCRIPT = join(PACKAGE_ROOT, 'scripts', 'cpctl-completion.bash');

/** The socket: --socket, else $CPCTL_SOCKET, else the daemon's default. */
export function resolveSocketPath(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return flag ?? (env.CPCTL_SOCKET || DEFAULT_SOCKET);
}

/** A yes/no question on the terminal (stderr, so stdout stays the answer's); end of input is no. */
export function askOnTerminal(question: string): Promise<boolean> {
  return new Promise((resolve) => {
    const terminal = createInterface({ input: process.stdin, output: process.stderr });
    terminal.once('close', () => resolve(false));
    terminal.question(question, (answer) => {
      resolve(/^y(es)?$/i.test(answer.trim()));
      terminal.close();
    });
  });
}

class UsageError extends Error {}

/** The technician's output file cannot be written (not the daemon's fault). */
class OutputFileError extends Error {}

/** Options every command takes. */
const GLOBAL_OPTIONS = {
  socket: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const GLOBAL_OPTION_HELP: string[][] = [
  ['--socket PATH', `the control socket ($CPCTL_SOCKET, else ${DEFAULT_SOCKET})`],
  ['--json', "print the daemon's answer as JSON"],
  ['--help, -h', 'this help'],
];

/** Options that belong to one command or another; `value` names an option's argument in the usage. */
const COMMAND_OPTIONS = {
  reader: { type: 'string', value: '<n>' },
  power: { type: 'string', value: '<W>' },
  limit: { type: 'string', value: '<n>' },
  duration: { type: 'string', value: '<s>' },
  signature: { type: 'string', value: '<file>' },
  certificate: { type: 'string', value: '<pem file>' },
  action: { type: 'string', value: '<name>' },
  follow: { type: 'boolean' },
  watch: { type: 'boolean' },
  clear: { type: 'boolean' },
  yes: { type: 'boolean' },
} as const;
type CommandOption = keyof typeof COMMAND_OPTIONS;

const PARSE_OPTIONS = { ...GLOBAL_OPTIONS, ...COMMAND_OPTIONS };

function parseArgv(argv: string[]) {
  return parseArgs({ args: argv, options: PARSE_OPTIONS, allowPositionals: true });
}

type ParsedValues = ReturnType<typeof parseArgv>['values'];

/** A command's arguments and the options it was given. */
interface Invocation extends Pick<ParsedValues, CommandOption> {
  args: string[];
}

/** How a command uses one of its options, for its usage and its help. */
interface OptionUse {
  help: string;
  required?: true;
}

/** What a command prints: `out` on stdout; `error` makes one stderr line and exit 1. */
interface Output {
  out?: string;
  error?: string;
}

interface CommandBase {
  words: string[];
  /** Positional arguments, as shown in the usage; one in [brackets] may be left out. */
  args: string[];
  /** Takes any number of arguments rather than exactly `args`. */
  variadic?: true;
  /** One line: what the command does. */
  summary: string;
  /** Options the command accepts. */
  options?: Partial<Record<CommandOption, OptionUse>>;
}

/** A command that is one request to the daemon. */
interface RequestCommand<M extends Method> extends CommandBase {
  method: M;
  params(inv: Invocation): Params<M>;
  human(result: Result<M>, params: Params<M>): Output;
  /** What --json prints, when not the daemon's answer as it is. */
  json?(result: Result<M>): unknown;
  /**
   * Why the change asked for cannot be undone (asked of the daemon if need be), to be confirmed
   * before it is sent; undefined when it can.
   */
  irreversible?(params: Params<M>, socket: string): Promise<string | undefined>;
  /**
   * What Ctrl-C before the answer leaves, said on stderr as cpctl ends (130), for a request the
   * daemon ends when its client goes; without it the daemon may still do what was asked.
   */
  interrupted?: string;
}

interface RunContext {
  socket: string;
  json: boolean;
  io: CpctlIo;
}

/** A command that is more than one request and answer (a stream, a local file, no daemon at all). */
interface LocalCommand extends CommandBase {
  run(inv: Invocation, ctx: RunContext): Promise<number>;
}

function def<M extends Method>(command: RequestCommand<M>): RequestCommand<M> {
  return command;
}

function local(command: LocalCommand): LocalCommand {
  return command;
}

/** Integer keys that may only be raised (SecurityProfile): raising one cannot be undone. */
const ONLY_RAISE_KEYS: ReadonlyMap<string, { max: number }> = new Map(
  KEY_DEFINITIONS.flatMap((d) => ('onlyRaise' in d && d.onlyRaise ? [[d.name, { max: d.max }]] : [])),
);

const WATCH_HELP = 'show it again on every change until Ctrl-C (--json: one object a line)';

const COMMANDS = [
  def({
    words: ['status'],
    args: [],
    summary: 'link, registration, connectors and readers',
    method: 'status',
    options: { watch: { help: WATCH_HELP } },
    params: () => ({}),
    human: (report) => ({ out: renderStatus(report) }),
  }),
  def({
    words: ['config', 'get'],
    args: ['[key...]'],
    variadic: true,
    summary: 'OCPP configuration keys (all, sorted, when none given); a secret only says whether it is set',
    method: 'config.get',
    params: ({ args }) => ({ keys: args }),
    human: ({ configurationKey, unknownKey }) => ({
      out:
        configurationKey.length > 0
          ? table([
              ['KEY', 'VALUE', 'ACCESS'],
              ...configurationKey.map((e) => [e.key, shownValue(e), access(e)]),
            ])
          : undefined,
      error: unknownKey.length > 0 ? `unknown configuration key: ${unknownKey.join(', ')}` : undefined,
    }),
  }),
  def({
    words: ['config', 'set'],
    args: ['<key>', '<value>'],
    summary:
      'change a key as ChangeConfiguration would; a refusal says why, a secret is never shown; - reads the value from stdin',
    method: 'config.set',
    options: {
      yes: { help: 'make a change that cannot be undone (raising SecurityProfile) without asking' },
    },
    // A secret on the command line is in every user's `ps` and in the shell's history: `-` keeps it out.
    params: ({ args }) => ({ key: args[0]!, value: args[1] === '-' ? valueFromStdin() : args[1]! }),
    irreversible: raisesForGood,
    human: ({ status, reason, value }, { key }) => {
      // The daemon gives the value back only when it is no secret (never the AuthorizationKey).
      const shown = value === undefined ? key : `${key} = ${value}`;
      if (status === 'Accepted') return { out: `${shown}: Accepted` };
      if (status === 'RebootRequired') return { out: `${shown}: RebootRequired (applies after a restart)` };
      return { error: `${key}: ${status}${reason === undefined ? '' : ` (${reason})`}` };
    },
    // The bare status --json has always printed: a string cannot grow fields (the reason is on stderr).
    json: ({ status }) => status,
  }),
  def({
    words: ['hal', 'meter'],
    args: ['<connector>'],
    summary: "read a connector's meter now",
    method: 'hal.meter',
    params: ({ args }) => ({ connectorId: connector(args[0]!) }),
    human: (reading, { connectorId }) => ({ out: renderMeter(connectorId, reading) }),
  }),
  def({
    words: ['hal', 'rfid'],
    args: [],
    summary: 'last card seen by each reader',
    method: 'hal.rfid',
    params: () => ({}),
    human: (readers) => ({
      out:
        readers.length === 0
          ? 'no card readers'
          : table([
              ['READER', 'LAST CARD', 'AT'],
              ...readers.map((r) => [r.reader, r.idTag ?? '-', r.at === undefined ? '-' : time(r.at)]),
            ]),
    }),
  }),
  def({
    words: ['hal', 'relay'],
    args: ['<connector>', 'open|close'],
    summary: "switch an idle connector's relay for a test",
    method: 'hal.relay',
    params: ({ args }) => ({ connectorId: connector(args[0]!), closed: choice(args[1]!, 'close', 'open') }),
    human: (_, { connectorId, closed }) => ({
      out: `connector ${connectorId}: relay ${closed ? 'closed' : 'open'}`,
    }),
  }),
  def({
    words: ['selftest'],
    args: ['[connector]'],
    summary:
      'test an idle, unplugged connector (all when none given): pilot, fault inputs, readers, meter, lock, contactor; exit 1 unless every step passes',
    method: 'selfTest',
    params: ({ args }) => (args[0] === undefined ? {} : { connectorId: connector(args[0]) }),
    human: (summary) => renderSelfTest(summary),
    // The daemon aborts the test under way once cpctl's connection ends (SelfTests.abort).
    interrupted: 'the daemon ended the self-test and opened the contactor; no other connector is tested',
  }),
  def({
    words: ['limit'],
    args: ['<connector>', '<amps>|none'],
    summary: "cap a connector's current (kept across restarts; 0 pauses, none lifts it)",
    method: 'limit',
    params: ({ args }) => ({
      connectorId: connector(args[0]!),
      ...(args[1] === 'none' ? {} : { amps: amps(args[1]!) }),
    }),
    human: ({ connectorId, localLimitA }) => ({
      out: `connector ${connectorId}: ${localLimitA === undefined ? 'no local limit' : `local limit ${localLimitA} A`}`,
    }),
  }),
  def({
    words: ['limits'],
    args: ['<connector>'],
    summary: `the composite schedule from now (${DEFAULT_LIMITS_DURATION_S} s unless --duration) and where each limit comes from; 0: the charge point`,
    method: 'limits',
    options: { duration: { help: `seconds from now to show (default ${DEFAULT_LIMITS_DURATION_S})` } },
    params: ({ args, duration }) => ({
      connectorId: connector(args[0]!),
      ...(duration === undefined ? {} : { durationS: integer(duration, '--duration') }),
    }),
    human: (report) => ({ out: renderLimits(report) }),
  }),
  def({
    words: ['sim', 'plug'],
    args: ['<connector>'],
    summary: 'plug the cable in at the EV side',
    method: 'sim.plug',
    params: ({ args }) => ({ connectorId: connector(args[0]!) }),
    human: (_, { connectorId }) => ({ out: `connector ${connectorId}: cable plugged in` }),
  }),
  def({
    words: ['sim', 'unplug'],
    args: ['<connector>'],
    summary: 'unplug the cable at the EV side',
    method: 'sim.unplug',
    params: ({ args }) => ({ connectorId: connector(args[0]!) }),
    human: (_, { connectorId }) => ({ out: `connector ${connectorId}: cable unplugged` }),
  }),
  def({
    words: ['sim', 'ev'],
    args: ['<connector>', 'charge|pause'],
    summary: 'the EV asks for energy / stops asking',
    method: 'sim.ev',
    params: ({ args }) => ({
      connectorId: connector(args[0]!),
      mode: choice(args[1]!, 'charge', 'pause') ? 'charge' : 'pause',
    }),
    human: (_, { connectorId, mode }) => ({
      out: `connector ${connectorId}: EV ${mode === 'charge' ? 'asks for energy' : 'pauses'}`,
    }),
  }),
  def({
    words: ['sim', 'swipe'],
    args: ['<idTag>'],
    summary: 'present a card',
    method: 'sim.swipe',
    options: { reader: { help: 'the reader, from 1 (default: the first)' } },
    params: ({ args, reader }) => ({
      idTag: args[0]!,
      ...(reader === undefined ? {} : { reader: integer(reader, '--reader') }),
    }),
    human: (_, { idTag, reader }) => ({
      out: `card ${idTag} presented${reader === undefined ? '' : ` on reader ${reader}`}`,
    }),
  }),
  def({
    words: ['sim', 'fault'],
    args: ['<connector>', '<ChargePointErrorCode>'],
    summary: 'raise a fault',
    method: 'sim.fault',
    params: ({ args }) => ({ connectorId: connector(args[0]!), errorCode: faultCode(args[1]!) }),
    human: (_, { connectorId, errorCode }) => ({ out: `connector ${connectorId}: ${errorCode} raised` }),
  }),
  def({
    words: ['sim', 'clear'],
    args: ['<connector>'],
    summary: 'clear the simulated faults',
    method: 'sim.clear',
    params: ({ args }) => ({ connectorId: connector(args[0]!) }),
    human: (_, { connectorId }) => ({ out: `connector ${connectorId}: faults cleared` }),
  }),
  def({
    words: ['sim', 'lock-fail'],
    args: ['<connector>', 'on|off'],
    summary: 'make the connector lock fail to lock or unlock',
    method: 'sim.lockFail',
    params: ({ args }) => ({ connectorId: connector(args[0]!), failing: choice(args[1]!, 'on', 'off') }),
    human: (_, { connectorId, failing }) => ({
      out: `connector ${connectorId}: lock ${failing ? 'fails from now on' : 'works again'}`,
    }),
  }),
  def({
    words: ['sim', 'tamper'],
    args: ['on|off'],
    summary: "open or close the enclosure (the board's tamper input)",
    method: 'sim.tamper',
    params: ({ args }) => ({ active: choice(args[0]!, 'on', 'off') }),
    human: (_, { active }) => ({
      out: active ? 'tamper input active: every connector faulted' : 'tamper input cleared',
    }),
  }),
  def({
    words: ['sim', 'meter'],
    args: ['<connector>'],
    summary: 'what the EV draws while charging',
    method: 'sim.meter',
    options: { power: { help: 'watts the EV draws', required: true } },
    params: ({ args, power }) => {
      if (power === undefined) throw new UsageError('sim meter needs --power <W>');
      const powerW = Number(power);
      if (power.trim() === '' || !Number.isFinite(powerW) || powerW < 0) {
        throw new UsageError(`--power must be a number of watts >= 0, got "${power}"`);
      }
      return { connectorId: connector(args[0]!), powerW };
    },
    human: (_, { connectorId, powerW }) => ({ out: `connector ${connectorId}: EV draws ${powerW} W` }),
  }),
  def({
    words: ['transactions'],
    args: [],
    summary: `running and latest finished transactions (${DEFAULT_RECENT_TRANSACTIONS} unless --limit)`,
    method: 'transactions',
    options: {
      limit: { help: `finished transactions to list (default ${DEFAULT_RECENT_TRANSACTIONS})` },
      watch: { help: WATCH_HELP },
    },
    params: ({ limit }) => (limit === undefined ? {} : { limit: integer(limit, '--limit') }),
    human: (report, { limit }) => ({ out: renderTransactions(report, limit ?? DEFAULT_RECENT_TRANSACTIONS) }),
  }),
  def({
    words: ['security-log'],
    args: [],
    summary: `the security log, newest last (${DEFAULT_SECURITY_LOG_ENTRIES} unless --limit); --clear empties it`,
    method: 'securityLog',
    options: {
      limit: { help: `entries to list (default ${DEFAULT_SECURITY_LOG_ENTRIES})` },
      clear: { help: 'empty the log first (itself a logged security event)' },
    },
    params: ({ limit, clear }) => ({
      ...(limit === undefined ? {} : { limit: integer(limit, '--limit') }),
      ...(clear ? { clear } : {}),
    }),
    human: (report) => ({ out: renderSecurityLog(report) }),
  }),
  def({
    words: ['firmware', 'install'],
    args: ['<file>'],
    summary:
      'install an image from a local file (verified with --signature and --certificate; then the install hook)',
    method: 'firmware.install',
    options: {
      signature: { help: 'the image signature as bytes (openssl dgst -sign); needs --certificate' },
      certificate: { help: 'the PEM certificate that signed it' },
    },
    params: ({ args, signature, certificate }) => ({
      file: resolve(args[0]!),
      // openssl dgst -sign writes the signature as bytes; OCPP carries it as Base64.
      ...(signature === undefined
        ? {}
        : { signature: readLocal(signature, '--signature').toString('base64') }),
      ...(certificate === undefined
        ? {}
        : { certificate: readLocal(certificate, '--certificate').toString('utf8') }),
    }),
    human: (report, { file }) =>
      report.status === 'Accepted' || report.status === 'AcceptedCanceled'
        ? {
            out: `installing ${file}${report.status === 'AcceptedCanceled' ? ' (the running update was cancelled)' : ''}: follow it with "cpctl firmware"`,
          }
        : { error: `firmware install refused (${report.status}): ${report.reason ?? 'no reason given'}` },
  }),
  def({
    words: ['firmware'],
    args: [],
    summary: 'the firmware update running or the last one: status, progress, result',
    method: 'firmware',
    params: () => ({}),
    human: (report) => ({ out: renderFirmware(report) }),
  }),
  def({
    words: ['queue', 'retry'],
    args: [],
    summary: 'put the dead letters back into the queue, in their original order',
    method: 'queue.retry',
    params: () => ({}),
    human: ({ requeued }) => ({
      out:
        requeued === 0
          ? 'no dead letters'
          : `${requeued} dead ${requeued === 1 ? 'letter' : 'letters'} queued again`,
    }),
  }),
  def({
    words: ['queue'],
    args: [],
    summary: 'transaction messages not yet delivered, and the dead letters',
    method: 'queue',
    params: () => ({}),
    human: (report) => ({ out: renderQueue(report) }),
  }),
  def({
    words: ['reconnect'],
    args: [],
    summary: 'drop the connection to the central system and connect again',
    method: 'reconnect',
    params: () => ({}),
    human: () => ({ out: 'reconnecting to the central system' }),
  }),
  def({
    words: ['reset'],
    args: ['soft|hard'],
    summary: 'as OCPP Reset: stop transactions, restart the daemon (hard: run the reset command)',
    method: 'reset',
    params: ({ args }) => ({ type: choice(args[0]!, 'hard', 'soft') ? 'Hard' : 'Soft' }),
    human: (_, { type }) => ({
      out: `${type.toLowerCase()} reset accepted: running transactions stop, then the daemon restarts`,
    }),
  }),
  def({
    words: ['availability'],
    args: ['<connector>', 'operative|inoperative'],
    summary: 'as ChangeAvailability (connector 0: the whole charge point)',
    method: 'availability',
    params: ({ args }) => ({
      connectorId: connector(args[0]!),
      type: choice(args[1]!, 'operative', 'inoperative') ? 'Operative' : 'Inoperative',
    }),
    human: (status, { connectorId, type }) => {
      const what = connectorId === 0 ? 'charge point' : `connector ${connectorId}`;
      if (status === 'Accepted') return { out: `${what}: ${type}` };
      if (status === 'Scheduled') return { out: `${what}: ${type} once its transaction ends (Scheduled)` };
      return { error: `${what}: availability change Rejected` };
    },
  }),
  def({
    words: ['unlock'],
    args: ['<connector>'],
    summary: 'as UnlockConnector: stop its transaction, release the cable',
    method: 'unlock',
    params: ({ args }) => ({ connectorId: connector(args[0]!) }),
    human: (status, { connectorId }) =>
      status === 'Unlocked'
        ? { out: `connector ${connectorId}: Unlocked` }
        : { error: `connector ${connectorId}: ${status}` },
  }),
  def({
    words: ['log-level'],
    args: [LOG_LEVELS.join('|')],
    summary: "the daemon's log level, until it restarts",
    method: 'log.level',
    params: ({ args }) => ({ level: logLevel(args[0]!) }),
    human: ({ level, previous }) => ({ out: `log level ${level} (was ${previous})` }),
  }),
  def({
    words: ['auth'],
    args: ['[idTag]'],
    summary: 'an id in the local list and the cache (sends no Authorize)',
    method: 'auth',
    params: ({ args }) => (args[0] === undefined ? {} : { idTag: args[0] }),
    human: (report) => ({ out: renderAuth(report) }),
  }),
  local({
    words: ['trace'],
    args: [],
    summary: `OCPP frames in and out, secrets redacted (the last ${DEFAULT_TRACE_FRAMES}; --follow: ${DEFAULT_FOLLOW_BACKLOG}, then new ones)`,
    options: {
      action: { help: 'only the frames of this action (any case)' },
      limit: { help: `frames to show (default ${DEFAULT_TRACE_FRAMES})` },
      follow: { help: 'then show new frames as they come, until interrupted' },
    },
    run: runTrace,
  }),
  local({
    words: ['diagnostics'],
    args: ['<file>'],
    summary:
      'write a support bundle (log, trace, security log, configuration without secrets, state) to <file>',
    run: ({ args }, ctx) => runDiagnostics(args[0]!, ctx),
  }),
  local({
    words: ['completion'],
    args: ['bash'],
    summary: 'bash completion script (source it, or install it in bash-completion)',
    run: async ({ args }, { io }) => {
      if (args[0] !== 'bash') throw new UsageError('usage: cpctl completion bash');
      io.stdout(readFileSync(COMPLETION_SCRIPT, 'utf8'));
      return EXIT.ok;
    },
  }),
  local({
    words: ['version'],
    args: [],
    summary: 'versions of cpctl and the running daemon',
    run: (_, ctx) => runVersion(ctx),
  }),
  local({
    words: ['help'],
    args: ['[command...]'],
    variadic: true,
    summary: 'this text; with a command, its own help',
    run: async ({ args }, { io }) => {
      io.stdout(`${helpFor(args)}\n`);
      return EXIT.ok;
    },
  }),
];

type AnyCommand = (typeof COMMANDS)[number];

/** Every command, for tests that check each one (its --help, its completion). */
export const COMMAND_WORDS: readonly string[] = COMMANDS.map((c) => c.words.join(' '));

export const USAGE = [
  'usage: cpctl [--socket PATH] <command> [--json]',
  '',
  'commands:',
  commandList(COMMANDS),
  '',
  `--socket defaults to $CPCTL_SOCKET, else ${DEFAULT_SOCKET}. --json prints the daemon's answer as JSON`,
  '(trace: one JSON object per frame and line). "cpctl <command> --help" tells more of each command.',
  'Put -- before an argument that starts with a dash.',
  '',
  'exit codes:',
  table(
    Object.entries(EXIT).map(([name, code]) => [`  ${code}`, EXIT_MEANINGS[name as keyof typeof EXIT]]),
    3,
  ),
].join('\n');

function commandList(commands: readonly AnyCommand[]): string {
  return table(
    commands.map((c) => [`  ${usageOf(c)}`, c.summary]),
    3,
  );
}

/** Runs one cpctl invocation; resolves with the exit code and never throws. */
export async function runCpctl(argv: string[], io: CpctlIo): Promise<number> {
  const env = io.env ?? process.env;
  const fail = (code: number, message: string) => {
    // One line, whatever the message: a script reads the first line of stderr.
    io.stderr(`cpctl: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    return code;
  };

  let parsed: ReturnType<typeof parseArgv>;
  try {
    parsed = parseArgv(argv);
  } catch (err) {
    return fail(EXIT.usage, `${errorMessage(err)} (see "cpctl help")`);
  }
  const { values, positionals } = parsed;
  const socket = resolveSocketPath(values.socket, env);
  const ctx: RunContext = { socket, json: values.json === true, io };

  try {
    if (values.help) {
      io.stdout(`${helpFor(positionals)}\n`);
      return EXIT.ok;
    }
    if (positionals.length === 0) throw new UsageError('no command given (see "cpctl help")');
    const command = findCommand(positionals);
    const inv = invocation(command, positionals.slice(command.words.length), values);
    if (inv.watch) return await runWatch(command.words[0] === 'status' ? 'status' : 'transactions', inv, ctx);
    return 'run' in command ? await command.run(inv, ctx) : await runRequest(command, inv, ctx);
  } catch (err) {
    const failure = classifyFailure(err, socket);
    return fail(failure.code, failure.message);
  }
}

/**
 * The line cpctl says when Ctrl-C ends `argv`'s request before its answer, if its command has one
 * (see RequestCommand.interrupted); never throws, as it runs in the SIGINT handler.
 */
export function interruptionNote(argv: string[]): string | undefined {
  try {
    const { positionals } = parseArgv(argv);
    const command = findCommand(positionals);
    return 'interrupted' in command && command.interrupted !== undefined
      ? `interrupted (Ctrl-C): ${command.interrupted}`
      : undefined;
  } catch {
    return undefined;
  }
}

function findCommand(positionals: string[]): AnyCommand {
  const found = COMMANDS.find((c) => c.words.every((w, i) => positionals[i] === w));
  if (found) return found;
  const group = groupOf(positionals[0]);
  if (group.length > 0 && positionals.length === 1) {
    throw new UsageError(`${positionals[0]} needs one of: ${group.map((c) => c.words[1]).join(', ')}`);
  }
  const name = group.length > 0 ? positionals.slice(0, 2).join(' ') : positionals[0];
  throw new UsageError(`unknown command "${name}" (see "cpctl help")`);
}

/** The commands under a first word that is no command by itself (sim, hal, config). */
function groupOf(word: string | undefined): AnyCommand[] {
  return COMMANDS.filter((c) => c.words.length > 1 && c.words[0] === word);
}

/** `cpctl help [command]`, `cpctl [command] --help`: the usage, a group's commands, or one command's help. */
function helpFor(positionals: string[]): string {
  if (positionals.length === 0) return USAGE;
  const group = groupOf(positionals[0]);
  const alone = COMMANDS.some((c) => c.words.length === 1 && c.words[0] === positionals[0]);
  if (positionals.length === 1 && group.length > 0 && !alone) {
    return [`usage: cpctl ${positionals[0]} <command> ...`, '', 'commands:', commandList(group)].join('\n');
  }
  return commandHelp(findCommand(positionals));
}

function commandHelp(command: AnyCommand): string {
  const optionRows = Object.entries(command.options ?? {}).map(([name, use]) => [
    `  ${optionText(name as CommandOption)}`,
    use.help,
  ]);
  const name = command.words.join(' ');
  const below = COMMANDS.filter(
    (c) => c.words.length > command.words.length && c.words.join(' ').startsWith(`${name} `),
  );
  return [
    `usage: cpctl ${usageOf(command)}`,
    command.summary,
    '',
    'options:',
    table([...optionRows, ...GLOBAL_OPTION_HELP.map(([option, help]) => [`  ${option}`, help!])], 3),
    ...(below.length > 0 ? ['', 'commands:', commandList(below)] : []),
  ].join('\n');
}

function optionText(name: CommandOption): string {
  const option = COMMAND_OPTIONS[name];
  return 'value' in option ? `--${name} ${option.value}` : `--${name}`;
}

function invocation(command: AnyCommand, args: string[], values: ParsedValues): Invocation {
  const inv: Invocation = { args };
  for (const option of Object.keys(COMMAND_OPTIONS) as CommandOption[]) {
    if (values[option] === undefined) continue;
    if (command.options?.[option] === undefined) {
      throw new UsageError(`--${option} does not apply to ${command.words.join(' ')}`);
    }
    Object.assign(inv, { [option]: values[option] });
  }
  const required = command.args.filter((a) => !a.startsWith('[')).length;
  const most = command.variadic ? Number.POSITIVE_INFINITY : command.args.length;
  if (args.length < required || args.length > most) {
    throw new UsageError(`usage: cpctl ${usageOf(command)}`);
  }
  return inv;
}

function usageOf(command: AnyCommand): string {
  const options = Object.entries(command.options ?? {}).map(([name, use]) => {
    const text = optionText(name as CommandOption);
    return use.required ? text : `[${text}]`;
  });
  return [...command.words, ...command.args, ...options].join(' ');
}

async function runRequest<M extends Method>(
  command: RequestCommand<M>,
  inv: Invocation,
  { socket, json, io }: RunContext,
): Promise<number> {
  const params = command.params(inv);
  validated(command.method, params);
  if (command.irreversible && !inv.yes) {
    const warning = await command.irreversible(params, socket);
    if (warning !== undefined) {
      if (!io.confirm) {
        throw new UsageError(`${warning}; not on a terminal, so add --yes to make the change`);
      }
      if (!(await io.confirm(`${warning}. Make the change? [y/N] `))) {
        io.stderr('cpctl: not confirmed, nothing changed\n');
        return EXIT.refused;
      }
    }
  }
  const result = await request(socket, command.method, params);
  const output = command.human(result, params);
  const out = json
    ? JSON.stringify((command.json ? command.json(result) : result) ?? null, null, 2)
    : output.out;
  if (out !== undefined) io.stdout(`${out}\n`);
  if (output.error === undefined) return EXIT.ok;
  io.stderr(`cpctl: ${output.error}\n`);
  return EXIT.refused;
}

/** The daemon's own checks, run here first so a typo gets a usage error without a round trip. */
function validated<M extends Method>(method: M, params: Params<M>): void {
  try {
    validateRequest(method, params);
  } catch (err) {
    if (err instanceof ProtocolError) throw new UsageError(err.message);
    throw err;
  }
}

/**
 * Raising an only-raise key (SecurityProfile) is for good: neither the central system nor cpctl
 * can lower it again. A value the daemon refuses anyway (no raise, out of range) is left to its answer.
 */
async function raisesForGood(
  { key, value }: Params<'config.set'>,
  socket: string,
): Promise<string | undefined> {
  const rule = ONLY_RAISE_KEYS.get(key);
  if (rule === undefined || !/^\d+$/.test(value) || Number(value) > rule.max) return undefined;
  const { configurationKey } = await request(socket, 'config.get', { keys: [key] });
  const now = configurationKey[0]?.value;
  if (now === undefined || Number(value) <= Number(now)) return undefined;
  return `${key} ${now} -> ${Number(value)} cannot be undone: it can never be lowered again, by the central system or by cpctl`;
}

function shownValue(entry: ConfigEntry): string {
  if (entry.writeOnly) return entry.set ? '(set, not shown)' : '(not set)';
  return entry.value ?? '(no value)';
}

function access(entry: ConfigEntry): string {
  if (entry.writeOnly) return 'write-only';
  return entry.readonly ? 'read-only' : 'read-write';
}

/** `status --watch`, `transactions --watch`: a live view until Ctrl-C (0) or the daemon goes away (69). */
async function runWatch(
  view: 'status' | 'transactions',
  inv: Invocation,
  { socket, json, io }: RunContext,
): Promise<number> {
  const limit = inv.limit === undefined ? undefined : integer(inv.limit, '--limit');
  const { method, params } = watchRequest(view, limit);
  validated(method, params);
  const out = { stdout: io.stdout, tty: io.tty === true, json, ...(io.signal ? { signal: io.signal } : {}) };
  if ((await watchView(socket, view, limit, out)) === 'stopped') return EXIT.ok;
  io.stderr(`cpctl: chargepointd went away (${socket}); the watch ends\n`);
  return EXIT.unavailable;
}

async function runTrace(inv: Invocation, { socket, json, io }: RunContext): Promise<number> {
  const params = {
    ...(inv.action === undefined ? {} : { action: inv.action }),
    ...(inv.limit === undefined ? {} : { limit: integer(inv.limit, '--limit') }),
    ...(inv.follow ? { follow: true } : {}),
  };
  validated('trace', params);
  const print = (entry: TraceEntry) => io.stdout(`${json ? JSON.stringify(entry) : traceLine(entry)}\n`);
  const result = await stream(socket, 'trace', params, print, {
    // A quiet charger sends nothing for minutes; following waits as long as it takes.
    ...(params.follow ? { timeoutMs: 0 } : {}),
    ...(io.signal ? { signal: io.signal } : {}),
  });
  if (!params.follow && result?.frames === 0 && !json) {
    io.stdout(`no frames${params.action === undefined ? '' : ` of ${params.action}`} in the trace\n`);
  }
  return EXIT.ok;
}

/**
 * The daemon builds the bundle (it alone reads the state directory) and streams it; it lands in
 * `<file>.part` (mode 0600: it names cards and sessions), renamed to `<file>` once whole.
 */
async function runDiagnostics(file: string, { socket, json, io }: RunContext): Promise<number> {
  const partial = `${file}.part`;
  const fd = onOutputFile(file, () => openSync(partial, 'w', 0o600));
  let result: Awaited<ReturnType<typeof stream<'diagnostics'>>>;
  try {
    result = await stream(socket, 'diagnostics', {}, ({ data }) => {
      onOutputFile(file, () => writeSync(fd, Buffer.from(data, 'base64')));
    });
    onOutputFile(file, () => closeSync(fd));
  } catch (err) {
    closeSync(fd);
    rmSync(partial, { force: true });
    throw err;
  }
  onOutputFile(file, () => renameSync(partial, file));
  if (json) io.stdout(`${JSON.stringify({ ...result, file })}\n`);
  else io.stdout(`wrote ${file} (${result?.bytes ?? 0} bytes, ${result?.fileName ?? ''})\n`);
  return EXIT.ok;
}

/** Runs a step on the technician's output file; its failure is an OutputFileError naming the file. */
function onOutputFile<T>(file: string, step: () => T): T {
  try {
    return step();
  } catch (err) {
    throw new OutputFileError(`cannot write ${file}: ${errorMessage(err)}`);
  }
}

async function runVersion({ socket, json, io }: RunContext): Promise<number> {
  let daemon: string | null;
  try {
    daemon = (await request(socket, 'version', {})).version;
  } catch (err) {
    // The CLI's own version is worth printing when the daemon is down; other failures are not hidden.
    if (classifyFailure(err, socket).code !== EXIT.unavailable) throw err;
    daemon = null;
  }
  if (json) io.stdout(`${JSON.stringify({ cpctl: FIRMWARE_VERSION, chargepointd: daemon })}\n`);
  else io.stdout(`cpctl ${FIRMWARE_VERSION}\nchargepointd ${daemon ?? '(not running)'}\n`);
  return EXIT.ok;
}

/** Exit code and the one line a technician reads, for anything a command can fail with. */
export function classifyFailure(err: unknown, socket: string): { code: number; message: string } {
  if (err instanceof UsageError) return { code: EXIT.usage, message: err.message };
  if (err instanceof OutputFileError) return { code: EXIT.cannotCreate, message: err.message };
  if (err instanceof RemoteError) return { code: EXIT.refused, message: err.message };
  if (err instanceof ProtocolError) return { code: EXIT.protocol, message: err.message };
  const code = err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
  switch (code) {
    case 'ENOENT':
    case 'ECONNREFUSED':
      return {
        code: EXIT.unavailable,
        message: `chargepointd is not running (no control socket at ${socket})`,
      };
    case 'EACCES':
    case 'EPERM':
      return {
        code: EXIT.permission,
        message: `permission denied on the control socket ${socket} (run as root or in the daemon's group)`,
      };
    case 'ETIMEDOUT':
      return { code: EXIT.timeout, message: errorMessage(err) };
    case undefined:
      // Every failure of the socket carries an errno code: anything else is cpctl's own bug.
      return { code: EXIT.software, message: `internal error: ${String(err)}` };
    default:
      return {
        code: EXIT.unavailable,
        message: `cannot talk to chargepointd on ${socket}: ${errorMessage(err)}`,
      };
  }
}

/** A value piped in (`config set AuthorizationKey - < file`): its one line, without the line's end. */
function valueFromStdin(): string {
  try {
    return readFileSync(0, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new UsageError(
      `cannot read the value from stdin (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
}

/** A file the technician names on cpctl's side (a signature, a certificate). */
function readLocal(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`${what}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

function integer(arg: string, what: string): number {
  if (!/^\d+$/.test(arg)) throw new UsageError(`${what} must be a number, got "${arg}"`);
  return Number(arg);
}

function amps(arg: string): number {
  if (!/^\d+(\.\d+)?$/.test(arg)) throw new UsageError(`amps must be a number or none, got "${arg}"`);
  return Number(arg);
}

function connector(arg: string): number {
  return integer(arg, 'connector');
}

/** True for the first word, false for the second. */
function choice(arg: string, yes: string, no: string): boolean {
  if (arg === yes) return true;
  if (arg === no) return false;
  throw new UsageError(`expected ${yes} or ${no}, got "${arg}"`);
}

function logLevel(arg: string): (typeof LOG_LEVELS)[number] {
  const level = LOG_LEVELS.find((l) => l === arg);
  if (level) return level;
  throw new UsageError(`unknown log level "${arg}"; one of: ${LOG_LEVELS.join(', ')}`);
}

function faultCode(arg: string): string {
  if (FAULT_CODES.includes(arg)) return arg;
  throw new UsageError(`"${arg}" is not a hardware fault code; one of: ${FAULT_CODES.join(', ')}`);
}

/** Columns padded to their widest cell, so they line up in a terminal. */
