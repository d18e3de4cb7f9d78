/**
 * cpctl's human output: aligned tables and one-line frames. Pure functions of the daemon's
 * answers, so commands.ts only parses, asks and picks JSON or these.
 */
import type { MeterReading } from '../../hal/types.js';
import type { TimeSync } from '../clock.js';
import type { ConnectFailure, ConnectFailureKind } from '../ocpp/link-failure.js';
import type { AuthorizationRecord } from '../station/auth/last-authorizations.js';
import type { AuthorizationSource } from '../station/auth-types.js';
import type { LimitInEffect } from '../station/charging-limit.js';
import type { OfferState } from '../station/charging-outputs.js';
import type { LimitSource } from '../station/charging-profile-types.js';
import type { TraceEntry } from '../store/trace-repo.js';
import type {
  AuthReport,
  ConnectorReport,
  FirmwareReport,
  LimitsReport,
  LinkReport,
  QueueReport,
  SecurityLogReport,
  StatusReport,
  TransactionReport,
  TransactionsReport,
} from './api.js';

/** Frames longer than this are cut in the human trace (the JSON keeps them whole). */
const TRACE_TEXT_WIDTH = 160;

const ARROW = { in: '<-', out: '->' } as const;
const KIND: Record<number, string> = { 2: 'CALL', 3: 'RESULT', 4: 'ERROR' };

/** time, arrow (-> to the central system, <- from it), kind, action, id, the frame cut to a line. */
export function traceLine(entry: TraceEntry): string {
  const kind = entry.messageType === undefined ? '?' : (KIND[entry.messageType] ?? String(entry.messageType));
  const text = entry.text.replace(/\s+/g, ' ');
  const shown = text.length > TRACE_TEXT_WIDTH ? `${text.slice(0, TRACE_TEXT_WIDTH - 3)}...` : text;
  return [
    time(entry.at),
    ARROW[entry.direction],
    kind.padEnd(6),
    (entry.action ?? '-').padEnd(24),
    entry.messageId ?? '-',
    shown,
  ].join(' ');
}

export function table(rows: string[][], gap = 2): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]! + gap)))
        .join('')
        .trimEnd(),
    )
    .join('\n');
}

export function time(at: number): string {
  return new Date(at).toISOString();
}

function kWh(wh: number): string {
  return `${(wh / 1000).toFixed(3)} kWh`;
}

function health(h: { ok: true } | { ok: false; fault: string; info?: string }): string {
  if (h.ok) return 'ok';
  return h.info ? `${h.fault} (${h.info})` : h.fault;
}

/** ok, or what is wrong with the state store and since when. */
function storeHealth(store: StatusReport['store']): string {
  const parts: string[] = [store.state];
  if (store.state !== 'ok') {
    parts.push(`since ${store.since === undefined ? '?' : time(store.since)}: ${store.reason ?? 'unknown'}`);
    parts.push('(running from memory: what the disk refused is written once it writes again)');
  }
  if (store.recovered) {
    const lost =
      store.recovered.lost.length === 0 ? 'nothing lost' : `lost: ${store.recovered.lost.join('; ')}`;
    parts.push(`(corrupt database moved to ${store.recovered.movedTo}; ${lost})`);
  }
  return parts.join(' ');
}

export function renderStatus(report: StatusReport): string {
  const rows: string[][] = [
    ['charge point', `${report.chargePointId} (board ${report.board}, firmware ${report.version})`],
  ];
  if (report.uptimeS !== undefined)
    rows.push([
      'uptime',
      `${hms(report.uptimeS)}${report.startedAt === undefined ? '' : ` (since ${time(report.startedAt)})`}`,
    ]);
  rows.push(...linkRows(report.link));
  rows.push(['registration', registrationText(report)]);
  if (report.time) rows.push(['time', timeText(report.time)]);
  rows.push(['store', storeHealth(report.store)]);
  const sections = [table(rows)];
  if (report.connectors.length > 0) sections.push(renderConnectors(report.connectors));
  if (report.readers.length > 0) {
    sections.push(
      table([
        ['READER', 'CONNECTORS', 'HEALTH', 'LAST CARD'],
        ...report.readers.map((r) => [
          r.name,
          r.connectorIds.join(',') || '-',
          health(r.health),
          r.lastRead ? `${r.lastRead.idTag} at ${time(r.lastRead.at)}` : '-',
        ]),
      ]),
    );
  }
  if (report.faultInputs.length > 0) {
    sections.push(
      table([
        ['FAULT INPUT', 'STATE'],
        ...report.faultInputs.map((f) => [f.kind, f.active ? 'ACTIVE' : 'inactive']),
      ]),
    );
  }
  return sections.join('\n\n');
}

