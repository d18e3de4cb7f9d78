/**
 * Authorization figures, measured on a store directly (not through the daemon): the SQLite file,
 * LocalAuthList and Authorizer the daemon uses, without the WebSocket in between. The main bench
 * (`scripts/bench.ts`) calls benchAuthorization; `node dist/scripts/bench-auth.js` runs it alone.
 */

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { systemClock } from '../src/clock.js';
import { ConfigurationRegistry } from '../src/config/registry.js';
import { silentLogger } from '../src/log.js';
import { NotConnectedError } from '../src/ocpp/errors.js';
import { Authorizer } from '../src/station/auth/authorizer.js';
import { AuthCache } from '../src/station/auth/cache.js';
import { type ListedId, LocalAuthList } from '../src/station/auth/local-list.js';
import { AuthCacheRepo } from '../src/store/auth-cache-repo.js';
import { openStore } from '../src/store/index.js';
import { LocalListRepo } from '../src/store/local-list-repo.js';
import { MemoryConfig } from '../test/support/memory-stores.js';

export interface AuthorizationFigures {
  sendLocalListFull10kMs: number;
  authorizeFrom1MListP99Ms: number;
  authorizeFrom1MListP50Ms: number;
  rssWith1MListMb: number;
}

const FULL_ENTRIES = 10_000;
const LIST_ENTRIES = 1_000_000;
const CHUNK = 10_000;
const LOOKUPS = 10_000;
// The daemon's own file name, so the bench can boot a daemon on the list it built.
const STORE_FILE = 'chargepoint.db';
const LOOKUP_FLAG = '--lookups-in';
const execFileAsync = promisify(execFile);

function tag(n: number): string {
  return `BENCH${String(n).padStart(8, '0')}`;
}

function chunkOf(start: number, length: number): ListedId[] {
  return Array.from({ length }, (_, i) => ({
    idTag: tag(start + i),
    idTagInfo: { status: 'Accepted' as const, expiryDate: '2099-01-01T00:00:00.000Z' },
  }));
}

function quantile(sorted: number[], q: number): number {
  const value = sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return Math.round(value * 1000) / 1000;
}

function rssMb(): number {
  return Math.round((process.memoryUsage.rss() / 1024 / 1024) * 10) / 10;
}

/**
 * 1. One Full update of 10,000 entries (the whole SendLocalList work after validation).
 * 2. A 1,000,000-entry list built in Differential chunks of 10,000, so no more than one chunk is
 *    ever in memory.
 * 3. In a fresh process, as a daemon that boots with that list on disk: random offline
 *    authorizations from it (list lookup, expiry check, decision), then that process's resident
 *    size. A fresh process, because what building the list allocated is no cost of holding it.
 */
export async function benchAuthorization(dir: string): Promise<AuthorizationFigures> {
  const store = openStore({ dir, log: silentLogger(), fileName: STORE_FILE });
  let sendLocalListFull10kMs: number;
  try {
    const list = new LocalAuthList(new LocalListRepo(store.db));
    const fullStart = performance.now();
    const fullStatus = list.apply(
      { listVersion: 1, updateType: 'Full', entries: chunkOf(0, FULL_ENTRIES) },
      LIST_ENTRIES,
    );
    sendLocalListFull10kMs = Math.round((performance.now() - fullStart) * 10) / 10;
    if (fullStatus !== 'Accepted') throw new Error(`Full update of ${FULL_ENTRIES} entries: ${fullStatus}`);
    for (let start = FULL_ENTRIES, version = 2; start < LIST_ENTRIES; start += CHUNK, version++) {
      const length = Math.min(CHUNK, LIST_ENTRIES - start);
      const update = {
        listVersion: version,
        updateType: 'Differential' as const,
        entries: chunkOf(start, length),
      };
      const status = list.apply(update, LIST_ENTRIES);
      if (status !== 'Accepted') throw new Error(`Differential update at ${start}: ${status}`);
    }
    if (list.size() !== LIST_ENTRIES)
      throw new Error(`list holds ${list.size()} entries, not ${LIST_ENTRIES}`);
  } finally {
    store.close();
  }
  const lookups = await inChildProcess(dir);
  return {
    sendLocalListFull10kMs,
    authorizeFrom1MListP99Ms: lookups.p99,
    authorizeFrom1MListP50Ms: lookups.p50,
    rssWith1MListMb: lookups.rssMb,
  };
}

interface LookupFigures {
  p50: number;
  p99: number;
  rssMb: number;
}

/** Runs this module again with LOOKUP_FLAG (same Node flags, so it works under tsx and compiled). */
async function inChildProcess(dir: string): Promise<LookupFigures> {
  const args = [...process.execArgv, fileURLToPath(import.meta.url), LOOKUP_FLAG, dir];
  const { stdout } = await execFileAsync(process.execPath, args, { maxBuffer: 1024 * 1024 });
  return JSON.parse(stdout) as LookupFigures;
}

async function lookups(dir: string): Promise<LookupFigures> {
  const store = openStore({ dir, log: silentLogger(), fileName: STORE_FILE });
  try {
    const list = new LocalAuthList(new LocalListRepo(store.db));
    const authorizer = new Authorizer({
      list,
      cache: new AuthCache({ repo: new AuthCacheRepo(store.db), time: { nowMs: () => systemClock.now() } }),
      config: new ConfigurationRegistry({
        store: new MemoryConfig(),
        initial: { LocalAuthListEnabled: true, LocalAuthorizeOffline: true },
        capabilities: new Set(['localAuthList', 'authCache', 'offlineUnknownId']),
        fixed: { NumberOfConnectors: '1', SupportedFeatureProfiles: 'Core,LocalAuthListManagement' },
        log: silentLogger(),
      }),
      remote: () => Promise.reject(new NotConnectedError()),
      online: () => false,
      time: { nowMs: () => systemClock.now() },
      log: silentLogger(),
    });
    const samples: number[] = [];
    for (let i = 0; i < LOOKUPS; i++) {
      const idTag = tag(Math.floor(Math.random() * LIST_ENTRIES));
      const start = performance.now();
      const decision = await authorizer.authorize(idTag);
      samples.push(performance.now() - start);
      if (decision.source !== 'localList' || decision.info.status !== 'Accepted') {
        throw new Error(`${idTag} not authorized from the list: ${JSON.stringify(decision)}`);
      }
    }
    samples.sort((a, b) => a - b);
    return { p50: quantile(samples, 0.5), p99: quantile(samples, 0.99), rssMb: rssMb() };
  } finally {
    store.close();
  }
}

const invokedAs = process.argv[1] === undefined ? '' : pathToFileURL(process.argv[1]).href;
if (import.meta.url === invokedAs && process.argv[2] === LOOKUP_FLAG) {
  const figures = await lookups(process.argv[3] ?? '');
  process.stdout.write(JSON.stringify(figures));
} else if (import.meta.url === invokedAs) {
  const dir = mkdtempSync(join(tmpdir(), 'cp-bench-auth-'));
  try {
    console.log(JSON.stringify(await benchAuthorization(dir), null, 2));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
