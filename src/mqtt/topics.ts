/**
 * The MQTT wire format (contract 5): topic names under the configured prefix, the JSON the bridge
 * publishes (built from domain values here), and the parsing of the commands it accepts.
 * docs/mqtt.md describes the same with examples; change both together.
 */
import type { ConnectorHardware, MeterReading } from '../../hal/types.js';
import { type LimitInEffect, limitFields } from '../station/charging-limit.js';
import type { OfferState } from '../station/charging-outputs.js';
import type { LimitSource } from '../station/charging-profile-types.js';
import type { TransactionEvent } from '../station/transactions.js';
import type { Availability, StatusSnapshot } from '../station/types.js';

/** `chargepoint/<id>/` unless the provisioning file names another prefix. */
export function mqttPrefix(chargePointId: string, configured?: string): string {
  const prefix = configured ?? `chargepoint/${chargePointId}/`;
  // A prefix given as "site/cp1" means the folder, not a topic-name stem.
  return prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
}

export interface Topics {
  link: string;
  boot: string;
  connectorState(connectorId: number): string;
  connectorMeter(connectorId: number): string;
  transactionEvent: string;
  /** The filter the bridge subscribes to; `result` is under it and is ignored. */
  commands: string;
  result: string;
  /** The command a topic names ("session/start"), or undefined for a topic outside `cmd/`. */
  commandOf(topic: string): string | undefined;
}

export function topicsFor(prefix: string): Topics {
  const cmd = `${prefix}cmd/`;
  return {
    link: `${prefix}state/link`,
    boot: `${prefix}state/boot`,
    connectorState: (id) => `${prefix}connector/${id}/state`,
    connectorMeter: (id) => `${prefix}connector/${id}/meter`,
    transactionEvent: `${prefix}event/transaction`,
    commands: `${cmd}#`,
    result: `${cmd}result`,
    commandOf: (topic) => (topic.startsWith(cmd) ? topic.slice(cmd.length) : undefined),
  };
}

// ---- published ----

/**
 * `open`: connected to the central system; `disconnected`: not connected, the charge point keeps
 * trying; `offline`: the daemon (or its MQTT connection) is gone, so every retained value is stale.
 */
export type LinkStateValue = 'open' | 'disconnected' | 'offline';

export interface LinkStatePayload {
  state: LinkStateValue;
  /** When this state began; absent on the Last Will, which the broker sends at a time the daemon cannot know. */
  since?: string;
}

export interface BootStatePayload {
  status: 'Unregistered' | 'Pending' | 'Rejected' | 'Accepted';
  since: string;
}

export interface ConnectorStatePayload {
  connectorId: number;
  /** OCPP ChargePointStatus. */
  status: string;
  /** OCPP ChargePointErrorCode. */
  errorCode: string;
  info?: string;
  availability: Availability;
  /** When this status began. */
  since: string;
  /** Physical connectors only (not connector 0). */
  plugged?: boolean;
  /** What the EV is offered now, A, as the owner of the offered current commands it. */
  currentLimitA?: number;
  /** `offered` while a session may draw `compositeLimitA`, else why nothing is offered. */
  offerState?: OfferState;
  /** The composite schedule's limit now, A: what a session here may draw at most. */
  compositeLimitA?: number;
  /** Where `compositeLimitA` comes from (a charging profile, local, loadSharing, hardware). */
  limitSource?: LimitSource;
  /** `compositeLimitA` is below what the EV can charge with: a session pauses. */
  limitPaused?: boolean;
  maxCurrentA?: number;
}

/** A reading as the hardware layer gives it, with the connector and an ISO timestamp for `at`. */
export type MeterPayload = Omit<MeterReading, 'at'> & {
  connectorId: number;
  /** When the meter was read. */
  timestamp: string;
};

interface TransactionEventBase {
  connectorId: number;
  /** The charge point's own id of the session: known at once, the same in both events. */
  localId: number;
  /** The central system's id, once it has answered the StartTransaction. */
  transactionId?: number;
  idTag: string;
  meterStartWh: number;
  timestamp: string;
}

export type TransactionEventPayload =
  | (TransactionEventBase & { event: 'started' })
  | (TransactionEventBase & {
      event: 'stopped';
      /** OCPP StopTransaction reason. */
      reason: string;
      /** The id that ended the session, when one did. */
      stopIdTag?: string;
      meterStopWh: number;
      energyWh: number;
    });

const iso = (ms: number): string => new Date(ms).toISOString();

export function connectorStatePayload(
  snapshot: StatusSnapshot,
  availability: Availability,
  hw: ConnectorHardware | undefined,
  limit: LimitInEffect | undefined,
): ConnectorStatePayload {
  return {
    connectorId: snapshot.connectorId,
    status: snapshot.status,
    errorCode: snapshot.errorCode,
    ...(snapshot.info ? { info: snapshot.info } : {}),
    availability,
    since: iso(snapshot.since),
    ...(hw
      ? {
          plugged: hw.plugged(),
          ...(limit ? limitFields(limit) : {}),
          maxCurrentA: hw.devices.maxCurrentA,
        }
      : {}),
  };
}