/** What a failed attempt to connect was, in the technician's words. */
const FAILURE_WORDS: Record<ConnectFailureKind, string> = {
  refused: 'connection refused (nothing listens at that address and port)',
  dns: 'host name not found (DNS)',
  tls: 'TLS failure',
  http: 'the central system refused the WebSocket upgrade',
  timeout: 'no answer in time',
  network: 'network error',
  subprotocol: 'the central system does not speak ocpp1.6',
  configuration: 'not attempted',
};

/** What to check after an HTTP refusal, where the status says it. */
const HTTP_HINTS: Record<number, string> = {
  401: 'the charge point id or the AuthorizationKey was not accepted',
  403: 'the central system does not admit this charge point',
  404: 'no such path on the central system: check csms.url and the charge point id',
};

function failureText(failure: ConnectFailure): string {
  const hint = failure.httpStatus === undefined ? undefined : HTTP_HINTS[failure.httpStatus];
  const what = `${FAILURE_WORDS[failure.kind]}: ${failure.message}${hint ? ` (${hint})` : ''}`;
  const run =
    failure.attempts === 1
      ? `at ${time(failure.at)}`
      : `${failure.attempts} attempts since ${time(failure.since)}, last at ${time(failure.at)}`;
  return `${what}; ${run}`;
}

/** The link's state and profile, since when, where to, and while it is down why and when it tries again. */
function linkRows(link: LinkReport): string[][] {
  const rows = [['link', `${link.state}, security profile ${link.securityProfile}`]];
  if (link.since !== undefined)
    rows.push([link.state === 'open' ? 'connected since' : 'offline since', time(link.since)]);
  if (link.url !== undefined) rows.push(['central system', link.url]);
  if (link.lastFailure) rows.push(['last error', failureText(link.lastFailure)]);
  if (link.nextAttemptAt !== undefined) rows.push(['next attempt', time(link.nextAttemptAt)]);
  return rows;
}

function registrationText(report: StatusReport): string {
  const { registration, registrationRetryAt, link } = report;
  if (registrationRetryAt !== undefined && registration !== 'Accepted')
    return `${registration}, next BootNotification at ${time(registrationRetryAt)}`;
  if (registration === 'Unregistered' && link.state !== 'open')
    return `${registration} (BootNotification once connected)`;
  return registration;
}

/** Seconds with their sign, to the millisecond. */
function signedSeconds(ms: number): string {
  return `${ms < 0 ? '-' : '+'}${(Math.abs(ms) / 1000).toFixed(3)} s`;
}

function timeText(sync: TimeSync): string {
  if (!sync.followsCentralSystem) return 'system clock (clock.ntpSynchronized: trusted as it is)';
  if (sync.source === 'systemClock') return "system clock (the central system's time not received yet)";
  const received =
    sync.lastCentralTimeAt === undefined ? '' : `, last currentTime ${time(sync.lastCentralTimeAt)}`;
  return `the central system's${received}; ${signedSeconds(sync.offsetMs)} from the system clock`;
}

const AUTHORIZED_BY: Record<AuthorizationSource, string> = {
  localList: 'the local list',
  cache: 'the authorization cache',
  central: 'the central system',
  offlineUnknown: 'the offline rule for unknown ids (AllowOfflineTxForUnknownId)',
};

function authorizationText(record: AuthorizationRecord): string {
  const via = record.via === undefined ? '' : ` (${record.via})`;
  return `${record.idTag} ${record.status} by ${AUTHORIZED_BY[record.source]}${via} at ${time(record.at)}`;
}

