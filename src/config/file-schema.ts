/**
 * JSON schema of the provisioning file (contract 2 in DESIGN.md). Also published as
 * config/chargepoint.schema.json for editors; a test keeps the two identical.
 */
export const CONFIG_FILE_SCHEMA = {
  $id: 'https://chargepoint-runtime/config.schema.json',
  type: 'object',
  additionalProperties: false,
  required: ['chargePointId', 'identity', 'csms', 'stateDir'],
  properties: {
    $schema: { type: 'string' },
    template: {
      type: 'string',
      description:
        "Marks the installer's template: the daemon does not start while it is here, nor on the simulated board.",
    },
    chargePointId: {
      type: 'string',
      minLength: 1,
      maxLength: 48,
      pattern: "^[A-Za-z0-9._~:@!$&'()*+,;=-]+$",
      description: 'Charge point identity, the last segment of the connection URL.',
    },
    identity: {
      type: 'object',
      additionalProperties: false,
      required: ['vendor', 'model'],
      properties: {
        vendor: { type: 'string', minLength: 1, maxLength: 20 },
        model: { type: 'string', minLength: 1, maxLength: 20 },
        chargePointSerialNumber: { type: 'string', maxLength: 25 },
        chargeBoxSerialNumber: { type: 'string', maxLength: 25 },
        iccid: { type: 'string', maxLength: 20 },
        imsi: { type: 'string', maxLength: 20 },
      },
    },
    csms: {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      properties: {
        url: { type: 'string', pattern: '^wss?://[^\\s]+$' },
        urlBySecurityProfile: {
          type: 'object',
          additionalProperties: false,
          description: 'Central-system URL per security profile, where it uses another port for each.',
          properties: Object.fromEntries(
            ['0', '1', '2', '3'].map((n) => [n, { type: 'string', pattern: '^wss?://[^\\s]+$' }]),
          ),
        },
        securityProfile: { type: 'integer', minimum: 0, maximum: 3, default: 0 },
        caFile: { type: 'string', minLength: 1 },
        certFile: { type: 'string', minLength: 1 },
        keyFile: { type: 'string', minLength: 1 },
        callTimeoutSeconds: { type: 'number', exclusiveMinimum: 0, maximum: 600, default: 30 },
        connectTimeoutSeconds: { type: 'number', exclusiveMinimum: 0, maximum: 600, default: 15 },
        bootRetrySeconds: { type: 'number', exclusiveMinimum: 0, maximum: 86400, default: 60 },
        reconnect: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            initialSeconds: { type: 'number', exclusiveMinimum: 0, maximum: 3600, default: 1 },
            maxSeconds: { type: 'number', exclusiveMinimum: 0, maximum: 86400, default: 120 },
          },
        },
      },
    },
    stateDir: { type: 'string', minLength: 1 },
    board: { type: 'string', minLength: 1, default: 'sim' },
    cli: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: { socket: { type: 'string', minLength: 1, default: '/run/chargepoint/cpctl.sock' } },
    },
    mqtt: {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      properties: { url: { type: 'string', pattern: '^mqtts?://' }, prefix: { type: 'string' } },
    },
    ocpp: {
      type: 'object',
      default: {},
      additionalProperties: { type: ['string', 'number', 'boolean'] },
    },
    ocppForced: { type: 'array', items: { type: 'string' }, uniqueItems: true, default: [] },
    clock: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: { ntpSynchronized: { type: 'boolean', default: false } },
    },
    reset: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        hardResetCommand: { type: 'array', items: { type: 'string' }, minItems: 1 },
      },
    },
    trace: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The OCPP frame trace (cpctl trace): a ring of the newest frames in the state database.',
      properties: { maxFrames: { type: 'integer', minimum: 0, maximum: 1000000, default: 10000 } },
    },
    security: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        keyType: {
          enum: ['ec-p256', 'rsa-2048', 'rsa-3072'],
          default: 'ec-p256',
          description: 'Key pair of a new charge point certificate (SignCertificate): EC P-256 or RSA.',
        },
      },
    },
    firmware: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Firmware updates (UpdateFirmware, SignedUpdateFirmware, cpctl firmware install).',
      properties: {
        install: {
          type: 'array',
          items: { type: 'string' },
          minItems: 1,
          description: 'Install hook: argv; the image path is appended. Exit 0 = installed.',
        },
        afterInstall: {
          enum: ['reboot', 'restart'],
          default: 'reboot',
          description: 'After an installed image: stop like a hard reset (exit 11) or a restart (exit 10).',
        },
        requireSigned: {
          type: 'boolean',
          default: false,
          description:
            'Only signed updates (SignedUpdateFirmware); UpdateFirmware is NotSupported (L01.FR.20).',
        },
        confirmTimeoutSeconds: {
          type: 'number',
          exclusiveMinimum: 0,
          maximum: 86400,
          default: 600,
          description:
            'How long a new release has to be accepted by the central system before it is rolled back.',
        },
        confirm: {
          type: 'array',
          items: { type: 'string' },
          minItems: 1,
          description:
            'Run once the registration is Accepted after a start: confirms a firmware release on trial (docs/firmware.md).',
        },
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'], default: 'info' },
      },
    },
  },
} as const;
