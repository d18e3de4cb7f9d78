/**
 * cpctl's commands: argv -> one control-socket request -> human or JSON output and an exit code
 * (sysexits: 64 usage, 69 daemon unavailable, 77 permission, 1 refused by the daemon).
 */
import { closeSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { LOG_LEVELS } from '../log.js';
import { PACKAGE_ROOT } from '../package-root.js';
import type { TraceEntry } from '../store/trace-repo.js';
import { FIRMWARE_VERSION } from '../version.js';
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

export const DEFAULT_SOCKET = '/run/chargepoint/cpctl.sock';

export const EXIT = {
  ok: 0,
  refused: 1,
  usage: 64,
  unavailable: 69,
  protocol: 76,
  timeout: 75,
  permission: 77,
} as const;

export interface CpctlIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Ends a `trace --follow` (exit 0); without it, following lasts until the process is killed. */
  signal?: AbortSignal;
}

/** The bash completion script `cpctl completion bash` prints, shipped with the package. */
export const COMPLETION_SCRIPT = join(PACKAGE_ROOT, 'scripts', 'cpctl-completion.bash');

/** Characters of a frame `trace` shows on a line; --json has them all. */

/** The socket: --socket, else $CPCTL_SOCKET, else the daemon's default. */
export function resolveSocketPath(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return flag ?? (env.CPCTL_SOCKET || DEFAULT_SOCKET);
}

class UsageError extends Error {}

/** Options that belong to one command or another (not --socket, --json, --help). */
const COMMAND_OPTIONS = ['reader', 'power', 'limit', 'duration', 'signature', 'certificate'] as const;
type CommandOption = (typeof COMMAND_OPTIONS)[number];

interface Invocation extends Partial<Record<CommandOption, string>> {
  args: string[];
  /** --clear (security-log only). */
  clear?: true;
}

/** What a command prints: `out` on stdout; `error` makes one stderr line and exit 1. */
interface Output {
  out?: string;
  error?: string;
}

interface CommandDef<M extends Method> {
  words: string[];
  /** Positional arguments, as shown in the usage; one in [brackets] may be left out. */
  args: string[];
  /** Takes any number of arguments rather than exactly `args`. */
  variadic?: true;
  summary: string;
  method: M;
  /** Options the command accepts, with their usage text. */
  options?: Partial<Record<CommandOption, string>>;
  params(inv: Invocation): Params<M>;
  human(result: Result<M>, params: Params<M>): Output;
}

function def<M extends Method>(command: CommandDef<M>): CommandDef<M> {
  return command;
}

const TRACE_USAGE = 'trace [--action <name>] [--limit <n>] [--follow]';
const DIAGNOSTICS_USAGE = 'diagnostics <file>';

