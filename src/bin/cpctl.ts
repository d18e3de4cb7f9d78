#!/usr/bin/env node
import { getEventListeners } from 'node:events';
import { askOnTerminal, EXIT, runCpctl } from '../cli/commands.js';

// Ctrl-C ends what follows the daemon (trace --follow, --watch) with exit 0; anything else it
// interrupts as usual.
const interrupt = new AbortController();
process.on('SIGINT', () => {
  if (getEventListeners(interrupt.signal, 'abort').length === 0) process.exit(EXIT.interrupted);
  interrupt.abort();
});

// `cpctl trace | head`: the reader has all it wants; the rest of the output has nowhere to go.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

/** Technician CLI: talks to the running daemon over its control socket (see `cpctl help`). */
process.exitCode = await runCpctl(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  signal: interrupt.signal,
  tty: process.stdout.isTTY === true,
  ...(process.stdin.isTTY ? { confirm: askOnTerminal } : {}),
});
