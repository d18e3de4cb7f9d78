#!/usr/bin/env node
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
