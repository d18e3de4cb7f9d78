/**
 * JSON schema of board files (config/boards/*.json): which driver serves each connector and
 * device. Published as config/board.schema.json (npm run gen:schema); a test keeps them identical.
 */
const connectorBase = {
  id: { type: 'integer', minimum: 1, maximum: 100 },
  fixedCable: { type: 'boolean', description: 'A tethered cable: it cannot be unlocked.' },
  maxCurrentA: { type: 'number', exclusiveMinimum: 0, maximum: 1000 },
  phases: { enum: [1, 3] },
} as const;

const simBoard = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'kind', 'connectors'],
  properties: {
    $schema: { type: 'string' },
    name: { type: 'string', minLength: 1, maxLength: 64 },
    kind: { const: 'sim' },
    connectors: {
      type: 'array',
      minItems: 1,
      maxItems: 100,
      items: { type: 'object', additionalProperties: false, required: ['id'], properties: connectorBase },
    },
    readers: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'connectors'],
        properties: {
          name: { type: 'string', minLength: 1, maxLength: 64 },
          connectors: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'integer', minimum: 1 } },
        },
      },
    },
  },
} as const;

export const BOARD_FILE_SCHEMA = {
  $id: 'https://chargepoint-runtime/board.schema.json',
  ...simBoard,
} as const;
