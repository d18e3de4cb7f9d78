import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Pem } from '../csms/certs.js';
import { charging } from '../support/charging.js';
import { cpctl } from '../support/cpctl-process.js';
import { useDaemonEnv } from '../support/daemon-process.js';
import { HttpFileServer, writeTestFile } from '../support/file-servers.js';
import { CP_ID, type Harness, useHarness } from '../support/harness.js';
import { ecCa, ecServerCert, rsaCa } from '../support/pki.js';
import { type Status, statuses } from '../support/status-calls.js';

/** Firmware hooks and signing keys live here for the whole file. */
let scratch: string;
let files: HttpFileServer;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'cp-fw-'));
  files = await HttpFileServer.start();
});

afterAll(async () => {
  await files.close();
  rmSync(scratch, { recursive: true, force: true });
});

/**
 * An install hook that records the image it was given (path and bytes, beside itself) and exits
 * with `exitCode`.
 */
function installHook(name: string, exitCode: number): { argv: string[]; installed: string } {
  const installed = join(scratch, `${name}.installed`);
  const script = join(scratch, `${name}.sh`);
  writeFileSync(
    script,
    `#!/bin/sh\ncp "$1" "${installed}"\necho "$1" > "${installed}.path"\necho "hook says no" >&2\nexit ${exitCode}\n`,
  );
  chmodSync(script, 0o755);
  return { argv: [script], installed };
}

/** An image on the file server: its URL and bytes. */
function image(name: string, bytes = 64 * 1024): { url: string; bytes: Buffer } {
  writeTestFile(files.file(name), bytes);
  return { url: files.url(name), bytes: readFileSync(files.file(name)) };
}

/** Signs a file with openssl (SHA-256): RSA-PSS, RSA PKCS#1 v1.5 or ECDSA as the key says. */
function sign(file: string, keyPem: string, padding: 'pss' | 'pkcs1' | 'ecdsa'): string {
  const key = join(scratch, `key-${padding}.pem`);
  writeFileSync(key, keyPem, { mode: 0o600 });
  const opts = padding === 'pss' ? ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32'] : [];
  return execFileSync('openssl', ['dgst', '-sha256', ...opts, '-sign', key, file]).toString('base64');
}

/** Resolves once `path` holds a whole line (the hook writes it; watched, not polled). */
async function fileWritten(path: string): Promise<void> {
  const watcher = watch(dirname(path));
  try {
    const written = () => existsSync(path) && readFileSync(path, 'utf8').endsWith('\n');
    while (!written()) await once(watcher, 'change');
  } finally {
    watcher.close();
  }
}

/** The statuses alone, in the order they were sent. */
function statusNames(h: Harness, since: number, action = 'FirmwareStatusNotification'): string[] {
  return statuses(h, action, since).map((s) => s.status);
}

async function firmwareStatus(
  h: Harness,
  status: string,
  since: number,
  action = 'FirmwareStatusNotification',
) {
  return h.csms.waitForCall(CP_ID, action, { since, where: (p: Status) => p.status === status });
}

/** An image whose download stops in the middle until released. */
interface HeldImage {
  url: string;
  size: number;
  /** Bytes sent before the server holds the rest back. */
  held: number;
  /** Sends the rest of the body. */
  release(): void;
  close(): Promise<void>;
}

/**
 * One image of `size` bytes on a server of its own that sends the first `held` bytes of the body at
 * once and the rest only after `release()`: a download caught while it runs, as long as a test needs.
 */
