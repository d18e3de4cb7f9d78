import { describe, expect, it } from 'vitest';
import {
  createFrameDecoder,
  type FrameResult,
  MAX_PENDING_BYTES,
  normaliseUid,
  rdm6300Checksum,
} from '../../hal/drivers/rfid-frames.js';

const STX = '\x02';
const ETX = '\x03';

/** Frames written out by hand (checksum = XOR of the five data bytes), not built by the code under test. */
const FRAME: Record<string, string> = {
  '62E3086CED': `${STX}62E3086CED08${ETX}`,
  '0F002C5D6A': `${STX}0F002C5D6A14${ETX}`,
  '1122334455': `${STX}112233445511${ETX}`,
  AABBCCDDEE: `${STX}AABBCCDDEEEE${ETX}`,
};

function rdmFrame(data: string): Buffer {
  const frame = FRAME[data];
  if (!frame) throw new Error(`no hand-written frame for ${data}`);
  return Buffer.from(frame, 'latin1');
}

function decode(protocol: 'line-hex' | 'rdm6300', ...chunks: (string | Uint8Array)[]): FrameResult[] {
  const decoder = createFrameDecoder(protocol);
  return chunks.flatMap((c) => decoder.push(typeof c === 'string' ? Buffer.from(c, 'latin1') : c));
}

function tags(results: FrameResult[]): string[] {
  return results.flatMap((r) => (r.kind === 'tag' ? [r.idTag] : []));
}

function badReasons(results: FrameResult[]): string[] {
  return results.flatMap((r) => (r.kind === 'bad' ? [r.reason] : []));
}

/** Feeds the bytes one at a time, as a slow UART might deliver them. */
function bytewise(protocol: 'line-hex' | 'rdm6300', data: Buffer): FrameResult[] {
  return decode(protocol, ...[...data].map((b) => Uint8Array.of(b)));
}

describe('normaliseUid', () => {
  it('upper-cases plain hex and strips consistent pair separators', () => {
    expect(normaliseUid('04a32b1c')).toBe('04A32B1C');
    expect(normaliseUid('04:A3:2B:1C')).toBe('04A32B1C');
    expect(normaliseUid('04 a3 2b 1c')).toBe('04A32B1C');
    expect(normaliseUid('04-A3-2B-1C-5D-6E-80')).toBe('04A32B1C5D6E80');
  });

  it('accepts 4 to 20 hex digits only', () => {
    expect(normaliseUid('ABC')).toBeUndefined();
    expect(normaliseUid('ABCD')).toBe('ABCD');
    expect(normaliseUid('0123456789ABCDEF0123')).toBe('0123456789ABCDEF0123');
    expect(normaliseUid('0123456789ABCDEF01234')).toBeUndefined();
    expect(normaliseUid('01:23:45:67:89:AB:CD:EF:01:23:45')).toBeUndefined();
  });

  it('refuses text that is not a UID', () => {
    expect(normaliseUid('UID=04A32B1C')).toBeUndefined();
    expect(normaliseUid('04:A3-2B:1C')).toBeUndefined();
    expect(normaliseUid('4:A3:2B:1C')).toBeUndefined();
    expect(normaliseUid('04::A3')).toBeUndefined();
    expect(normaliseUid('DEADBEEG')).toBeUndefined();
    expect(normaliseUid('')).toBeUndefined();
  });
});

