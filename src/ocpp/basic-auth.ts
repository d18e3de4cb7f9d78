/**
 * The Basic-auth password of security profiles 1 and 2 (OCPP key AuthorizationKey). The white paper
 * (7.2) makes it 16 to 20 bytes, best random binary, given in hexadecimal: up to 40 hex digits.
 * OCTT TC_073 sets the hex of "OCA_OCTT_admin_test" and TC_085 then checks the password of the
 * upgrade request: at least 16 characters, its hex representation 20 to 40 characters. Both hold
 * only for the decoded bytes (19), not for the 38-character hex text (whose hex is 76 long). So a
 * value that is hex (an even number of hex digits) is the representation of the password bytes,
 * as EVerest reads it; any other value is the password itself. Either way 16 to 20 bytes.
 */

const HEX = /^(?:[0-9A-Fa-f]{2})+$/;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
export const MIN_PASSWORD_BYTES = 16;
export const MAX_PASSWORD_BYTES = 20;

/** The password bytes an AuthorizationKey value stands for. */
export function basicAuthPassword(authorizationKey: string): Buffer {
  return HEX.test(authorizationKey)
    ? Buffer.from(authorizationKey, 'hex')
    : Buffer.from(authorizationKey, 'latin1');
}

/**
 * Every form of the secret an AuthorizationKey value is, to be kept out of logs and techInfo: the
 * value as configured and, when that is hex, the password it stands for.
 */
export function authorizationKeySecrets(authorizationKey: string | undefined): string[] {
  if (!authorizationKey) return [];
  const password = basicAuthPassword(authorizationKey).toString('latin1');
  return password === authorizationKey ? [authorizationKey] : [authorizationKey, password];
}

/** Why a value cannot be the AuthorizationKey, or undefined. Never quotes the value: it is a secret. */
export function authorizationKeyProblem(value: string): string | undefined {
  if (HEX.test(value)) {
    const bytes = value.length / 2;
    return bytes < MIN_PASSWORD_BYTES || bytes > MAX_PASSWORD_BYTES
      ? `hexadecimal: must be ${2 * MIN_PASSWORD_BYTES} to ${2 * MAX_PASSWORD_BYTES} hex digits (${MIN_PASSWORD_BYTES} to ${MAX_PASSWORD_BYTES} bytes), not ${value.length}`
      : undefined;
  }
  if (!PRINTABLE_ASCII.test(value)) return 'must be printable ASCII or hexadecimal';
  return value.length < MIN_PASSWORD_BYTES || value.length > MAX_PASSWORD_BYTES
    ? `must be ${MIN_PASSWORD_BYTES} to ${MAX_PASSWORD_BYTES} characters, or ${2 * MIN_PASSWORD_BYTES} to ${2 * MAX_PASSWORD_BYTES} hex digits`
    : undefined;
}

/** The Authorization header of the WebSocket upgrade: Basic base64(<chargePointId>:<password bytes>). */
export function basicAuthorization(chargePointId: string, authorizationKey: string): string {
  const credentials = Buffer.concat([
    Buffer.from(`${chargePointId}:`, 'utf8'),
    basicAuthPassword(authorizationKey),
  ]);
  return `Basic ${credentials.toString('base64')}`;
}
