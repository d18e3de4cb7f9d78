/**
 * The trace's backlog joins noted frames' strings in batches and builds their events again when
 * they are written: every frame must come back exactly as noted (text, direction, header, time),
 * in order, across takes of any size and across batches (closed by their number of frames, by the
 * size of their texts, or by a take), and the counts the trace's bounds read must follow every
 * push and take.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FrameEvent } from '../../src/ocpp/rpc.js';
import { type NotedFrame, TraceBacklog } from '../../src/ocpp/trace-backlog.js';

const anyString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  // Lone surrogates and pairs: what a peer's JSON escape can put in a message id or action.
  fc.string({ unit: 'binary' }),
  fc.string({ unit: fc.constantFrom('\ud800', '\udfff', '\ud83d\ude00', 'é', '"', '\u0000') }),
);

const header = fc.option(
  fc.record(
    {
      messageType: fc.constantFrom(2, 3, 4) as fc.Arbitrary<2 | 3 | 4>,
      messageId: anyString,
      action: anyString,
    },
    { requiredKeys: ['messageType', 'messageId'] },
  ),
  { nil: undefined },
);

/** A noted frame whose text comes from `text`. */
function notedWith(text: fc.Arbitrary<string>, at: fc.Arbitrary<number>): fc.Arbitrary<NotedFrame> {
  const frame: fc.Arbitrary<FrameEvent> = fc
    .record({ direction: fc.constantFrom('in', 'out') as fc.Arbitrary<'in' | 'out'>, text, header })
    .map(({ direction, text, header }) => (header ? { direction, text, header } : { direction, text }));
  return fc.record({ frame, at });
}

type Step = { push: NotedFrame } | { take: number };

/**
 * Runs `steps` on a new backlog: every frame must come back as noted, in order, and the counts the
 * trace's bounds read must follow (after every step, or once at the end).
 */
function replay(steps: Step[], checkEveryStep: boolean): void {
  const backlog = new TraceBacklog();
  const expected: NotedFrame[] = [];
  const got: NotedFrame[] = [];
  const checkCounts = (): void => {
    const held = expected.slice(got.length);
    expect(backlog.length).toBe(held.length);
    expect(backlog.textLength).toBe(held.reduce((sum, n) => sum + n.frame.text.length, 0));
    expect(backlog.oldestAt).toBe(held[0]?.at);
  };
  for (const step of steps) {
    if ('push' in step) {
      backlog.push(step.push.frame, step.push.at);
      expected.push(step.push);
    } else got.push(...backlog.take(step.take));
    if (checkEveryStep) checkCounts();
  }
  checkCounts();
  got.push(...backlog.takeAll());
  expect(got).toEqual(expected);
  expect(backlog.length).toBe(0);
}

describe('TraceBacklog', () => {
  it('gives every frame back as noted, in order, across takes of any size', () => {
    const noted = notedWith(
      anyString,
      fc.oneof(fc.integer({ min: 0, max: 2 ** 45 }), fc.double({ noNaN: true })),
    );
    const step: fc.Arbitrary<Step> = fc.oneof(
      noted.map((n) => ({ push: n })),
      fc.nat(400).map((take) => ({ take })),
    );
    fc.assert(
      fc.property(fc.array(step), (steps) => replay(steps, true)),
      { numRuns: 300 },
    );
  });

  it('gives every frame back as noted across batches closed by count, by size and by takes', () => {
    // Texts from empty to larger than a batch holds; runs longer than a batch's frames.
    const sized = fc.oneof(
      { weight: 8, arbitrary: fc.string({ maxLength: 40 }) },
      { weight: 1, arbitrary: fc.nat(40_000).map((n) => 'x'.repeat(n)) },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1_000, maxLength: 5_000 }) },
    );
    const step: fc.Arbitrary<Step> = fc.oneof(
      {
        weight: 6,
        arbitrary: notedWith(sized, fc.integer({ min: 0, max: 2 ** 45 })).map((n) => ({ push: n })),
      },
      { weight: 1, arbitrary: fc.nat(100_000).map((take) => ({ take })) },
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 300 }), (steps) => replay(steps, false)),
      { numRuns: 40 },
    );
  });

  it('takes the oldest frames until their texts reach the size asked, at least one', () => {
    const backlog = new TraceBacklog();
    for (const text of ['aaaa', 'bbbb', 'cccc', 'dddd']) backlog.push({ direction: 'in', text }, 1);
    expect(backlog.take(0).map((n) => n.frame.text)).toEqual(['aaaa']);
    expect(backlog.take(5).map((n) => n.frame.text)).toEqual(['bbbb', 'cccc']);
    expect(backlog.take(100).map((n) => n.frame.text)).toEqual(['dddd']);
    expect(backlog.take(100)).toEqual([]);
  });

  it('keeps the order across many takes and batches', () => {
    const backlog = new TraceBacklog();
    const got: string[] = [];
    let pushed = 0;
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 97; i++) backlog.push({ direction: 'out', text: String(pushed++) }, pushed);
      got.push(...backlog.take(round * 7).map((n) => n.frame.text));
    }
    got.push(...backlog.takeAll().map((n) => n.frame.text));
    expect(got).toEqual(Array.from({ length: pushed }, (_, i) => String(i)));
    expect(backlog.length).toBe(0);
    expect(backlog.oldestAt).toBeUndefined();
  });
});
