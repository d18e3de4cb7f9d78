import { once } from 'node:events';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ClientOptions, WebSocket } from 'ws';
import { AuthorizeAnswers } from '../csms/authorize.js';
import { createCa, createClientCert, createServerCert, type Pem } from '../csms/certs.js';
import { CsmsCommands } from '../csms/commands.js';
import { listenForCommands, sendCommand } from '../csms/control.js';
import { RequestSchemas } from '../csms/schemas.js';
import { CallError, type CsmsOptions, DevCsms, parseMessage } from '../csms/server.js';

// A bare `ws` client stands in for the charge point, so these tests exercise only the central system.

let csms: DevCsms | undefined;

afterEach(async () => {
  await csms?.stop();
  csms = undefined;
});

async function startCsms(opts: CsmsOptions = {}): Promise<{ server: DevCsms; url: string }> {
  csms = new DevCsms(opts);
  const { url } = await csms.start();
  return { server: csms, url };
}

class Refused extends Error {
  constructor(readonly status: number) {
    super(`upgrade refused with ${status}`);
  }
}

function connect(url: string, opts: ClientOptions & { protocols?: string[] } = {}): Promise<WebSocket> {
  const { protocols = ['ocpp1.6'], ...rest } = opts;
  const ws = new WebSocket(url, protocols, rest);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      reject(new Refused(res.statusCode ?? 0));
      res.resume();
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

function nextMessage(ws: WebSocket): Promise<unknown[]> {
  return once(ws, 'message').then(([data]) => JSON.parse(String(data)) as unknown[]);
}

let ids = 0;
/** Sends a CALL from the client and returns the CSMS's answer frame. */
async function cpCall(ws: WebSocket, action: string, payload: unknown): Promise<unknown[]> {
  const id = `c${++ids}`;
  const answer = new Promise<unknown[]>((resolve) => {
    const onMessage = (data: unknown) => {
      const frame = JSON.parse(String(data)) as unknown[];
      if (frame[1] !== id) return;
      ws.off('message', onMessage);
      resolve(frame);
    };
    ws.on('message', onMessage);
  });
  ws.send(JSON.stringify([2, id, action, payload]));
  return answer;
}

const boot = { chargePointVendor: 'Acme', chargePointModel: 'X1' };

describe('DevCsms handshake', () => {
  it('accepts ocpp1.6 at <path>/<id> and records the handshake', async () => {
    const { server, url } = await startCsms();
    expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/ocpp$/);
    const connected = server.waitForConnection('CP 1');
    const ws = await connect(`${url}/CP%201`);
    expect(ws.protocol).toBe('ocpp1.6');
    const info = await connected;
    expect(info.chargePointId).toBe('CP 1');
    expect(info.path).toBe('/ocpp/CP%201');
    expect(info.subprotocols).toEqual(['ocpp1.6']);
    expect(info.tls).toBeUndefined();
    expect(server.isConnected('CP 1')).toBe(true);
    ws.close();
  });

  it('refuses a missing ocpp1.6 subprotocol with 400 and a wrong path with 404', async () => {
    const { server, url } = await startCsms();
    await expect(connect(`${url}/CP1`, { protocols: ['ocpp2.0.1'] })).rejects.toMatchObject({ status: 400 });
    await expect(connect(`${url.replace('/ocpp', '/other')}/CP1`)).rejects.toMatchObject({ status: 404 });
    await expect(connect(url)).rejects.toMatchObject({ status: 404 });
    expect(server.handshakes.map((h) => h.refusedStatus)).toEqual([400, 404, 404]);
    expect(server.isConnected('CP1')).toBe(false);
  });

  it('checks Basic auth when configured: right credentials in, wrong or missing ones 401', async () => {
    const { server, url } = await startCsms({ basicAuth: { CP1: 'secret-password-16' } });
    const basic = (user: string, password: string | Buffer) =>
      `Basic ${Buffer.concat([Buffer.from(`${user}:`), Buffer.from(password)]).toString('base64')}`;

    await expect(connect(`${url}/CP1`)).rejects.toMatchObject({ status: 401 });
    await expect(
      connect(`${url}/CP1`, { headers: { Authorization: basic('CP1', 'wrong') } }),
    ).rejects.toMatchObject({ status: 401 });
    await expect(
      connect(`${url}/CP1`, { headers: { Authorization: basic('CP2', 'secret-password-16') } }),
    ).rejects.toMatchObject({ status: 401 });
    const ws = await connect(`${url}/CP1`, {
      headers: { Authorization: basic('CP1', 'secret-password-16') },
    });
    const info = await server.waitForConnection('CP1');
    expect(info.basicAuth).toEqual({
      user: 'CP1',
      password: 'secret-password-16',
      passwordHex: Buffer.from('secret-password-16').toString('hex'),
    });
    ws.close();
  });

  it('keeps a password that is not UTF-8 as latin1 text and exact hex', async () => {
    const { server, url } = await startCsms();
    const bytes = Buffer.from([0x4f, 0xff, 0x00, 0xe9]);
    const header = `Basic ${Buffer.concat([Buffer.from('CP1:'), bytes]).toString('base64')}`;
    const ws = await connect(`${url}/CP1`, { headers: { Authorization: header } });
    const info = await server.waitForConnection('CP1');
    expect(info.basicAuth?.password).toBe(bytes.toString('latin1'));
    expect(info.basicAuth?.passwordHex).toBe('4fff00e9');
    ws.close();
  });

  it('lets acceptConnection refuse with a status of its choosing', async () => {
    const { server, url } = await startCsms({
      rules: { acceptConnection: (info) => (info.chargePointId === 'bad' ? 418 : true) },
    });
    const refused = once(server, 'refused');
    await expect(connect(`${url}/bad`)).rejects.toMatchObject({ status: 418 });
    expect((await refused)[0]).toMatchObject({ chargePointId: 'bad', refusedStatus: 418 });
    (await connect(`${url}/good`)).close();
  });

  it('refuses every upgrade while refuseConnections(true), and accepts again after', async () => {
    const { server, url } = await startCsms();
    server.refuseConnections(true);
    await expect(connect(`${url}/CP1`)).rejects.toMatchObject({ status: 503 });
    server.refuseConnections(true, 500);
    await expect(connect(`${url}/CP1`)).rejects.toMatchObject({ status: 500 });
    server.refuseConnections(false);
    const ws = await connect(`${url}/CP1`);
    expect(server.isConnected('CP1')).toBe(true);
    ws.close();
  });

  it('replaces an older connection of the same charge point', async () => {
    const { server, url } = await startCsms();
    const first = await connect(`${url}/CP1`);
    const firstClosed = once(first, 'close');
    const second = await connect(`${url}/CP1`);
    expect(Number((await firstClosed)[0])).toBe(1000);
    expect(server.isConnected('CP1')).toBe(true);
    const answered = nextMessage(second);
    const result = server.call('CP1', 'ClearCache', {});
    const [, id] = await answered;
    second.send(JSON.stringify([3, id, { status: 'Accepted' }]));
    await expect(result).resolves.toEqual({ status: 'Accepted' });
    second.close();
  });
});

