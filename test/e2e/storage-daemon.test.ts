import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DevCsms } from '../csms/server.js';
import { DaemonProcess } from '../support/daemon-process.js';

const CP = 'CP-STORE-01';

describe('chargepointd and its state store', () => {
  let dir: string;
  let csms: DevCsms;
  let url: string;
  const daemons: DaemonProcess[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cp-store-proc-'));
    csms = new DevCsms();
    ({ url } = await csms.start());
  });
  afterEach(async () => {
    for (const daemon of daemons.splice(0)) {
      if (daemon.child.exitCode === null) daemon.child.kill('SIGKILL');
      await daemon.exitCode();
    }
    await csms.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const config = (extra: Record<string, unknown> = {}) => ({
    chargePointId: CP,
    identity: { vendor: 'V', model: 'M' },
    csms: { url, reconnect: { initialSeconds: 0.05, maxSeconds: 0.5 } },
    stateDir: join(dir, 'state'),
    cli: { socket: join(dir, 'cpctl.sock') },
    ...extra,
  });

  function run(sub: string, extra: Record<string, unknown> = {}): DaemonProcess {
    mkdirSync(join(dir, sub), { recursive: true });
    const daemon = DaemonProcess.withConfig(join(dir, sub), config(extra));
    daemons.push(daemon);
    return daemon;
  }

  const fatal = (daemon: DaemonProcess) => daemon.lines.find((l) => l.level === 'fatal');

  it('a second daemon on the same state directory exits 78 (not restarted by systemd) and the first runs on', async () => {
    const first = run('a');
    await csms.waitForCall(CP, 'BootNotification');
    // Its own control socket, so that only the state directory's lock can stop it.
    const second = run('b', { cli: { socket: join(dir, 'other.sock') } });
    expect(await second.exitCode()).toBe(78);
    expect(String(fatal(second)?.err)).toMatch(/chargepoint\.lock/);
    expect(first.child.exitCode).toBeNull();
  });

  it('a state directory it cannot use exits 78, naming the path and the user', async () => {
    writeFileSync(join(dir, 'state'), 'a file where the directory should be');
    const daemon = run('a');
    expect(await daemon.exitCode()).toBe(78);
    expect(String(fatal(daemon)?.err)).toContain(join(dir, 'state'));
    expect(String(fatal(daemon)?.err)).toContain(`user ${userInfo().username}`);
  });

  it('run as another user than the owner of the state directory (what root cannot show): exit 78 naming the path and that user', async () => {
    // As root (the test environment), the daemon is started as nobody on a directory root owns; as
    // any other user, on a directory made inaccessible to that user: the same refusal either way.
    const asRoot = process.getuid?.() === 0;
    chmodSync(dir, 0o755);
    const stateDir = join(dir, 'state');
    mkdirSync(stateDir, { mode: asRoot ? 0o700 : 0o000 });
    const file = join(dir, 'other-user.json');
    writeFileSync(file, JSON.stringify(config()), { mode: 0o644 });
    // The other user must reach the daemon's code: a checkout inside a private (0700) directory,
    // as `mktemp -d` makes, would otherwise stop it before it looks at the store.
    const restore = asRoot ? traversableByOthers(fileURLToPath(new URL('../..', import.meta.url))) : () => {};
    const daemon = DaemonProcess.spawn(['--config', file], asRoot ? { uid: 65534, gid: 65534 } : undefined);
    daemons.push(daemon);
    const code = await daemon.exitCode().finally(restore);
    expect(code).toBe(78);
    const user = asRoot ? 'nobody \\(uid 65534\\)' : userInfo().username;
    expect(String(fatal(daemon)?.err)).toMatch(new RegExp(`${stateDir}.*user ${user}`));
    chmodSync(stateDir, 0o700);
  });

  it('a config file holding the AuthorizationKey that others can read is warned about', async () => {
    mkdirSync(join(dir, 'a'), { recursive: true });
    writeFileSync(join(dir, 'a', 'chargepoint.json'), '', { mode: 0o644 });
    chmodSync(join(dir, 'a', 'chargepoint.json'), 0o644);
    // withConfig rewrites the file in place: the mode stays 0644.
    const daemon = run('a', { ocpp: { AuthorizationKey: '0123456789abcdef0123456789abcdef' } });
    await csms.waitForCall(CP, 'BootNotification');
    const warning = daemon.lines.find((l) => /readable by group or others/.test(String(l.msg)));
    expect(warning).toMatchObject({ configFile: join(dir, 'a', 'chargepoint.json') });
    expect(JSON.stringify(daemon.lines)).not.toContain('0123456789abcdef0123456789abcdef');
  });
});

/** Lets others traverse every directory from `path` up to the root for a while; returns the undo. */
function traversableByOthers(path: string): () => void {
  const changed: Array<[string, number]> = [];
  for (let at = path; ; at = dirname(at)) {
    const mode = statSync(at).mode & 0o7777;
    if ((mode & 0o001) === 0) {
      chmodSync(at, mode | 0o001);
      changed.push([at, mode]);
    }
    if (dirname(at) === at) break;
  }
  return () => {
    for (const [at, mode] of changed) chmodSync(at, mode);
  };
}