describe('line-hex decoder', () => {
  it('reads lines ended by CR, LF or CRLF, without counting the CRLF gap as garbage', () => {
    const results = decode('line-hex', '04A32B1C\r', 'DEADBEEF\n', '0a0b0c0d\r\n', '\r\n\n');
    expect(tags(results)).toEqual(['04A32B1C', 'DEADBEEF', '0A0B0C0D']);
    expect(badReasons(results)).toEqual([]);
  });

  it('joins a line split over several reads', () => {
    expect(tags(decode('line-hex', '04:a3', ':2b:', '1c\r\n'))).toEqual(['04A32B1C']);
    expect(tags(bytewise('line-hex', Buffer.from('11 22 33 44\r\n')))).toEqual(['11223344']);
  });

  it('trims whitespace and control bytes around the UID', () => {
    expect(
      tags(decode('line-hex', '  04A32B1C\t\r\n', '\x0204A32B1D\x03\r\n', '\x0004A32B1E\x00\n')),
    ).toEqual(['04A32B1C', '04A32B1D', '04A32B1E']);
  });

  it('rejects lines that are not a UID and keeps reading', () => {
    const binary = Uint8Array.of(0xff, 0xfe, 0x41, 0x42, 0x43, 0x44, 0x80, 0x0d);
    const results = decode('line-hex', 'Reader v1.2 ready\r\n', binary, 'ABC\r\n', '04A32B1C\r\n');
    expect(badReasons(results)).toEqual(['unparsable', 'unparsable', 'unparsable']);
    expect(tags(results)).toEqual(['04A32B1C']);
    const bad = results[0];
    expect(bad?.kind === 'bad' && bad.detail).toContain(Buffer.from('Reader').toString('hex'));
  });

  it('drops an overlong line once and discards its tail up to the next line end', () => {
    const garbage = 'A1'.repeat(600);
    const results = decode('line-hex', garbage.slice(0, 500), garbage.slice(500), '\r\n', 'CAFE01\r\n');
    expect(badReasons(results)).toEqual(['overflow']);
    expect(tags(results)).toEqual(['CAFE01']);
  });

  it('holds at most MAX_PENDING_BYTES before declaring overflow', () => {
    const decoder = createFrameDecoder('line-hex');
    expect(decoder.push(Buffer.alloc(MAX_PENDING_BYTES, 0x41))).toEqual([]);
    expect(badReasons(decoder.push(Buffer.from('A')))).toEqual(['overflow']);
  });
});

describe('rdm6300 decoder', () => {
  it('decodes a frame captured from a reader', () => {
    // 62^E3^08^6C^ED = 08
    const results = decode('rdm6300', `${STX}62E3086CED08${ETX}`);
    expect(results).toEqual([{ kind: 'tag', idTag: '62E3086CED' }]);
  });

  it('computes the checksum as the XOR of the five data bytes', () => {
    expect(rdm6300Checksum('62E3086CED')).toBe(0x08);
    expect(rdm6300Checksum('0000000000')).toBe(0);
    expect(rdm6300Checksum('FF00000000')).toBe(0xff);
  });

  it('accepts lower-case hex and normalises the tag', () => {
    expect(tags(decode('rdm6300', `${STX}62e3086ced08${ETX}`))).toEqual(['62E3086CED']);
  });

  it('drops a frame with a bad checksum and reads the next one', () => {
    const results = decode('rdm6300', `${STX}62E3086CED09${ETX}`, rdmFrame('0F002C5D6A'));
    expect(badReasons(results)).toEqual(['checksum']);
    expect(tags(results)).toEqual(['0F002C5D6A']);
  });

  it('resynchronises on garbage, stray STX bytes and cut frames', () => {
    const stream = Buffer.concat([
      Buffer.from([0xff, 0x00, 0x13, 0x37]),
      rdmFrame('0F002C5D6A'),
      Buffer.from(`\r\n${STX}ZZ`, 'latin1'),
      rdmFrame('1122334455').subarray(0, 7),
      rdmFrame('62E3086CED'),
      Buffer.from(`${STX}${STX}`, 'latin1'),
      rdmFrame('AABBCCDDEE'),
    ]);
    expect(tags(decode('rdm6300', stream))).toEqual(['0F002C5D6A', '62E3086CED', 'AABBCCDDEE']);
    expect(tags(bytewise('rdm6300', stream))).toEqual(['0F002C5D6A', '62E3086CED', 'AABBCCDDEE']);
    expect(badReasons(decode('rdm6300', stream))).not.toContain('checksum');
  });

  it('rejects a frame whose payload is not hex even with STX and ETX in place', () => {
    const results = decode('rdm6300', `${STX}62E3086CXX08${ETX}`);
    expect(tags(results)).toEqual([]);
    expect(badReasons(results)).toContain('unparsable');
  });

  it('reports binary noise without a frame as noise and keeps no backlog', () => {
    const decoder = createFrameDecoder('rdm6300');
    const noise = Buffer.alloc(10_000, 0xaa);
    expect(badReasons(decoder.push(noise))).toEqual(['noise']);
    expect(tags(decoder.push(rdmFrame('0F002C5D6A')))).toEqual(['0F002C5D6A']);
  });
});
