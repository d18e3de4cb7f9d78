import type { Action } from './generated/messages.js';

/** OCPP 1.6 feature profiles (spec 3.3), plus the security extension's messages. */
export type FeatureProfile =
  | 'Core'
  | 'FirmwareManagement'
  | 'LocalAuthListManagement'
  | 'Reservation'
  | 'SmartCharging'
  | 'RemoteTrigger';

export type ProfileOrSecurity = FeatureProfile | 'Security';

/** Who sends the request: the central system (CS), the charge point (CP), or either (DataTransfer, spec 4.3 and 5.6). */
export type Initiator = 'CS' | 'CP' | 'Both';

interface ActionInfo {
  profile: ProfileOrSecurity;
  initiator: Initiator;
}

/** Every action of the schema catalogue, with its profile and sender. */
export const ACTION_INFO = {
  Authorize: { profile: 'Core', initiator: 'CP' },
  BootNotification: { profile: 'Core', initiator: 'CP' },
  ChangeAvailability: { profile: 'Core', initiator: 'CS' },
  ChangeConfiguration: { profile: 'Core', initiator: 'CS' },
  ClearCache: { profile: 'Core', initiator: 'CS' },
  DataTransfer: { profile: 'Core', initiator: 'Both' },
  GetConfiguration: { profile: 'Core', initiator: 'CS' },
  Heartbeat: { profile: 'Core', initiator: 'CP' },
  MeterValues: { profile: 'Core', initiator: 'CP' },
  RemoteStartTransaction: { profile: 'Core', initiator: 'CS' },
  RemoteStopTransaction: { profile: 'Core', initiator: 'CS' },
  Reset: { profile: 'Core', initiator: 'CS' },
  StartTransaction: { profile: 'Core', initiator: 'CP' },
  StatusNotification: { profile: 'Core', initiator: 'CP' },
  StopTransaction: { profile: 'Core', initiator: 'CP' },
  UnlockConnector: { profile: 'Core', initiator: 'CS' },
  GetDiagnostics: { profile: 'FirmwareManagement', initiator: 'CS' },
  DiagnosticsStatusNotification: { profile: 'FirmwareManagement', initiator: 'CP' },
  FirmwareStatusNotification: { profile: 'FirmwareManagement', initiator: 'CP' },
  UpdateFirmware: { profile: 'FirmwareManagement', initiator: 'CS' },
  GetLocalListVersion: { profile: 'LocalAuthListManagement', initiator: 'CS' },
  SendLocalList: { profile: 'LocalAuthListManagement', initiator: 'CS' },
  CancelReservation: { profile: 'Reservation', initiator: 'CS' },
  ReserveNow: { profile: 'Reservation', initiator: 'CS' },
  ClearChargingProfile: { profile: 'SmartCharging', initiator: 'CS' },
  GetCompositeSchedule: { profile: 'SmartCharging', initiator: 'CS' },
  SetChargingProfile: { profile: 'SmartCharging', initiator: 'CS' },
  TriggerMessage: { profile: 'RemoteTrigger', initiator: 'CS' },
  CertificateSigned: { profile: 'Security', initiator: 'CS' },
  DeleteCertificate: { profile: 'Security', initiator: 'CS' },
  ExtendedTriggerMessage: { profile: 'Security', initiator: 'CS' },
  GetInstalledCertificateIds: { profile: 'Security', initiator: 'CS' },
  GetLog: { profile: 'Security', initiator: 'CS' },
  InstallCertificate: { profile: 'Security', initiator: 'CS' },
  LogStatusNotification: { profile: 'Security', initiator: 'CP' },
  SecurityEventNotification: { profile: 'Security', initiator: 'CP' },
  SignCertificate: { profile: 'Security', initiator: 'CP' },
  SignedFirmwareStatusNotification: { profile: 'Security', initiator: 'CP' },
  SignedUpdateFirmware: { profile: 'Security', initiator: 'CS' },
} as const satisfies Record<Action, ActionInfo>;

export function isAction(name: string): name is Action {
  return Object.hasOwn(ACTION_INFO, name);
}

/** Actions the central system may send us. */
export type InboundAction = {
  [A in Action]: (typeof ACTION_INFO)[A]['initiator'] extends 'CS' | 'Both' ? A : never;
}[Action];

/** Actions we send to the central system. */
export type OutboundAction = {
  [A in Action]: (typeof ACTION_INFO)[A]['initiator'] extends 'CP' | 'Both' ? A : never;
}[Action];