describe('DevCsms answers to charge-point CALLs', () => {
  it('answers BootNotification per the boot rule and the boot count', async () => {
    const { server, url } = await startCsms({
      rules: {
        boot: (_req, count) =>
          count === 1
            ? { status: 'Rejected', interval: 5 }
            : count === 2
              ? { status: 'Pending', interval: 7 }
              : { status: 'Accepted', interval: 60 },
        heartbeatCurrentTime: () => '2030-01-01T00:00:00.000Z',
      },
    });
    const ws = await connect(`${url}/CP1`);
    expect(await cpCall(ws, 'BootNotification', boot)).toMatchObject([
      3,
      expect.any(String),
      { status: 'Rejected', interval: 5, currentTime: '2030-01-01T00:00:00.000Z' },
    ]);
    expect((await cpCall(ws, 'BootNotification', boot))[2]).toMatchObject({ status: 'Pending', interval: 7 });
    expect((await cpCall(ws, 'BootNotification', boot))[2]).toMatchObject({
      status: 'Accepted',
      interval: 60,
    });
    server.rules.boot = { status: 'Pending', interval: 1 };
    expect((await cpCall(ws, 'BootNotification', boot))[2]).toMatchObject({ status: 'Pending', interval: 1 });
    expect((await cpCall(ws, 'Heartbeat', {}))[2]).toEqual({ currentTime: '2030-01-01T00:00:00.000Z' });
    ws.close();
  });

  it('defaults to Accepted with interval 300', async () => {
    const { url } = await startCsms();
    const ws = await connect(`${url}/CP1`);
    const [, , payload] = await cpCall(ws, 'BootNotification', boot);
    expect(payload).toMatchObject({ status: 'Accepted', interval: 300 });
    expect(Number.isNaN(Date.parse((payload as { currentTime: string }).currentTime))).toBe(false);
    ws.close();
  });

  it('authorizes per rule, numbers transactions, and answers the other CP messages', async () => {
    const { url } = await startCsms({
      rules: {
        authorize: (idTag) =>
          idTag === 'BAD' ? { status: 'Invalid' } : { status: 'Accepted', parentIdTag: 'P' },
      },
    });
    const ws = await connect(`${url}/CP1`);
    expect((await cpCall(ws, 'Authorize', { idTag: 'BAD' }))[2]).toEqual({
      idTagInfo: { status: 'Invalid' },
    });
    expect((await cpCall(ws, 'Authorize', { idTag: 'OK' }))[2]).toEqual({
      idTagInfo: { status: 'Accepted', parentIdTag: 'P' },
    });
    const start = { connectorId: 1, idTag: 'OK', meterStart: 0, timestamp: new Date().toISOString() };
    const tx1 = (await cpCall(ws, 'StartTransaction', start))[2] as { transactionId: number };
    const tx2 = (await cpCall(ws, 'StartTransaction', { ...start, idTag: 'BAD' }))[2] as Record<
      string,
      unknown
    >;
    expect(tx2).toEqual({ transactionId: tx1.transactionId + 1, idTagInfo: { status: 'Invalid' } });
    const stop = { transactionId: 1, meterStop: 10, timestamp: new Date().toISOString() };
    expect((await cpCall(ws, 'StopTransaction', stop))[2]).toEqual({});
    expect((await cpCall(ws, 'StopTransaction', { ...stop, idTag: 'BAD' }))[2]).toEqual({
      idTagInfo: { status: 'Invalid' },
    });
    expect((await cpCall(ws, 'DataTransfer', { vendorId: 'x' }))[2]).toEqual({ status: 'UnknownVendorId' });
    expect((await cpCall(ws, 'SignCertificate', { csr: 'x' }))[2]).toEqual({ status: 'Accepted' });
    for (const action of [
      'StatusNotification',
      'MeterValues',
      'SecurityEventNotification',
      'LogStatusNotification',
    ]) {
      expect(await cpCall(ws, action, {})).toEqual([3, expect.any(String), {}]);
    }
    expect(await cpCall(ws, 'FancyNewThing', {})).toEqual([
      4,
      expect.any(String),
      'NotImplemented',
      expect.any(String),
      {},
    ]);
    ws.close();
  });

  it('lets onCall override an answer, answer with a CALLERROR, or stay silent', async () => {
    const { url } = await startCsms({
      rules: {
        onCall: (_cp, action) => {
          if (action === 'DataTransfer') return { status: 'Accepted', data: 'hi' };
          if (action === 'MeterValues') return { callError: { code: 'InternalError', description: 'boom' } };
          if (action === 'StatusNotification') return 'ignore';
          return undefined;
        },
      },
    });
    const ws = await connect(`${url}/CP1`);
    expect((await cpCall(ws, 'DataTransfer', { vendorId: 'x' }))[2]).toEqual({
      status: 'Accepted',
      data: 'hi',
    });
    expect(await cpCall(ws, 'MeterValues', {})).toEqual([4, expect.any(String), 'InternalError', 'boom', {}]);
    const seen: unknown[][] = [];
    ws.on('message', (data) => seen.push(JSON.parse(String(data)) as unknown[]));
    ws.send(JSON.stringify([2, 'ignored-1', 'StatusNotification', {}]));
    // Frames arrive in order, so once the Heartbeat is answered an answer to the ignored CALL would be here.
    await cpCall(ws, 'Heartbeat', {});
    expect(seen.map((f) => f[1])).not.toContain('ignored-1');
    expect(seen).toHaveLength(1);
    ws.close();
  });
});

