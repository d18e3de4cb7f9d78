import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type Board, BoardConfigurationError } from '../hal/types.js';
import { DaemonAlreadyRunningError } from './cli/server.js';
import { systemClock } from './clock.js';
import { BoardFileError, loadBoard } from './config/board-file.js';
import { ConfigFileError, loadConfigFile, type RuntimeConfig } from './config/file.js';
import { ConfigurationError } from './config/registry.js';
import { errorMessage } from './error-message.js';
import { createLogger, type Logger, logRingDirectory } from './log.js';
import type { FrameTrace } from './ocpp/trace.js';
import { Runtime, type StopReason } from './runtime.js';
import { lockStateDirectory, StoreAccessError } from './store/database.js';
import { StateDirectoryLockedError } from './store/state-lock.js';
import { SystemdNotifier } from './systemd/notify.js';
import { FIRMWARE_VERSION } from './version.js';

/**
 * Exit codes of chargepointd. The systemd unit restarts on failure, so a reset is a non-zero
 * exit by design; configuration and usage errors are listed in RestartPreventExitStatus.
 */
export const EXIT = {
  stopped: 0,
  softReset: 10,
  hardReset: 11,
  usage: 64,
  internalError: 70,
  config: 78,
} as const;

const USAGE = 'usage: chargepointd --config <file> [--check]';

export function exitCodeFor(reason: StopReason): number {
  if (reason.kind === 'reset') return reason.type === 'Hard' ? EXIT.hardReset : EXIT.softReset;
  return EXIT.stopped;
}

function runHardResetHook(command: readonly string[] | undefined, log: Logger): void {
  if (!command?.[0]) return;
  log.warn({ command }, 'running hard reset hook');
  const result = spawnSync(command[0], command.slice(1), { stdio: 'inherit', timeout: 30_000 });
  if (result.error || result.status !== 0) {
    log.error({ err: result.error?.message, status: result.status }, 'hard reset hook failed');
  }
}

/**
 * What a crash (an exception nothing caught) does: drive the outputs safe, then exit 70. Without
 * it the process dies with its sysfs lines still driven, a contactor closed and unwatched until
 * systemd has restarted the daemon.
 */
export function crashHandler(
  board: Pick<Board, 'safe'>,
  log: Logger,
  exit: (code: number) => void,
  trace?: Pick<FrameTrace, 'flush'>,
): (error: unknown) => void {
  return (error) => {
    log.fatal({ err: error instanceof Error ? (error.stack ?? error.message) : String(error) }, 'crashed');
    try {
      board.safe();
    } catch (safeError) {
      log.fatal({ err: errorMessage(safeError) }, 'outputs could not be driven safe');
    }
    // The frames just before a crash are the ones that explain it; they may still be waiting for
    // a quiet moment to be written.
    try {
      trace?.flush();
    } catch (traceError) {
      log.error({ err: errorMessage(traceError) }, 'frame trace could not be written');
    }
    log.flush();
    exit(EXIT.internalError);
  };
}

/**
 * The provisioning file may hold the AuthorizationKey (the Basic-auth password of profiles 1-2).
 * Readable by group or others, it is told loudly but not refused: the installer's file mode is
 * theirs to fix, and a charger that stops charging over it after an update helps nobody.
 */
function warnIfSecretReadable(configPath: string, ocpp: Record<string, unknown>, log: Logger): void {
  if (ocpp.AuthorizationKey === undefined) return;
  const mode = statSync(configPath).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    log.warn(
      { configFile: configPath, mode: `0${mode.toString(8)}` },
      'the config file holds the AuthorizationKey but is readable by group or others: chmod 600 it',
    );
  }
}

/**
 * `--check`: every problem of the configuration and its board file, one line each on stderr, and
 * exit 78 if there is one; nothing is opened (store, socket, network), nothing is started.
 */
async function checkOnly(configPath: string): Promise<number> {
  const { checkConfigFiles } = await import('./config/check.js');
  const { problems, boardFile } = await checkConfigFiles(configPath);
  if (problems.length > 0) {
    process.stderr.write(`${problems.join('\n')}\n${problems.length} problem(s)\n`);
    return EXIT.config;
  }
  process.stdout.write(`${configPath}: valid${boardFile ? `, board file ${boardFile}: valid` : ''}\n`);
  return EXIT.stopped;
}

