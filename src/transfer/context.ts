/** What one attempt of a transfer needs besides its URL and file. */
export interface AttemptContext {
  /** PEM roots the server must chain to (the system's CAs and any given); Node's own list when absent. */
  ca?: string | string[];
  signal?: AbortSignal;
  /** No data for this long: the connection counts as lost. */
  idleTimeoutMs: number;
  /** Throws NoSpace unless `bytes` more fit beside the reserve (downloads only). */
  ensureSpace(bytes: number): Promise<void>;
}