describe('DevCsms scripting', () => {
  it('call() resolves with the CALLRESULT and rejects with a CallError on CALLERROR', async () => {
    const { server, url } = await startCsms();
    const ws = await connect(`${url}/CP1`);
    ws.on('message', (data) => {
      const [type, id, action] = JSON.parse(String(data)) as [number, string, string];
      if (type !== 2) return;
      if (action === 'Reset') ws.send(JSON.stringify([3, id, { status: 'Accepted' }]));
      else ws.send(JSON.stringify([4, id, 'NotSupported', 'no such thing', { why: 1 }]));
    });
    await expect(server.call('CP1', 'Reset', { type: 'Soft' })).resolves.toEqual({ status: 'Accepted' });
    const failure = server.call('CP1', 'UnlockConnector', { connectorId: 1 });
    await expect(failure).rejects.toBeInstanceOf(CallError);
    await expect(failure).rejects.toMatchObject({
      code: 'NotSupported',
      description: 'no such thing',
      details: { why: 1 },
    });
    const sent = server.frames.filter((f) => f.direction === 'out').map((f) => f.message);
    expect(sent[0]).toMatchObject({ type: 'call', action: 'Reset', payload: { type: 'Soft' } });
    ws.close();
  });

  it('call() times out naming the action, and fails at once when the CP is not connected', async () => {
    const { server, url } = await startCsms();
    const ws = await connect(`${url}/CP1`);
    await expect(server.call('CP1', 'Reset', { type: 'Hard' }, { timeoutMs: 30 })).rejects.toThrow(
      /CALL Reset/,
    );
    await expect(server.call('CP9', 'Reset', {})).rejects.toThrow(/CP9 is not connected/);
    ws.close();
  });

  it('call() rejects when the connection closes before the answer', async () => {
    const { server, url } = await startCsms();
    const ws = await connect(`${url}/CP1`);
    const pending = server.call('CP1', 'Reset', { type: 'Hard' });
    await nextMessage(ws);
    ws.close();
    await expect(pending).rejects.toThrow(/closed/);
  });

  it('waitForCall with since waits for a CALL recorded after the mark, filtered by where', async () => {
    const { server, url } = await startCsms();
    const ws = await connect(`${url}/CP1`);
    const old = await cpCall(ws, 'StatusNotification', {
      connectorId: 1,
      status: 'Available',
      errorCode: 'NoError',
    });
    await expect(server.waitForCall('CP1', 'StatusNotification')).resolves.toMatchObject({ id: old[1] });

    const mark = server.mark();
    const waiting = server.waitForCall('CP1', 'StatusNotification', {
      since: mark,
      where: (p) => p.status === 'Charging',
    });
    const anyNew = server.waitForCall('CP1', 'StatusNotification', { since: mark });
    const preparing = await cpCall(ws, 'StatusNotification', {
      connectorId: 1,
      status: 'Preparing',
      errorCode: 'NoError',
    });
    await expect(anyNew).resolves.toMatchObject({ id: preparing[1] });
    const charging = await cpCall(ws, 'StatusNotification', {
      connectorId: 1,
      status: 'Charging',
      errorCode: 'NoError',
    });
    const found = await waiting;
    expect(found.id).toBe(charging[1]);
    expect(found.record.seq).toBeGreaterThan(mark);
    expect(server.calls('CP1', 'StatusNotification').map((c) => c.id)).toHaveLength(3);
    expect(server.calls('CP1', undefined, mark)).toHaveLength(2);
    ws.close();
  });

  it('waiters time out with an error naming what they waited for', async () => {
    const { server } = await startCsms();
    await expect(server.waitForCall('CP1', 'Heartbeat', { timeoutMs: 20 })).rejects.toThrow(
      /timed out after 20 ms waiting for CALL Heartbeat from\/to CP1/,
    );
    await expect(server.waitForConnection('CP1', { timeoutMs: 20 })).rejects.toThrow(/connection of CP1/);
  });

  it('records every frame in and out, and sendRaw sends text as it is', async () => {
    const { server, url } = await startCsms();
    const ws = await connect(`${url}/CP1`);
    await cpCall(ws, 'Heartbeat', {});
    const arrived = once(ws, 'message');
    server.sendRaw('CP1', '[2,"x","Reset",');
    expect(String((await arrived)[0])).toBe('[2,"x","Reset",');
    expect(server.frames.map((f) => [f.direction, f.message?.type])).toEqual([
      ['in', 'call'],
      ['out', 'result'],
      ['out', undefined],
    ]);
    expect(server.frames.map((f) => f.seq)).toEqual([1, 2, 3]);
    server.clearFrames();
    expect(server.frames).toEqual([]);
    expect(server.mark()).toBe(3);
    ws.close();
  });

  it('keeps only the newest maxFrames frames, a ring for a central system that runs for days', async () => {
    const { server, url } = await startCsms({ maxFrames: 3 });
    const ws = await connect(`${url}/CP1`);
    for (let i = 0; i < 3; i++) await cpCall(ws, 'Heartbeat', {});
    expect(server.frames.map((f) => [f.seq, f.direction])).toEqual([
      [4, 'out'],
      [5, 'in'],
      [6, 'out'],
    ]);
    // Waiters still find what came after a mark once older frames are gone.
    const next = server.waitForCall('CP1', 'Heartbeat', { since: server.mark() });
    await cpCall(ws, 'Heartbeat', {});
    expect((await next).record.seq).toBe(7);
    expect(server.frames.map((f) => f.seq)).toEqual([6, 7, 8]);
    ws.close();
  });

  it('dropConnection closes with the given code; the CP can reconnect', async () => {
    const { server, url } = await startCsms();
    const ws = await connect(`${url}/CP1`);
    const closed = once(ws, 'close');
    const closeEvent = once(server, 'close');
    server.dropConnection('CP1', 4001);
    expect(server.isConnected('CP1')).toBe(false);
    expect(Number((await closed)[0])).toBe(4001);
    expect((await closeEvent)[0]).toBe('CP1');
    const again = server.waitForConnection('CP1');
    const ws2 = await connect(`${url}/CP1`);
    await expect(again).resolves.toMatchObject({ chargePointId: 'CP1' });
    ws2.close();
  });

  it('terminateConnection kills the TCP connection without a close frame', async () => {
    const { server, url } = await startCsms();
    const ws = await connect(`${url}/CP1`);
    const closed = once(ws, 'close');
    server.terminateConnection('CP1');
    expect(Number((await closed)[0])).toBe(1006);
    await server.waitForDisconnect('CP1');
  });

  it('answers pings by default and leaves them unanswered after setPongEnabled(false)', async () => {
    const { server, url } = await startCsms();
    const ws = await connect(`${url}/CP1`);
    const pongs: string[] = [];
    ws.on('pong', (data) => pongs.push(data.toString()));

    ws.ping('one');
    // A pong is sent before the answer to a later CALL, so after that answer it has arrived if it ever will.
    await cpCall(ws, 'Heartbeat', {});
    expect(pongs).toEqual(['one']);

    server.setPongEnabled(false);
    const pinged = once(server, 'ping');
    ws.ping('two');
    expect((await pinged)[0]).toBe('CP1');
    await cpCall(ws, 'Heartbeat', {});
    expect(pongs).toEqual(['one']);
    ws.close();
  });

  it('stop() closes the sockets with 1001 and rejects waiters', async () => {
    const { server, url } = await startCsms();
    const ws = await connect(`${url}/CP1`);
    const closed = once(ws, 'close');
    const waiting = expect(server.waitForCall('CP1', 'Heartbeat')).rejects.toThrow(/stopped/);
    await server.stop();
    csms = undefined;
    expect(Number((await closed)[0])).toBe(1001);
    await waiting;
  });

  it('parseMessage accepts only well-formed OCPP-J frames', () => {
    expect(parseMessage('[2,"1","Heartbeat",{}]')).toEqual({
      type: 'call',
      id: '1',
      action: 'Heartbeat',
      payload: {},
    });
    expect(parseMessage('[3,"1",{"a":1}]')).toEqual({ type: 'result', id: '1', payload: { a: 1 } });
    expect(parseMessage('[4,"1","GenericError","d",{}]')).toMatchObject({
      type: 'error',
      code: 'GenericError',
    });
    for (const bad of [
      '',
      '{}',
      '[2,1,"Heartbeat",{}]',
      '[2,"1","Heartbeat"]',
      '[5,"1",{}]',
      '[4,"1","X",{}]',
    ]) {
      expect(parseMessage(bad)).toBeUndefined();
    }
  });
});

