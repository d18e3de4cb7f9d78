/**
 * The last step of `npm run build`: the two programs (`chargepointd`, `cpctl`) as bundles, in place
 * of tsc's entry files in dist/src/bin/. Unbundled, the daemon's start resolved, read, compiled
 * and linked every one of its ES modules separately, which was a quarter of its CPU time to the
 * BootNotification (issue 8's cold-start target is 2x the floor's). Each bundle holds our code
 * only: packages stay imports of node_modules, as before. Code that loads on first use (file
 * transfer, MQTT bridge, certificate requests, hardware drivers, ...) is split into chunks
 * (dist/src/bin/chunks/) that load at that first use, so boot still pays only for what boot
 * needs. Source maps lead back to the TypeScript (`node --enable-source-maps`).
 * Run by `npm run build` after tsc: `node dist/scripts/bundle.js`.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { PACKAGE_ROOT } from '../src/package-root.js';

const BIN = join(PACKAGE_ROOT, 'dist', 'src', 'bin');
const ENTRIES = ['chargepointd', 'cpctl'];

export async function bundlePrograms(): Promise<void> {
  // Bundling a bundle would lose its chunks (removed below): the input must be tsc's.
  for (const name of ENTRIES)
    if (readFileSync(join(BIN, `${name}.js`), 'utf8').includes('./chunks/'))
      throw new Error(`dist/src/bin/${name}.js is a bundle already: run npm run build (tsc first)`);
  // The chunks of an earlier build carry other hashes: none may linger beside the new ones.
  rmSync(join(BIN, 'chunks'), { recursive: true, force: true });
  const result = await build({
    entryPoints: ENTRIES.map((name) => join(BIN, `${name}.js`)),
    outdir: BIN,
    // The entries replace tsc's files of the same name, which are their input.
    allowOverwrite: true,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    entryNames: '[name]',
    chunkNames: 'chunks/[name]-[hash]',
    sourcemap: 'linked',
    // V8 keeps a script's source text for as long as the process runs (it compiles each function
    // from it on first call), in the daemon's heap: indentation, line breaks and comments were a
    // third of it. Without them the daemon is 0.3-0.4 MB smaller after boot. Names stay (no
    // identifier minification), so a stack trace still names every function, and the source map
    // gives the TypeScript line of a position.
    minifyWhitespace: true,
    logLevel: 'warning',
  });
  if (result.errors.length > 0) throw new Error(`bundle: ${result.errors.length} errors`);
}

await bundlePrograms();
