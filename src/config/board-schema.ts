/**
 * JSON schema of simulated-board files and the parts every board file shares. The hardware
 * board schema lives in hardware-board-schema.ts with the driver schemas it is made of, so a
 * simulated board never loads the drivers (serialport, modbus-serial, the epoll binding).
 */

export const connectorBase = {
  id: { type: 'integer', minimum: 1, maximum: 100 },
  fixedCable: { type: 'boolean', description: 'A tethered cable: it cannot be unlocked.' },
  maxCurrentA: { type: 'number', exclusiveMinimum: 0, maximum: 1000 },
  phases: { enum: [1, 3] },
  phase: {
    enum: [1, 2, 3],
    description:
      'The supply line (1 = L1, 2 = L2, 3 = L3) a 1-phase outlet is wired to, for load sharing; unknown when absent: its share then counts on every line.',
  },
  nominalVoltageV: {
    type: 'number',
    exclusiveMinimum: 0,
    maximum: 1500,
    description: 'Nominal phase voltage (DC: the output voltage) that A and W convert with; default 230.',
  },
} as const;

export const boardBase = {
  $schema: { type: 'string' },
  name: { type: 'string', minLength: 1, maxLength: 64 },
  supplyMaxCurrentA: {
    type: 'number',
    exclusiveMinimum: 0,
    maximum: 10_000,
    description:
      'What the supply feeding all connectors carries, A per phase, when less than their sum: the connectors share it.',
  },
  smartCharging: {
    type: 'object',
    additionalProperties: false,
    description:
      'Charging-profile capacity (ChargeProfileMaxStackLevel, ChargingScheduleMaxPeriods, MaxChargingProfilesInstalled, ChargingScheduleAllowedChargingRateUnit); the defaults apply to what is left out.',
    properties: {
      maxStackLevel: { type: 'integer', minimum: 0, maximum: 1000 },
      maxPeriods: { type: 'integer', minimum: 1, maximum: 10_000 },
      maxProfiles: { type: 'integer', minimum: 1, maximum: 10_000 },
      rateUnits: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: ['A', 'W'] } },
    },
  },
} as const;

export const readerConnectors = {
  type: 'array',
  minItems: 1,
  uniqueItems: true,
  items: { type: 'integer', minimum: 1 },
  description: 'The connectors this reader serves.',
} as const;

export const SIM_BOARD_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'kind', 'connectors'],
  properties: {
    ...boardBase,
    kind: { const: 'sim' },
    connectors: {
      type: 'array',
      minItems: 1,
      maxItems: 100,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id'],
        properties: {
          ...connectorBase,
          dc: {
            type: 'boolean',
            description: 'A DC outlet: it has a power setpoint output that caps what the EV draws.',
          },
        },
      },
    },
    readers: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'connectors'],
        properties: { name: { type: 'string', minLength: 1, maxLength: 64 }, connectors: readerConnectors },
      },
    },
  },
} as const;
