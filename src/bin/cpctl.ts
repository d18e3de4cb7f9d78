#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { FIRMWARE_VERSION } from '../version.js';

/**
 * Technician CLI. This build knows `version`; the daemon control socket and its commands
 * (status, config, sim ...) arrive with the hardware-layer work.
 */
const USAGE = 'usage: cpctl [--socket PATH] <command> [--json]\ncommands: version';

const { values, positionals } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: { socket: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
});

const command = positionals[0];
if (values.help || !command) {
  process.stdout.write(`${USAGE}\n`);
  process.exitCode = command || values.help ? 0 : 64;
} else if (command === 'version') {
  process.stdout.write(
    values.json ? `${JSON.stringify({ version: FIRMWARE_VERSION })}\n` : `cpctl ${FIRMWARE_VERSION}\n`,
  );
} else {
  process.stderr.write(`cpctl: unknown command "${command}"\n${USAGE}\n`);
  process.exitCode = 64;
}
