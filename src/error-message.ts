/**
 * The message of whatever was thrown: an Error's message, else its text. A rejection is not always
 * an Error (a library may reject with a string or a status object), and `(error as Error).message`
 * then logged `undefined`.
 */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
