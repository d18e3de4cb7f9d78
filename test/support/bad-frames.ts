import type { CallErrorCode } from '../../src/ocpp/errors.js';

/**
 * Bad inbound frames and the answer OCPP-J 1.6 calls for. Every row fails before any handler
 * runs, so the table holds for any charge point that handles GetConfiguration,
 * ChangeConfiguration, Reset, ChangeAvailability, DataTransfer and ClearCache and has no handler
 * for UpdateFirmware. Frame-level codes follow the decisions documented in src/ocpp/frames.ts.
 */
export interface BadFrameCase {
  name: string;
  text: string;
  expect: { kind: 'callerror'; messageId: string; code: CallErrorCode } | { kind: 'none' };
}

const none = { kind: 'none' } as const;
const error = (messageId: string, code: CallErrorCode) => ({ kind: 'callerror', messageId, code }) as const;

const ID_36 = 'bf-36-'.padEnd(36, 'x');
const ID_37 = 'bf-37-'.padEnd(37, 'x');
const HUGE = 'x'.repeat(300 * 1024);
const DEEP = '['.repeat(500) + ']'.repeat(500);

export const BAD_FRAMES: BadFrameCase[] = [
  // Not JSON: answered only when the start of the frame still shows a CALL's message id.
  {
    name: 'invalid JSON, unterminated CALL with recoverable id',
    text: '[2,"bf-01","Reset",{"type":"Hard"}',
    expect: error('bf-01', 'FormationViolation'),
  },
  {
    name: 'invalid JSON, trailing garbage after a CALL',
    text: '[2,"bf-02","Reset",{"type":"Hard"}]]',
    expect: error('bf-02', 'FormationViolation'),
  },
  {
    name: 'invalid JSON, NaN in a CALL payload',
    text: '[2, "bf-03", "ChangeAvailability", {"connectorId": NaN, "type": "Operative"}]',
    expect: error('bf-03', 'FormationViolation'),
  },
  { name: 'invalid JSON without recoverable id', text: '{not json', expect: none },
  { name: 'invalid JSON, single-quoted strings', text: "[2,'bf-05','Reset',{}]", expect: none },
  { name: 'empty text', text: '', expect: none },
  {
    name: 'invalid JSON CALLRESULT is never answered',
    text: '[3,"bf-07",{"status":"Accepted"',
    expect: none,
  },
  // JSON, but not an OCPP-J array.
  { name: 'JSON object instead of an array', text: '{"messageTypeId":2,"messageId":"bf-08"}', expect: none },
  { name: 'JSON string', text: '"[2,\\"bf-09\\",\\"Reset\\",{}]"', expect: none },
  { name: 'JSON number', text: '42', expect: none },
  { name: 'JSON null', text: 'null', expect: none },
  { name: 'empty array', text: '[]', expect: none },
  { name: 'array with only a messageTypeId', text: '[2]', expect: none },
  // Message type and id.
  {
    name: 'unknown messageTypeId 5',
    text: '[5,"bf-14","Reset",{"type":"Hard"}]',
    expect: error('bf-14', 'ProtocolError'),
  },
  {
    name: 'messageTypeId as a string',
    text: '["2","bf-15","Reset",{"type":"Hard"}]',
    expect: error('bf-15', 'ProtocolError'),
  },
  { name: 'messageTypeId 0', text: '[0,"bf-16"]', expect: error('bf-16', 'ProtocolError') },
  { name: 'numeric message id', text: '[2,123,"Reset",{"type":"Hard"}]', expect: none },
  { name: 'null message id', text: '[2,null,"Reset",{"type":"Hard"}]', expect: none },
  {
    name: 'message id longer than 36 characters',
    text: `[2,"${ID_37}","Reset",{"type":"Hard"}]`,
    expect: error(ID_37, 'FormationViolation'),
  },
  {
    name: 'message id of exactly 36 characters is accepted (unknown action answers)',
    text: `[2,"${ID_36}","NoSuchAction",{}]`,
    expect: error(ID_36, 'NotImplemented'),
  },
  // CALL structure.
  {
    name: 'CALL without action',
    text: '[2,"bf-21",{"type":"Hard"}]',
    expect: error('bf-21', 'ProtocolError'),
  },
  { name: 'CALL without payload', text: '[2,"bf-22","Reset"]', expect: error('bf-22', 'ProtocolError') },
  {
    name: 'CALL with an extra element',
    text: '[2,"bf-23","Reset",{"type":"Hard"},{}]',
    expect: error('bf-23', 'ProtocolError'),
  },
  { name: 'action is a number', text: '[2,"bf-24",7,{}]', expect: error('bf-24', 'FormationViolation') },
  {
    name: 'payload is an array',
    text: '[2,"bf-25","Reset",[]]',
    expect: error('bf-25', 'FormationViolation'),
  },
  {
    name: 'payload is a string',
    text: '[2,"bf-26","Reset","Hard"]',
    expect: error('bf-26', 'FormationViolation'),
  },
  {
    name: 'payload is null',
    text: '[2,"bf-27","ClearCache",null]',
    expect: error('bf-27', 'FormationViolation'),
  },
  // Action names.
  { name: 'unknown action', text: '[2,"bf-28","FooBar",{}]', expect: error('bf-28', 'NotImplemented') },
  {
    name: 'action name in the wrong case',
    text: '[2,"bf-29","reset",{"type":"Hard"}]',
    expect: error('bf-29', 'NotImplemented'),
  },
  {
    name: 'action named after an Object.prototype member',
    text: '[2,"bf-30","constructor",{}]',
    expect: error('bf-30', 'NotImplemented'),
  },
  { name: 'empty action name', text: '[2,"bf-31","",{}]', expect: error('bf-31', 'NotImplemented') },
  {
    name: 'CP-initiated Heartbeat sent to us as a CALL',
    text: '[2,"bf-32","Heartbeat",{}]',
    expect: error('bf-32', 'NotSupported'),
  },
  {
    name: 'CP-initiated BootNotification sent to us as a CALL',
    text: '[2,"bf-33","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]',
    expect: error('bf-33', 'NotSupported'),
  },
  // Payload against the schema.
  {
    name: 'Reset without the required type',
    text: '[2,"bf-36","Reset",{}]',
    expect: error('bf-36', 'OccurenceConstraintViolation'),
  },
  {
    name: 'ChangeConfiguration without the required value',
    text: '[2,"bf-37","ChangeConfiguration",{"key":"HeartbeatInterval"}]',
    expect: error('bf-37', 'OccurenceConstraintViolation'),
  },
  {
    name: 'DataTransfer without the required vendorId',
    text: '[2,"bf-38","DataTransfer",{"messageId":"m"}]',
    expect: error('bf-38', 'OccurenceConstraintViolation'),
  },
  {
    name: 'Reset type given as a number',
    text: '[2,"bf-39","Reset",{"type":1}]',
    expect: error('bf-39', 'TypeConstraintViolation'),
  },
  {
    name: 'Reset type given as null',
    text: '[2,"bf-40","Reset",{"type":null}]',
    expect: error('bf-40', 'TypeConstraintViolation'),
  },
  {
    name: 'ChangeAvailability connectorId given as a string',
    text: '[2,"bf-41","ChangeAvailability",{"connectorId":"1","type":"Operative"}]',
    expect: error('bf-41', 'TypeConstraintViolation'),
  },
  {
    name: 'ChangeAvailability connectorId given 1.5 (integer field)',
    text: '[2,"bf-42","ChangeAvailability",{"connectorId":1.5,"type":"Operative"}]',
    expect: error('bf-42', 'TypeConstraintViolation'),
  },
  {
    name: 'GetConfiguration key given as a string instead of an array',
    text: '[2,"bf-43","GetConfiguration",{"key":"HeartbeatInterval"}]',
    expect: error('bf-43', 'TypeConstraintViolation'),
  },
  {
    name: 'GetConfiguration key array holding a number',
    text: '[2,"bf-44","GetConfiguration",{"key":[1]}]',
    expect: error('bf-44', 'TypeConstraintViolation'),
  },
  {
    name: 'DataTransfer data given as a deeply nested array',
    text: `[2,"bf-45","DataTransfer",{"vendorId":"V","data":${DEEP}}]`,
    expect: error('bf-45', 'TypeConstraintViolation'),
  },
  {
    name: 'Reset type outside its enumeration',
    text: '[2,"bf-46","Reset",{"type":"Medium"}]',
    expect: error('bf-46', 'PropertyConstraintViolation'),
  },
  {
    name: 'ChangeAvailability type in the wrong case',
    text: '[2,"bf-47","ChangeAvailability",{"connectorId":0,"type":"operative"}]',
    expect: error('bf-47', 'PropertyConstraintViolation'),
  },
  {
    name: 'ChangeConfiguration key longer than 50 characters',
    text: `[2,"bf-48","ChangeConfiguration",{"key":"${'K'.repeat(51)}","value":"1"}]`,
    expect: error('bf-48', 'PropertyConstraintViolation'),
  },
  {
    name: 'ChangeConfiguration value longer than 500 characters',
    text: `[2,"bf-49","ChangeConfiguration",{"key":"HeartbeatInterval","value":"${'9'.repeat(501)}"}]`,
    expect: error('bf-49', 'PropertyConstraintViolation'),
  },
  {
    name: 'GetConfiguration key entry longer than 50 characters',
    text: `[2,"bf-50","GetConfiguration",{"key":["${'K'.repeat(51)}"]}]`,
    expect: error('bf-50', 'PropertyConstraintViolation'),
  },
  {
    name: 'DataTransfer vendorId longer than 255 characters',
    text: `[2,"bf-51","DataTransfer",{"vendorId":"${'V'.repeat(256)}"}]`,
    expect: error('bf-51', 'PropertyConstraintViolation'),
  },
  {
    name: 'additional property at top level',
    text: '[2,"bf-52","Reset",{"type":"Hard","delay":5}]',
    expect: error('bf-52', 'FormationViolation'),
  },
  {
    name: 'ClearCache with a property its schema does not define',
    text: '[2,"bf-53","ClearCache",{"all":true}]',
    expect: error('bf-53', 'FormationViolation'),
  },
  {
    name: 'frame larger than 256 KiB',
    text: `[2,"bf-54","DataTransfer",{"vendorId":"V","data":"${HUGE}"}]`,
    expect: error('bf-54', 'FormationViolation'),
  },
  // Answers we are not waiting for, and broken answers: never answered.
  { name: 'CALLRESULT for an unknown id', text: '[3,"bf-55",{"status":"Accepted"}]', expect: none },
  { name: 'CALLERROR for an unknown id', text: '[4,"bf-56","GenericError","",{}]', expect: none },
  { name: 'CALLRESULT without payload', text: '[3,"bf-57"]', expect: none },
  { name: 'CALLRESULT with a string payload', text: '[3,"bf-58","Accepted"]', expect: none },
  { name: 'CALLERROR without description and details', text: '[4,"bf-59","GenericError"]', expect: none },
  { name: 'CALLERROR with a numeric code', text: '[4,"bf-60",500,"boom",{}]', expect: none },
  { name: 'CALLERROR with details as a string', text: '[4,"bf-61","GenericError","boom","x"]', expect: none },
  { name: 'CALLRESULT with a numeric id', text: '[3,61,{}]', expect: none },
];

/**
 * A known action for which the endpoint has no handler: NotSupported, whatever the payload. The
 * runtime handles every central-system action of 1.6 and the security extension, so only an
 * endpoint without handlers (the unit tests) meets these.
 */
export const UNHANDLED_ACTION_FRAMES: BadFrameCase[] = [
  {
    name: 'known action without a handler (UpdateFirmware)',
    text: '[2,"bu-1","UpdateFirmware",{"location":"ftp://127.0.0.1/fw.bin","retrieveDate":"2024-01-01T00:00:00Z"}]',
    expect: error('bu-1', 'NotSupported'),
  },
  {
    name: 'unhandled action is NotSupported even with an invalid payload',
    text: '[2,"bu-2","UpdateFirmware",{"retrieveDate":"2024-01-01T00:00:00"}]',
    expect: error('bu-2', 'NotSupported'),
  },
];
