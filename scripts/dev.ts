/**
 * `npm run dev`: the development central system and the daemon on the simulated board, side by
 * side in one terminal. Central-system lines show every OCPP frame; daemon lines are its
 * structured log made readable. Ctrl-C stops both.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pretty from 'pino-pretty';

const at = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const CSMS = at('../test/csms/main.js');
const DAEMON = at('../src/bin/chargepointd.js');
const CONFIG = process.env.CHARGEPOINT_CONFIG ?? at('../../config/dev.json');

function prefixLines(child: ChildProcess, prefix: string): void {
  for (const stream of [child.stdout, child.stderr]) {
    if (stream)
      createInterface({ input: stream }).on('line', (line) => process.stdout.write(`${prefix} ${line}\n`));
  }
}

// A 10 s heartbeat interval, so a newcomer sees heartbeats without waiting minutes.
const csms = spawn(process.execPath, [CSMS, '--port', process.env.CSMS_PORT ?? '9000', '--interval', '10'], {
  stdio: ['ignore', 'pipe', 'pipe'],
});
prefixLines(csms, '[csms]');

// Give the central system a moment to listen; the daemon would retry anyway, this only keeps the log tidy.
await new Promise((resolve) => setTimeout(resolve, 300));
const daemon = spawn(DAEMON, ['--config', CONFIG], { stdio: ['ignore', 'pipe', 'inherit'] });
// pino-pretty writes the readable lines to our stdout itself.
daemon.stdout?.pipe(
  pretty({
    colorize: process.stdout.isTTY,
    translateTime: 'HH:MM:ss.l',
    ignore: 'pid,hostname,chargePointId',
    singleLine: true,
  }),
);

const stop = () => {
  daemon.kill('SIGTERM');
  csms.kill('SIGTERM');
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
daemon.on('exit', (code) => {
  process.stdout.write(`[dev] chargepointd exited with code ${code}\n`);
  csms.kill('SIGTERM');
});