async function heldImage(size: number, held: number): Promise<HeldImage> {
  const body = Buffer.alloc(size, 0x5a);
  let release = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-length': size });
    res.write(body.subarray(0, held));
    void released.then(() => res.end(body.subarray(held)));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/held.bin`,
    size,
    held,
    release,
    async close() {
      release();
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

function now(offsetMs = 0): string {
  return new Date(Date.now() + offsetMs).toISOString();
}

type Start = ReturnType<typeof useHarness>;

/** A runtime whose install hook is `installHook(name, exitCode)`. */
async function startWithHook(
  start: Start,
  name: string,
  exitCode: number,
): Promise<{ hook: ReturnType<typeof installHook>; h: Harness }> {
  const hook = installHook(name, exitCode);
  const h = await start({ config: () => ({ firmware: { install: hook.argv } }) });
  return { hook, h };
}

/** Starts the runtime again and waits for it to report the outcome of the last update; its mark. */
async function restartUntilReported(h: Harness): Promise<number> {
  const restarted = h.csms.mark();
  await h.startRuntime();
  const reported = once(h.runtime.firmware, 'reported');
  await h.booted(restarted);
  await reported;
  return restarted;
}

/** The payload of the first SecurityEventNotification of `type` since `since`. */
async function securityEvent(h: Harness, type: string, since: number): Promise<unknown> {
  const event = await h.csms.waitForCall(CP_ID, 'SecurityEventNotification', {
    since,
    where: (p: { type: string }) => p.type === type,
  });
  return event.payload;
}

/**
 * Asks for the firmware status (TriggerMessage: FirmwareStatusNotification; ExtendedTriggerMessage:
 * SignedFirmwareStatusNotification): the answer to the trigger and the status it brought.
 */
async function triggerFirmwareStatus(
  h: Harness,
  trigger: 'TriggerMessage' | 'ExtendedTriggerMessage',
): Promise<{ answer: unknown; sent: unknown }> {
  const since = h.csms.mark();
  const answer = await h.csms.call(CP_ID, trigger, { requestedMessage: 'FirmwareStatusNotification' });
  const action =
    trigger === 'TriggerMessage' ? 'FirmwareStatusNotification' : 'SignedFirmwareStatusNotification';
  return { answer, sent: (await h.csms.waitForCall(CP_ID, action, { since })).payload };
}

describe('Firmware Management: UpdateFirmware (1.6)', () => {
  const start = useHarness();

  it('TC_044_1_CS download and install: Downloading, Downloaded, Installing, the hook, a reboot, then Installed', async () => {
    const { hook, h } = await startWithHook(start, 'tc044-1', 0);
    await h.booted();
    const fw = image('fw-1.0.bin');
    const mark = h.csms.mark();
    expect(await h.csms.call(CP_ID, 'UpdateFirmware', { location: fw.url, retrieveDate: now() })).toEqual({});
    expect(await h.runtime.done).toEqual({ kind: 'reset', type: 'Hard' });
    expect(statusNames(h, mark)).toEqual(['Downloading', 'Downloaded', 'Installing']);
    // The hook got the downloaded image, under the state directory.
    expect(readFileSync(hook.installed)).toEqual(fw.bytes);
    expect(readFileSync(`${hook.installed}.path`, 'utf8').trim()).toBe(
      join(h.stateDir, 'firmware', 'fw-1.0.bin'),
    );
    // What the hook said reached the log, though it succeeded.
    expect(h.sink.lines).toContainEqual(
      expect.objectContaining({
        level: 'info',
        msg: 'firmware install hook succeeded',
        stderr: 'hook says no',
      }),
    );
    // While installing the connectors were Unavailable.
    await h.status(1, 'Unavailable', mark);

    const restarted = await restartUntilReported(h);
    expect(statuses(h, 'FirmwareStatusNotification', restarted)).toEqual([{ status: 'Installed' }]);
    // In the order TC_044_1 recommends: BootNotification, StatusNotification (Available), Installed.
    const order = h.csms.calls(CP_ID, undefined, restarted).map((c) => c.action);
    expect(order.filter((action) => action !== 'SecurityEventNotification')).toEqual([
      'BootNotification',
      'StatusNotification',
      'StatusNotification',
      'StatusNotification',
      'FirmwareStatusNotification',
    ]);
    // After the restart the charger is in service again and the image is gone.
    expect(h.runtime.station.status(1)?.status).toBe('Available');
    expect(readdirSync(join(h.stateDir, 'firmware'))).toEqual([]);
    expect(h.runtime.firmware.current()).toMatchObject({ status: 'Installed', reported: true });
  });

  it('afterInstall "restart" stops like a soft reset (exit 10)', async () => {
    const hook = installHook('restart', 0);
    const h = await start({ config: () => ({ firmware: { install: hook.argv, afterInstall: 'restart' } }) });
    await h.booted();
    const fw = image('fw-restart.bin');
    await h.csms.call(CP_ID, 'UpdateFirmware', { location: fw.url, retrieveDate: now() });
    expect(await h.runtime.done).toEqual({ kind: 'reset', type: 'Soft' });
  });

  it('TC_044_2_CS download failed: a 404 after the retries is DownloadFailed, nothing installed, still Available', async () => {
    const { hook, h } = await startWithHook(start, 'tc044-2', 0);
    await h.booted();
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'UpdateFirmware', {
      location: files.url('download_fail.fwi'),
      retrieveDate: now(),
      retries: 0,
    });
    await firmwareStatus(h, 'DownloadFailed', mark);
    expect(statusNames(h, mark)).toEqual(['Downloading', 'DownloadFailed']);
    expect(existsSync(hook.installed)).toBe(false);
    expect(h.runtime.station.status(1)?.status).toBe('Available');
    expect(h.csms.calls(CP_ID, 'StatusNotification', mark)).toEqual([]);
  });

  it('an image still empty (0 bytes) at the first attempt is retried after retryInterval: the second gets it, Downloaded and installed', async () => {
    const { hook, h } = await startWithHook(start, 'empty-then-published', 0);
    await h.booted();
    const fw = image('fw-late.bin', 0);
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'UpdateFirmware', {
      location: fw.url,
      retrieveDate: now(),
      retries: 2,
      retryInterval: 1,
    });
    // The first attempt found the file empty; the server publishes it while the retry waits.
    const retrying = await h.sink.waitFor(
      (l) => l.msg === 'transfer failed, retrying in 1 s' && l.url === fw.url,
    );
    expect(retrying).toMatchObject({ attempt: 1, of: 3, kind: 'Empty' });
    const published = image('fw-late.bin');
    expect(await h.runtime.done).toEqual({ kind: 'reset', type: 'Hard' });
    expect(statusNames(h, mark)).toEqual(['Downloading', 'Downloaded', 'Installing']);
    expect(readFileSync(hook.installed)).toEqual(published.bytes);
    expect(files.requests.filter((r) => r.path === '/fw-late.bin').map((r) => r.status)).toEqual([200, 200]);
  });

  it('an image that stays empty (0 bytes) is DownloadFailed once every attempt gave nothing: the hook never gets it, still Available', async () => {
    const { hook, h } = await startWithHook(start, 'empty', 0);
    await h.booted();
    const fw = image('fw-empty.bin', 0);
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'UpdateFirmware', {
      location: fw.url,
      retrieveDate: now(),
      retries: 1,
      retryInterval: 1,
    });
    await firmwareStatus(h, 'DownloadFailed', mark);
    expect(statusNames(h, mark)).toEqual(['Downloading', 'DownloadFailed']);
    expect(h.runtime.firmware.current()).toMatchObject({
      status: 'DownloadFailed',
      info: `${fw.url} is empty (0 bytes)`,
    });
    // The retry OCPP's retries asked for: two attempts, a second apart.
    expect(files.requests.filter((r) => r.path === '/fw-empty.bin').map((r) => r.status)).toEqual([200, 200]);
    expect(
      h.sink.find((l) => l.msg === 'transfer failed, retrying in 1 s' && l.url === fw.url),
    ).toMatchObject({ attempt: 1, of: 2, kind: 'Empty' });
    expect(existsSync(hook.installed)).toBe(false);
    expect(readdirSync(join(h.stateDir, 'firmware'))).toEqual([]);
    expect(h.runtime.station.status(1)?.status).toBe('Available');
    expect(h.csms.calls(CP_ID, 'StatusNotification', mark)).toEqual([]);
    expect(h.runtime.link.isOpen).toBe(true);
  });

  it('TC_044_3_CS installation failed: the hook exits non-zero, the old firmware keeps running, connectors Available again', async () => {
    const { h } = await startWithHook(start, 'tc044-3', 1);
    await h.booted();
    const fw = image('fw-bad.bin');
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'UpdateFirmware', { location: fw.url, retrieveDate: now() });
    await firmwareStatus(h, 'InstallationFailed', mark);
    expect(statusNames(h, mark)).toEqual(['Downloading', 'Downloaded', 'Installing', 'InstallationFailed']);
    await h.status(1, 'Unavailable', mark);
    await h.status(1, 'Available', mark);
    await h.status(2, 'Available', mark);
    expect(h.runtime.firmware.current()).toMatchObject({
      status: 'InstallationFailed',
      info: 'install hook exit 1: hook says no',
    });
    expect(readdirSync(join(h.stateDir, 'firmware'))).toEqual([]);
    // Still running: no reset was asked for.
    expect(h.runtime.link.isOpen).toBe(true);
  });

  it('without an install hook installing fails cleanly (InstallationFailed)', async () => {
    const h = await start();
    await h.booted();
    const fw = image('fw-nohook.bin');
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'UpdateFirmware', { location: fw.url, retrieveDate: now() });
    await firmwareStatus(h, 'InstallationFailed', mark);
    expect(h.runtime.firmware.current()?.info).toMatch(/no install hook/);
  });

  it('a retrieveDate in the future waits for it; TriggerMessage reports the real status, Idle when nothing runs', async () => {
    const { h } = await startWithHook(start, 'later', 1);
    await h.booted();
    const trigger = async () => {
      const { answer, sent } = await triggerFirmwareStatus(h, 'TriggerMessage');
      expect(answer).toEqual({ status: 'Accepted' });
      return sent;
    };
    expect(await trigger()).toEqual({ status: 'Idle' });

    const fw = image('fw-later.bin');
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'UpdateFirmware', { location: fw.url, retrieveDate: now(1500) });
    expect(h.runtime.firmware.current()).toMatchObject({ status: 'DownloadScheduled' });
    expect(files.requests.filter((r) => r.path === '/fw-later.bin')).toEqual([]);
    await firmwareStatus(h, 'Downloading', mark);
    await firmwareStatus(h, 'InstallationFailed', mark);
    // The last update failed: nothing runs now, so Idle (1.6: Idle only when not busy).
    expect(await trigger()).toEqual({ status: 'Idle' });
  });

  it("ExtendedTriggerMessage tells a running UpdateFirmware's real status (no requestId), Idle only when nothing runs", async () => {
    const { h } = await startWithHook(start, 'extended', 1);
    await h.booted();
    const trigger = async () => {
      const { answer, sent } = await triggerFirmwareStatus(h, 'ExtendedTriggerMessage');
      expect(answer).toEqual({ status: 'Accepted' });
      return sent;
    };
    expect(await trigger()).toEqual({ status: 'Idle' });

    const later = image('fw-extended-later.bin');
    await h.csms.call(CP_ID, 'UpdateFirmware', { location: later.url, retrieveDate: now(3_600_000) });
    expect(await trigger()).toEqual({ status: 'DownloadScheduled' });

    const held = await heldImage(256 * 1024, 64 * 1024);
    try {
      const mark = h.csms.mark();
      await h.csms.call(CP_ID, 'UpdateFirmware', { location: held.url, retrieveDate: now() });
      await firmwareStatus(h, 'Downloading', mark);
      expect(await trigger()).toEqual({ status: 'Downloading' });
      held.release();
      await firmwareStatus(h, 'InstallationFailed', mark);
    } finally {
      await held.close();
    }
    // The update ended (failed): nothing runs, so Idle.
    expect(await trigger()).toEqual({ status: 'Idle' });
  });

  it('a running transaction is never cut: the install waits for it, new sessions are refused, idle connectors Unavailable', async () => {
    const { hook, h } = await startWithHook(start, 'wait', 0);
    await h.booted();
    const transactionId = await charging(h, 'VALID01', 1);
    const fw = image('fw-wait.bin');
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'UpdateFirmware', { location: fw.url, retrieveDate: now() });
    await firmwareStatus(h, 'Downloaded', mark);
    await h.status(2, 'Unavailable', mark);
    // Connector 1 goes on charging; a session elsewhere is refused.
    expect(h.runtime.station.status(1)?.status).toBe('Charging');
    expect(await h.csms.call(CP_ID, 'RemoteStartTransaction', { idTag: 'VALID02', connectorId: 2 })).toEqual({
      status: 'Rejected',
    });
    expect(statusNames(h, mark)).not.toContain('Installing');
    expect(existsSync(hook.installed)).toBe(false);
    // TriggerMessage gives the real status of the update waiting to install.
    const triggered = await triggerFirmwareStatus(h, 'TriggerMessage');
    expect(triggered.answer).toEqual({ status: 'Accepted' });
    expect(triggered.sent).toEqual({ status: 'Downloaded' });

    const stopped = h.csms.mark();
    expect(await h.csms.call(CP_ID, 'RemoteStopTransaction', { transactionId })).toEqual({
      status: 'Accepted',
    });
    expect(await h.runtime.done).toEqual({ kind: 'reset', type: 'Hard' });
    const installing = await firmwareStatus(h, 'Installing', mark);
    const stop = await h.csms.waitForCall(CP_ID, 'StopTransaction', { since: stopped });
    expect(installing.record.seq).toBeGreaterThan(stop.record.seq);
  });

  it('a rollback outside the daemon (firmware-result.json) turns the pending Installed into InstallationFailed', async () => {
    const { h } = await startWithHook(start, 'rollback', 0);
    await h.booted();
    const fw = image('fw-rollback.bin');
    await h.csms.call(CP_ID, 'UpdateFirmware', { location: fw.url, retrieveDate: now() });
    await h.runtime.done;
    const resultFile = join(h.stateDir, 'firmware-result.json');
    writeFileSync(
      resultFile,
      JSON.stringify({ status: 'InstallationFailed', info: 'did not confirm in time' }),
    );
    const restarted = h.csms.mark();
    await h.startRuntime();
    await once(h.runtime.firmware, 'reported');
    expect(statuses(h, 'FirmwareStatusNotification', restarted)).toEqual([{ status: 'InstallationFailed' }]);
    expect(h.runtime.firmware.current()).toMatchObject({
      status: 'InstallationFailed',
      info: 'did not confirm in time',
      reported: true,
    });
    expect(existsSync(resultFile)).toBe(false);
  });

  it('the same image asked for again during its download: the cancelled download does not get in the way of the new one', async () => {
    const { hook, h } = await startWithHook(start, 'again', 1);
    await h.booted();
    const fw = image('fw-again.bin', 256 * 1024);
    files.knobs.bytesPerSecond = 64 * 1024;
    const mark = h.csms.mark();
    try {
      await h.csms.call(CP_ID, 'UpdateFirmware', { location: fw.url, retrieveDate: now() });
      await firmwareStatus(h, 'Downloading', mark);
    } finally {
      files.knobs.bytesPerSecond = undefined;
    }
    await h.csms.call(CP_ID, 'UpdateFirmware', { location: fw.url, retrieveDate: now() });
    await firmwareStatus(h, 'InstallationFailed', mark);
    expect(statusNames(h, mark)).toEqual([
      'Downloading',
      'Downloading',
      'Downloaded',
      'Installing',
      'InstallationFailed',
    ]);
    expect(readFileSync(hook.installed)).toEqual(fw.bytes);
  });

  it('a stop while the hook runs (a power cut, a crash): InstallationFailed at the next start, the old firmware runs', async () => {
    const pidFile = join(scratch, 'hanging.pid');
    const script = join(scratch, 'hanging.sh');
    writeFileSync(script, `#!/bin/sh\necho $$ > "${pidFile}"\nexec sleep 30\n`);
    chmodSync(script, 0o755);
    const h = await start({ config: () => ({ firmware: { install: [script] } }) });
    await h.booted();
    const fw = image('fw-hanging.bin');
    const mark = h.csms.mark();
    await h.csms.call(CP_ID, 'UpdateFirmware', { location: fw.url, retrieveDate: now() });
    await firmwareStatus(h, 'Installing', mark);
    await fileWritten(pidFile);
    await h.runtime.stop();
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
    const restarted = await restartUntilReported(h);
    expect(statuses(h, 'FirmwareStatusNotification', restarted)).toEqual([{ status: 'InstallationFailed' }]);
    expect(h.runtime.firmware.current()).toMatchObject({ info: 'interrupted while installing' });
    expect(h.runtime.station.status(1)?.status).toBe('Available');
  });

  it('a download scheduled before a stop is carried out after the next start', async () => {
    const { hook, h } = await startWithHook(start, 'resume', 1);
    await h.booted();
    const fw = image('fw-resume.bin');
    await h.csms.call(CP_ID, 'UpdateFirmware', { location: fw.url, retrieveDate: now(1000) });
    expect(h.runtime.firmware.current()).toMatchObject({ status: 'DownloadScheduled' });
    await h.runtime.stop();
    const restarted = h.csms.mark();
    await h.startRuntime();
    await firmwareStatus(h, 'InstallationFailed', restarted);
    expect(statusNames(h, restarted)).toEqual([
      'Downloading',
      'Downloaded',
      'Installing',
      'InstallationFailed',
    ]);
    expect(readFileSync(hook.installed)).toEqual(fw.bytes);
  });

  it("the location's user:password reaches the server, and no log, security event or cpctl output", async () => {
    const { h } = await startWithHook(start, 'secret', 0);
    await h.booted();
    const password = 'fw-s3cret-pw';
    files.knobs.credentials = { user: 'firmware', password };
    try {
      writeTestFile(files.file('fw-secret.bin'), 2048);
      await h.csms.call(CP_ID, 'UpdateFirmware', {
        location: files.url('fw-secret.bin', { user: 'firmware', password }),
        retrieveDate: now(),
      });
      await h.runtime.done;
    } finally {
      files.knobs.credentials = undefined;
    }
    await h.startRuntime();
    const reported = once(h.runtime.firmware, 'reported');
    await h.booted();
    await reported;
    const shown = await cpctl(h.config.cli.socket, 'firmware', '--json');
    expect(JSON.parse(shown.stdout)).toMatchObject({
      status: 'Installed',
      location: files.url('fw-secret.bin'),
    });
    const events = h.runtime.securityEvents.newest(50);
    expect(events.map((e) => e.type)).toContain('FirmwareUpdated');
    expect(JSON.stringify(events)).not.toContain(password);
    expect(JSON.stringify(h.sink.lines)).not.toContain(password);
  });

  it('HTTPS: a file server is trusted through the central-system roots (as well as the system CAs)', async () => {
    const { hook, h } = await startWithHook(start, 'https', 1);
    await h.booted();
    const secure = await HttpFileServer.start({ tls: true });
    try {
      writeTestFile(secure.file('fw-tls.bin'), 4096);
      let mark = h.csms.mark();
      await h.csms.call(CP_ID, 'UpdateFirmware', { location: secure.url('fw-tls.bin'), retrieveDate: now() });
      await firmwareStatus(h, 'DownloadFailed', mark);
      expect(h.runtime.firmware.current()?.info).toMatch(/certificate/i);

      expect(
        await h.csms.call(CP_ID, 'InstallCertificate', {
          certificateType: 'CentralSystemRootCertificate',
          certificate: secure.tls?.ca.cert,
        }),
      ).toEqual({ status: 'Accepted' });
      mark = h.csms.mark();
      await h.csms.call(CP_ID, 'UpdateFirmware', { location: secure.url('fw-tls.bin'), retrieveDate: now() });
      await firmwareStatus(h, 'InstallationFailed', mark);
      expect(readFileSync(hook.installed)).toEqual(readFileSync(secure.file('fw-tls.bin')));
    } finally {
      await secure.close();
    }
  });

  it('firmware.requireSigned: UpdateFirmware is a CALLERROR NotSupported and starts nothing (L01.FR.20)', async () => {
    const h = await start({ config: () => ({ firmware: { requireSigned: true } }) });
    await h.booted();
    const fw = image('fw-unsigned.bin');
    const mark = h.csms.mark();
    await expect(
      h.csms.call(CP_ID, 'UpdateFirmware', { location: fw.url, retrieveDate: now() }),
    ).rejects.toMatchObject({ code: 'NotSupported' });
    expect(h.runtime.firmware.current()).toBeUndefined();
    expect(statuses(h, 'FirmwareStatusNotification', mark)).toEqual([]);
  });
});