const COMMANDS = [
  def({
    words: ['status'],
    args: [],
    summary: 'link, registration, connectors and readers',
    method: 'status',
    params: () => ({}),
    human: (report) => ({ out: renderStatus(report) }),
  }),
  def({
    words: ['config', 'get'],
    args: ['[key...]'],
    variadic: true,
    summary: 'OCPP configuration keys (all when none given)',
    method: 'config.get',
    params: ({ args }) => ({ keys: args }),
    human: ({ configurationKey, unknownKey }) => ({
      out:
        configurationKey.length > 0
          ? table([
              ['KEY', 'VALUE', 'ACCESS'],
              ...configurationKey.map((e) => [
                e.key,
                e.value ?? '(no value)',
                e.readonly ? 'read-only' : 'read-write',
              ]),
            ])
          : undefined,
      error: unknownKey.length > 0 ? `unknown configuration key: ${unknownKey.join(', ')}` : undefined,
    }),
  }),
  def({
    words: ['config', 'set'],
    args: ['<key>', '<value>'],
    summary: 'change a key as ChangeConfiguration would',
    method: 'config.set',
    params: ({ args }) => ({ key: args[0]!, value: args[1]! }),
    human: (status, { key, value }) => {
      if (status === 'Accepted') return { out: `${key} = ${value}: Accepted` };
      if (status === 'RebootRequired')
        return { out: `${key} = ${value}: RebootRequired (applies after a restart)` };
      return { error: `${key}: ${status}` };
    },
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
    options: { duration: '[--duration <s>]' },
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
    options: { reader: '[--reader <n>]' },
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
    options: { power: '--power <W>' },
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
    options: { limit: '[--limit <n>]' },
    params: ({ limit }) => (limit === undefined ? {} : { limit: integer(limit, '--limit') }),
    human: (report, { limit }) => ({ out: renderTransactions(report, limit ?? DEFAULT_RECENT_TRANSACTIONS) }),
  }),
  def({
    words: ['security-log'],
    args: [],
    summary: `the security log, newest last (${DEFAULT_SECURITY_LOG_ENTRIES} unless --limit); --clear empties it`,
    method: 'securityLog',
    options: { limit: '[--limit <n>]' },
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
    options: { signature: '[--signature <file>', certificate: '--certificate <pem file>]' },
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
];

type AnyCommand = (typeof COMMANDS)[number];

export const USAGE = [
  'usage: cpctl [--socket PATH] <command> [--json]',
  '',
  'commands:',
  table(
    [
      ...COMMANDS.map((c) => [`  ${usageOf(c)}`, c.summary]),
      [
        `  ${TRACE_USAGE}`,
        `OCPP frames in and out, secrets redacted (the last ${DEFAULT_TRACE_FRAMES}; --follow: ${DEFAULT_FOLLOW_BACKLOG}, then new ones)`,
      ],
      [
        `  ${DIAGNOSTICS_USAGE}`,
        'write a support bundle (log, trace, security log, configuration without secrets, state) to <file>',
      ],
      ['  completion bash', 'bash completion script (source it, or install it in bash-completion)'],
      ['  version', 'versions of cpctl and the running daemon'],
      ['  help', 'this text'],
    ],
    3,
  ),
  '',
  `--socket defaults to $CPCTL_SOCKET, else ${DEFAULT_SOCKET}. --json prints the daemon's answer as JSON`,
  '(trace: one JSON object per frame and line).',
  'Put -- before an argument that starts with a dash.',
].join('\n');

const PARSE_OPTIONS = {
  socket: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  reader: { type: 'string' },
  power: { type: 'string' },
  limit: { type: 'string' },
  duration: { type: 'string' },
  action: { type: 'string' },
  follow: { type: 'boolean' },
  clear: { type: 'boolean' },
  signature: { type: 'string' },
  certificate: { type: 'string' },
} as const;

function parseArgv(argv: string[]) {
  return parseArgs({ args: argv, options: PARSE_OPTIONS, allowPositionals: true });
}

/** Runs one cpctl invocation; resolves with the exit code and never throws. */
export async function runCpctl(argv: string[], io: CpctlIo): Promise<number> {
  const env = io.env ?? process.env;
  const fail = (code: number, message: string) => {
    io.stderr(`cpctl: ${message}\n`);
    return code;
  };

  let parsed: ReturnType<typeof parseArgv>;
  try {
    parsed = parseArgv(argv);
  } catch (err) {
    return fail(EXIT.usage, `${(err as Error).message} (see "cpctl help")`);
  }
  const { values, positionals } = parsed;
  const socket = resolveSocketPath(values.socket, env);
  const json = values.json === true;

  if (values.help || positionals[0] === 'help') {
    io.stdout(`${USAGE}\n`);
    return EXIT.ok;
  }
  if (positionals.length === 0) return fail(EXIT.usage, 'no command given (see "cpctl help")');

  try {
    if (positionals[0] !== 'trace' && (values.follow || values.action !== undefined)) {
      throw new UsageError(`--${values.follow ? 'follow' : 'action'} applies to trace only`);
    }
    if (values.clear && positionals[0] !== 'security-log') {
      throw new UsageError('--clear applies to security-log only');
    }
    if (positionals[0] === 'version') {
      if (positionals.length > 1) throw new UsageError('usage: cpctl version');
      return await runVersion(socket, json, io);
    }
    if (positionals[0] === 'completion') {
      if (positionals.length !== 2 || positionals[1] !== 'bash')
        throw new UsageError('usage: cpctl completion bash');
      io.stdout(readFileSync(COMPLETION_SCRIPT, 'utf8'));
      return EXIT.ok;
    }
    if (positionals[0] === 'trace') {
      if (positionals.length > 1) throw new UsageError(`usage: cpctl ${TRACE_USAGE}`);
      return await runTrace(values, socket, json, io);
    }
    if (positionals[0] === 'diagnostics') {
      if (positionals.length !== 2 || values.limit !== undefined)
        throw new UsageError(`usage: cpctl ${DIAGNOSTICS_USAGE}`);
      return await runDiagnostics(positionals[1]!, socket, json, io);
    }
    const command = findCommand(positionals);
    const inv = invocation(command, positionals.slice(command.words.length), values);
    if (values.clear) inv.clear = true;
    return await runCommand(command, inv, socket, json, io);
  } catch (err) {
    const failure = classifyFailure(err, socket);
    return fail(failure.code, failure.message);
  }
}

function findCommand(positionals: string[]): AnyCommand {
  const found = COMMANDS.find((c) => c.words.every((w, i) => positionals[i] === w));
  if (found) return found;
  const group = COMMANDS.filter((c) => c.words.length > 1 && c.words[0] === positionals[0]);
  if (group.length > 0 && positionals.length === 1) {
    throw new UsageError(`${positionals[0]} needs one of: ${group.map((c) => c.words[1]).join(', ')}`);
  }
  const name = group.length > 0 ? positionals.slice(0, 2).join(' ') : positionals[0];
  throw new UsageError(`unknown command "${name}" (see "cpctl help")`);
}

function invocation(
  command: AnyCommand,
  args: string[],
  values: Partial<Record<CommandOption, string | undefined>>,
): Invocation {
  const inv: Invocation = { args };
  for (const option of COMMAND_OPTIONS) {
    const value = values[option];
    if (value === undefined) continue;
    if (command.options?.[option] === undefined) {
      throw new UsageError(`--${option} does not apply to ${command.words.join(' ')}`);
    }
    inv[option] = value;
  }
  const required = command.args.filter((a) => !a.startsWith('[')).length;
  const most = command.variadic ? Number.POSITIVE_INFINITY : command.args.length;
  if (args.length < required || args.length > most) {
    throw new UsageError(`usage: cpctl ${usageOf(command)}`);
  }
  return inv;
}

function usageOf(command: AnyCommand): string {
  return [...command.words, ...command.args, ...Object.values(command.options ?? {})].join(' ');
}

async function runCommand<M extends Method>(
  command: CommandDef<M>,
  inv: Invocation,
  socket: string,
  json: boolean,
  io: CpctlIo,
): Promise<number> {
  const params = command.params(inv);
  try {
    // The daemon's own checks, run here first so a typo gets a usage error without a round trip.
    validateRequest(command.method, params);
  } catch (err) {
    if (err instanceof ProtocolError) throw new UsageError(err.message);
    throw err;
  }
  const result = await request(socket, command.method, params);
  const output = command.human(result, params);
  const out = json ? JSON.stringify(result ?? null, null, 2) : output.out;
  if (out !== undefined) io.stdout(`${out}\n`);
  if (output.error === undefined) return EXIT.ok;
  io.stderr(`cpctl: ${output.error}\n`);
  return EXIT.refused;
}

async function runTrace(
  values: { action?: string; limit?: string; follow?: boolean },
  socket: string,
  json: boolean,
  io: CpctlIo,
): Promise<number> {
  const params = {
    ...(values.action === undefined ? {} : { action: values.action }),
    ...(values.limit === undefined ? {} : { limit: integer(values.limit, '--limit') }),
    ...(values.follow ? { follow: true } : {}),
  };
  try {
    validateRequest('trace', params);
  } catch (err) {
    if (err instanceof ProtocolError) throw new UsageError(err.message);
    throw err;
  }
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
async function runDiagnostics(file: string, socket: string, json: boolean, io: CpctlIo): Promise<number> {
  const partial = `${file}.part`;
  const fd = openSync(partial, 'w', 0o600);
  let result: Awaited<ReturnType<typeof stream<'diagnostics'>>>;
  try {
    result = await stream(socket, 'diagnostics', {}, ({ data }) => {
      writeSync(fd, Buffer.from(data, 'base64'));
    });
    closeSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(partial, { force: true });
    throw err;
  }
  renameSync(partial, file);
  if (json) io.stdout(`${JSON.stringify({ ...result, file })}\n`);
  else io.stdout(`wrote ${file} (${result?.bytes ?? 0} bytes, ${result?.fileName ?? ''})\n`);
  return EXIT.ok;
}

async function runVersion(socket: string, json: boolean, io: CpctlIo): Promise<number> {
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
  if (err instanceof RemoteError) return { code: EXIT.refused, message: err.message };
  if (err instanceof ProtocolError) return { code: EXIT.protocol, message: err.message };
  const code = (err as NodeJS.ErrnoException).code;
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
      return { code: EXIT.timeout, message: (err as Error).message };
    default:
      return {
        code: typeof code === 'string' ? EXIT.unavailable : EXIT.refused,
        message: `cannot talk to chargepointd on ${socket}: ${(err as Error).message ?? String(err)}`,
      };
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
