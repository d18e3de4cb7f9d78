/**
 * JSON text of the provisioning and board files. A syntax error is told by line and column, which
 * an editor goes to: V8 gives an offset for some mistakes only, and for the others quotes the whole
 * text instead, which would copy a secret (the AuthorizationKey) into the log.
 */
import { errorMessage } from '../error-message.js';

export class JsonSyntaxError extends Error {}

/**
 * Parses `text`, or throws a JsonSyntaxError "line L column C: what". A byte order mark before it
 * is ignored, as RFC 8259 allows: editors on a technician's laptop write one.
 */
export function parseJson(file: string): unknown {
  const text = file.startsWith('\uFEFF') ? file.slice(1) : file;
  try {
    return JSON.parse(text);
  } catch (error) {
    const offset = syntaxErrorOffset(text);
    const before = text.slice(0, offset).split('\n');
    const column = (before.at(-1)?.length ?? 0) + 1;
    const reason = /^(.*) in JSON at position \d+/.exec(errorMessage(error))?.[1];
    const found = offset < text.length ? unexpected(text.charAt(offset)) : 'unexpected end of the text';
    throw new JsonSyntaxError(`line ${before.length} column ${column}: ${reason ?? found}`);
  }
}

/**
 * JSON's punctuation and white space are shown; any other character is not, since it may be the
 * first of an unquoted secret (`"AuthorizationKey": s3cret`).
 */
function unexpected(char: string): string {
  return '{}[],:" \t\n\r'.includes(char) ? `unexpected ${JSON.stringify(char)}` : 'unexpected character';
}

/** The offset of the first character that cannot continue the JSON text (its length if it ends early). */
export function syntaxErrorOffset(text: string): number {
  let at = 0;
  const skipSpace = () => {
    while (at < text.length && ' \t\n\r'.includes(text.charAt(at))) at++;
  };
  const literal = (word: string): boolean => {
    for (const char of word) {
      if (text.charAt(at) !== char) return false;
      at++;
    }
    return true;
  };
  const string = (): boolean => {
    if (text.charAt(at) !== '"') return false;
    at++;
    while (at < text.length) {
      const char = text.charAt(at);
      if (char === '"') {
        at++;
        return true;
      }
      if (char < ' ') return false;
      at++;
      if (char !== '\\') continue;
      if ('"\\/bfnrt'.includes(text.charAt(at)) && at < text.length) at++;
      else if (text.charAt(at) === 'u') {
        at++;
        for (let digit = 0; digit < 4; digit++, at++) if (!/[0-9a-fA-F]/.test(text.charAt(at))) return false;
      } else return false;
    }
    return false;
  };
  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const members = (close: string, member: () => boolean): boolean => {
    at++;
    skipSpace();
    if (text.charAt(at) === close) {
      at++;
      return true;
    }
    for (;;) {
      if (!member()) return false;
      skipSpace();
      const char = text.charAt(at);
      if (char === close) {
        at++;
        return true;
      }
      if (char !== ',') return false;
      at++;
      skipSpace();
    }
  };
  const value = (): boolean => {
    skipSpace();
    const char = text.charAt(at);
    if (char === '{') {
      return members('}', () => {
        if (!string()) return false;
        skipSpace();
        if (text.charAt(at) !== ':') return false;
        at++;
        return value();
      });
    }
    if (char === '[') return members(']', value);
    if (char === '"') return string();
    if (char === 't') return literal('true');
    if (char === 'f') return literal('false');
    if (char === 'n') return literal('null');
    NUMBER.lastIndex = at;
    if (!NUMBER.test(text)) return false;
    at = NUMBER.lastIndex;
    return true;
  };
  if (value()) skipSpace();
  return Math.min(at, text.length);
}
