import type { AuthorizeResponse } from '../../src/ocpp/generated/messages.js';

export type IdTagInfo = AuthorizeResponse['idTagInfo'];
export type AuthorizationStatus = IdTagInfo['status'];

export const AUTHORIZATION_STATUSES: readonly AuthorizationStatus[] = [
  'Accepted',
  'Blocked',
  'Expired',
  'Invalid',
  'ConcurrentTx',
];

export function isAuthorizationStatus(text: string): text is AuthorizationStatus {
  return (AUTHORIZATION_STATUSES as readonly string[]).includes(text);
}

/** What the answers are now: the status for any idTag, and the idTags answered otherwise. */
export interface AuthorizeSettings {
  status: AuthorizationStatus;
  idTags: Record<string, AuthorizationStatus>;
}

/**
 * How the development central system answers an idTag (Authorize, and the idTagInfo of
 * StartTransaction and StopTransaction): one status for every idTag, and per-idTag exceptions.
 * Install it with `rules.authorize = (idTag) => answers.answer(idTag)`.
 */
export class AuthorizeAnswers {
  private status: AuthorizationStatus = 'Accepted';
  /** By the idTag's case-folded form (OCPP's IdToken is a case-insensitive CiString20Type), as set. */
  private readonly byIdTag = new Map<string, { idTag: string; status: AuthorizationStatus }>();

  /** Without an idTag: the answer for every idTag not named on its own. */
  set(status: AuthorizationStatus, idTag?: string): void {
    if (idTag === undefined) this.status = status;
    else this.byIdTag.set(idTag.toUpperCase(), { idTag, status });
  }

  /** Back to Accepted for every idTag, with no exceptions. */
  reset(): void {
    this.status = 'Accepted';
    this.byIdTag.clear();
  }

  answer(idTag: string): IdTagInfo {
    return { status: this.byIdTag.get(idTag.toUpperCase())?.status ?? this.status };
  }

  settings(): AuthorizeSettings {
    const idTags = [...this.byIdTag.values()].map(({ idTag, status }): [string, AuthorizationStatus] => [
      idTag,
      status,
    ]);
    return { status: this.status, idTags: Object.fromEntries(idTags) };
  }
}
