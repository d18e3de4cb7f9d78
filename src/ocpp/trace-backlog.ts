import type { FrameEvent, FrameHeader } from './rpc.js';

/** A frame the trace noted, with the time it was noted. */
export interface NotedFrame {
  frame: FrameEvent;
  at: number;
}

/** Taken frames are dropped from the columns' fronts in one splice once this many have gone. */
const COMPACT_AFTER = 1024;
const NO_HEADER = 0;

/**
 * The frames the trace noted and has not written yet, oldest first, kept as columns: the text,
 * message id and action strings the frame already had, its header type and direction in a small
 * integer, its time in a number array. During a flood the trace holds thousands of frames for
 * seconds; kept as objects (the event, its header, a wrapper, the boxed time), each frame was four
 * objects besides its strings that outlived two young-generation collections, copied at each,
 * then marked by every old-generation one. Columns hold only the strings, which must be kept
 * anyway (three seconds of back-to-back TriggerMessage exchanges: the heap grew 10 -> 21 MB, as
 * objects 10 -> 33 MB). The events are built again when written.
 */
export class TraceBacklog {
  private texts: string[] = [];
  private ids: string[] = [];
  private actions: Array<string | undefined> = [];
  /** The header's message type (NO_HEADER for none) plus one, negated for an outbound frame. */
  private kinds: number[] = [];
  private ats: number[] = [];
  /** Index of the oldest frame held: the columns' fronts are taken frames until compacted. */
  private head = 0;
  private chars = 0;

  /** Frames held. */
  get length(): number {
    return this.texts.length - this.head;
  }

  /** The UTF-16 length of the frame texts held (what the trace's byte bounds count). */
  get textLength(): number {
    return this.chars;
  }

  /** When the oldest frame held was noted; undefined when none is. */
  get oldestAt(): number | undefined {
    return this.head < this.ats.length ? this.ats[this.head] : undefined;
  }

  push(frame: FrameEvent, at: number): void {
    const { text, header } = frame;
    const kind = header ? header.messageType : NO_HEADER;
    this.texts.push(text);
    this.ids.push(header ? header.messageId : '');
    this.actions.push(header?.action);
    this.kinds.push(frame.direction === 'out' ? -kind - 1 : kind + 1);
    this.ats.push(at);
    this.chars += text.length;
  }

  /** The oldest frames whose texts reach `minChars` together (at least one frame), or all there are. */
  take(minChars: number): NotedFrame[] {
    const taken: NotedFrame[] = [];
    let chars = 0;
    while (this.head < this.texts.length && (taken.length === 0 || chars < minChars)) {
      const noted = this.frameAt(this.head);
      this.head += 1;
      chars += noted.frame.text.length;
      taken.push(noted);
    }
    this.chars -= chars;
    this.compact();
    return taken;
  }

  /** Every frame held, oldest first; the backlog is empty after. */
  takeAll(): NotedFrame[] {
    return this.take(Number.POSITIVE_INFINITY);
  }

  private frameAt(i: number): NotedFrame {
    const signed = this.kinds[i]!;
    const kind = Math.abs(signed) - 1;
    const frame: FrameEvent = { direction: signed < 0 ? 'out' : 'in', text: this.texts[i]! };
    if (kind !== NO_HEADER) {
      const messageType = kind as FrameHeader['messageType'];
      const messageId = this.ids[i]!;
      const action = this.actions[i];
      frame.header = action === undefined ? { messageType, messageId } : { messageType, messageId, action };
    }
    return { frame, at: this.ats[i]! };
  }

  /** Drops taken frames from the columns: all of them once none is held, else in batches. */
  private compact(): void {
    if (this.head === this.texts.length) {
      this.texts = [];
      this.ids = [];
      this.actions = [];
      this.kinds = [];
      this.ats = [];
      this.head = 0;
    } else if (this.head >= COMPACT_AFTER) {
      for (const column of [this.texts, this.ids, this.actions, this.kinds, this.ats])
        column.splice(0, this.head);
      this.head = 0;
    }
  }
}
