#!/usr/bin/env -S node --max-semi-space-size=1 --v8-pool-size=1 --no-lazy-feedback-allocation --interrupt-budget=12288 --max-inlined-bytecode-size-cumulative=230
// The flags above are part of the product. A small young generation and one V8 helper thread keep
// the resident size of a long-running daemon low on a 512 MB board. A function's feedback (its
// inline caches) comes with its first call, so the first session after boot runs code the
// warm-ups have already shaped. V8 moves a function to faster code each time it has run the
// interrupt budget's worth of its own bytecode: a message crosses many small functions here, and
// with the default budget (66 KB) each stayed interpreted for its first thousand-odd messages and
// unoptimized for thousands more; 12 KB (some three sixteenths of it) tiers them up in hundreds
// (bench: GetConfiguration in the first 1,000 after boot 1.37x the floor with 16 KB, 1.27x with
// 12 KB). Less still (8 KB) measured the same within the bench's noise.
// Each of those optimizations is compiled on the helper thread, and while a new kind of message
// tiers up that thread used as much CPU as the main one (some 100 ms per 1,000 exchanges): CPU
// the central system or the main thread wait for on a small board. A quarter of V8's inlining
// budget per optimized function cuts that by a quarter to a half (only small callees are inlined;
// warm calls and the smart-charging figures did not get slower). No --optimize-for-size: its
// memory-reducing collections threw optimized code away (its embedded objects died) in the middle
// of a burst of calls, to be compiled again, and it no longer saves resident size.
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
