import { CallError } from '../../ocpp/errors.js';
import type { FeatureContext } from '../context.js';

/** GetConfiguration: all keys, or the listed ones with the rest as unknownKey; GetConfigurationMaxKeys enforced. */
export function registerGetConfiguration(ctx: FeatureContext): void {
  ctx.rpc.handle('GetConfiguration', (req) => {
    const keys = req.key ?? [];
    const max = ctx.config.getInt('GetConfigurationMaxKeys');
    if (keys.length > max) {
      throw new CallError(
        'OccurenceConstraintViolation',
        `at most ${max} keys per GetConfiguration (GetConfigurationMaxKeys)`,
      );
    }
    return ctx.config.list(keys);
  });
}