/** One aligned row per connector; details that do not fit a column follow it, indented. */
function renderConnectors(connectors: ConnectorReport[]): string {
  const header = [
    'CONNECTOR',
    'STATUS',
    'ERROR',
    'AVAILABILITY',
    'PLUG',
    'PILOT',
    'RELAY',
    'LOCK',
    'LIMIT',
    'METER',
    'POWER',
  ];
  const rows = connectors.map((c) => {
    const meter = c.meter && 'energyImportWh' in c.meter ? c.meter : undefined;
    return [
      String(c.id),
      c.status,
      c.errorCode,
      c.availability,
      c.plugged ? 'plugged' : 'unplugged',
      c.pilot,
      relayCell(c.relay),
      c.lock ? lockCell(c.lock) : '-',
      limitCell(c),
      meter ? kWh(meter.energyImportWh) : '-',
      meter?.powerW === undefined ? '-' : `${Math.round(meter.powerW)} W`,
    ];
  });
  const lines = table([header, ...rows]).split('\n');
  const out = [lines[0]!];
  connectors.forEach((c, i) => {
    out.push(lines[i + 1]!);
    if (c.info) out.push(`  info: ${c.info}`);
    if (c.session) {
      const { transactionId, localId, idTag, energyWh, durationS, startedAt } = c.session;
      const id =
        transactionId === undefined
          ? `local ${localId}, no transactionId yet`
          : `transaction ${transactionId}`;
      out.push(
        `  session: ${idTag}, ${id}, ${kWh(energyWh)} this session, ${hms(durationS)} since ${startedAt}`,
      );
    }
    if (c.lastAuthorization) out.push(`  last authorization: ${authorizationText(c.lastAuthorization)}`);
    if (c.localLimitA !== undefined) out.push(`  local limit: ${c.localLimitA} A`);
    if (c.meter && 'error' in c.meter) out.push(`  meter: ${c.meter.error}`);
    for (const f of c.faults) out.push(`  fault: ${f.device} ${f.fault}${f.info ? ` (${f.info})` : ''}`);
  });
  return out.join('\n');
}

/** The limit in effect as `limitText` words it; the pilot's offer alone before the owner's first evaluation. */
function limitCell(c: ConnectorReport): string {
  const { currentLimitA, offerState, compositeLimitA, limitSource, limitPaused } = c;
  if (offerState === undefined || compositeLimitA === undefined || limitSource === undefined)
    return `${currentLimitA} A`;
  return limitText({
    amps: currentLimitA,
    state: offerState,
    limitA: compositeLimitA,
    source: limitSource,
    paused: limitPaused === true,
  });
}

function relayWord(closed: boolean): string {
  return closed ? 'closed' : 'open';
}

/** The commanded state, and the contact where it reads otherwise or cannot be read (a stale reading is no reading). */
function relayCell(relay: ConnectorReport['relay']): string {
  const { closed, feedback, feedbackReadable } = relay;
  if (feedbackReadable === false) return `${relayWord(closed)} (feedback unreadable)`;
  if (feedback === undefined || feedback === closed) return relayWord(closed);
  return `${relayWord(closed)} (feedback ${relayWord(feedback)})`;
}

/** Known locked or not; unknown while its feedback cannot be read. */
function lockCell(lock: NonNullable<ConnectorReport['lock']>): string {
  if (lock.feedbackReadable === false) return 'unknown (feedback unreadable)';
  return lock.locked ? 'locked' : 'unlocked';
}

export function renderMeter(connectorId: number, r: MeterReading): string {
  const phases = (values: number[], unit: string) => values.map((v) => `${v.toFixed(1)} ${unit}`).join(' / ');
  const rows: string[][] = [
    ['connector', String(connectorId)],
    ['read at', time(r.at)],
    ['energy import', kWh(r.energyImportWh)],
  ];
  if (r.energyExportWh !== undefined) rows.push(['energy export', kWh(r.energyExportWh)]);
  if (r.powerW !== undefined) rows.push(['power', `${Math.round(r.powerW)} W`]);
  if (r.currentA?.length) rows.push(['current', phases(r.currentA, 'A')]);
  if (r.voltageV?.length) rows.push(['voltage', phases(r.voltageV, 'V')]);
  if (r.frequencyHz !== undefined) rows.push(['frequency', `${r.frequencyHz} Hz`]);
  if (r.socPercent !== undefined) rows.push(['state of charge', `${r.socPercent} %`]);
  if (r.temperatureC !== undefined) rows.push(['temperature', `${r.temperatureC} °C`]);
  return table(rows);
}

/** A caption over a table, or `empty` alone when there are no rows. */
function captioned(caption: string, header: string[], rows: string[][], empty: string): string {
  return rows.length === 0 ? empty : `${caption}\n${table([header, ...rows])}`;
}

const TRANSACTION_HEADER = ['CONNECTOR', 'LOCAL ID', 'TRANSACTION', 'ID TAG', 'STARTED'];

function transactionCells(t: TransactionReport): string[] {
  const transactionId = t.transactionId === undefined ? 'pending' : String(t.transactionId);
  return [String(t.connectorId), String(t.localId), transactionId, t.idTag, t.startedAt];
}

