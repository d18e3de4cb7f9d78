import { describe, expect, it } from 'vitest';
import { CP_ID, useHarness } from '../support/harness.js';

type Key = { key: string; readonly: boolean; value?: string };
type GetConf = { configurationKey?: Key[]; unknownKey?: string[] };

/** Keys the OCTT checks in TC_019_CS for Core, with the accessibility it accepts. */
const CORE_REQUIRED: Record<string, 'R' | 'RW' | 'R or RW'> = {
  AuthorizeRemoteTxRequests: 'R or RW',
  ClockAlignedDataInterval: 'RW',
  ConnectionTimeOut: 'RW',
  ConnectorPhaseRotation: 'RW',
  GetConfigurationMaxKeys: 'R',
  HeartbeatInterval: 'RW',
  LocalAuthorizeOffline: 'RW',
  LocalPreAuthorize: 'RW',
  MeterValuesAlignedData: 'RW',
  MeterValuesSampledData: 'RW',
  MeterValueSampleInterval: 'RW',
  NumberOfConnectors: 'R',
  ResetRetries: 'RW',
  StopTransactionOnInvalidId: 'RW',
  StopTxnAlignedData: 'RW',
  StopTxnSampledData: 'RW',
  SupportedFeatureProfiles: 'R',
  TransactionMessageAttempts: 'RW',
  TransactionMessageRetryInterval: 'RW',
  UnlockConnectorOnEVSideDisconnect: 'R or RW',
};