describe('Security extension: SignedUpdateFirmware (L01)', () => {
  const start = useHarness();
  let manufacturer: Pem;
  let signer: Pem;

  beforeAll(() => {
    manufacturer = rsaCa({ commonName: 'Manufacturer Root' });
    signer = rsaCa({ commonName: 'Firmware Signer', issuer: manufacturer, ca: false });
  });

  async function withManufacturerRoot(h: Harness, root: Pem = manufacturer): Promise<void> {
    await h.booted();
    expect(
      await h.csms.call(CP_ID, 'InstallCertificate', {
        certificateType: 'ManufacturerRootCertificate',
        certificate: root.cert,
      }),
    ).toEqual({ status: 'Accepted' });
  }

  function signedRequest(
    requestId: number,
    fw: { url: string },
    signature: string,
    signingCertificate = signer.cert,
    extra: Record<string, unknown> = {},
  ) {
    return {
      requestId,
      retries: 0,
      firmware: { location: fw.url, retrieveDateTime: now(), signingCertificate, signature, ...extra },
    };
  }

  it('TC_080_CS secure firmware update: every status with its requestId, SignatureVerified, Installed and FirmwareUpdated after the reboot', async () => {
    const { hook, h } = await startWithHook(start, 'tc080', 0);
    await withManufacturerRoot(h);
    const fw = image('signed-1.bin');
    const mark = h.csms.mark();
    expect(
      await h.csms.call(
        CP_ID,
        'SignedUpdateFirmware',
        signedRequest(41, fw, sign(files.file('signed-1.bin'), signer.key, 'pss')),
      ),
    ).toEqual({ status: 'Accepted' });
    expect(await h.runtime.done).toEqual({ kind: 'reset', type: 'Hard' });
    const restarted = h.csms.mark();
    await h.startRuntime();
    await firmwareStatus(h, 'Installed', restarted, 'SignedFirmwareStatusNotification');
    expect(statuses(h, 'SignedFirmwareStatusNotification', mark)).toEqual(
      ['Downloading', 'Downloaded', 'SignatureVerified', 'Installing', 'Installed'].map((status) => ({
        status,
        requestId: 41,
      })),
    );
    expect(readFileSync(hook.installed)).toEqual(fw.bytes);
    expect(await securityEvent(h, 'FirmwareUpdated', restarted)).toMatchObject({ type: 'FirmwareUpdated' });
    expect(h.csms.calls(CP_ID, 'FirmwareStatusNotification', mark)).toEqual([]);

    // Installed is the last status: an ExtendedTriggerMessage now answers Idle (L01.FR.28).
    const triggered = await triggerFirmwareStatus(h, 'ExtendedTriggerMessage');
    expect(triggered.answer).toEqual({ status: 'Accepted' });
    expect(triggered.sent).toEqual({ status: 'Idle' });
  });

  it('RSA PKCS#1 v1.5 and ECDSA signatures verify too', async () => {
    const h = await start();
    const ecRoot = ecCa('Manufacturer EC Root');
    const ecSigner = ecServerCert(ecRoot);
    await withManufacturerRoot(h);
    expect(
      await h.csms.call(CP_ID, 'InstallCertificate', {
        certificateType: 'ManufacturerRootCertificate',
        certificate: ecRoot.cert,
      }),
    ).toEqual({ status: 'Accepted' });
    for (const [requestId, name, key, cert, padding] of [
      [1, 'pkcs1.bin', signer.key, signer.cert, 'pkcs1'],
      [2, 'ecdsa.bin', ecSigner.key, ecSigner.cert, 'ecdsa'],
    ] as const) {
      const fw = image(name);
      const mark = h.csms.mark();
      await h.csms.call(
        CP_ID,
        'SignedUpdateFirmware',
        signedRequest(requestId, fw, sign(files.file(name), key, padding), cert),
      );
      // No hook: it fails at the install, after the verification.
      await firmwareStatus(h, 'InstallationFailed', mark, 'SignedFirmwareStatusNotification');
      expect(statusNames(h, mark, 'SignedFirmwareStatusNotification')).toContain('SignatureVerified');
    }
  });

  it('TC_081_CS invalid signature: InvalidSignature with the InvalidFirmwareSignature event, nothing installed', async () => {
    const { hook, h } = await startWithHook(start, 'tc081', 0);
    await withManufacturerRoot(h);
    const fw = image('signed-bad.bin');
    const other = image('signed-other.bin', 1000);
    const wrong = sign(files.file('signed-other.bin'), signer.key, 'pss');
    expect(other.bytes.length).toBe(1000);
    const mark = h.csms.mark();
    expect(await h.csms.call(CP_ID, 'SignedUpdateFirmware', signedRequest(7, fw, wrong))).toEqual({
      status: 'Accepted',
    });
    await firmwareStatus(h, 'InvalidSignature', mark, 'SignedFirmwareStatusNotification');
    expect(statuses(h, 'SignedFirmwareStatusNotification', mark)).toEqual(
      ['Downloading', 'Downloaded', 'InvalidSignature'].map((status) => ({ status, requestId: 7 })),
    );
    expect(await securityEvent(h, 'InvalidFirmwareSignature', mark)).toMatchObject({
      type: 'InvalidFirmwareSignature',
    });
    expect(existsSync(hook.installed)).toBe(false);
    expect(readdirSync(join(h.stateDir, 'firmware'))).toEqual([]);

    // The last status is not Installed: ExtendedTriggerMessage repeats it, with the requestId (L01.FR.29).
    expect((await triggerFirmwareStatus(h, 'ExtendedTriggerMessage')).sent).toEqual({
      status: 'InvalidSignature',
      requestId: 7,
    });
  });

  it('an untrusted signing certificate: InvalidCertificate and the InvalidFirmwareSigningCertificate event, no download', async () => {
    const h = await start();
    await withManufacturerRoot(h);
    const stranger = rsaCa({ commonName: 'Someone Else' });
    const strangerSigner = rsaCa({ commonName: 'Not Our Signer', issuer: stranger, ca: false });
    const fw = image('signed-untrusted.bin');
    const mark = h.csms.mark();
    expect(
      await h.csms.call(
        CP_ID,
        'SignedUpdateFirmware',
        signedRequest(
          9,
          fw,
          sign(files.file('signed-untrusted.bin'), strangerSigner.key, 'pss'),
          strangerSigner.cert,
        ),
      ),
    ).toEqual({ status: 'InvalidCertificate' });
    expect(await securityEvent(h, 'InvalidFirmwareSigningCertificate', mark)).toMatchObject({
      type: 'InvalidFirmwareSigningCertificate',
    });
    expect(files.requests.filter((r) => r.path === '/signed-untrusted.bin')).toEqual([]);
    expect(h.runtime.firmware.current()).toBeUndefined();
  });

  it('a new request during a download: AcceptedCanceled, the old download aborted and its file removed', async () => {
    const { hook, h } = await startWithHook(start, 'cancel', 1);
    await withManufacturerRoot(h);
    const slow = image('slow.bin', 256 * 1024);
    files.knobs.bytesPerSecond = 32 * 1024;
    const mark = h.csms.mark();
    await h.csms.call(
      CP_ID,
      'SignedUpdateFirmware',
      signedRequest(1, slow, sign(files.file('slow.bin'), signer.key, 'pss')),
    );
    await firmwareStatus(h, 'Downloading', mark, 'SignedFirmwareStatusNotification');
    files.knobs.bytesPerSecond = undefined;
    const fw = image('replacement.bin');
    expect(
      await h.csms.call(
        CP_ID,
        'SignedUpdateFirmware',
        signedRequest(2, fw, sign(files.file('replacement.bin'), signer.key, 'pss')),
      ),
    ).toEqual({ status: 'AcceptedCanceled' });
    await firmwareStatus(h, 'InstallationFailed', mark, 'SignedFirmwareStatusNotification');
    const sent = statuses(h, 'SignedFirmwareStatusNotification', mark);
    expect(sent.filter((s) => s.requestId === 1)).toEqual([{ status: 'Downloading', requestId: 1 }]);
    expect(sent.filter((s) => s.requestId === 2).map((s) => s.status)).toEqual([
      'Downloading',
      'Downloaded',
      'SignatureVerified',
      'Installing',
      'InstallationFailed',
    ]);
    expect(readFileSync(hook.installed)).toEqual(fw.bytes);
    expect(readdirSync(join(h.stateDir, 'firmware'))).toEqual([]);
  });

  it('installDateTime in the future: InstallScheduled, the install waits for it', async () => {
    const { h } = await startWithHook(start, 'scheduled', 1);
    await withManufacturerRoot(h);
    const fw = image('scheduled.bin');
    const mark = h.csms.mark();
    const installAt = Date.now() + 1500;
    await h.csms.call(
      CP_ID,
      'SignedUpdateFirmware',
      signedRequest(3, fw, sign(files.file('scheduled.bin'), signer.key, 'pss'), signer.cert, {
        installDateTime: new Date(installAt).toISOString(),
      }),
    );
    await firmwareStatus(h, 'InstallScheduled', mark, 'SignedFirmwareStatusNotification');
    expect((await triggerFirmwareStatus(h, 'ExtendedTriggerMessage')).sent).toEqual({
      status: 'InstallScheduled',
      requestId: 3,
    });
    const installing = await firmwareStatus(h, 'Installing', mark, 'SignedFirmwareStatusNotification');
    expect(installing.record.at).toBeGreaterThanOrEqual(installAt - 50);
  });
});