export function meterPayload(connectorId: number, reading: MeterReading): MeterPayload {
  const { at, ...values } = reading;
  return { connectorId, timestamp: iso(at), ...values };
}

export function transactionEventPayload(event: TransactionEvent): TransactionEventPayload {
  const { row } = event;
  const base: TransactionEventBase = {
    connectorId: row.connectorId,
    localId: row.localId,
    ...(row.transactionId === undefined ? {} : { transactionId: row.transactionId }),
    idTag: row.idTag,
    meterStartWh: row.meterStart,
    timestamp: iso(event.kind === 'started' ? event.timestampMs : event.stop.timestampMs),
  };
  if (event.kind === 'started') return { event: 'started', ...base };
  const { reason, idTag, meterStop } = event.stop;
  return {
    event: 'stopped',
    ...base,
    reason,
    ...(idTag ? { stopIdTag: idTag } : {}),
    meterStopWh: meterStop,
    energyWh: meterStop - row.meterStart,
  };
}

// ---- commands ----

/** Echoed in the result so a caller can match it to its command. */
export type CorrelationId = string | number;

export type Command =
  | { name: 'session/start'; idTag: string; connectorId?: number }
  | { name: 'session/stop'; connectorId?: number; idTag?: string }
  | { name: 'limit'; connectorId: number; amps: number }
  | { name: 'status' };

export type CommandResult =
  | { id: CorrelationId | null; command: string; ok: true; result?: Record<string, unknown> }
  | { id: CorrelationId | null; command: string; ok: false; error: string };

export type ParsedCommand =
  | { ok: true; id: CorrelationId | null; command: Command }
  | { ok: false; id: CorrelationId | null; error: string };

/** Commands are a few short fields; anything larger is not one of ours. */
export const MAX_COMMAND_BYTES = 4096;
const MAX_ID_TAG = 20;
const MAX_CORRELATION_ID = 64;

/** Checks a command's payload; never throws, whatever arrives. */
export function parseCommand(name: string, payload: Buffer): ParsedCommand {
  if (payload.length > MAX_COMMAND_BYTES)
    return { ok: false, id: null, error: `payload larger than ${MAX_COMMAND_BYTES} bytes` };
  let body: unknown = {};
  const text = payload.toString('utf8').trim();
  if (text !== '') {
    try {
      body = JSON.parse(text);
    } catch {
      return { ok: false, id: null, error: 'payload is not valid JSON' };
    }
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return { ok: false, id: null, error: 'payload must be a JSON object' };
  const fields = body as Record<string, unknown>;
  const id = fields.id;
  const validId =
    (typeof id === 'string' && id.length <= MAX_CORRELATION_ID) ||
    (typeof id === 'number' && Number.isFinite(id));
  if (id !== undefined && !validId)
    return {
      ok: false,
      id: null,
      error: `id must be a string of at most ${MAX_CORRELATION_ID} characters or a number`,
    };
  const correlation = validId ? (id as CorrelationId) : null;
  try {
    return { ok: true, id: correlation, command: toCommand(name, fields) };
  } catch (error) {
    if (!(error instanceof InvalidCommand)) throw error;
    return { ok: false, id: correlation, error: error.message };
  }
}

class InvalidCommand extends Error {}

function toCommand(name: string, f: Record<string, unknown>): Command {
  switch (name) {
    case 'session/start': {
      const connectorId = optional(f, 'connectorId', connectorIdField);
      return {
        name,
        idTag: idTagField(f.idTag, 'idTag'),
        ...(connectorId === undefined ? {} : { connectorId }),
      };
    }
    case 'session/stop': {
      const connectorId = optional(f, 'connectorId', connectorIdField);
      const idTag = optional(f, 'idTag', idTagField);
      if (connectorId === undefined && idTag === undefined)
        throw new InvalidCommand('session/stop needs connectorId or idTag');
      return {
        name,
        ...(connectorId === undefined ? {} : { connectorId }),
        ...(idTag === undefined ? {} : { idTag }),
      };
    }
    case 'limit': {
      const amps = f.amps;
      if (typeof amps !== 'number' || !Number.isFinite(amps) || amps < 0)
        throw new InvalidCommand('amps must be a number >= 0');
      return { name, connectorId: connectorIdField(f.connectorId, 'connectorId'), amps };
    }
    case 'status':
      return { name };
    default:
      throw new InvalidCommand(`unknown command "${name}" (session/start, session/stop, limit, status)`);
  }
}

function optional<T>(
  f: Record<string, unknown>,
  key: string,
  check: (v: unknown, key: string) => T,
): T | undefined {
  return f[key] === undefined ? undefined : check(f[key], key);
}

function connectorIdField(value: unknown, key: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
    throw new InvalidCommand(`${key} must be a connector number (1, 2, ...)`);
  return value;
}

function idTagField(value: unknown, key: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ID_TAG)
    throw new InvalidCommand(`${key} must be a string of 1 to ${MAX_ID_TAG} characters`);
  return value;
}
