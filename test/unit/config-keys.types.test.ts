import { describe, expect, expectTypeOf, it } from 'vitest';
import type { KeyName, KeyNameOf } from '../../src/config/keys.js';
import type { ConfigurationRegistry } from '../../src/config/registry.js';

// Compiled by `tsc --noEmit` with the rest of the tests: every `@ts-expect-error` below must meet an
// error, so a key name or a getter that stops being checked breaks the build.

/** Never called: its body is the type test. */
function reads(config: ConfigurationRegistry): unknown[] {
  return [
    config.getInt('HeartbeatInterval'),
    config.getBool('LocalPreAuthorize'),
    config.getList('MeterValuesSampledData'),
    config.get('AuthorizationKey'),
    config.has('LocalAuthListEnabled'),
    config.change('HeartbeatInterval', '60', 'runtime'),
    config.onChange('WebSocketPingInterval', () => {}),
    // A name from outside the code is a plain string, checked at run time.
    config.changeByName(String('HeartbeatIntervall'), '60', 'csms'),
    // @ts-expect-error: misspelt key
    config.getInt('HeartbeatIntervall'),
    // @ts-expect-error: an integer key read as a boolean
    config.getBool('HeartbeatInterval'),
    // @ts-expect-error: a boolean key read as an integer
    config.getInt('LocalPreAuthorize'),
    // @ts-expect-error: a string key read as a list
    config.getList('AuthorizationKey'),
    // @ts-expect-error: misspelt key
    config.get('HeartBeatInterval'),
    // @ts-expect-error: misspelt key
    config.has('LocalAuthListEnable'),
    // @ts-expect-error: misspelt key
    config.change('HeartbeatIntervall', '60', 'runtime'),
    // @ts-expect-error: misspelt key
    config.onChange('WebsocketPingInterval', () => {}),
    // @ts-expect-error: misspelt key
    config.guard('SecurityProfil', () => undefined),
    // @ts-expect-error: an arbitrary string must go through changeByName
    config.change(String('HeartbeatInterval'), '60', 'csms'),
  ];
}

describe('configuration key types', () => {
  it('derive names and value types from the key definitions', () => {
    expectTypeOf<'HeartbeatInterval'>().toExtend<KeyName>();
    expectTypeOf<'HeartbeatIntervall'>().not.toExtend<KeyName>();
    expectTypeOf<'HeartbeatInterval'>().toExtend<KeyNameOf<'integer'>>();
    expectTypeOf<'HeartbeatInterval'>().not.toExtend<KeyNameOf<'boolean'>>();
    expectTypeOf<'LocalAuthListEnabled'>().toExtend<KeyNameOf<'boolean'>>();
    expectTypeOf<'MeterValuesSampledData'>().toExtend<KeyNameOf<'csl'>>();
    expectTypeOf<'AuthorizationKey'>().toExtend<KeyNameOf<'string'>>();
    expectTypeOf<KeyName>().not.toEqualTypeOf<string>();
  });

  it('type the registry getters by those names', () => {
    expectTypeOf<ConfigurationRegistry['getInt']>().parameter(0).toEqualTypeOf<KeyNameOf<'integer'>>();
    expectTypeOf<ConfigurationRegistry['getBool']>().parameter(0).toEqualTypeOf<KeyNameOf<'boolean'>>();
    expectTypeOf<ConfigurationRegistry['getList']>().parameter(0).toEqualTypeOf<KeyNameOf<'csl'>>();
    expectTypeOf<ConfigurationRegistry['get']>().parameter(0).toEqualTypeOf<KeyName>();
    expectTypeOf<ConfigurationRegistry['changeByName']>().parameter(0).toEqualTypeOf<string>();
    expect(reads).toBeTypeOf('function');
  });
});