describe('DevCsms over TLS', () => {
  let ca: Pem;
  let serverPem: Pem;
  let clientPem: Pem;

  beforeAll(() => {
    ca = createCa();
    serverPem = createServerCert(ca);
    clientPem = createClientCert(ca, { commonName: 'SN-0001', organization: 'Test CPO' });
  });

  it('serves wss with a server cert the client verifies against the generated CA', async () => {
    const { server, url } = await startCsms({ tls: { ...serverPem } });
    expect(url).toMatch(/^wss:\/\//);
    await expect(connect(`${url}/CP1`)).rejects.toThrow(/certificate/);
    const ws = await connect(`${url}/CP1`, { ca: ca.cert });
    const info = await server.waitForConnection('CP1');
    expect(['TLSv1.2', 'TLSv1.3']).toContain(info.tls?.protocol);
    expect(info.tls?.cipher.name).toMatch(/\w/);
    expect(info.tls?.peerCertificate).toBeUndefined();
    ws.close();
  });

  it('records the negotiated protocol and cipher when limited to TLS 1.2', async () => {
    const { server, url } = await startCsms({
      tls: { ...serverPem, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES256-GCM-SHA384' },
    });
    const ws = await connect(`${url}/CP1`, { ca: ca.cert });
    const info = await server.waitForConnection('CP1');
    expect(info.tls?.protocol).toBe('TLSv1.2');
    expect(info.tls?.cipher.standardName).toBe('TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384');
    ws.close();
  });

  it('a certificate for another host is refused by the verifying client', async () => {
    const wrongHost = createServerCert(ca, {
      commonName: 'csms.example.com',
      altNames: ['csms.example.com'],
    });
    const { url } = await startCsms({ tls: { ...wrongHost } });
    await expect(connect(`${url}/CP1`, { ca: ca.cert })).rejects.toThrow(/altnames|Hostname/i);
  });

  it('an expired certificate is refused by the verifying client', async () => {
    const day = 24 * 3600 * 1000;
    const expired = createServerCert(ca, {
      notBefore: new Date(Date.now() - 10 * day),
      notAfter: new Date(Date.now() - day),
    });
    const { url } = await startCsms({ tls: { ...expired } });
    await expect(connect(`${url}/CP1`, { ca: ca.cert })).rejects.toThrow(/expired/);
  });

  it('records the client certificate when requestCert is set (security profile 3)', async () => {
    const { server, url } = await startCsms({ tls: { ...serverPem, ca: ca.cert, requestCert: true } });
    const ws = await connect(`${url}/CP1`, { ca: ca.cert, cert: clientPem.cert, key: clientPem.key });
    const info = await server.waitForConnection('CP1');
    expect(info.tls?.peerCertificate?.subject).toMatchObject({ CN: 'SN-0001', O: 'Test CPO' });
    expect(info.tls?.authorized).toBe(true);
    ws.close();
  });

  it('with requestCert, a client without a certificate fails the TLS handshake', async () => {
    const { server, url } = await startCsms({ tls: { ...serverPem, ca: ca.cert, requestCert: true } });
    const tlsError = once(server, 'tlsError');
    await expect(connect(`${url}/CP1`, { ca: ca.cert })).rejects.toThrow();
    await tlsError;
    expect(server.isConnected('CP1')).toBe(false);
  });
});

describe('DevCsms commands (the console prompt, and npm run csms -- <command> through the control socket)', () => {
  async function startWithCommands() {
    const answers = new AuthorizeAnswers();
    const started = await startCsms({ rules: { authorize: (idTag) => answers.answer(idTag) } });
    return { ...started, commands: new CsmsCommands(started.server, answers) };
  }

  /** Answers the next CALL the client gets with `answer(frame)` and returns that CALL. */
  function answerNextCall(ws: WebSocket, answer: (id: string) => unknown[]): Promise<unknown[]> {
    return nextMessage(ws).then((frame) => {
      ws.send(JSON.stringify(answer(String(frame[1]))));
      return frame;
    });
  }

  it('sends a CALL to the charge point connected and prints its CALLRESULT or CALLERROR', async () => {
    const { url, commands } = await startWithCommands();
    const ws = await connect(`${url}/CP1`);

    const change = answerNextCall(ws, (id) => [3, id, { status: 'Accepted' }]);
    await expect(
      commands.run('send ChangeConfiguration {"key": "HeartbeatInterval", "value": "30"}'),
    ).resolves.toEqual({
      output: 'CALLRESULT {"status":"Accepted"}',
      exitCode: 0,
    });
    expect(await change).toEqual([
      2,
      expect.any(String),
      'ChangeConfiguration',
      { key: 'HeartbeatInterval', value: '30' },
    ]);

    // The action alone is a send too; no payload is {}.
    const trigger = answerNextCall(ws, (id) => [4, id, 'NotSupported', 'not here', { why: 1 }]);
    await expect(commands.run('TriggerMessage {"requestedMessage":"Heartbeat"}')).resolves.toEqual({
      output: 'CALLERROR NotSupported "not here" {"why":1}',
      exitCode: 1,
    });
    expect((await trigger)[2]).toBe('TriggerMessage');
    const clear = answerNextCall(ws, (id) => [3, id, { status: 'Accepted' }]);
    await commands.run('send ClearCache');
    expect((await clear).slice(2)).toEqual(['ClearCache', {}]);
    ws.close();
  });

  it('checks the payload against the OCPP 1.6 request schema and sends nothing it refuses', async () => {
    const { server, url, commands } = await startWithCommands();
    const ws = await connect(`${url}/CP1`);
    await server.waitForConnection('CP1');

    const missing = await commands.run('send SetChargingProfile {"connectorId": 1}');
    expect(missing.exitCode).toBe(64);
    expect(missing.output).toBe(
      "not sent: SetChargingProfile does not match its schema:\n  the payload must have required property 'csChargingProfiles'",
    );
    const badEnum = await commands.run(
      'send RemoteStartTransaction {"idTag": "T", "extra": 1, "connectorId": "1"}',
    );
    expect(badEnum).toEqual({
      output:
        'not sent: RemoteStartTransaction does not match its schema:\n  the payload must NOT have additional properties: extra\n  /connectorId must be integer',
      exitCode: 64,
    });
    expect(await commands.run('send Reset {type: Soft}')).toMatchObject({
      output: expect.stringMatching(/^not sent: the Reset payload is not JSON \(/),
      exitCode: 64,
    });
    expect(await commands.run('send Frobnicate {}')).toEqual({
      output:
        'not sent: Frobnicate does not match its schema:\n  Frobnicate is not an OCPP 1.6 action (no Frobnicate.req schema)',
      exitCode: 64,
    });
    expect(await commands.run('frobnicate')).toEqual({
      output: 'unknown command: frobnicate (help lists them)',
      exitCode: 64,
    });
    expect(server.frames.filter((f) => f.direction === 'out')).toEqual([]);
    ws.close();
  });

  it('passes the CALLs a central system sends most, valid, and knows every request of the catalogue', () => {
    const schemas = new RequestSchemas();
    const valid: Array<[string, unknown]> = [
      ['RemoteStartTransaction', { connectorId: 1, idTag: '04A32B1C' }],
      ['RemoteStopTransaction', { transactionId: 7 }],
      ['Reset', { type: 'Hard' }],
      ['ChangeConfiguration', { key: 'HeartbeatInterval', value: '30' }],
      [
        'SendLocalList',
        {
          listVersion: 2,
          updateType: 'Differential',
          localAuthorizationList: [
            { idTag: 'A', idTagInfo: { status: 'Accepted', expiryDate: '2030-01-01T00:00:00Z' } },
          ],
        },
      ],
      [
        'SetChargingProfile',
        {
          connectorId: 1,
          csChargingProfiles: {
            chargingProfileId: 1,
            stackLevel: 0,
            chargingProfilePurpose: 'TxDefaultProfile',
            chargingProfileKind: 'Absolute',
            chargingSchedule: {
              startSchedule: '2030-01-01T00:00:00Z',
              chargingRateUnit: 'A',
              chargingSchedulePeriod: [{ startPeriod: 0, limit: 16.3 }],
            },
          },
        },
      ],
      ['TriggerMessage', { requestedMessage: 'MeterValues', connectorId: 1 }],
    ];
    for (const [action, payload] of valid)
      expect([action, schemas.problems(action, payload)]).toEqual([action, []]);
    expect(schemas.problems('SetChargingProfile', { connectorId: 1, csChargingProfiles: {} })).toContain(
      "/csChargingProfiles must have required property 'chargingProfileId'",
    );
    expect(schemas.actions()).toHaveLength(39);
  });

  it('sends to the one charge point connected or the one named with --cp, and says why it cannot', async () => {
    const { server, url, commands } = await startWithCommands();
    await expect(commands.run('send ClearCache')).resolves.toEqual({
      output: 'not sent: no charge point is connected',
      exitCode: 69,
    });
    const one = await connect(`${url}/CP1`);
    const two = await connect(`${url}/CP2`);
    await server.waitForConnection('CP2');
    await expect(commands.run('charge-points')).resolves.toEqual({ output: 'CP1\nCP2', exitCode: 0 });
    await expect(commands.run('send ClearCache')).resolves.toEqual({
      output: 'not sent: 2 charge points are connected (CP1, CP2): name one with --cp',
      exitCode: 64,
    });
    await expect(commands.run('send --cp CP9 ClearCache')).resolves.toEqual({
      output: 'not sent: CP9 is not connected',
      exitCode: 69,
    });
    const cleared = answerNextCall(two, (id) => [3, id, { status: 'Rejected' }]);
    await expect(commands.run('send --cp CP2 ClearCache {}')).resolves.toEqual({
      output: 'CALLRESULT {"status":"Rejected"}',
      exitCode: 0,
    });
    expect((await cleared)[2]).toBe('ClearCache');
    one.close();
    two.close();
  });

  it('sets how Authorize (and the idTagInfo of Start/StopTransaction) is answered: for every idTag, per idTag, and back', async () => {
    const { url, commands } = await startWithCommands();
    const ws = await connect(`${url}/CP1`);
    const statusOf = async (action: string, payload: object) =>
      ((await cpCall(ws, action, payload))[2] as { idTagInfo: { status: string } }).idTagInfo.status;
    const start = { connectorId: 1, meterStart: 0, timestamp: new Date().toISOString() };

    await expect(commands.run('authorize Blocked 04BLOCKED')).resolves.toEqual({
      output: 'Authorize: Accepted for every idTag\n  04BLOCKED: Blocked',
      exitCode: 0,
    });
    expect(await statusOf('Authorize', { idTag: '04BLOCKED' })).toBe('Blocked');
    // An idTag is a CiString20Type: the card the charger reads in another case is the same card.
    expect(await statusOf('Authorize', { idTag: '04blocked' })).toBe('Blocked');
    expect(await statusOf('Authorize', { idTag: '04OTHER' })).toBe('Accepted');

    await expect(commands.run('authorize Invalid')).resolves.toEqual({
      output: 'Authorize: Invalid for every idTag\n  04BLOCKED: Blocked',
      exitCode: 0,
    });
    expect(await statusOf('Authorize', { idTag: '04OTHER' })).toBe('Invalid');
    expect(await statusOf('StartTransaction', { ...start, idTag: '04BLOCKED' })).toBe('Blocked');
    expect(
      await statusOf('StopTransaction', {
        transactionId: 1,
        meterStop: 1,
        timestamp: start.timestamp,
        idTag: 'X',
      }),
    ).toBe('Invalid');

    await expect(commands.run('authorize')).resolves.toMatchObject({
      output: expect.stringMatching(/^Authorize: Invalid/),
    });
    await expect(commands.run('authorize reset')).resolves.toEqual({
      output: 'Authorize: Accepted for every idTag',
      exitCode: 0,
    });
    expect(await statusOf('Authorize', { idTag: '04BLOCKED' })).toBe('Accepted');
    await expect(commands.run('authorize Maybe')).resolves.toEqual({
      output:
        'usage: authorize [<Status> [<idTag>]] | authorize reset; Status: Accepted, Blocked, Expired, Invalid, ConcurrentTx',
      exitCode: 64,
    });
    ws.close();
  });

  it('takes the same commands over a control socket only its user can open; 69 where none listens', async () => {
    const { commands } = await startWithCommands();
    const dir = mkdtempSync(join(tmpdir(), 'cp-csms-control-'));
    const path = join(dir, 'control.sock');
    try {
      const control = await listenForCommands(path, commands);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      await expect(sendCommand(path, 'authorize Expired')).resolves.toEqual({
        output: 'Authorize: Expired for every idTag',
        exitCode: 0,
      });
      await expect(sendCommand(path, 'send Reset {"type":"Hard"}')).resolves.toEqual({
        output: 'not sent: no charge point is connected',
        exitCode: 69,
      });
      await new Promise<void>((resolve) => control.close(() => resolve()));
      await expect(sendCommand(path, 'authorize')).resolves.toEqual({
        output: `no development central system takes commands on ${path} (start it: npm run csms, or npm run dev)`,
        exitCode: 69,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers a control-socket line that is not {"line": "<command>"} with a usage error', async () => {
    const { commands } = await startWithCommands();
    const dir = mkdtempSync(join(tmpdir(), 'cp-csms-control-'));
    const path = join(dir, 'control.sock');
    const exchange = async (text: string): Promise<string> => {
      const socket = createConnection(path);
      socket.setEncoding('utf8');
      socket.end(text);
      let answer = '';
      for await (const chunk of socket) answer += String(chunk);
      return answer;
    };
    try {
      const control = await listenForCommands(path, commands);
      const usage = `${JSON.stringify({ output: 'bad request: want {"line": "<command>"}', exitCode: 64 })}\n`;
      for (const request of ['authorize\n', '["authorize"]\n', '{"line": 7}\n', 'null\n']) {
        expect(await exchange(request), request).toBe(usage);
      }
      expect(await exchange('{"line": "authorize Blocked"}\n')).toBe(
        `${JSON.stringify({ output: 'Authorize: Blocked for every idTag', exitCode: 0 })}\n`,
      );
      await new Promise<void>((resolve) => control.close(() => resolve()));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
