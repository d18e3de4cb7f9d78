import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigEntry } from '../../src/cli/api.js';
import { COMMAND_WORDS, EXIT } from '../../src/cli/commands.js';
import { type CpctlResult, cpctl, cpctlThrough, onTerminal, spawnCpctl } from '../support/cpctl-process.js';
import { type Harness, useHarness } from '../support/harness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A password of 19 characters, and the same secret as the hex a central system sends. */
const SECRET = 'Swordfish-Lantern-9';
const SECRET_HEX = Buffer.from(SECRET, 'latin1').toString('hex');

/**
 * cpctl as a process that file permissions bind (root without CAP_DAC_OVERRIDE, through setpriv)
 * on a socket whose mode admits no one: refused as a technician outside the daemon's group is.
 * Another uid would do as well, were the checkout readable to it; a CI clone in a private temp
 * directory is not.
 */
async function cpctlRefusedBySocketMode(socket: string, ...args: string[]): Promise<CpctlResult> {
  const mode = statSync(socket).mode & 0o777;
  chmodSync(socket, 0);
  try {
    return await cpctlThrough(
      (argv) => [
        'setpriv',
        '--inh-caps=-dac_override,-dac_read_search',
        '--bounding-set=-dac_override,-dac_read_search',
        ...argv,
      ],
      socket,
      ...args,
    );
  } finally {
    chmodSync(socket, mode);
  }
}

/** The one line a refusal or an argument error makes: no stack, no usage dump. */
function expectOneLine(result: CpctlResult, code: number, text: string | RegExp): void {
  expect(result.code).toBe(code);
  expect(result.stdout).toBe('');
  expect(result.stderr.split('\n')).toEqual([expect.stringMatching(/^cpctl: /), '']);
  expect(result.stderr).toMatch(text);
}

/** Every log line the daemon wrote, as the text that reaches the journal. */
function logText(h: Harness): string {
  return h.sink.lines.map((line) => JSON.stringify(line)).join('\n');
}

/**
 * cpctl on a terminal (a pty from `script`), answering `answer` once it asks; the transcript is
 * what the terminal showed.
 */
async function cpctlOnTerminal(
  socket: string,
  args: string[],
  answer: string,
): Promise<{ code: number | null; transcript: string }> {
  const run = spawnCpctl(socket, args, onTerminal);
  await run.output((out) => out.includes('[y/N]'), 'the question');
  run.child.stdin?.write(`${answer}\n`);
  const code = await run.exited();
  run.child.stdin?.end();
  return { code, transcript: run.stdout() };
}

