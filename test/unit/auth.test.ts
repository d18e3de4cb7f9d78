import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OcppTime } from '../../src/clock.js';
import { ConfigurationRegistry } from '../../src/config/registry.js';
import { silentLogger } from '../../src/log.js';
import { CallTimeoutError, NotConnectedError } from '../../src/ocpp/errors.js';
import { Authorizer, type LocalListConflict } from '../../src/station/auth/authorizer.js';
import { AuthCache } from '../../src/station/auth/cache.js';
import { type ListedId, LocalAuthList } from '../../src/station/auth/local-list.js';
import type { IdTagInfo } from '../../src/station/auth-types.js';
import { AuthCacheRepo } from '../../src/store/auth-cache-repo.js';
import { openStore, type Store } from '../../src/store/index.js';
import { LocalListRepo } from '../../src/store/local-list-repo.js';
import { FakeClock } from '../support/fake-clock.js';
import { MemoryConfig } from '../support/memory-stores.js';

const T0 = Date.parse('2024-05-01T12:00:00.000Z');
const PAST = '2024-05-01T11:00:00.000Z';
const FUTURE = '2024-05-02T12:00:00.000Z';
const ACCEPTED: IdTagInfo = { status: 'Accepted' };
const BLOCKED: IdTagInfo = { status: 'Blocked' };
const NO_LIMIT = 1_000_000;

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cp-auth-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function open(dir = tempDir()): Store {
  const store = openStore({ dir, log: silentLogger() });
  cleanups.push(() => store.close());
  return store;
}

function entries(tags: string[], info: IdTagInfo = ACCEPTED): ListedId[] {
  return tags.map((idTag) => ({ idTag, idTagInfo: info }));
}

const AUTH_CAPABILITIES = ['localAuthList', 'authCache', 'offlineUnknownId'];

function registry(
  initial: Record<string, boolean> = {},
  capabilities: string[] = AUTH_CAPABILITIES,
): ConfigurationRegistry {
  return new ConfigurationRegistry({
    store: new MemoryConfig(),
    initial,
    capabilities: new Set(capabilities),
    fixed: { NumberOfConnectors: '2', SupportedFeatureProfiles: 'Core,LocalAuthListManagement' },
    log: silentLogger(),
  });
}

