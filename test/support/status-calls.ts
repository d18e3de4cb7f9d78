/** Status notifications (Diagnostics, Log, Firmware, ...) as the scripted central system got them. */
import { CP_ID, type Harness } from './harness.js';

/** The payload every status notification shares: the status, and the request it belongs to. */
export type Status = { status: string; requestId?: number };

/** Every `action` the central system got since `since`, in order. */
export function statuses(h: Harness, action: string, since: number): Status[] {
  return h.csms.calls(CP_ID, action, since).map((c) => c.payload as Status);
}

/** Resolves with the first `action` since `since` that says `status`. */
export function waitForStatus(h: Harness, action: string, status: string, since: number): Promise<Status> {
  return h.csms
    .waitForCall(CP_ID, action, { since, where: (p: Status) => p.status === status })
    .then((call) => call.payload as Status);
}
