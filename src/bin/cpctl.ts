#!/usr/bin/env node
import { getEventListeners } from 'node:events';
import { askOnTerminal, EXIT, interruptionNote, runCpctl } from '../cli/commands.js';

const argv = process.argv.slice(2);

// Ctrl-C ends what follows the daemon (trace --follow, --watch) with exit 0; anything else it
// interrupts as usual, saying what became of a request the daemon ends as cpctl goes (selftest).
const interrupt = new AbortController();
process.on('SIGINT', () => {
  if (getEventListeners(interrupt.signal, 'abort').length === 0) {
    const note = interruptionNote(argv);
    if (note !== undefined) process.stderr.write(`cpctl: ${note}\n`);
    process.exit(EXIT.interrupted);
  }
  interrupt.abort();
});

// `cpctl trace | head`: the reader has all it wants; the rest of the output has nowhere to go.
// Any other failure (a full disk, a terminal gone) loses output the technician asked for: said
// once, with its own exit code, not as a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(EXIT.ok);
  process.stderr.write(`cpctl: cannot write the output: ${err.message}\n`);
  process.exit(EXIT.ioError);
});
// stderr is where cpctl would report this: once it fails there is nowhere left to say anything,
// and the command's own exit code is the one message that still gets through.
process.stderr.on('error', () => {});

/** Technician CLI: talks to the running daemon over its control socket (see `cpctl help`). */
process.exitCode = await runCpctl(argv, {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  signal: interrupt.signal,
  tty: process.stdout.isTTY === true,
  ...(process.stdin.isTTY ? { confirm: askOnTerminal } : {}),
});
