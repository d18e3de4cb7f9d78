import { errorMessage } from '../error-message.js';
import { classifyTlsFailure } from '../ocpp/tls.js';
import { TransferError, type TransferErrorKind } from './types.js';

/** The kind of an HTTP status that is not a success. */
export function httpStatusKind(status: number): TransferErrorKind {
  if (status === 404 || status === 410) return 'NotFound';
  if (status === 401 || status === 403) return 'AccessDenied';
  if (status === 408 || status === 429 || status >= 500) return 'Server';
  return 'Refused';
}

/** The kind of an FTP reply code that is not a success (RFC 959: 4yz transient, 5yz permanent). */
function ftpReplyKind(code: number): TransferErrorKind {
  if (code === 550) return 'NotFound';
  if (code === 530 || code === 532 || code === 553) return 'AccessDenied';
  if (code >= 400 && code < 500) return 'Server';
  return 'Refused';
}

/** The `code` of an error (Node's string codes, basic-ftp's numeric reply codes), if it has one. */
export function errorCode(error: unknown): unknown {
  return typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
}

/** A local write error as a transfer error: a full disk is NoSpace, anything else LocalIo. */
export function localIoError(error: unknown, what: string): TransferError {
  const code = errorCode(error);
  const kind = code === 'ENOSPC' || code === 'EDQUOT' ? 'NoSpace' : 'LocalIo';
  return new TransferError(kind, `${what}: ${errorMessage(error)}`, {
    cause: error,
  });
}

/**
 * Any failure of an attempt as a TransferError. Messages come from the libraries, which never
 * quote the URL's credentials (basic-ftp's replies do not echo PASS; Node's errors name hosts).
 */
export function toTransferError(error: unknown, signal?: AbortSignal): TransferError {
  if (signal?.aborted) return new TransferError('Cancelled', 'cancelled', { cause: error });
  if (error instanceof TransferError) return error;
  const message = errorMessage(error);
  const code = errorCode(error);
  // basic-ftp's FTPError carries the reply code as a number.
  if (typeof code === 'number') return new TransferError(ftpReplyKind(code), message, { cause: error });
  const tls = classifyTlsFailure(error);
  if (tls === 'InvalidCentralSystemCertificate')
    return new TransferError('Certificate', message, { cause: error });
  if (tls !== undefined) return new TransferError('Refused', message, { cause: error });
  return new TransferError('Network', message, { cause: error });
}
