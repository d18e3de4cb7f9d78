#!/usr/bin/env node
import { askOnTerminal, runCpctl } from '../cli/commands.js';

/** Technician CLI: talks to the running daemon over its control socket (see `cpctl help`). */
process.exitCode = await runCpctl(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  ...(process.stdin.isTTY ? { confirm: askOnTerminal } : {}),
});