describe('LocalAuthList', () => {
  it('is empty at first: version 0, no entries', () => {
    const list = new LocalAuthList(new LocalListRepo(open().db));
    expect(list.version()).toBe(0);
    expect(list.size()).toBe(0);
    expect(list.get('ANY')).toBeUndefined();
  });

  it('reports version 0 after a Full update without entries (TC_042_2)', () => {
    const list = new LocalAuthList(new LocalListRepo(open().db));
    expect(list.apply({ listVersion: 1, updateType: 'Full' }, NO_LIMIT)).toBe('Accepted');
    expect(list.version()).toBe(0);
  });

  it('stores a Full list and finds ids whatever their case', () => {
    const list = new LocalAuthList(new LocalListRepo(open().db));
    const status = list.apply(
      {
        listVersion: 3,
        updateType: 'Full',
        entries: [
          { idTag: 'Tag-A', idTagInfo: { status: 'Accepted', expiryDate: FUTURE, parentIdTag: 'P1' } },
          { idTag: 'tag-b', idTagInfo: BLOCKED },
        ],
      },
      NO_LIMIT,
    );
    expect(status).toBe('Accepted');
    expect(list.version()).toBe(3);
    expect(list.size()).toBe(2);
    expect(list.get('TAG-A')).toEqual({ status: 'Accepted', expiryDate: FUTURE, parentIdTag: 'P1' });
    expect(list.get('TAG-B')).toEqual({ status: 'Blocked' });
  });

  it('replaces the whole list on a Full update', () => {
    const list = new LocalAuthList(new LocalListRepo(open().db));
    list.apply({ listVersion: 1, updateType: 'Full', entries: entries(['A', 'B']) }, NO_LIMIT);
    expect(list.apply({ listVersion: 2, updateType: 'Full', entries: entries(['C']) }, NO_LIMIT)).toBe(
      'Accepted',
    );
    expect([list.get('A'), list.get('B'), list.get('C')]).toEqual([undefined, undefined, ACCEPTED]);
    expect(list.size()).toBe(1);
  });

  it('adds, updates and removes (an entry without idTagInfo) on a Differential update', () => {
    const list = new LocalAuthList(new LocalListRepo(open().db));
    list.apply({ listVersion: 1, updateType: 'Full', entries: entries(['A', 'B']) }, NO_LIMIT);
    const status = list.apply(
      {
        listVersion: 2,
        updateType: 'Differential',
        entries: [{ idTag: 'a', idTagInfo: BLOCKED }, { idTag: 'B' }, { idTag: 'C', idTagInfo: ACCEPTED }],
      },
      NO_LIMIT,
    );
    expect(status).toBe('Accepted');
    expect([list.get('A'), list.get('B'), list.get('C')]).toEqual([BLOCKED, undefined, ACCEPTED]);
    expect(list.size()).toBe(2);
    expect(list.version()).toBe(2);
  });

  it('refuses a Differential update not newer than the list with VersionMismatch (TC_043_2)', () => {
    const list = new LocalAuthList(new LocalListRepo(open().db));
    expect(list.apply({ listVersion: 2, updateType: 'Full', entries: entries(['A']) }, NO_LIMIT)).toBe(
      'Accepted',
    );
    expect(
      list.apply({ listVersion: 5, updateType: 'Differential', entries: entries(['B']) }, NO_LIMIT),
    ).toBe('Accepted');
    for (const listVersion of [4, 5]) {
      expect(list.apply({ listVersion, updateType: 'Differential', entries: entries(['C']) }, NO_LIMIT)).toBe(
        'VersionMismatch',
      );
    }
    expect(list.version()).toBe(5);
    expect(list.get('C')).toBeUndefined();
  });

  it('compares a Differential version with the version it reports, 0 for an emptied list', () => {
    const list = new LocalAuthList(new LocalListRepo(open().db));
    list.apply({ listVersion: 7, updateType: 'Full' }, NO_LIMIT);
    expect(
      list.apply({ listVersion: 3, updateType: 'Differential', entries: entries(['A']) }, NO_LIMIT),
    ).toBe('Accepted');
    expect(list.version()).toBe(3);
  });

  it('fails a Full update under a reserved version (0 or -1)', () => {
    const list = new LocalAuthList(new LocalListRepo(open().db));
    list.apply({ listVersion: 1, updateType: 'Full', entries: entries(['A']) }, NO_LIMIT);
    expect(list.apply({ listVersion: 0, updateType: 'Full', entries: entries(['B']) }, NO_LIMIT)).toBe(
      'Failed',
    );
    expect(list.get('A')).toEqual(ACCEPTED);
  });

  it('fails an update naming an idTag twice, in any case, and changes nothing', () => {
    const list = new LocalAuthList(new LocalListRepo(open().db));
    list.apply({ listVersion: 1, updateType: 'Full', entries: entries(['A']) }, NO_LIMIT);
    expect(list.apply({ listVersion: 2, updateType: 'Full', entries: entries(['B', 'b']) }, NO_LIMIT)).toBe(
      'Failed',
    );
    expect(
      list.apply(
        {
          listVersion: 2,
          updateType: 'Differential',
          entries: [{ idTag: 'C', idTagInfo: ACCEPTED }, { idTag: 'c' }],
        },
        NO_LIMIT,
      ),
    ).toBe('Failed');
    expect([list.version(), list.size(), list.get('A'), list.get('B'), list.get('C')]).toEqual([
      1,
      1,
      ACCEPTED,
      undefined,
      undefined,
    ]);
  });

  it('fails and rolls back an update that would make the list longer than its maximum', () => {
    const list = new LocalAuthList(new LocalListRepo(open().db));
    expect(list.apply({ listVersion: 1, updateType: 'Full', entries: entries(['A', 'B', 'C']) }, 2)).toBe(
      'Failed',
    );
    expect(list.apply({ listVersion: 1, updateType: 'Full', entries: entries(['A', 'B']) }, 2)).toBe(
      'Accepted',
    );
    // Updating A and adding C would leave three entries: none of it may stick.
    expect(
      list.apply(
        {
          listVersion: 2,
          updateType: 'Differential',
          entries: [{ idTag: 'A', idTagInfo: BLOCKED }, ...entries(['C'])],
        },
        2,
      ),
    ).toBe('Failed');
    expect([list.version(), list.size(), list.get('A'), list.get('C')]).toEqual([1, 2, ACCEPTED, undefined]);
    // Removing B first makes room for C.
    expect(
      list.apply(
        { listVersion: 2, updateType: 'Differential', entries: [{ idTag: 'B' }, ...entries(['C'])] },
        2,
      ),
    ).toBe('Accepted');
    expect([list.size(), list.get('B'), list.get('C')]).toEqual([2, undefined, ACCEPTED]);
  });

  it('rolls back an update that fails to store part way, and reports the error', () => {
    const list = new LocalAuthList(new LocalListRepo(open().db));
    list.apply({ listVersion: 1, updateType: 'Full', entries: entries(['A']) }, NO_LIMIT);
    const broken = { idTag: 'Z', idTagInfo: { status: 'Unknown' } as unknown as IdTagInfo };
    expect(() =>
      list.apply({ listVersion: 2, updateType: 'Full', entries: [...entries(['B']), broken] }, NO_LIMIT),
    ).toThrow(/CHECK constraint/);
    expect([list.version(), list.size(), list.get('A'), list.get('B')]).toEqual([1, 1, ACCEPTED, undefined]);
  });

  it('survives a restart', () => {
    const dir = tempDir();
    const first = open(dir);
    new LocalAuthList(new LocalListRepo(first.db)).apply(
      { listVersion: 4, updateType: 'Full', entries: entries(['A', 'B']) },
      NO_LIMIT,
    );
    first.close();
    const list = new LocalAuthList(new LocalListRepo(open(dir).db));
    expect([list.version(), list.size(), list.get('b')]).toEqual([4, 2, ACCEPTED]);
  });

  it('holds 100,000 entries applied in chunks and finds any of them', () => {
    const list = new LocalAuthList(new LocalListRepo(open().db));
    const total = 100_000;
    const chunk = 10_000;
    for (let start = 0; start < total; start += chunk) {
      const tags = Array.from({ length: chunk }, (_, i) => `TAG${String(start + i).padStart(7, '0')}`);
      const status = list.apply(
        { listVersion: start / chunk + 1, updateType: 'Differential', entries: entries(tags) },
        total,
      );
      expect(status).toBe('Accepted');
    }
    expect(list.size()).toBe(total);
    expect(list.version()).toBe(total / chunk);
    expect(list.get('tag0000000')).toEqual(ACCEPTED);
    expect(list.get('TAG0054321')).toEqual(ACCEPTED);
    expect(list.get('TAG0099999')).toEqual(ACCEPTED);
    expect(list.get('TAG0100000')).toBeUndefined();
    // A full list: one more would overflow the maximum.
    expect(
      list.apply({ listVersion: 11, updateType: 'Differential', entries: entries(['EXTRA']) }, total),
    ).toBe('Failed');
    expect(list.apply({ listVersion: 11, updateType: 'Full', entries: entries(['ONLY']) }, total)).toBe(
      'Accepted',
    );
    expect([list.size(), list.get('TAG0054321')]).toEqual([1, undefined]);
  });
});

