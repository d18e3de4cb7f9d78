import { EventEmitter } from 'node:events';
import type { Clock } from '../clock.js';
import { errorMessage } from '../error-message.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/database.js';
import {
  openTraceConnection,
  type TraceConnection,
  type TraceEntry,
  type TraceQuery,
  type TraceRepo,
} from '../store/trace-repo.js';
import { redactUrlsIn } from '../transfer/url.js';
import { MESSAGE_TYPE } from './frames.js';
import type { FrameEvent, FrameHeader } from './rpc.js';
import { type NotedFrame, TraceBacklog } from './trace-backlog.js';

/** Stands where a secret was; also what tests look for. */
export const REDACTED = '[redacted]';

/** A longer frame (a big SendLocalList) is cut: the ring is bounded in bytes, not only in frames. */
export const MAX_TRACED_TEXT = 16 * 1024;

/**
 * How long the link must have been quiet (no frame noted) before noted frames are written, and so
 * how long a frame waits at least. Not an immediate: the RPC sends its next CALL from an immediate
 * queued after the answer that frees it, and a write queued with the same answer's frame would run
 * first, on that CALL's path. While frames keep coming the write waits (TRACE_MAX_DELAY_MS and
 * TRACE_BACKLOG_BYTES bound how long and how much): a burst of calls is not slowed by writing its
 * own trace, which catches up in the next quiet moment.
 */
export const TRACE_WRITE_DELAY_MS = 10;

/**
 * The longest a noted frame waits for a quiet moment: then it is written however busy the link is.
 * A link with a central system is quiet within milliseconds; only a flood of back-to-back calls
 * waits this long, and writing its trace meanwhile (some 50 us of SQLite per GetCompositeSchedule
 * exchange) is what made the calls' slowest answers slow: with 1 s and 256 KB of backlog the bench's
 * GetCompositeSchedule p99 was 2.1-3.5 ms, with 5 s and 4 MB 1.2-2.2 ms. A crash still writes
 * what waits (the daemon's crash handler flushes the trace); a power cut loses at most this much.
 */
export const TRACE_MAX_DELAY_MS = 5000;

/**
 * How often, at most, the trace's connection folds the WAL into the database file (a PASSIVE
 * checkpoint: two syncs, milliseconds on an SD card), and only in a quiet moment after frames were
 * written, so that no call waits for it. A flood without quiet moments is bounded by the
 * connection's own automatic checkpoint (trace-repo.ts).
 */
export const TRACE_CHECKPOINT_MS = 10_000;

/**
 * Frame text written in one turn of the event loop (at least one frame): a batch is written in
 * slices of this size, one timer turn apart, so a central-system CALL that arrives meanwhile waits
 * for one slice (some 0.2 ms), never for the whole batch (a busy link's 10 ms of big
 * GetCompositeSchedule answers take milliseconds to write).
 */
export const TRACE_SLICE_BYTES = 8 * 1024;

/**
 * Frame text left waiting after a slice, at most: a link delivering more than a slice per timer
 * turn (a flood of big frames) gets bigger slices, so what waits in memory stays bounded. Room for
 * a few seconds of a flood of big answers (a thousand day-long composite schedules), held only
 * while the flood lasts.
 */
export const TRACE_BACKLOG_BYTES = 4 * 1024 * 1024;

/**
 * The ring's size in bytes unless told otherwise: 10,000 frames of MAX_TRACED_TEXT would be 160 MB,
 * which a central system sending big frames could otherwise make us write to an SD card.
 */
export const DEFAULT_TRACE_BYTES = 4 * 1024 * 1024;

/** Calls whose answer has not been seen, remembered to name the action of that answer. */
const OPEN_CALLS_KEPT = 64;

/** A PEM private key block (or its unterminated start): what no output may carry. */
export const PEM_PRIVATE_KEY =
  /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(?:-----END \1PRIVATE KEY-----|$)/g;
const AUTHORIZATION_KEY = /authorizationkey/i;
const JSON_UNICODE_ESCAPE = /\\u([0-9a-fA-F]{4})/g;
/** What parseFrame returns for text that is not JSON. */
const UNREADABLE: unique symbol = Symbol('unreadable');

/**
 * The text of a frame with its secrets removed: the value of the AuthorizationKey configuration
 * key wherever a {key, value} pair carries it (ChangeConfiguration.req, and GetConfiguration.conf
 * should it ever disclose it), every PEM private-key block, and the password of every URL in any
 * string of the frame (a file server's, in UpdateFirmware's and GetDiagnostics' location,
 * SignedUpdateFirmware's firmware.location, GetLog's log.remoteLocation, or any other field, in
 * whichever action: redactUrlsIn, so `ftp://user:[redacted]@host/path` keeps the rest). The frame
 * is judged as JSON decodes it, not as its bytes spell it: `"Authorization\u004bey"` is the same
 * key to the central system's parser and to ours. A frame that cannot be read as JSON but mentions
 * the key (escaped or not) is replaced whole: its secret cannot be located, so none of it is kept.
 */
