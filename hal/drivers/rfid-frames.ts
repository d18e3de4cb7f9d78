/**
 * Frame decoders for serial card readers: bytes in, id tags (or reasons for rejecting bytes) out.
 * No I/O and no time here, so every framing rule is testable with plain buffers.
 */

export type RfidProtocol = 'line-hex' | 'rdm6300';

export const RFID_PROTOCOLS: readonly RfidProtocol[] = ['line-hex', 'rdm6300'];

/** OCPP 1.6 IdToken is CiString20. */
export const ID_TAG_MAX_LENGTH = 20;

/** Bytes held while waiting for a terminator; beyond this the line is garbage, not a slow card. */
export const MAX_PENDING_BYTES = 256;

export type FrameResult =
  | { kind: 'tag'; idTag: string }
  | { kind: 'bad'; reason: 'unparsable' | 'checksum' | 'noise' | 'overflow'; detail: string };

/** Stateful across chunks (a frame may arrive split over several reads). */
export interface FrameDecoder {
  push(chunk: Uint8Array): FrameResult[];
}

export function createFrameDecoder(protocol: RfidProtocol): FrameDecoder {
  return protocol === 'rdm6300' ? new Rdm6300Decoder() : new LineHexDecoder();
}

/**
 * A UID as readers print it ("04a32b1c", "04:A3:2B:1C", "04 a3 2b 1c") to the OCPP id tag
 * ("04A32B1C"), or undefined when it is not 4..20 hex digits. Separators are accepted only
 * between byte pairs and used consistently, so text that merely contains hex letters is refused.
 */
export function normaliseUid(text: string): string | undefined {
  const plain = /^[0-9A-Fa-f]+$/.test(text);
  const separated = /^[0-9A-Fa-f]{2}(?<sep>[:\- ])[0-9A-Fa-f]{2}(?:\k<sep>[0-9A-Fa-f]{2})*$/.test(text);
  if (!plain && !separated) return undefined;
  const hex = text.replace(/[:\- ]/g, '').toUpperCase();
  return hex.length >= 4 && hex.length <= ID_TAG_MAX_LENGTH ? hex : undefined;
}

const CR = 0x0d;
const LF = 0x0a;

/** Shows what was rejected in a log line without flooding it. */
function preview(bytes: Uint8Array): string {
  const head = Buffer.from(bytes.subarray(0, 32)).toString('hex');
  return bytes.length > 32 ? `${head}… (${bytes.length} bytes)` : head;
}

/** Space and control bytes: some readers wrap lines in STX/ETX, NUL padding or tabs. */
function isPadding(byte: number): boolean {
  return byte <= 0x20 || byte === 0x7f;
}

function trimPadding(bytes: Uint8Array): Uint8Array {
  let start = 0;
  let end = bytes.length;
  while (start < end && isPadding(bytes[start] ?? 0)) start++;
  while (end > start && isPadding(bytes[end - 1] ?? 0)) end--;
  return bytes.subarray(start, end);
}

/** One card per line, ended by CR, LF or CRLF. */
class LineHexDecoder implements FrameDecoder {
  private pending: number[] = [];
  /** After an overflow, the rest of that line up to its terminator is garbage too. */
  private skipping = false;

  push(chunk: Uint8Array): FrameResult[] {
    const results: FrameResult[] = [];
    for (const byte of chunk) {
      if (byte === CR || byte === LF) {
        if (this.skipping) this.skipping = false;
        else this.endLine(results);
        continue;
      }
      if (this.skipping) continue;
      this.pending.push(byte);
      if (this.pending.length > MAX_PENDING_BYTES) {
        results.push({
          kind: 'bad',
          reason: 'overflow',
          detail: `no line end within ${MAX_PENDING_BYTES} bytes`,
        });
        this.pending = [];
        this.skipping = true;
      }
    }
    return results;
  }

  private endLine(results: FrameResult[]): void {
    const bytes = Uint8Array.from(this.pending);
    this.pending = [];
    // latin1 maps every byte to one character, so binary noise cannot become a valid hex digit.
    const text = Buffer.from(trimPadding(bytes)).toString('latin1');
    // The empty "line" between CR and LF of a CRLF, or a blank line, is not an attempt at a card.
    if (text === '') return;
    const idTag = normaliseUid(text);
    results.push(
      idTag ? { kind: 'tag', idTag } : { kind: 'bad', reason: 'unparsable', detail: preview(bytes) },
    );
  }
}

const STX = 0x02;
const ETX = 0x03;
/** STX + 10 data + 2 checksum + ETX. */
const RDM6300_FRAME_LENGTH = 14;

/** XOR of the five data bytes given as ten hex characters. */
export function rdm6300Checksum(dataHex: string): number {
  let sum = 0;
  for (let i = 0; i < dataHex.length; i += 2) sum ^= Number.parseInt(dataHex.slice(i, i + 2), 16);
  return sum;
}

/**
 * RDM6300 / EM4100: STX, 10 ASCII hex (version + tag), 2 ASCII hex checksum, ETX. The id tag is
 * all ten data characters, the full 40-bit EM4100 id, so two cards differing only in the version
 * byte are never confused.
 */
class Rdm6300Decoder implements FrameDecoder {
  private pending = Buffer.alloc(0);

  push(chunk: Uint8Array): FrameResult[] {
    const results: FrameResult[] = [];
    this.pending = Buffer.concat([this.pending, chunk]);
    for (;;) {
      const start = this.pending.indexOf(STX);
      if (start < 0) {
        if (this.pending.length > 0) results.push(this.noise(this.pending));
        this.pending = Buffer.alloc(0);
        break;
      }
      if (start > 0) {
        results.push(this.noise(this.pending.subarray(0, start)));
        this.pending = this.pending.subarray(start);
      }
      if (this.pending.length < RDM6300_FRAME_LENGTH) break;
      const frame = this.pending.subarray(0, RDM6300_FRAME_LENGTH);
      const text = frame.subarray(1, RDM6300_FRAME_LENGTH - 1).toString('latin1');
      if (frame[RDM6300_FRAME_LENGTH - 1] !== ETX || !/^[0-9A-Fa-f]{12}$/.test(text)) {
        // Not a frame after all (the STX was noise, or a frame was cut): look for the next STX.
        results.push({ kind: 'bad', reason: 'unparsable', detail: preview(frame) });
        this.pending = this.pending.subarray(1);
        continue;
      }
      this.pending = this.pending.subarray(RDM6300_FRAME_LENGTH);
      const data = text.slice(0, 10).toUpperCase();
      const expected = rdm6300Checksum(data);
      const got = Number.parseInt(text.slice(10), 16);
      results.push(
        expected === got
          ? { kind: 'tag', idTag: data }
          : { kind: 'bad', reason: 'checksum', detail: `frame ${text}: checksum ${got} != ${expected}` },
      );
    }
    // Copy so a long-lived small remainder does not pin a large read buffer.
    this.pending = Buffer.from(this.pending);
    return results;
  }

  private noise(bytes: Uint8Array): FrameResult {
    return { kind: 'bad', reason: 'noise', detail: preview(bytes) };
  }
}