describe('AuthCache', () => {
  function cache(maxEntries?: number, store = open()) {
    const clock = new FakeClock(T0);
    return {
      cache: new AuthCache({
        repo: new AuthCacheRepo(store.db),
        time: new OcppTime(clock, false),
        ...(maxEntries ? { maxEntries } : {}),
      }),
      clock,
      store,
    };
  }

  it('keeps the latest IdTagInfo per id, case-insensitively', () => {
    const { cache: c } = cache();
    c.put('Tag-1', { status: 'Accepted', expiryDate: FUTURE, parentIdTag: 'P' });
    expect(c.get('TAG-1')).toEqual({ status: 'Accepted', expiryDate: FUTURE, parentIdTag: 'P' });
    c.put('tag-1', BLOCKED);
    expect(c.get('Tag-1')).toEqual(BLOCKED);
    expect(c.size()).toBe(1);
    expect(c.get('other')).toBeUndefined();
  });

  it('reads a valid entry past its expiry as Expired, and stores that', () => {
    const { cache: c, clock, store } = cache();
    c.put('A', { status: 'Accepted', expiryDate: '2024-05-01T12:00:10Z' });
    expect(c.get('A')?.status).toBe('Accepted');
    clock.advance(10_000);
    expect(c.get('A')).toEqual({ status: 'Expired', expiryDate: '2024-05-01T12:00:10.000Z' });
    // A cache whose clock is behind still sees Expired: the change was written.
    const behind = new AuthCache({
      repo: new AuthCacheRepo(store.db),
      time: new OcppTime(new FakeClock(T0), false),
    });
    expect(behind.get('A')?.status).toBe('Expired');
  });

  it('when full, evicts entries that no longer authorize first, then the oldest valid ones', () => {
    const { cache: c, clock } = cache(3);
    c.put('OLD-VALID', ACCEPTED);
    clock.advance(1000);
    c.put('BLOCKED', BLOCKED);
    clock.advance(1000);
    c.put('NEW-VALID', ACCEPTED);
    clock.advance(1000);
    c.put('D', ACCEPTED);
    expect([c.get('BLOCKED'), c.size()]).toEqual([undefined, 3]);
    clock.advance(1000);
    c.put('E', ACCEPTED);
    expect([c.get('OLD-VALID'), c.get('NEW-VALID'), c.get('D'), c.get('E')]).toEqual([
      undefined,
      ACCEPTED,
      ACCEPTED,
      ACCEPTED,
    ]);
  });

  it('counts an Accepted entry past its expiry as no longer valid when evicting', () => {
    const { cache: c, clock } = cache(2);
    c.put('VALID', ACCEPTED);
    clock.advance(1000);
    c.put('LAPSED', { status: 'Accepted', expiryDate: '2024-05-01T12:00:02+00:00' });
    clock.advance(5000);
    c.put('NEW', ACCEPTED);
    expect([c.get('VALID'), c.get('LAPSED'), c.get('NEW')]).toEqual([ACCEPTED, undefined, ACCEPTED]);
  });

  it('updates a known id in a full cache without evicting anything', () => {
    const { cache: c } = cache(2);
    c.put('A', ACCEPTED);
    c.put('B', ACCEPTED);
    c.put('a', BLOCKED);
    expect([c.get('A'), c.get('B'), c.size()]).toEqual([BLOCKED, ACCEPTED, 2]);
  });

  it('is emptied by clear and persists otherwise', () => {
    const dir = tempDir();
    const first = cache(undefined, open(dir));
    first.cache.put('A', ACCEPTED);
    first.store.close();
    const again = cache(undefined, open(dir));
    expect(again.cache.get('A')).toEqual(ACCEPTED);
    again.cache.clear();
    expect([again.cache.size(), again.cache.get('A')]).toEqual([0, undefined]);
  });
});

