/**
 * cpctl's live views, `status --watch` and `transactions --watch`: the daemon sends the report at
 * once and again after every change (no polling). At a terminal each report replaces the screen;
 * anywhere else (a pipe, a file, a test) each is a block of its own under a line with cpctl's
 * time, and with --json one object per line. The view lasts until the technician stops it or the
 * daemon goes away.
 */
import { ConnectionClosedError, stream } from './client.js';
import { DEFAULT_RECENT_TRANSACTIONS, type EventOf, type Params } from './protocol.js';
import { renderStatus, renderTransactions, time } from './render.js';

export type WatchedView = 'status' | 'transactions';

export interface WatchOutput {
  stdout: (s: string) => void;
  /** stdout is a terminal: redraw in place. */
  tty: boolean;
  json: boolean;
  /** Ends the view (Ctrl-C). */
  signal?: AbortSignal;
}

/** How a view ended: the technician stopped it, or the daemon closed the connection. */
export type WatchEnd = 'stopped' | 'daemonGone';

/** Cursor home, then erase the display (ECMA-48 CUP, ED 2). */
const CLEAR_SCREEN = '\x1b[H\x1b[2J';

/** The method and params of a view (`limit`: finished transactions shown). */
export function watchRequest(
  view: WatchedView,
  limit: number | undefined,
):
  | { method: 'status.watch'; params: Params<'status.watch'> }
  | {
      method: 'transactions.watch';
      params: Params<'transactions.watch'>;
    } {
  if (view === 'status') return { method: 'status.watch', params: {} };
  return { method: 'transactions.watch', params: limit === undefined ? {} : { limit } };
}

/** Shows the view until `out.signal` ends it or the daemon goes away. */
export async function watchView(
  socket: string,
  view: WatchedView,
  limit: number | undefined,
  out: WatchOutput,
): Promise<WatchEnd> {
  const request = watchRequest(view, limit);
  const recentShown = limit ?? DEFAULT_RECENT_TRANSACTIONS;
  // A quiet charger changes nothing for hours; the view waits as long as it takes.
  const options = { timeoutMs: 0, ...(out.signal ? { signal: out.signal } : {}) };
  try {
    if (request.method === 'status.watch') {
      await stream(socket, request.method, request.params, show(out, renderStatus), options);
    } else {
      const render = (report: EventOf<'transactions.watch'>) => renderTransactions(report, recentShown);
      await stream(socket, request.method, request.params, show(out, render), options);
    }
  } catch (err) {
    if (err instanceof ConnectionClosedError) return 'daemonGone';
    throw err;
  }
  return out.signal?.aborted ? 'stopped' : 'daemonGone';
}

/** Prints each report as the output wants it. */
function show<R>(out: WatchOutput, render: (report: R) => string): (report: R) => void {
  return (report) => {
    if (out.json) out.stdout(`${JSON.stringify(report)}\n`);
    else if (out.tty) out.stdout(`${CLEAR_SCREEN}${time(Date.now())}  (Ctrl-C ends)\n\n${render(report)}\n`);
    else out.stdout(`--- ${time(Date.now())}\n${render(report)}\n`);
  };
}
