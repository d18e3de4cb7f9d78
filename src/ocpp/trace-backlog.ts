import type { FrameEvent, FrameHeader } from './rpc.js';

/** A frame the trace noted, with the time it was noted. */
export interface NotedFrame {
  frame: FrameEvent;
  at: number;
}

/** Frames gathered before their strings are joined into one. */
const BATCH_FRAMES = 64;
/** UTF-16 code units of frame text after which a batch is joined however few its frames. */
const BATCH_UNITS = 16 * 1024;
const NO_HEADER = 0;
/** The stored length of an absent action (a stored length is the action's plus one). */
const NO_ACTION = 0;

/**
 * Consecutive frames: while open, their strings in an array; once sealed, joined into one string,
 * their lengths, kinds and times in typed arrays.
 */
class Batch {
  /** The text, message id and action (when there is one) of every frame, in order, until sealed. */
  pieces: string[] | undefined = [];
  /** The pieces joined, once sealed. */
  joined = '';
  /** Per frame: the lengths of its text, its message id, and its action plus one (NO_ACTION). */
  readonly lengths = new Uint32Array(BATCH_FRAMES * 3);
  /** Per frame: the header's message type (NO_HEADER for none) plus one, negated for an outbound frame. */
  readonly kinds = new Int8Array(BATCH_FRAMES);
  readonly ats = new Float64Array(BATCH_FRAMES);
  count = 0;
  units = 0;
  /** The next frame to take, and where its strings start in `joined`. */
  next = 0;
  offset = 0;

  get full(): boolean {
    return this.count === BATCH_FRAMES || this.units >= BATCH_UNITS;
  }

  seal(): void {
    if (this.pieces === undefined) return;
    this.joined = this.pieces.join('');
    this.pieces = undefined;
  }

  read(units: number): string {
    const start = this.offset;
    this.offset += units;
    return this.joined.slice(start, this.offset);
  }
}

/**
 * The frames the trace noted and has not written yet, oldest first. During a burst of calls the
 * trace holds thousands of frames for up to seconds. Kept one by one, each frame's strings outlived
 * young-generation collections and were copied at each, and filled the young generation the daemon
 * keeps small (1 MB), so that it was collected more often: a warm TriggerMessage exchange cost some
 * 12% more instructions than with the frames dropped, and back-to-back calls took a quarter more
 * collections. Here the strings of every BATCH_FRAMES frames are joined into one while they are
 * still young, their lengths, kinds and times go to typed arrays, and the strings the RPC gave die
 * young. The events are built again when written.
 */
export class TraceBacklog {
  /** Oldest first; only the last one may be open. */
  private readonly batches: Batch[] = [];
  private frames = 0;
  private units = 0;

  /** Frames held. */
  get length(): number {
    return this.frames;
  }

  /** The UTF-16 length of the frame texts held (what the trace's byte bounds count). */
  get textLength(): number {
    return this.units;
  }

  /** When the oldest frame held was noted; undefined when none is. */
  get oldestAt(): number | undefined {
    const head = this.batches[0];
    return head && head.next < head.count ? head.ats[head.next] : undefined;
  }

  push(frame: FrameEvent, at: number): void {
    const { text, header } = frame;
    let batch = this.batches[this.batches.length - 1];
    if (batch?.pieces === undefined || batch.full) {
      batch?.seal();
      batch = new Batch();
      this.batches.push(batch);
    }
    const i = batch.count;
    const pieces = batch.pieces!;
    pieces.push(text);
    let kind = NO_HEADER;
    let action: string | undefined;
    if (header) {
      kind = header.messageType;
      action = header.action;
      pieces.push(header.messageId);
      batch.lengths[i * 3 + 1] = header.messageId.length;
      if (action !== undefined) pieces.push(action);
    }
    batch.lengths[i * 3] = text.length;
    batch.lengths[i * 3 + 2] = action === undefined ? NO_ACTION : action.length + 1;
    batch.kinds[i] = frame.direction === 'out' ? -kind - 1 : kind + 1;
    batch.ats[i] = at;
    batch.count = i + 1;
    batch.units += text.length;
    this.frames += 1;
    this.units += text.length;
  }

  /** The oldest frames whose texts reach `minChars` together (at least one frame), or all there are. */
  take(minChars: number): NotedFrame[] {
    const taken: NotedFrame[] = [];
    let chars = 0;
    while (this.frames > 0 && (taken.length === 0 || chars < minChars)) {
      const noted = this.takeOldest();
      chars += noted.frame.text.length;
      taken.push(noted);
    }
    this.units -= chars;
    return taken;
  }

  /** Every frame held, oldest first; the backlog is empty after. */
  takeAll(): NotedFrame[] {
    return this.take(Number.POSITIVE_INFINITY);
  }

  /** The oldest frame, taken off the backlog; call only while one is held. */
  private takeOldest(): NotedFrame {
    const batch = this.batches[0]!;
    // A frame of the open batch is taken: what comes after goes to a new one.
    batch.seal();
    const i = batch.next;
    const text = batch.read(batch.lengths[i * 3]!);
    const messageId = batch.read(batch.lengths[i * 3 + 1]!);
    const actionLength = batch.lengths[i * 3 + 2]!;
    const action = actionLength === NO_ACTION ? undefined : batch.read(actionLength - 1);
    const signed = batch.kinds[i]!;
    const kind = Math.abs(signed) - 1;
    const frame: FrameEvent = { direction: signed < 0 ? 'out' : 'in', text };
    if (kind !== NO_HEADER) {
      const messageType = kind as FrameHeader['messageType'];
      frame.header = action === undefined ? { messageType, messageId } : { messageType, messageId, action };
    }
    const at = batch.ats[i]!;
    batch.next = i + 1;
    this.frames -= 1;
    if (batch.next === batch.count) this.batches.shift();
    return { frame, at };
  }
}