export function redactFrame(text: string): string {
  // Text that cannot spell a secret is kept as it is, readable or not, without parsing it: an
  // unreadable frame's decoding is its text when it has no \\u escape.
  return maySpellSecret(text) ? redactParsed(text, parseFrame(text)) : text;
}

/** `text` as JSON.parse reads it, or UNREADABLE: parsed once per traced frame, for its header and its redaction. */
function parseFrame(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return UNREADABLE;
  }
}

function redactParsed(text: string, frame: unknown): string {
  if (frame === UNREADABLE) return redactUnreadable(text);
  if (!maySpellSecret(text)) return text;
  const redacted = redactValue(frame);
  return redacted.changed ? JSON.stringify(redacted.value) : text;
}

/**
 * Whether the decoded frame can hold what redactValue removes. Only a \\u escape can spell a
 * letter, a space, a hyphen or an '@' other than as itself, so without one the key name, the PEM
 * marker and the '@' ending a URL's user:password appear literally: most frames are then kept
 * without walking their decoded tree.
 */
function maySpellSecret(text: string): boolean {
  return (
    text.includes('\\u') ||
    text.includes('@') ||
    text.includes('PRIVATE KEY-----') ||
    AUTHORIZATION_KEY.test(text)
  );
}

function redactUnreadable(text: string): string {
  const decoded = text.replace(JSON_UNICODE_ESCAPE, (_escape, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );
  if (AUTHORIZATION_KEY.test(decoded)) return `${REDACTED} (unreadable frame mentioning AuthorizationKey)`;
  const redacted = redactString(decoded);
  return redacted === decoded ? text : redacted;
}

/** A string with its private keys and URL passwords out. */
function redactString(text: string): string {
  const withoutKeys = text.includes('PRIVATE KEY-----') ? redactPem(text) : text;
  return redactUrlsIn(withoutKeys, REDACTED);
}

function redactPem(text: string): string {
  return text.replace(PEM_PRIVATE_KEY, (_block, kind: string) => {
    return `-----BEGIN ${kind}PRIVATE KEY-----${REDACTED}-----END ${kind}PRIVATE KEY-----`;
  });
}

/**
 * The decoded frame with `value` blanked beside `key: AuthorizationKey` (any case), and private
 * keys and URL passwords cut out of every string, anywhere in the tree; `changed` says whether
 * anything was.
 */
function redactValue(node: unknown): { value: unknown; changed: boolean } {
  if (typeof node === 'string') {
    const value = redactString(node);
    return { value, changed: value !== node };
  }
  if (Array.isArray(node)) {
    const items = node.map(redactValue);
    return { value: items.map((item) => item.value), changed: items.some((item) => item.changed) };
  }
  if (typeof node !== 'object' || node === null) return { value: node, changed: false };
  let changed = false;
  const out: Record<string, unknown> = {};
  for (const [name, child] of Object.entries(node)) {
    const redacted = redactValue(child);
    out[name] = redacted.value;
    changed ||= redacted.changed;
  }
  if (typeof out.key === 'string' && out.key.toLowerCase() === 'authorizationkey' && 'value' in out) {
    out.value = REDACTED;
    changed = true;
  }
  return { value: out, changed };
}

/** What the trace can tell of a frame's header: the RPC's, or as much as the text shows. */
type TracedHeader = Partial<FrameHeader>;

/** The OCPP-J header of a parsed frame: type, id and (for a CALL) action. Empty for anything else. */
function frameHeader(frame: unknown): TracedHeader {
  if (!Array.isArray(frame) || typeof frame[1] !== 'string') return {};
  const [messageType, messageId, action] = frame as [unknown, string, unknown];
  if (messageType === MESSAGE_TYPE.CALL) {
    return { messageType, messageId, ...(typeof action === 'string' ? { action } : {}) };
  }
  if (messageType === MESSAGE_TYPE.CALLRESULT || messageType === MESSAGE_TYPE.CALLERROR) {
    return { messageType, messageId };
  }
  return {};
}

export interface FrameTraceOptions {
  store: Pick<Store, 'db' | 'path'>;
  /** Frames kept; 0 records nothing. */
  maxFrames: number;
  /** Bytes of frame text kept, whatever the number of frames; default DEFAULT_TRACE_BYTES. */
  maxBytes?: number;
  clock: Pick<Clock, 'now'>;
  log: Logger;
}

interface FrameSource {
  on(event: 'frame', listener: (frame: FrameEvent) => void): unknown;
  off(event: 'frame', listener: (frame: FrameEvent) => void): unknown;
}

/**
 * The OCPP frame trace: every frame in and out, redacted, in a bounded ring in the store, for
 * `cpctl trace`. Recording sits on the path of every frame, so it never throws: a failed write
 * costs that frame's trace line and one log line per run of failures, never the frame.
 *
 * Events: 'entry' (TraceEntry) after each stored frame.
 */
export class FrameTrace extends EventEmitter<{ entry: [TraceEntry] }> {
  private readonly connection: TraceConnection;
  private readonly repo: TraceRepo;
  private readonly openCalls = new Map<string, string>();
  private readonly detachers: Array<() => void> = [];
  private failing = false;
  /** Frames seen but not yet written, oldest first: the write waits until the exchange has moved on. */
  private readonly pending = new TraceBacklog();
  /** The next slice's write. */
  private writeTimer: NodeJS.Timeout | undefined;
  /** Frames noted since the trace began, and that count when the link was last looked at. */
  private noted = 0;
  private notedWhenLooked = 0;
  /** Frames were written since the last checkpoint. */
  private unfolded = false;
  /** The next checkpoint, once frames were written. */
  private checkpointTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: FrameTraceOptions) {
    super();
    this.connection = openTraceConnection(opts.store);
    this.repo = this.connection.repo(opts.maxFrames, opts.maxBytes ?? DEFAULT_TRACE_BYTES);
  }

  /**
   * Records every frame `source` (the RpcEndpoint) emits, until close(). The frame is only noted
   * here and written once the link has been quiet for TRACE_WRITE_DELAY_MS, in slices of
   * TRACE_SLICE_BYTES, so tracing adds nothing to the time a central system's call waits for its
   * answer, nor to the time our next CALL waits to be sent, and a call arriving during the write
   * waits for one slice at most.
   */
  attach(source: FrameSource): void {
    const listener = (frame: FrameEvent) => this.defer(frame);
    source.on('frame', listener);
    this.detachers.push(() => source.off('frame', listener));
  }

  private defer(frame: FrameEvent): void {
    if (this.opts.maxFrames === 0) return;
    this.noted += 1;
    this.pending.push(frame, this.opts.clock.now());
    if (!this.writeTimer) {
      this.notedWhenLooked = this.noted;
      this.writeLater(TRACE_WRITE_DELAY_MS);
    }
  }

  private writeLater(delayMs: number): void {
    this.writeTimer = setTimeout(() => this.writeWhenQuiet(), delayMs);
    // close() writes what is left; a pending write must not keep a stopping daemon alive.
    this.writeTimer.unref();
  }

  /** No frame was noted since the link was last looked at. */
  private quiet(): boolean {
    const quiet = this.noted === this.notedWhenLooked;
    this.notedWhenLooked = this.noted;
    return quiet;
  }

  /**
   * Writes a slice if the link has been quiet for a turn of this timer, the oldest frame has
   * waited TRACE_MAX_DELAY_MS, or more than TRACE_BACKLOG_BYTES wait; else looks again later.
   */
  private writeWhenQuiet(): void {
    this.writeTimer = undefined;
    const oldestAt = this.pending.oldestAt;
    if (oldestAt === undefined) return;
    const due =
      this.quiet() ||
      this.opts.clock.now() - oldestAt >= TRACE_MAX_DELAY_MS ||
      this.pending.textLength > TRACE_BACKLOG_BYTES;
    if (due) this.writeSlice();
    // Near the backlog bound every turn is looked at: a slice then carries one turn's frames, not
    // the many milliseconds' worth a flood of big frames brings between two looks.
    else this.writeLater(this.pending.textLength > TRACE_BACKLOG_BYTES / 2 ? 0 : TRACE_WRITE_DELAY_MS);
  }

  /**
   * Writes the oldest TRACE_SLICE_BYTES of the noted frames (more when over TRACE_BACKLOG_BYTES
   * wait); the rest in a later timer turn, if the link stays quiet.
   */
  private writeSlice(): void {
    this.write(this.pending.take(Math.max(TRACE_SLICE_BYTES, this.pending.textLength - TRACE_BACKLOG_BYTES)));
    // A timer, not an immediate, for the reason TRACE_WRITE_DELAY_MS gives; a frame noted
    // meanwhile makes the next turn wait for a quiet moment again.
    if (this.pending.length > 0) this.writeLater(0);
  }

  /**
   * Once frames were written, folds the WAL into the database within TRACE_CHECKPOINT_MS, at a
   * moment the link is quiet (looked at every TRACE_WRITE_DELAY_MS after that).
   */
  private checkpointLater(delayMs: number): void {
    this.checkpointTimer = setTimeout(() => {
      this.checkpointTimer = undefined;
      if (!this.unfolded) return;
      if (this.pending.length > 0 || !this.quiet()) {
        this.checkpointLater(TRACE_WRITE_DELAY_MS);
        return;
      }
      this.unfolded = false;
      try {
        this.connection.checkpoint();
      } catch (err) {
        this.opts.log.warn({ err: errorMessage(err) }, 'frame trace: checkpoint failed');
      }
    }, delayMs);
    this.checkpointTimer.unref();
  }

  /** Writes every frame noted so far, in one SQL transaction: before a read, and at close. */
  flush(): void {
    clearTimeout(this.writeTimer);
    this.writeTimer = undefined;
    this.write(this.pending.takeAll());
  }

  record(frame: FrameEvent, at: number = this.opts.clock.now()): void {
    this.write([{ frame, at }]);
  }

  /**
   * Writes `batch` in one SQL transaction (one insert per frame, the ring trimmed once). Never
   * throws: a failed write costs the batch's trace lines and one log line per run of failures.
   */
  private write(batch: ReadonlyArray<NotedFrame>): void {
    if (batch.length === 0 || this.opts.maxFrames === 0 || !this.connection.isOpen()) return;
    try {
      const entries = batch.map(({ frame, at }) => this.entryOf(frame, at));
      const seqs = this.repo.appendAll(entries);
      this.failing = false;
      this.unfolded = true;
      if (!this.checkpointTimer) this.checkpointLater(TRACE_CHECKPOINT_MS);
      if (this.listenerCount('entry') === 0) return;
      for (const [i, entry] of entries.entries()) this.emit('entry', { seq: seqs[i]!, ...entry });
    } catch (err) {
      if (!this.failing) this.opts.log.warn({ err: errorMessage(err) }, 'frame trace: frame not recorded');
      this.failing = true;
    }
  }

  /** The frame as the trace keeps it: its header (the RPC's, else read from the text), redacted, cut. */
  private entryOf(frame: FrameEvent, at: number): Omit<TraceEntry, 'seq'> {
    const header: TracedHeader = frame.header ?? frameHeader(parseFrame(frame.text));
    const action = header.action ?? this.answeredAction(frame.direction, header);
    if (header.messageType === MESSAGE_TYPE.CALL)
      this.rememberCall(frame.direction, header.messageId!, action);
    return {
      at,
      direction: frame.direction,
      ...(header.messageType === undefined ? {} : { messageType: header.messageType }),
      ...(action === undefined ? {} : { action }),
      ...(header.messageId === undefined ? {} : { messageId: header.messageId }),
      text: truncate(redactFrame(frame.text)),
    };
  }

  /** The newest matching frames, oldest first. */
  query(query: TraceQuery): TraceEntry[] {
    this.flush();
    return this.repo.newest(query);
  }

  /** Where a reader starts to see the newest `limit` frames (of `action`), and the newest seq now. */
  window(limit: number, action?: string): { afterSeq: number; lastSeq: number } {
    this.flush();
    return { afterSeq: this.repo.startOfNewest(limit, action), lastSeq: this.repo.lastSeq() };
  }

  /** A page of up to `max` frames after `afterSeq`, oldest first. */
  after(afterSeq: number, max: number, action?: string): TraceEntry[] {
    this.flush();
    return this.repo.after(afterSeq, max, action);
  }

  size(): number {
    this.flush();
    return this.repo.size();
  }

  /** Stops recording and closes the trace's connection; call before the store closes. */
  close(): void {
    for (const detach of this.detachers.splice(0)) detach();
    clearTimeout(this.checkpointTimer);
    this.checkpointTimer = undefined;
    this.flush();
    this.connection.close();
  }

  private rememberCall(
    direction: FrameEvent['direction'],
    messageId: string,
    action: string | undefined,
  ): void {
    if (action === undefined) return;
    this.openCalls.set(`${direction}:${messageId}`, action);
    // Calls never answered (a dropped link) must not pile up: forget the oldest.
    if (this.openCalls.size > OPEN_CALLS_KEPT) this.openCalls.delete(this.openCalls.keys().next().value!);
  }

  /** An answer travels the other way from its CALL. */
  private answeredAction(direction: FrameEvent['direction'], header: TracedHeader): string | undefined {
    if (header.messageId === undefined || header.messageType === MESSAGE_TYPE.CALL) return undefined;
    const key = `${direction === 'in' ? 'out' : 'in'}:${header.messageId}`;
    const action = this.openCalls.get(key);
    this.openCalls.delete(key);
    return action;
  }
}

function truncate(text: string): string {
  if (text.length <= MAX_TRACED_TEXT) return text;
  return `${text.slice(0, MAX_TRACED_TEXT)}…[${text.length - MAX_TRACED_TEXT} more characters not traced]`;
}
