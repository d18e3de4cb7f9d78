/**
 * A bundle whose output file cannot be written fails as a rejected build, not as an unhandled
 * rejection: the frame fuzzer found it, a GetDiagnostics whose state folder was removed while the
 * bundle was being packed.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type BundleSources, buildBundle, diagnosticsDirectory } from '../../src/diagnostics/bundle.js';
import { Redactor } from '../../src/diagnostics/redact.js';

let stateDir: string | undefined;
afterEach(() => {
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  stateDir = undefined;
});

function sources(dir: string, whileStaging: () => void): BundleSources {
  const unused = (): never => {
    throw new Error('not part of a security log bundle');
  };
  return {
    chargePointId: 'CP-BUNDLE',
    stateDir: dir,
    provisioning: {},
    control: { status: unused, queue: unused, transactions: unused, configGet: unused },
    trace: { after: () => [] },
    securityLog: {
      newest: () => {
        whileStaging();
        return [];
      },
    },
    redactor: () => new Redactor('CP-BUNDLE', []),
    now: () => Date.parse('2026-11-30T05:00:00Z'),
  };
}

describe('buildBundle', () => {
  it('rejects, with no unhandled rejection, when its output file cannot be created', async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'cp-bundle-'));
    const diagnostics = diagnosticsDirectory(stateDir);
    // A folder where the bundle's part file goes: opening it for writing fails (EISDIR) while
    // the parts are being packed.
    const blockPartFile = () => {
      const [staging] = readdirSync(diagnostics).filter((name) => name.includes('.staging-'));
      if (staging) mkdirSync(join(diagnostics, `${staging}.part`));
    };
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      await expect(buildBundle('securityLog', {}, sources(stateDir, blockPartFile))).rejects.toThrow();
      // Node reports an unhandled rejection once the microtasks of its turn have run: long before
      // the build, which waits for that very file, rejects; one more turn for good measure.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
    // Nothing of the failed build is left behind.
    expect(readdirSync(diagnostics)).toEqual([]);
  });
});
