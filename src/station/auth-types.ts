/** Authorization vocabulary of the station (mirrors OCPP's IdTagInfo; not a frame type). */
export type AuthorizationStatus = 'Accepted' | 'Blocked' | 'Expired' | 'Invalid' | 'ConcurrentTx';

export interface IdTagInfo {
  status: AuthorizationStatus;
  /** ISO 8601. */
  expiryDate?: string;
  parentIdTag?: string;
}

/** Where an authorization decision came from. */
export type AuthorizationSource = 'localList' | 'cache' | 'central' | 'offlineUnknown';

export interface AuthorizationDecision {
  idTag: string;
  info: IdTagInfo;
  source: AuthorizationSource;
  /**
   * The central system's verdict came in the StartTransaction.conf of the transaction the id
   * started (source `central`), not in an Authorize.conf; absent for every other decision.
   */
  via?: 'StartTransaction';
}

/** Sends Authorize.req and returns the central system's IdTagInfo; rejects when it cannot. */
export type RemoteAuthorize = (idTag: string) => Promise<IdTagInfo>;