describe('cpctl config against the running daemon', () => {
  const start = useHarness();

  it('config set says why a change was refused, and a refused change is not made', async () => {
    const h = await start();
    await h.booted();
    const socket = h.config.cli.socket;
    const refusals: Array<[string[], string]> = [
      [['NumberOfConnectors', '3'], 'NumberOfConnectors: Rejected (read-only)'],
      [['HeartbeatInterval', '0'], 'HeartbeatInterval: Rejected (must be between 1 and 604800)'],
      [
        ['HeartbeatInterval', 'soon'],
        'HeartbeatInterval: Rejected (not an integer: must be between 1 and 604800)',
      ],
      [['LocalPreAuthorize', 'maybe'], 'LocalPreAuthorize: Rejected (must be true or false)'],
      [
        ['ConnectorPhaseRotation', '1.XYZ'],
        "ConnectorPhaseRotation: Rejected ('1.XYZ' is not <connectorId>.<rotation> (rotations: NotApplicable, Unknown, RST,",
      ],
      [['SecurityProfile', '0'], 'SecurityProfile: Rejected (may only be raised: it is 0 now)'],
      // Profile 1 needs a password to send; profile 2 also a root to check the central system with.
      [['SecurityProfile', '1', '--yes'], 'SecurityProfile: Rejected (AuthorizationKey is not set)'],
      [['Testing', 'true'], 'Testing: NotSupported (not a configuration key)'],
      [
        ['heartbeatinterval', '60'],
        'heartbeatinterval: NotSupported (not a configuration key (names are case-sensitive: did you mean HeartbeatInterval?))',
      ],
    ];
    for (const [args, line] of refusals) {
      const result = await cpctl(socket, 'config', 'set', ...args);
      expectOneLine(result, EXIT.refused, `cpctl: ${line}`);
    }
    expect(h.runtime.config.getBool('LocalPreAuthorize')).toBe(false);
    expect(h.runtime.config.getInt('SecurityProfile')).toBe(0);

    expect((await cpctl(socket, 'config', 'set', 'AuthorizationKey', SECRET)).code).toBe(0);
    const noRoot = await cpctl(socket, 'config', 'set', 'SecurityProfile', '2', '--yes');
    expectOneLine(
      noRoot,
      EXIT.refused,
      'SecurityProfile: Rejected (no central-system root certificate installed)',
    );
    expect(h.runtime.config.getInt('SecurityProfile')).toBe(0);

    const made = await cpctl(socket, 'config', 'set', 'LocalPreAuthorize', 'TRUE');
    expect(made).toEqual({ code: 0, stdout: 'LocalPreAuthorize = true: Accepted\n', stderr: '' });
    // --json stays the bare status it always was; the reason goes to stderr.
    const json = await cpctl(socket, 'config', 'set', 'HeartbeatInterval', '0', '--json');
    expect(json.code).toBe(EXIT.refused);
    expect(JSON.parse(json.stdout)).toBe('Rejected');
    expect(json.stderr).toBe('cpctl: HeartbeatInterval: Rejected (must be between 1 and 604800)\n');
  });

  it('never echoes the AuthorizationKey: not in the output, not in --json, not in the log; config get says only whether it is set', async () => {
    const h = await start();
    await h.booted();
    const socket = h.config.cli.socket;
    const before = await cpctl(socket, 'config', 'get', 'AuthorizationKey');
    expect(before.stdout).toMatch(/^AuthorizationKey\s+\(not set\)\s+write-only$/m);

    const outputs: CpctlResult[] = [];
    const set = await cpctl(socket, 'config', 'set', 'AuthorizationKey', SECRET);
    expect(set).toEqual({ code: 0, stdout: 'AuthorizationKey: Accepted\n', stderr: '' });
    outputs.push(set);
    outputs.push(await cpctl(socket, 'config', 'set', 'AuthorizationKey', SECRET_HEX, '--json'));
    expect(JSON.parse(outputs[1]!.stdout)).toBe('Accepted');
    // A refused secret: the reason names the rule, never the value.
    const tooLong = `${SECRET}${SECRET}`;
    const refused = await cpctl(socket, 'config', 'set', 'AuthorizationKey', tooLong);
    expectOneLine(refused, EXIT.refused, /^cpctl: AuthorizationKey: Rejected \(must be 16 to 20 characters/);
    outputs.push(refused);

    const get = await cpctl(socket, 'config', 'get', 'AuthorizationKey');
    expect(get.stdout).toMatch(/^AuthorizationKey\s+\(set, not shown\)\s+write-only$/m);
    const getJson = await cpctl(socket, 'config', 'get', 'AuthorizationKey', '--json');
    expect(JSON.parse(getJson.stdout)).toEqual({
      configurationKey: [{ key: 'AuthorizationKey', readonly: false, writeOnly: true, set: true }],
      unknownKey: [],
    });
    outputs.push(
      get,
      getJson,
      await cpctl(socket, 'config', 'get'),
      await cpctl(socket, 'config', 'get', '--json'),
    );

    await h.sink.waitFor((l) => l.key === 'AuthorizationKey' && l.msg === 'configuration change rejected');
    for (const secret of [SECRET, SECRET_HEX, tooLong]) {
      for (const { stdout, stderr } of outputs) expect(stdout + stderr).not.toContain(secret);
      expect(logText(h)).not.toContain(secret);
    }
    expect(h.sink.find((l) => l.key === 'AuthorizationKey' && l.origin === 'local')).toBeDefined();
  });

  it('config set <key> - takes the value from stdin, so a secret is not on the command line', async () => {
    const h = await start();
    await h.booted();
    const run = spawnCpctl(h.config.cli.socket, ['config', 'set', 'AuthorizationKey', '-']);
    run.child.stdin?.end(`${SECRET}\n`);
    expect(await run.exited()).toBe(EXIT.ok);
    expect(run.stdout()).toBe('AuthorizationKey: Accepted\n');
    expect(h.runtime.config.get('AuthorizationKey')).toBe(SECRET);
  });

  it('config get lists every key sorted by name; named keys in the order asked', async () => {
    const h = await start();
    await h.booted();
    const socket = h.config.cli.socket;
    const json = await cpctl(socket, 'config', 'get', '--json');
    const keys = (JSON.parse(json.stdout) as { configurationKey: ConfigEntry[] }).configurationKey.map(
      (e) => e.key,
    );
    expect(keys.length).toBeGreaterThan(30);
    expect(keys).toEqual([...keys].sort());
    const human = (await cpctl(socket, 'config', 'get')).stdout.trimEnd().split('\n');
    expect(human[0]).toMatch(/^KEY\s+VALUE\s+ACCESS$/);
    expect(human.slice(1).map((line) => line.split(/\s+/)[0])).toEqual(keys);
    const named = await cpctl(
      socket,
      'config',
      'get',
      'WebSocketPingInterval',
      'AuthorizeRemoteTxRequests',
      '--json',
    );
    expect(
      (JSON.parse(named.stdout) as { configurationKey: ConfigEntry[] }).configurationKey.map((e) => e.key),
    ).toEqual(['WebSocketPingInterval', 'AuthorizeRemoteTxRequests']);
  });

  it('raising SecurityProfile cannot be undone: cpctl asks on a terminal, needs --yes elsewhere', async () => {
    const h = await start({ ocpp: { AuthorizationKey: SECRET } });
    await h.booted();
    const socket = h.config.cli.socket;

    const script = await cpctl(socket, 'config', 'set', 'SecurityProfile', '1');
    expectOneLine(
      script,
      EXIT.usage,
      'cpctl: SecurityProfile 0 -> 1 cannot be undone: it can never be lowered again, by the central system or by cpctl; not on a terminal, so add --yes to make the change',
    );
    expect(h.runtime.config.getInt('SecurityProfile')).toBe(0);

    const declined = await cpctlOnTerminal(socket, ['config', 'set', 'SecurityProfile', '1'], 'n');
    expect(declined.transcript).toContain('SecurityProfile 0 -> 1 cannot be undone');
    expect(declined.transcript).toContain('not confirmed, nothing changed');
    expect(declined.code).toBe(EXIT.refused);
    expect(h.runtime.config.getInt('SecurityProfile')).toBe(0);

    const confirmed = await cpctlOnTerminal(socket, ['config', 'set', 'SecurityProfile', '1'], 'y');
    expect(confirmed.transcript).toContain('SecurityProfile = 1: Accepted');
    expect(confirmed.code).toBe(EXIT.ok);
    expect(h.runtime.config.getInt('SecurityProfile')).toBe(1);

    // Nothing to confirm where the daemon refuses anyway: no raise.
    for (const lower of ['0', '1']) {
      expectOneLine(
        await cpctl(socket, 'config', 'set', 'SecurityProfile', lower),
        EXIT.refused,
        'cpctl: SecurityProfile: Rejected (may only be raised: it is 1 now)',
      );
    }
    // --yes makes a raise without asking.
    expectOneLine(
      await cpctl(socket, 'config', 'set', 'SecurityProfile', '2', '--yes'),
      EXIT.refused,
      'SecurityProfile: Rejected (no central-system root certificate installed)',
    );
  });
});

describe('cpctl help and argument errors, as a process', () => {
  it('the table has every command, sim plug among them', () => {
    expect(COMMAND_WORDS).toEqual(
      expect.arrayContaining(['status', 'config set', 'sim plug', 'trace', 'help']),
    );
  });

  it.each(COMMAND_WORDS)(
    'cpctl %s --help: usage, one line of what it does, options; exit 0',
    async (words) => {
      const { code, stdout, stderr } = await cpctl('/nonexistent/cpctl.sock', ...words.split(' '), '--help');
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      const [usage, summary, blank, options] = stdout.split('\n');
      expect(usage).toMatch(new RegExp(`^usage: cpctl ${words}( |$)`));
      expect(summary!.length).toBeGreaterThan(10);
      expect([blank, options]).toEqual(['', 'options:']);
      expect(stdout).toMatch(/^ {2}--socket PATH +the control socket/m);
    },
  );

  it('a group lists its commands; an unknown one is a usage error', async () => {
    const sim = await cpctl('/nonexistent/cpctl.sock', 'sim', '--help');
    expect(sim.code).toBe(0);
    expect(sim.stdout).toMatch(/^usage: cpctl sim <command>/);
    expect(sim.stdout).toMatch(/^ {2}sim lock-fail <connector> on\|off +make the connector lock fail/m);
    expectOneLine(
      await cpctl('/nonexistent/cpctl.sock', 'launch', '--help'),
      EXIT.usage,
      'unknown command "launch"',
    );
  });

  it.each([
    [['reboot'], 'cpctl: unknown command "reboot" (see "cpctl help")'],
    [['sim', 'plug'], 'cpctl: usage: cpctl sim plug <connector>'],
    [['sim', 'plug', 'one'], 'cpctl: connector must be a number, got "one"'],
    [['status', '--verbose'], /^cpctl: Unknown option '--verbose'/],
    [['limits', '1', '--duration'], /^cpctl: Option '--duration <value>' argument missing/],
    [['status', '--yes'], 'cpctl: --yes does not apply to status'],
    [['config', 'get', '--limit', '3'], 'cpctl: --limit does not apply to config get'],
  ])('%j is one line on stderr, exit 64', async (argv, line) => {
    expectOneLine(await cpctl('/nonexistent/cpctl.sock', ...argv), EXIT.usage, line);
  });
});

describe('cpctl exit codes, as a process', () => {
  const start = useHarness();
  let dir: string;
  const servers: Server[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /**
   * A socket where something that is not chargepointd answers every request with `answer`, or
   * never answers; `asked` resolves once a request came.
   */
  async function impostor(answer?: string): Promise<{ path: string; asked: Promise<void> }> {
    dir = mkdtempSync(join(tmpdir(), 'cpctl-exit-'));
    const path = join(dir, 'impostor.sock');
    let heard: () => void = () => {};
    const asked = new Promise<void>((resolve) => {
      heard = resolve;
    });
    const server = createServer((socket) =>
      socket.once('data', () => {
        heard();
        if (answer !== undefined) socket.end(answer);
      }),
    );
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(path, resolve));
    return { path, asked };
  }

  /** How each exit code comes about (the daemon's socket is `socket`), and its line on stderr. */
  const SCENARIOS: Record<number, [(socket: string) => Promise<CpctlResult>, RegExp]> = {
    [EXIT.ok]: [(socket) => cpctl(socket, 'status'), /^$/],
    [EXIT.refused]: [
      (socket) => cpctl(socket, 'config', 'set', 'NumberOfConnectors', '3'),
      /^cpctl: NumberOfConnectors: Rejected \(read-only\)\n$/,
    ],
    [EXIT.usage]: [(socket) => cpctl(socket, 'sim', 'plug'), /^cpctl: usage: cpctl sim plug <connector>\n$/],
    [EXIT.unavailable]: [
      () => cpctl('/nonexistent/cpctl.sock', 'status'),
      /^cpctl: chargepointd is not running/,
    ],
    // An answer cpctl cannot render is its own failure, not the daemon's refusal.
    [EXIT.software]: [
      async () => cpctl((await impostor('{"id":1,"result":null}\n')).path, 'status'),
      /^cpctl: internal error: TypeError/,
    ],
    // The technician's own file, not the daemon, is the problem.
    [EXIT.cannotCreate]: [
      (socket) => cpctl(socket, 'diagnostics', '/nonexistent/dir/bundle.tar.gz'),
      /^cpctl: cannot write \/nonexistent\/dir\/bundle\.tar\.gz: ENOENT/,
    ],
    // The technician's output, not the daemon, is the problem: a file on a full disk.
    [EXIT.ioError]: [
      (socket) =>
        cpctlThrough((argv) => ['sh', '-c', 'exec "$@" >/dev/full', 'sh', ...argv], socket, 'status'),
      /^cpctl: cannot write the output: ENOSPC: no space left on device, write\n$/,
    ],
    [EXIT.protocol]: [
      async () => cpctl((await impostor('hello\n')).path, 'status'),
      /^cpctl: the daemon sent an answer that is not JSON\n$/,
    ],
    // The socket is the daemon's group's (0660): anyone else is refused.
    [EXIT.permission]: [
      (socket) => cpctlRefusedBySocketMode(socket, 'status'),
      /^cpctl: permission denied on the control socket/,
    ],
    // Ctrl-C while waiting for an answer: the shell's code for SIGINT, and no line of cpctl's.
    [EXIT.interrupted]: [
      async () => {
        const { path, asked } = await impostor();
        const run = spawnCpctl(path, ['status']);
        await asked;
        run.child.kill('SIGINT');
        return { code: (await run.exited()) ?? -1, stdout: run.stdout(), stderr: run.stderr() };
      },
      /^$/,
    ],
  };
  /** A silent daemon takes cpctl's whole 30 s timeout: test/unit/cli.test.ts checks that exit. */
  const IN_UNIT_TESTS = [EXIT.timeout];

  it("README's table lists exactly the exit codes cpctl makes", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### cpctl exit codes'));
    const table = section.slice(0, section.indexOf('\n\n', section.indexOf('| exit |')));
    const documented = [...table.matchAll(/^\| (\d+) \|/gm)].map((m) => Number(m[1]));
    expect(documented).toEqual(Object.values(EXIT));
    expect([...Object.keys(SCENARIOS).map(Number), ...IN_UNIT_TESTS].sort((a, b) => a - b)).toEqual(
      Object.values(EXIT),
    );
  });

  it('a reader that stops reading ends cpctl quietly: 0 on stdout (`cpctl trace | head`), its own code on stderr', async () => {
    // Our ends of the pipes closed before cpctl has started: each write it makes there fails with EPIPE.
    const stdoutGone = spawnCpctl('/nonexistent/cpctl.sock', ['help']);
    stdoutGone.child.stdout?.destroy();
    expect(await stdoutGone.exited()).toBe(EXIT.ok);
    expect(stdoutGone.stderr()).toBe('');

    const stderrGone = spawnCpctl('/nonexistent/cpctl.sock', ['status']);
    stderrGone.child.stderr?.destroy();
    expect(await stderrGone.exited()).toBe(EXIT.unavailable);
    expect(stderrGone.stdout()).toBe('');
  });

  it.each(Object.entries(SCENARIOS))(
    'exit %s happens as documented, with one line on stderr',
    async (code, [scenario, stderr]) => {
      const h = await start();
      await h.booted();
      const result = await scenario(h.config.cli.socket);
      expect(result.code).toBe(Number(code));
      expect(result.stderr).toMatch(stderr);
      expect(result.stderr.split('\n').length).toBeLessThanOrEqual(2);
    },
  );
});
