import type { Action, ActionMap } from './generated/messages.js';

/** One message of the warm-up: its action, direction and a valid payload of that message. */
export type WarmUpSample = {
  [A in Action]:
    | readonly [action: A, direction: 'req', payload: ActionMap[A]['request']]
    | readonly [action: A, direction: 'conf', payload: ActionMap[A]['response']];
}[Action];

const AT = '2026-01-01T00:00:00.000Z';
const ID_TAG = 'WARMUP';

const sampledValue = (context: 'Transaction.Begin' | 'Sample.Periodic' | 'Transaction.End') => ({
  value: '1234',
  context,
  format: 'Raw' as const,
  measurand: 'Energy.Active.Import.Register' as const,
  phase: 'L1' as const,
  location: 'Outlet' as const,
  unit: 'Wh' as const,
});

/**
 * What a charging session and the central system's frequent calls need, in the order a first
 * session after boot needs it, each with a valid payload that has every field those messages
 * carry. The validators are generated at build time (scripts/gen-validators.ts), but V8 runs a
 * function cold until it has run it: an empty payload stops at the first `required` check and
 * leaves the body (the sampled values, the enums, the timestamps) cold for the first session.
 */
export const WARM_UP: readonly WarmUpSample[] = [
  ['StatusNotification', 'conf', {}],
  ['RemoteStartTransaction', 'req', { connectorId: 1, idTag: ID_TAG }],
  ['RemoteStartTransaction', 'conf', { status: 'Accepted' }],
  ['StartTransaction', 'req', { connectorId: 1, idTag: ID_TAG, meterStart: 1234, timestamp: AT }],
  [
    'StartTransaction',
    'conf',
    { idTagInfo: { status: 'Accepted', expiryDate: AT, parentIdTag: ID_TAG }, transactionId: 1 },
  ],
  [
    'StatusNotification',
    'req',
    { connectorId: 1, errorCode: 'NoError', status: 'Charging', timestamp: AT, info: 'warm-up' },
  ],
  ['RemoteStopTransaction', 'req', { transactionId: 1 }],
  ['RemoteStopTransaction', 'conf', { status: 'Accepted' }],
  [
    'StopTransaction',
    'req',
    {
      transactionId: 1,
      idTag: ID_TAG,
      meterStop: 1234,
      timestamp: AT,
      reason: 'Remote',
      transactionData: [
        { timestamp: AT, sampledValue: [sampledValue('Transaction.Begin')] },
        { timestamp: AT, sampledValue: [sampledValue('Transaction.End')] },
      ],
    },
  ],
  ['StopTransaction', 'conf', { idTagInfo: { status: 'Accepted', expiryDate: AT } }],
  [
    'MeterValues',
    'req',
    {
      connectorId: 1,
      transactionId: 1,
      meterValue: [{ timestamp: AT, sampledValue: [sampledValue('Sample.Periodic')] }],
    },
  ],
  ['MeterValues', 'conf', {}],
  ['Authorize', 'req', { idTag: ID_TAG }],
  ['Authorize', 'conf', { idTagInfo: { status: 'Accepted', expiryDate: AT, parentIdTag: ID_TAG } }],
  ['Heartbeat', 'req', {}],
  ['Heartbeat', 'conf', { currentTime: AT }],
  ['GetConfiguration', 'req', { key: ['HeartbeatInterval'] }],
  [
    'GetConfiguration',
    'conf',
    {
      configurationKey: [{ key: 'HeartbeatInterval', readonly: false, value: '300' }],
      unknownKey: ['WarmUp'],
    },
  ],
  ['ChangeConfiguration', 'req', { key: 'HeartbeatInterval', value: '300' }],
  ['ChangeConfiguration', 'conf', { status: 'Accepted' }],
  ['TriggerMessage', 'req', { requestedMessage: 'Heartbeat', connectorId: 1 }],
  ['TriggerMessage', 'conf', { status: 'Accepted' }],
];
