/**
 * A bundle's name on its own, without the code that builds bundles: the answer to GetDiagnostics
 * and GetLog carries it, while src/diagnostics/bundle.ts (tar, gzip) loads only when one is built.
 */
import type { BundleKind } from './bundle.js';

/**
 * The bundle's name, known before it is built (GetDiagnostics and GetLog answer with it):
 * `diagnostics-<chargePointId>-20261129T190000.123Z.tar.gz` or `securitylog-...`; to the
 * millisecond, so a request that replaces one a moment old gets a name of its own.
 */
export function bundleFileName(kind: BundleKind, chargePointId: string, at: number): string {
  return `${kind === 'diagnostics' ? 'diagnostics' : 'securitylog'}-${fileSafe(chargePointId)}-${stamp(at)}.tar.gz`;
}

/** `2026-11-29T19:00:00.123Z` -> `20261129T190000.123Z`. */
function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '');
}

function fileSafe(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]/g, '_');
}