describe('cpctl firmware', () => {
  const start = useHarness();

  it('firmware install <file>: copied under the state directory, installed by the hook, reported; firmware shows the result', async () => {
    const { hook, h } = await startWithHook(start, 'usb', 0);
    await h.booted();
    const socket = h.config.cli.socket;
    const idle = await cpctl(socket, 'firmware');
    expect(idle.code).toBe(0);
    expect(idle.stdout).toMatch(/^status +Idle$/m);
    expect(idle.stdout).toMatch(/^install hook +configured$/m);

    const usb = join(scratch, 'usb-stick.img');
    writeTestFile(usb, 4096);
    const mark = h.csms.mark();
    const installed = await cpctl(socket, 'firmware', 'install', usb);
    expect(installed).toMatchObject({ code: 0 });
    expect(installed.stdout).toContain(`installing ${usb}`);
    expect(await h.runtime.done).toEqual({ kind: 'reset', type: 'Hard' });
    expect(readFileSync(hook.installed)).toEqual(readFileSync(usb));
    expect(readFileSync(`${hook.installed}.path`, 'utf8').trim()).toBe(
      join(h.stateDir, 'firmware', 'usb-stick.img'),
    );
    expect(statusNames(h, mark)).toEqual(['Downloaded', 'Installing']);

    const restarted = await restartUntilReported(h);
    expect(statuses(h, 'FirmwareStatusNotification', restarted)).toEqual([{ status: 'Installed' }]);
    const after = await cpctl(socket, 'firmware', '--json');
    expect(JSON.parse(after.stdout)).toMatchObject({
      status: 'Installed',
      busy: false,
      source: 'local',
      location: usb,
      reported: true,
      installHook: true,
      requireSigned: false,
    });
  });

  it('firmware install of an empty file: DownloadFailed, the hook never runs', async () => {
    const { hook, h } = await startWithHook(start, 'usb-empty', 0);
    await h.booted();
    const usb = join(scratch, 'empty-usb.img');
    writeFileSync(usb, '');
    const mark = h.csms.mark();
    expect(await cpctl(h.config.cli.socket, 'firmware', 'install', usb)).toMatchObject({ code: 0 });
    await firmwareStatus(h, 'DownloadFailed', mark);
    expect(h.runtime.firmware.current()).toMatchObject({
      status: 'DownloadFailed',
      info: `the image from ${usb} is empty (0 bytes)`,
    });
    expect(existsSync(hook.installed)).toBe(false);
    expect(readdirSync(join(h.stateDir, 'firmware'))).toEqual([]);
  });

  it('firmware --json shows the bytes downloaded so far of a running download, and their total', async () => {
    const { h } = await startWithHook(start, 'progress', 1);
    await h.booted();
    const socket = h.config.cli.socket;
    const held = await heldImage(512 * 1024, 128 * 1024);
    try {
      const mark = h.csms.mark();
      await h.csms.call(CP_ID, 'UpdateFirmware', { location: held.url, retrieveDate: now() });
      await firmwareStatus(h, 'Downloading', mark);
      // The held bytes have reached the image's part file.
      await vi.waitFor(() => expect(h.runtime.firmware.progress()?.bytes).toBe(held.held), {
        timeout: 10_000,
      });
      const during = await cpctl(socket, 'firmware', '--json');
      expect(during.code).toBe(0);
      expect(JSON.parse(during.stdout)).toMatchObject({
        status: 'Downloading',
        busy: true,
        location: held.url,
        progress: { bytes: held.held, total: held.size },
      });
      const shown = await cpctl(socket, 'firmware');
      expect(shown.stdout).toMatch(/^progress +131072 of 524288 bytes \(25 %\)$/m);
      held.release();
      await firmwareStatus(h, 'InstallationFailed', mark);
    } finally {
      await held.close();
    }
    const after = JSON.parse((await cpctl(socket, 'firmware', '--json')).stdout) as Record<string, unknown>;
    expect(after).toMatchObject({ status: 'InstallationFailed', busy: false });
    expect(after).not.toHaveProperty('progress');
  });

  it('with firmware.requireSigned an unsigned file is refused; signed with a trusted certificate it is verified', async () => {
    const h = await start({ config: () => ({ firmware: { requireSigned: true } }) });
    await h.booted();
    const manufacturer = rsaCa({ commonName: 'Manufacturer Root' });
    const signer = rsaCa({ commonName: 'Firmware Signer', issuer: manufacturer, ca: false });
    await h.csms.call(CP_ID, 'InstallCertificate', {
      certificateType: 'ManufacturerRootCertificate',
      certificate: manufacturer.cert,
    });
    const socket = h.config.cli.socket;
    const usb = join(scratch, 'signed-usb.img');
    writeTestFile(usb, 4096);

    const unsigned = await cpctl(socket, 'firmware', 'install', usb);
    expect(unsigned.code).toBe(1);
    expect(unsigned.stderr).toContain('firmware install refused (Rejected): firmware.requireSigned');
    expect(h.runtime.firmware.current()).toBeUndefined();

    const signature = join(scratch, 'signed-usb.sig');
    writeFileSync(signature, Buffer.from(sign(usb, signer.key, 'pss'), 'base64'));
    const certificate = join(scratch, 'signer.pem');
    writeFileSync(certificate, signer.cert);
    const installSigned = (file: string) =>
      cpctl(socket, 'firmware', 'install', file, '--signature', signature, '--certificate', certificate);
    const mark = h.csms.mark();
    const signed = await installSigned(usb);
    expect(signed.code).toBe(0);
    await firmwareStatus(h, 'InstallationFailed', mark);
    // No hook here: verified, then the install fails cleanly.
    expect(h.runtime.firmware.current()).toMatchObject({ source: 'local', status: 'InstallationFailed' });
    expect(h.runtime.securityEvents.newest(50).map((e) => e.type)).not.toContain('InvalidFirmwareSignature');

    const tampered = join(scratch, 'tampered-usb.img');
    writeTestFile(tampered, 4000);
    const next = h.csms.mark();
    expect((await installSigned(tampered)).code).toBe(0);
    await firmwareStatus(h, 'InstallationFailed', next);
    expect(h.runtime.firmware.current()).toMatchObject({ status: 'InvalidSignature' });
  });
});