/** Entry point of the daemon; resolves with the process exit code. */
export async function runDaemon(argv: string[]): Promise<number> {
  let configPath: string | undefined;
  let check = false;
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        check: { type: 'boolean' },
        version: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(`${USAGE}\n`);
      return EXIT.stopped;
    }
    if (values.version) {
      process.stdout.write(`${FIRMWARE_VERSION}\n`);
      return EXIT.stopped;
    }
    configPath = values.config;
    check = values.check ?? false;
  } catch (error) {
    process.stderr.write(`${errorMessage(error)}\n${USAGE}\n`);
    return EXIT.usage;
  }
  if (!configPath) {
    process.stderr.write(`${USAGE}\n`);
    return EXIT.usage;
  }

  if (check) return checkOnly(configPath);

  let log = createLogger();
  let config: ReturnType<typeof loadConfigFile>;
  try {
    config = loadConfigFile(configPath);
  } catch (error) {
    const problems = error instanceof ConfigFileError ? error.problems : undefined;
    log.fatal({ configFile: configPath, problems }, errorMessage(error));
    if (error instanceof ConfigFileError && error.config) await driveOutputsSafe(error.config, log);
    log.flush();
    return EXIT.config;
  }
  log = createLogger({
    level: config.log.level,
    base: { chargePointId: config.chargePointId },
    ringDir: logRingDirectory(config.stateDir),
  });
  log.info(
    { version: FIRMWARE_VERSION, configFile: configPath, board: config.board },
    'chargepointd starting',
  );

  warnIfSecretReadable(configPath, config.ocpp, log);
  const notifier = new SystemdNotifier({ env: process.env, log });
  let runtime: Runtime;
  try {
    runtime = await Runtime.start({
      config,
      log,
      onStopping: (reason) =>
        void notifier.stopping(reason.kind === 'reset' ? `Reset ${reason.type}: stopping` : 'stopping'),
    });
  } catch (error) {
    const isConfig =
      error instanceof ConfigFileError ||
      error instanceof BoardFileError ||
      error instanceof BoardConfigurationError ||
      error instanceof ConfigurationError ||
      // A store we may not write, or one another daemon holds: a restart changes neither.
      error instanceof StoreAccessError ||
      error instanceof StateDirectoryLockedError ||
      error instanceof DaemonAlreadyRunningError;
    log.fatal({ err: errorMessage(error) }, 'cannot start');
    log.flush();
    return isConfig ? EXIT.config : EXIT.internalError;
  }

  const onSignal = (signal: string) => {
    log.info({ signal }, 'signal received');
    void runtime.stop();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  // Ahead of the entry point's own handler, which exits at once.
  process.prependOnceListener(
    'uncaughtException',
    crashHandler(runtime.board, log, (code) => process.exit(code), runtime.trace),
  );
  runtime.link.on('open', () => void notifier.status('connected to the central system'));
  runtime.link.on('close', () => void notifier.status('central system unreachable, reconnecting'));
  runtime.registration.on('accepted', () => void notifier.status('registered with the central system'));
  // Runtime.start has opened the store and started the board (and the control socket).
  void notifier.ready('store open, board up; connecting to the central system');

  const reason = await runtime.done;
  // Delivers STOPPING=1 and ends the keep-alives, whose timer would keep the process alive.
  await notifier.close();
  if (reason.kind === 'reset' && reason.type === 'Hard') runHardResetHook(config.reset.hardResetCommand, log);
  const code = exitCodeFor(reason);
  log.info({ reason, exitCode: code }, 'chargepointd stopped');
  await new Promise<void>((resolve) => log.flush(() => resolve()));
  return code;
}

/**
 * A refused configuration whose board is known, on a charger that has run before: a killed run
 * may have left a contactor closed,
 * and a daemon that exits 78 is not restarted to open it. Under the state directory's lock, so a
 * daemon still running on this charger keeps its outputs; anything in the way is logged, the exit
 * stays 78.
 */
async function driveOutputsSafe(config: RuntimeConfig, log: Logger): Promise<void> {
  // No state directory, no earlier run: nothing can have been left live, and nothing is created.
  if (!existsSync(config.stateDir)) return;
  let lock: ReturnType<typeof lockStateDirectory> | undefined;
  try {
    lock = lockStateDirectory(config.stateDir);
    const board = await loadBoard(config.board, { log, clock: systemClock, stateDir: config.stateDir });
    try {
      board.safe();
    } finally {
      await board.stop();
    }
    log.info({ board: board.name }, 'outputs driven safe before exiting');
  } catch (error) {
    log.warn({ err: errorMessage(error) }, 'outputs not driven safe: the board could not be opened');
  } finally {
    lock?.release();
  }
}