export function renderTransactions(report: TransactionsReport, limit: number): string {
  const running = captioned(
    'running transactions',
    [...TRANSACTION_HEADER, 'METER START', 'LAST METER', 'READ AT', 'ENERGY'],
    report.running.map((t) => [
      ...transactionCells(t),
      kWh(t.meterStart),
      kWh(t.lastMeter),
      t.lastMeterAt,
      kWh(t.energyWh),
    ]),
    'no transaction running',
  );
  if (limit === 0) return running;
  const finished = captioned(
    `finished transactions, newest first (at most ${limit})`,
    [...TRANSACTION_HEADER, 'STOPPED', 'REASON', 'METER STOP', 'ENERGY'],
    report.recent.map((t) => [
      ...transactionCells(t),
      t.stoppedAt ?? '-',
      t.stopReason ?? '-',
      t.meterStop === undefined ? '-' : kWh(t.meterStop),
      kWh(t.energyWh),
    ]),
    'no finished transaction',
  );
  return `${running}\n\n${finished}`;
}

/** The firmware update: what it is doing, how far, and how the last one ended. */
export function renderFirmware(report: FirmwareReport): string {
  const rows: string[][] = [['status', report.busy ? `${report.status} (running)` : report.status]];
  if (report.source)
    rows.push([
      'source',
      report.requestId === undefined ? report.source : `${report.source} #${report.requestId}`,
    ]);
  if (report.location) rows.push(['image', report.location]);
  if (report.retrieveAt !== undefined && report.busy) rows.push(['download at', time(report.retrieveAt)]);
  if (report.installAt !== undefined && report.busy) rows.push(['install at', time(report.installAt)]);
  if (report.progress) {
    const { bytes, total } = report.progress;
    rows.push([
      'progress',
      total ? `${bytes} of ${total} bytes (${Math.floor((bytes / total) * 100)} %)` : `${bytes} bytes`,
    ]);
  }
  if (report.info) rows.push(['reason', report.info]);
  if (report.reported !== undefined && !report.busy)
    rows.push(['central system', report.reported ? 'told' : 'not told yet']);
  if (report.updatedAt) rows.push(['since', report.updatedAt]);
  rows.push(['install hook', report.installHook ? 'configured' : 'none (firmware.install): installs fail']);
  if (report.requireSigned) rows.push(['signed only', 'yes (firmware.requireSigned)']);
  return table(rows);
}

/** The newest entries, oldest first, as a log reads. */
export function renderSecurityLog(report: SecurityLogReport): string {
  const cleared =
    report.cleared === undefined
      ? []
      : [`security log cleared: ${report.cleared} ${report.cleared === 1 ? 'entry' : 'entries'} removed`];
  const shown = report.entries.length;
  const caption = `security log: ${report.total} ${report.total === 1 ? 'entry' : 'entries'}${shown < report.total ? ` (the newest ${shown} shown)` : ''}`;
  const rows = report.entries.map((e) => [
    String(e.id),
    e.timestamp,
    e.type,
    e.critical ? 'yes' : 'no',
    e.techInfo ?? '-',
  ]);
  return [
    ...cleared,
    captioned(caption, ['ID', 'TIME', 'TYPE', 'CRITICAL', 'TECH INFO'], rows, 'security log: empty'),
  ].join('\n');
}

export function renderQueue(report: QueueReport): string {
  const localTx = (id: number | undefined) => (id === undefined ? '-' : String(id));
  const heading = (what: string, total: number, shown: number, which: string) =>
    total === 0
      ? `${what}: none`
      : `${what}: ${total}${shown < total ? ` (the ${which} ${shown} shown)` : ''}`;
  const pending = heading('pending messages', report.pendingTotal, report.pending.length, 'first');
  const dead = heading('dead letters', report.deadLetterTotal, report.deadLetters.length, 'newest');
  return [
    captioned(
      pending,
      ['SEQ', 'ACTION', 'LOCAL TX', 'ATTEMPTS', 'NEXT ATTEMPT'],
      report.pending.map((m) => [
        String(m.seq),
        m.action,
        localTx(m.localTxId),
        String(m.attempts),
        m.nextAttemptAt === 0 ? 'no wait' : time(m.nextAttemptAt),
      ]),
      pending,
    ),
    captioned(
      dead,
      ['SEQ', 'ACTION', 'LOCAL TX', 'ATTEMPTS', 'FAILED AT', 'LAST ERROR'],
      report.deadLetters.map((m) => [
        String(m.seq),
        m.action,
        localTx(m.localTxId),
        String(m.attempts),
        m.failedAt,
        m.lastError,
      ]),
      dead,
    ),
  ].join('\n\n');
}