describe('chargepointd as a process', () => {
  const env = useDaemonEnv('cp-fw-daemon-', 'CP-FW-DAEMON');

  it('the install hook exits 0: the daemon exits 11 (reboot), and reports Installed from its next start', async () => {
    const { csms, chargePointId: cp } = env();
    const hook = installHook('daemon', 0);
    const config = env().daemonConfig({ firmware: { install: hook.argv } });
    let daemon = env().spawn(config);
    await csms.waitForCall(cp, 'BootNotification');
    const fw = image('fw-daemon.bin');
    const mark = csms.mark();
    await csms.call(cp, 'UpdateFirmware', { location: fw.url, retrieveDate: now() });
    expect(await daemon.exitCode()).toBe(11);
    expect(readFileSync(hook.installed)).toEqual(fw.bytes);

    const restarted = csms.mark();
    daemon = env().spawn(config);
    await csms.waitForCall(cp, 'FirmwareStatusNotification', {
      since: restarted,
      where: (p: Status) => p.status === 'Installed',
    });
    expect(
      csms.calls(cp, 'FirmwareStatusNotification', mark).map((c) => (c.payload as Status).status),
    ).toEqual(['Downloading', 'Downloaded', 'Installing', 'Installed']);
    daemon.child.kill('SIGTERM');
    expect(await daemon.exitCode()).toBe(0);
  });
});
