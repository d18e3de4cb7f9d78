import { basicAuthPassword } from '../ocpp/basic-auth.js';
import { PEM_PRIVATE_KEY, REDACTED } from '../ocpp/trace.js';
import { redactUrlsIn } from '../transfer/url.js';

/** Field names whose value is a secret whatever it looks like. */
const SECRET_FIELD = /authorizationkey|password|passphrase|secret|token|privatekey/i;

/**
 * Removes every secret a diagnostics file could carry from text: each spelling of the
 * AuthorizationKey (as configured, the password bytes it stands for, their hex in either case,
 * the Basic header's base64), passwords in URLs (transfer/url.ts's redactUrlsIn, as the trace) and
 * PEM private-key blocks. The trace and the log are redacted where they are written; this is the
 * last pass before anything leaves the charger.
 */
export class Redactor {
  private readonly spellings: string[];

  constructor(chargePointId: string, authorizationKeys: readonly (string | undefined)[]) {
    const spellings = new Set<string>();
    for (const key of authorizationKeys) {
      if (!key) continue;
      const password = basicAuthPassword(key);
      spellings.add(key);
      spellings.add(password.toString('latin1'));
      spellings.add(password.toString('hex').toUpperCase());
      spellings.add(password.toString('hex'));
      spellings.add(
        Buffer.concat([Buffer.from(`${chargePointId}:`), password])
          .toString('base64')
          .replace(/=+$/, ''),
      );
    }
    // Longest first, so a spelling inside another is not left half replaced.
    this.spellings = [...spellings].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
  }

  text(text: string): string {
    let out = text.includes('PRIVATE KEY-----') ? text.replace(PEM_PRIVATE_KEY, REDACTED) : text;
    out = redactUrlsIn(out, REDACTED);
    for (const secret of this.spellings) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    return out;
  }

  /** A copy of a JSON value with secret fields blanked and every string cleaned. */
  value(node: unknown): unknown {
    if (typeof node === 'string') return this.text(node);
    if (Array.isArray(node)) return node.map((item) => this.value(item));
    if (typeof node !== 'object' || node === null) return node;
    const out: Record<string, unknown> = {};
    for (const [name, child] of Object.entries(node)) {
      out[name] = SECRET_FIELD.test(name) ? REDACTED : this.value(child);
    }
    // A configuration key as GetConfiguration lists it: {key, value}.
    if (typeof out.key === 'string' && SECRET_FIELD.test(out.key) && 'value' in out) out.value = REDACTED;
    return out;
  }
}