describe('Core: configuration', () => {
  const start = useHarness();

  it('TC_019_CS retrieve configuration', async () => {
    const h = await start({ ocpp: { AuthorizationKey: '0123456789ABCDEF0123456789ABCDEF' } });
    await h.booted();
    const csms = h.csms;

    const profiles = await csms.call<GetConf>(CP_ID, 'GetConfiguration', {
      key: ['SupportedFeatureProfiles'],
    });
    expect(profiles.unknownKey ?? []).toEqual([]);
    expect(profiles.configurationKey).toEqual([
      {
        key: 'SupportedFeatureProfiles',
        readonly: true,
        value: 'Core,FirmwareManagement,LocalAuthListManagement,RemoteTrigger,Reservation,SmartCharging',
      },
    ]);

    const all = await csms.call<GetConf>(CP_ID, 'GetConfiguration', {});
    const byName = new Map((all.configurationKey ?? []).map((k) => [k.key, k]));
    for (const [name, access] of Object.entries(CORE_REQUIRED)) {
      const entry = byName.get(name);
      expect(entry, name).toBeDefined();
      if (access === 'R') expect(entry?.readonly, name).toBe(true);
      if (access === 'RW') expect(entry?.readonly, name).toBe(false);
    }
    expect(byName.get('NumberOfConnectors')?.value).toBe('2');
    // The Basic-auth password is write-only: listed, never disclosed.
    expect(byName.get('AuthorizationKey')).toEqual({ key: 'AuthorizationKey', readonly: false });
    expect(JSON.stringify(h.csms.frames.map((f) => f.text))).not.toContain('0123456789ABCDEF0123');
    // Keys of profiles this build implements are present; those of profiles it does not, absent.
    expect(byName.get('LocalAuthListEnabled')?.readonly).toBe(false);
    expect(byName.get('LocalAuthListMaxLength')?.readonly).toBe(true);
    expect(byName.get('SendLocalListMaxLength')?.readonly).toBe(true);
    expect(byName.has('AuthorizationCacheEnabled')).toBe(true);
    expect(byName.get('ChargeProfileMaxStackLevel')?.readonly).toBe(true);
    expect(byName.get('SupportedFileTransferProtocols')).toEqual({
      key: 'SupportedFileTransferProtocols',
      readonly: true,
      value: 'FTP,FTPS,HTTP,HTTPS',
    });
    expect(byName.get('ReserveConnectorZeroSupported')?.readonly).toBe(true);

    const maxKeys = await csms.call<GetConf>(CP_ID, 'GetConfiguration', { key: ['GetConfigurationMaxKeys'] });
    const max = Number(maxKeys.configurationKey?.[0]?.value);
    expect(max).toBeGreaterThan(0);
    const names = [...byName.keys()].slice(0, Math.min(max, byName.size));
    const some = await csms.call<GetConf>(CP_ID, 'GetConfiguration', { key: names });
    expect(some.unknownKey ?? []).toEqual([]);
    expect(some.configurationKey?.map((k) => k.key).sort()).toEqual([...names].sort());

    const unknown = await csms.call<GetConf>(CP_ID, 'GetConfiguration', {
      key: ['HeartbeatInterval', 'NoSuchKey'],
    });
    expect(unknown.unknownKey).toEqual(['NoSuchKey']);
    expect(unknown.configurationKey?.map((k) => k.key)).toEqual(['HeartbeatInterval']);
  });

  it('GetConfiguration with more keys than GetConfigurationMaxKeys is refused, the link keeps working', async () => {
    const h = await start();
    await h.booted();
    const max = h.runtime.config.getInt('GetConfigurationMaxKeys');
    const keys = Array.from({ length: max + 1 }, (_, i) => `Key${i}`);
    await expect(h.csms.call(CP_ID, 'GetConfiguration', { key: keys })).rejects.toMatchObject({
      code: 'OccurenceConstraintViolation',
    });
    await expect(h.csms.call(CP_ID, 'GetConfiguration', { key: ['HeartbeatInterval'] })).resolves.toEqual({
      configurationKey: [{ key: 'HeartbeatInterval', readonly: false, value: '300' }],
    });
  });

  it('TC_021_CS change configuration, and the value survives a restart', async () => {
    const h = await start();
    await h.booted();
    const before = await h.csms.call<GetConf>(CP_ID, 'GetConfiguration', {
      key: ['MeterValueSampleInterval'],
    });
    const target = before.configurationKey?.[0]?.value === '33' ? '34' : '33';
    expect(
      await h.csms.call(CP_ID, 'ChangeConfiguration', { key: 'MeterValueSampleInterval', value: target }),
    ).toEqual({
      status: 'Accepted',
    });
    const after = await h.csms.call<GetConf>(CP_ID, 'GetConfiguration', {
      key: ['MeterValueSampleInterval'],
    });
    expect(after.configurationKey?.[0]).toEqual({
      key: 'MeterValueSampleInterval',
      readonly: false,
      value: target,
    });

    await h.runtime.stop();
    const mark = h.csms.mark();
    await h.startRuntime();
    await h.booted(mark);
    const restarted = await h.csms.call<GetConf>(CP_ID, 'GetConfiguration', {
      key: ['MeterValueSampleInterval'],
    });
    expect(restarted.configurationKey?.[0]?.value).toBe(target);
  });

  it('TC_040_1_CS unknown key is NotSupported', async () => {
    const h = await start();
    await h.booted();
    expect(await h.csms.call(CP_ID, 'ChangeConfiguration', { key: 'Testing', value: 'true' })).toEqual({
      status: 'NotSupported',
    });
  });

  it('TC_040_2_CS invalid value is Rejected; so are read-only keys, bad lists and negative ping intervals', async () => {
    const h = await start();
    await h.booted();
    const change = (key: string, value: string) => h.csms.call(CP_ID, 'ChangeConfiguration', { key, value });
    expect(await change('MeterValueSampleInterval', '-1')).toEqual({ status: 'Rejected' });
    expect(await change('HeartbeatInterval', 'abc')).toEqual({ status: 'Rejected' });
    expect(await change('NumberOfConnectors', '5')).toEqual({ status: 'Rejected' });
    expect(await change('WebSocketPingInterval', '-5')).toEqual({ status: 'Rejected' });
    expect(await change('MeterValuesSampledData', 'Energy.Active.Import.Register,Bogus.Measurand')).toEqual({
      status: 'Rejected',
    });
    expect(await change('ConnectorPhaseRotation', '1.XYZ')).toEqual({ status: 'Rejected' });
    expect(await change('MeterValueSampleInterval', '-1')).toEqual({ status: 'Rejected' });
    expect(h.runtime.config.get('MeterValueSampleInterval')).not.toBe('-1');
  });

  it('HeartbeatInterval takes effect live', async () => {
    const h = await start();
    await h.booted();
    const mark = h.csms.mark();
    expect(await h.csms.call(CP_ID, 'ChangeConfiguration', { key: 'HeartbeatInterval', value: '1' })).toEqual(
      {
        status: 'Accepted',
      },
    );
    const hb = await h.csms.waitForCall(CP_ID, 'Heartbeat', { since: mark });
    await h.csms.waitForCall(CP_ID, 'Heartbeat', { since: hb.record.seq });
  });

  it('SecurityProfile cannot be lowered or set equal, and cannot rise without its prerequisites', async () => {
    const h = await start();
    await h.booted();
    const change = (value: string) =>
      h.csms.call(CP_ID, 'ChangeConfiguration', { key: 'SecurityProfile', value });
    expect(await change('0')).toEqual({ status: 'Rejected' });
    // No AuthorizationKey yet: profile 1 is not possible.
    expect(await change('1')).toEqual({ status: 'Rejected' });
    // No root certificate: profiles 2 and 3 are not possible.
    expect(await change('2')).toEqual({ status: 'Rejected' });
    expect(await change('3')).toEqual({ status: 'Rejected' });
    expect(h.runtime.config.get('SecurityProfile')).toBe('0');
  });
});