export function renderAuth(report: AuthReport): string {
  const entries = (n: number) => `${n} ${n === 1 ? 'entry' : 'entries'}`;
  const unused = (enabled: boolean, key: string) => (enabled ? '' : ` (not used: ${key} is false)`);
  const { localList, cache, lookup } = report;
  const summary = table([
    [
      'local list',
      `version ${localList.version}, ${entries(localList.size)}${unused(localList.enabled, 'LocalAuthListEnabled')}`,
    ],
    ['cache', `${entries(cache.size)}${unused(cache.enabled, 'AuthorizationCacheEnabled')}`],
  ]);
  if (!lookup) return summary;
  const row = (source: string, info: NonNullable<AuthReport['lookup']>['cache']) =>
    info === undefined
      ? [lookup.idTag, source, 'not known']
      : [lookup.idTag, source, info.status, info.expiryDate ?? '-', info.parentIdTag ?? '-'];
  return `${summary}\n\n${table([
    ['ID TAG', 'SOURCE', 'STATUS', 'EXPIRY', 'PARENT'],
    row('local list', lookup.localList),
    row('cache', lookup.cache),
  ])}`;
}

/** Where a limit comes from, in the words `cpctl status` and `cpctl limits` use. */
function sourceText(source: LimitSource): string {
  switch (source.kind) {
    case 'profile':
      return `${source.purpose} #${source.profileId}`;
    case 'local':
      return 'local limit';
    case 'loadSharing':
      return 'load sharing';
    case 'hardware':
      return 'hardware';
  }
}

/** Why a connector offers nothing, in the words `limitText` uses. */
const NOT_OFFERED: Record<Exclude<OfferState, 'offered'>, string> = {
  noSession: 'no session',
  faulted: 'faulted',
  energyWithheld: 'energy withheld (id refused)',
  belowMinimum: 'paused',
};

/**
 * A limit in effect: `16 A (TxDefaultProfile #7)` while offered; else 0 A with why, then the
 * composite's limit a session would draw (`0 A: no session; limit 16 A (TxDefaultProfile #7)`), so
 * an idle 0 A does not read as a limit of 0.
 */
function limitText(limit: LimitInEffect): string {
  const source = sourceText(limit.source);
  if (limit.state === 'offered') return `${limit.amps} A (${source})`;
  const below = limit.paused ? ', below the minimum' : '';
  return `${limit.amps} A: ${NOT_OFFERED[limit.state]}; limit ${limit.limitA} A (${source})${below}`;
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** Seconds as h:mm:ss; hours go past 24 (a schedule spans up to a week). */
function hms(seconds: number): string {
  return `${Math.floor(seconds / 3600)}:${pad2(Math.floor(seconds / 60) % 60)}:${pad2(seconds % 60)}`;
}

/** The technician's wall-clock time (cpctl's time zone) with its UTC offset, to the second. */
function localTime(at: number): string {
  const d = new Date(at);
  const offset = -d.getTimezoneOffset();
  const zone = `${offset < 0 ? '-' : '+'}${pad2(Math.floor(Math.abs(offset) / 60))}:${pad2(Math.abs(offset) % 60)}`;
  const date = `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
  return `${date} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())} ${zone}`;
}

/**
 * A composite schedule: what it is for, the limit in effect now, then one row per period: its
 * start (from now, and on the wall clock), the limit in A and in W, the phases and its source.
 */
export function renderLimits(report: LimitsReport): string {
  const what = report.connectorId === 0 ? 'charge point' : `connector ${report.connectorId}`;
  const phases = `${report.phases} ${report.phases === 1 ? 'phase' : 'phases'}`;
  const lines = [
    `${what}: composite schedule for ${hms(report.durationS)} from ${localTime(report.start)} (${report.voltageV} V, ${phases})`,
  ];
  if (report.inEffect) lines.push(`in effect now: ${limitText(report.inEffect)}`);
  const rows = report.periods.map((p) => [
    `+${hms(p.startPeriod)}`,
    localTime(report.start + p.startPeriod * 1000),
    `${p.limitA.toFixed(1)} A`,
    `${p.limitW} W`,
    String(p.numberPhases),
    p.minChargingRateA === undefined
      ? sourceText(p.source)
      : `${sourceText(p.source)} (minChargingRate ${p.minChargingRateA} A)`,
  ]);
  lines.push('', table([['START', 'AT', 'LIMIT', 'POWER', 'PHASES', 'FROM'], ...rows]));
  return lines.join('\n');
}