/** A central system that answers Authorize from a table, fails as told, and counts requests. */
class FakeRemote {
  readonly asked: string[] = [];
  failure: Error | undefined;
  answers = new Map<string, IdTagInfo>();

  readonly authorize = async (idTag: string): Promise<IdTagInfo> => {
    this.asked.push(idTag);
    if (this.failure) throw this.failure;
    return this.answers.get(idTag) ?? { status: 'Invalid' };
  };
}

describe('Authorizer', () => {
  function setup(opts: { ocpp?: Record<string, boolean>; capabilities?: string[]; online?: boolean } = {}) {
    const store = open();
    const clock = new FakeClock(T0);
    // The central system's time, as the runtime gives it: taken at T0, then kept on the monotonic clock.
    const time = new OcppTime(clock, true);
    time.syncTo(new Date(T0).toISOString());
    const list = new LocalAuthList(new LocalListRepo(store.db));
    const cache = new AuthCache({ repo: new AuthCacheRepo(store.db), time });
    const config = registry(opts.ocpp, opts.capabilities);
    const remote = new FakeRemote();
    const state = { online: opts.online ?? true };
    const authorizer = new Authorizer({
      list,
      cache,
      config,
      remote: remote.authorize,
      online: () => state.online,
      time,
      log: silentLogger(),
    });
    const listed = (...items: ListedId[]) =>
      expect(list.apply({ listVersion: 1, updateType: 'Full', entries: items }, NO_LIMIT)).toBe('Accepted');
    return { authorizer, list, cache, config, remote, state, clock, listed };
  }

  describe('online', () => {
    it('asks the central system about an unknown id, decides by its answer and caches it', async () => {
      const { authorizer, remote, cache } = setup();
      remote.answers.set('CARD', { status: 'Accepted', parentIdTag: 'P' });
      expect(await authorizer.authorize('CARD')).toEqual({
        idTag: 'CARD',
        info: { status: 'Accepted', parentIdTag: 'P' },
        source: 'central',
      });
      expect(remote.asked).toEqual(['CARD']);
      expect(cache.get('card')).toEqual({ status: 'Accepted', parentIdTag: 'P' });
    });

    it('asks about a locally Accepted id while LocalPreAuthorize is false', async () => {
      const { authorizer, remote, listed } = setup({ ocpp: { LocalPreAuthorize: false } });
      listed({ idTag: 'CARD', idTagInfo: ACCEPTED });
      remote.answers.set('CARD', BLOCKED);
      expect(await authorizer.authorize('CARD')).toMatchObject({ info: BLOCKED, source: 'central' });
      expect(remote.asked).toEqual(['CARD']);
    });

    it('accepts a locally Accepted id without asking while LocalPreAuthorize is true', async () => {
      const { authorizer, remote, listed, cache } = setup({ ocpp: { LocalPreAuthorize: true } });
      listed({ idTag: 'LISTED', idTagInfo: ACCEPTED });
      cache.put('CACHED', { status: 'Accepted', expiryDate: FUTURE });
      expect(await authorizer.authorize('listed')).toEqual({
        idTag: 'listed',
        info: ACCEPTED,
        source: 'localList',
      });
      expect(await authorizer.authorize('CACHED')).toMatchObject({
        source: 'cache',
        info: { status: 'Accepted' },
      });
      expect(remote.asked).toEqual([]);
    });

    it('asks about a locally refused or expired id even while LocalPreAuthorize is true', async () => {
      const { authorizer, remote, listed, cache } = setup({ ocpp: { LocalPreAuthorize: true } });
      listed(
        { idTag: 'BLOCKED', idTagInfo: BLOCKED },
        { idTag: 'LAPSED', idTagInfo: { status: 'Accepted', expiryDate: PAST } },
      );
      cache.put('CACHED-INVALID', { status: 'Invalid' });
      remote.answers.set('CACHED-INVALID', ACCEPTED);
      await authorizer.authorize('BLOCKED');
      await authorizer.authorize('LAPSED');
      expect(await authorizer.authorize('CACHED-INVALID')).toMatchObject({
        info: ACCEPTED,
        source: 'central',
      });
      expect(remote.asked).toEqual(['BLOCKED', 'LAPSED', 'CACHED-INVALID']);
      expect(cache.get('CACHED-INVALID')).toEqual(ACCEPTED);
    });

    it('never caches an id on the list, and reports when the central system contradicts the list', async () => {
      const { authorizer, remote, listed, cache } = setup();
      listed({ idTag: 'LISTED', idTagInfo: ACCEPTED });
      const conflicts: LocalListConflict[] = [];
      authorizer.on('localListConflict', (c) => conflicts.push(c));
      remote.answers.set('LISTED', BLOCKED);
      await authorizer.authorize('LISTED');
      authorizer.fromCentral('listed', ACCEPTED);
      expect(cache.size()).toBe(0);
      expect(conflicts).toEqual([{ idTag: 'LISTED', listed: ACCEPTED, central: BLOCKED }]);
    });

    it('caches what StartTransaction / StopTransaction.conf say through fromCentral', () => {
      const { authorizer, cache } = setup();
      authorizer.fromCentral('CARD', { status: 'ConcurrentTx' });
      expect(cache.get('CARD')).toEqual({ status: 'ConcurrentTx' });
    });

    it.each([
      ['not connected', new NotConnectedError()],
      ['no answer in time', new CallTimeoutError('Authorize', 5000)],
    ])('falls back to the offline rules when Authorize.req fails (%s)', async (_what, failure) => {
      const { authorizer, remote, listed } = setup({ ocpp: { LocalAuthorizeOffline: true } });
      listed({ idTag: 'LISTED', idTagInfo: ACCEPTED });
      remote.failure = failure;
      expect(await authorizer.authorize('LISTED')).toMatchObject({ info: ACCEPTED, source: 'localList' });
      expect(await authorizer.authorize('STRANGER')).toMatchObject({
        info: { status: 'Invalid' },
        source: 'offlineUnknown',
      });
      expect(remote.asked).toEqual(['LISTED', 'STRANGER']);
    });

    it('gives the list priority over the cache', async () => {
      const { authorizer, remote, listed, cache } = setup({ ocpp: { LocalPreAuthorize: true } });
      cache.put('CARD', ACCEPTED);
      listed({ idTag: 'CARD', idTagInfo: BLOCKED });
      remote.failure = new NotConnectedError();
      expect(await authorizer.authorize('CARD')).toMatchObject({ info: BLOCKED, source: 'localList' });
    });

    it('neither reads nor fills a disabled cache, and ignores a disabled list', async () => {
      const { authorizer, remote, listed, cache } = setup({
        ocpp: { LocalPreAuthorize: true, AuthorizationCacheEnabled: false, LocalAuthListEnabled: false },
      });
      listed({ idTag: 'LISTED', idTagInfo: ACCEPTED });
      cache.put('CACHED', ACCEPTED);
      remote.answers.set('NEW', ACCEPTED);
      await authorizer.authorize('LISTED');
      await authorizer.authorize('CACHED');
      await authorizer.authorize('NEW');
      expect(remote.asked).toEqual(['LISTED', 'CACHED', 'NEW']);
      expect([cache.size(), cache.get('NEW')]).toEqual([1, undefined]);
    });
  });

  describe('offline', () => {
    it('never asks the central system', async () => {
      const { authorizer, remote } = setup({ online: false });
      await authorizer.authorize('CARD');
      expect(remote.asked).toEqual([]);
    });

    it.each([
      // [LocalAuthorizeOffline, AllowOfflineTxForUnknownId, expected status, expected source]
      [true, false, 'Accepted', 'localList'],
      [false, false, 'Invalid', 'offlineUnknown'],
      [false, true, 'Accepted', 'offlineUnknown'],
    ] as const)(
      'a listed Accepted id, LocalAuthorizeOffline=%s AllowOfflineTxForUnknownId=%s: %s from %s',
      async (localOffline, unknownOffline, status, source) => {
        const { authorizer, listed } = setup({
          online: false,
          ocpp: { LocalAuthorizeOffline: localOffline, AllowOfflineTxForUnknownId: unknownOffline },
        });
        listed({ idTag: 'CARD', idTagInfo: { status: 'Accepted', expiryDate: FUTURE } });
        expect(await authorizer.authorize('CARD')).toMatchObject({ info: { status }, source });
      },
    );

    it('accepts a cached Accepted id when LocalAuthorizeOffline is true', async () => {
      const { authorizer, cache } = setup({ online: false, ocpp: { LocalAuthorizeOffline: true } });
      cache.put('CARD', ACCEPTED);
      expect(await authorizer.authorize('CARD')).toEqual({ idTag: 'CARD', info: ACCEPTED, source: 'cache' });
    });

    it('refuses a locally known id that is not Accepted or has expired, even when unknown ids are let in', async () => {
      const { authorizer, listed, cache, clock } = setup({
        online: false,
        ocpp: { LocalAuthorizeOffline: true, AllowOfflineTxForUnknownId: true },
      });
      listed(
        { idTag: 'BLOCKED', idTagInfo: BLOCKED },
        { idTag: 'LAPSED', idTagInfo: { status: 'Accepted', expiryDate: '2024-05-01T12:00:30.000Z' } },
      );
      cache.put('CACHED-INVALID', { status: 'Invalid' });
      expect(await authorizer.authorize('LAPSED')).toMatchObject({ info: { status: 'Accepted' } });
      clock.advance(30_000);
      expect(await authorizer.authorize('BLOCKED')).toMatchObject({ info: BLOCKED, source: 'localList' });
      expect(await authorizer.authorize('LAPSED')).toMatchObject({
        info: { status: 'Expired', expiryDate: '2024-05-01T12:00:30.000Z' },
        source: 'localList',
      });
      expect(await authorizer.authorize('CACHED-INVALID')).toMatchObject({
        info: { status: 'Invalid' },
        source: 'cache',
      });
    });

    it('an expired list or cache entry stays expired when the wall clock is set back', async () => {
      const { authorizer, listed, cache, clock } = setup({
        online: false,
        ocpp: { LocalAuthorizeOffline: true },
      });
      const expiryDate = '2024-05-01T12:00:30.000Z';
      listed({ idTag: 'LISTED', idTagInfo: { status: 'Accepted', expiryDate } });
      cache.put('CACHED', { status: 'Accepted', expiryDate });
      clock.advance(60_000);
      clock.stepWall(-3_600_000);
      for (const idTag of ['LISTED', 'CACHED']) {
        expect((await authorizer.authorize(idTag)).info.status, idTag).toBe('Expired');
      }
    });

    it.each([
      [true, 'Accepted'],
      [false, 'Invalid'],
    ] as const)('an unknown id with AllowOfflineTxForUnknownId=%s is %s', async (allow, status) => {
      const { authorizer } = setup({ online: false, ocpp: { AllowOfflineTxForUnknownId: allow } });
      expect(await authorizer.authorize('STRANGER')).toEqual({
        idTag: 'STRANGER',
        info: { status },
        source: 'offlineUnknown',
      });
    });

    it('treats keys of functions the charge point does not provide as false', async () => {
      const { authorizer, cache, remote } = setup({ capabilities: [], online: true });
      cache.put('CACHED', ACCEPTED);
      remote.answers.set('NEW', ACCEPTED);
      await authorizer.authorize('NEW');
      expect(cache.get('NEW')).toBeUndefined();
      remote.failure = new NotConnectedError();
      // Unknown ids refused offline, and the cache is not consulted.
      expect(await authorizer.authorize('CACHED')).toMatchObject({
        info: { status: 'Invalid' },
        source: 'offlineUnknown',
      });
    });
  });
});
