/**
 * JSON schema of hardware board files: which driver serves each connector and device, composed
 * from the drivers' own option schemas. Published, with the simulated-board schema, as
 * config/board.schema.json (npm run gen:schema); a test keeps it identical.
 */

import { evCcAc1ControllerSchema, evCcAc1PartSchema } from '../../hal/drivers/ev-cc-ac1.js';
import {
  gpioFaultInputOptionsSchema,
  gpioLockOptionsSchema,
  gpioPilotOptionsSchema,
  gpioRelayOptionsSchema,
} from '../../hal/drivers/gpio-lines.js';
import { modbusMeterOptionsSchema } from '../../hal/drivers/modbus-meter.js';
import { modbusSetpointOptionsSchema } from '../../hal/drivers/modbus-setpoint.js';
import { serialRfidOptionsSchema } from '../../hal/drivers/rfid-serial.js';
import { boardBase, connectorBase, readerConnectors, SIM_BOARD_SCHEMA } from './board-schema.js';

export const HARDWARE_BOARD_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'kind', 'connectors'],
  properties: {
    ...boardBase,
    kind: { const: 'hardware' },
    sysfsRoot: { type: 'string', minLength: 1, description: 'Where sysfs is mounted (default /sys).' },
    connectors: {
      type: 'array',
      minItems: 1,
      maxItems: 100,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'maxCurrentA', 'phases', 'relay', 'pilot'],
        properties: {
          ...connectorBase,
          relay: { oneOf: [gpioRelayOptionsSchema, evCcAc1PartSchema] },
          pilot: { oneOf: [gpioPilotOptionsSchema, evCcAc1PartSchema] },
          lock: { oneOf: [gpioLockOptionsSchema, evCcAc1PartSchema] },
          meter: modbusMeterOptionsSchema,
          controller: evCcAc1ControllerSchema,
          powerSetpoint: modbusSetpointOptionsSchema,
        },
      },
    },
    readers: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'connectors', 'device'],
        properties: {
          name: { type: 'string', minLength: 1, maxLength: 64 },
          connectors: readerConnectors,
          device: serialRfidOptionsSchema,
        },
      },
    },
    faultInputs: { type: 'array', items: gpioFaultInputOptionsSchema },
  },
} as const;

/** For editors: either kind. The loader validates against the one `kind` names, for clearer errors. */
export const BOARD_FILE_SCHEMA = {
  $id: 'https://chargepoint-runtime/board.schema.json',
  oneOf: [SIM_BOARD_SCHEMA, HARDWARE_BOARD_SCHEMA],
} as const;
