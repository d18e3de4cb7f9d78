import type { X509Certificate } from 'node:crypto';
import { certificateOf, isIssuedBy, pemBlocks } from './root-certificate.js';

/**
 * A certificate authority's clock and ours may differ a little: a certificate issued "now" must not
 * be refused because its notBefore is a few seconds ahead of the charger's time.
 */
export const CLOCK_SKEW_MS = 5 * 60 * 1000;

export interface ChainCheck {
  /** The central-system roots installed (PEM), the provisioned caFile's included. */
  roots: readonly string[];
  /** SubjectPublicKeyInfo DER of the key the certificate must certify (the pending request's). */
  publicKeyDer: Buffer;
  nowMs: number;
  /** CertificateSignedMaxChainSize: characters of the chain as sent. */
  maxChainSize: number;
}

export type ChainVerdict = { ok: true; chainPem: string; notAfterMs: number } | { ok: false; reason: string };

/** Why `cert` (named `what` in the reason) is not valid at `nowMs`, notBefore allowing for clock skew. */
export function validityProblem(cert: X509Certificate, nowMs: number, what: string): string | undefined {
  if (Date.parse(cert.validFrom) - CLOCK_SKEW_MS > nowMs)
    return `${what} is not valid before ${cert.validFrom}`;
  if (Date.parse(cert.validTo) < nowMs) return `${what} expired ${cert.validTo}`;
  return undefined;
}

/**
 * Checks a CertificateSigned chain (white paper A02.FR.06): its size, each certificate's validity,
 * the leaf an end-entity certificate for the pending request's key, every link signed by the next
 * CA certificate, and the top one issued by (or being) an installed central-system root. The
 * reason of a refusal names no key material, so it may go to the log and a security event.
 */
export function verifyChargePointChain(chain: string, check: ChainCheck): ChainVerdict {
  if (chain.length > check.maxChainSize)
    return { ok: false, reason: `chain of ${chain.length} characters exceeds CertificateSignedMaxChainSize` };
  const pems = pemBlocks(chain);
  if (pems.length === 0) return { ok: false, reason: 'no PEM certificate in the chain' };
  const certs: X509Certificate[] = [];
  for (const pem of pems) {
    const cert = certificateOf(pem);
    if (!cert) return { ok: false, reason: `certificate ${certs.length + 1} of the chain cannot be parsed` };
    certs.push(cert);
  }
  const [leaf] = certs;
  if (!leaf) return { ok: false, reason: 'empty chain' };
  if (leaf.ca) return { ok: false, reason: 'the first certificate is a CA certificate' };
  if (!leaf.publicKey.export({ type: 'spki', format: 'der' }).equals(check.publicKeyDer))
    return { ok: false, reason: "the certificate's public key is not the one of the pending request" };
  for (const [i, cert] of certs.entries()) {
    const problem = validityProblem(
      cert,
      check.nowMs,
      i === 0 ? 'the certificate' : `chain certificate ${i + 1}`,
    );
    if (problem) return { ok: false, reason: problem };
    const issuer = certs[i + 1];
    if (!issuer) break;
    if (!issuer.ca || !isIssuedBy(cert, issuer))
      return { ok: false, reason: `chain certificate ${i + 1} is not issued by the next one` };
  }
  const top = certs[certs.length - 1] ?? leaf;
  const anchored = check.roots
    .flatMap(pemBlocks)
    .map(certificateOf)
    .some(
      (root) =>
        root?.ca === true &&
        validityProblem(root, check.nowMs, 'root') === undefined &&
        (root.raw.equals(top.raw) || isIssuedBy(top, root)),
    );
  if (!anchored) return { ok: false, reason: 'the chain does not lead to an installed central-system root' };
  return { ok: true, chainPem: `${pems.join('\n')}\n`, notAfterMs: Date.parse(leaf.validTo) };
}
