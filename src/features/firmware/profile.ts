import type { Profile } from '../profile.js';
import { installDiagnostics } from './diagnostics-install.js';
import { sendFirmwareStatusNow } from './firmware-status-notification.js';
import { registerUpdateFirmware } from './update-firmware.js';

/**
 * Firmware Management (spec 3.3): UpdateFirmware over the firmware pipeline (src/firmware/), and
 * FirmwareStatusNotification on TriggerMessage with the real status; GetDiagnostics and its
 * DiagnosticsStatusNotification (installDiagnostics).
 */
export const firmwareManagementProfile: Profile = {
  name: 'FirmwareManagement',
  capabilities: ['firmware'],
  install(ctx, services) {
    const { firmware } = services;
    registerUpdateFirmware(ctx, firmware);
    const diagnostics = installDiagnostics(ctx, services);
    // After the other `accepted` listeners: the connectors' statuses go first, as TC_044_1 recommends.
    const report = () => queueMicrotask(() => firmware.reportOutcome());
    services.registration.on('accepted', report);
    return {
      triggers: {
        ...diagnostics.triggers,
        FirmwareStatusNotification: () => sendFirmwareStatusNow(ctx, firmware.current(), firmware.busy()),
      },
      start: () => {
        firmware
          .start()
          .catch((error: Error) => ctx.log.error({ err: error.message }, 'firmware update not resumed'));
      },
      stop: () => {
        services.registration.off('accepted', report);
        firmware.stop();
        diagnostics.stop();
      },
    };
  },
};
