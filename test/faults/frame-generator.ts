/**
 * Schema-aware OCPP-J frame generator for the fuzzer: payloads are built from the official 1.6 JSON
 * schemas (the catalogue the runtime validates against), then one mutation of a known kind is
 * applied. Every frame says what it is (its id, whether it is a CALL, the mutation), so the test can
 * judge the answer without re-implementing the frame rules.
 */
import { KEY_DEFINITIONS } from '../../src/config/keys.js';
import { ACTION_INFO } from '../../src/ocpp/actions.js';
import { type CatalogueSchema, loadSchemaCatalogue } from '../../src/ocpp/schema-catalogue.js';
import type { Rng } from '../support/prng.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** The part of JSON Schema draft-07 the 1.6 catalogue uses. */
interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean;
  items?: Schema;
  enum?: string[];
  maxLength?: number;
  minItems?: number;
  format?: string;
  multipleOf?: number;
  $ref?: string;
  definitions?: Record<string, Schema>;
}

export const MUTATIONS = [
  'none',
  'wrongType',
  'missingRequired',
  'extraField',
  'hugeString',
  'badEnum',
  'wrongMessageTypeId',
  'badJson',
  'wrongArity',
  'badMessageId',
  'unknownAction',
  'chargePointAction',
  'answerFrame',
] as const;
export type Mutation = (typeof MUTATIONS)[number];

export interface GeneratedFrame {
  text: string;
  mutation: Mutation;
  /** The message id, when the frame carries a usable one (a string of at most 36 characters). */
  messageId: string | undefined;
  /** The action named in the frame, when it has one. */
  action: string | undefined;
  /**
   * The frame is a CALL the charge point must answer: a JSON array [2, id, action, payload] with a
   * string id, or text that begins like one.
   */
  mustAnswer: boolean;
  /** The payload as generated, when the frame is well-formed JSON. */
  payload: Json | undefined;
}

/** Actions the central system sends (what a CALL to the charge point may name). */
export const INBOUND_ACTIONS = Object.entries(ACTION_INFO)
  .filter(([, info]) => info.initiator !== 'CP')
  .map(([action]) => action);
const OUTBOUND_ONLY = Object.entries(ACTION_INFO)
  .filter(([, info]) => info.initiator === 'CP')
  .map(([action]) => action);

/**
 * Configuration keys a random ChangeConfiguration names. AuthorizationKey and SecurityProfile are
 * left out: a valid value reconnects the link, and a frame fed during the reconnect has nowhere to
 * be answered, which is right but says nothing about frame handling.
 */
const CONFIG_KEYS = KEY_DEFINITIONS.map((d) => d.name).filter(
  (name) => name !== 'AuthorizationKey' && name !== 'SecurityProfile',
);

/** Above the runtime's 256 KiB frame limit, so both sides of it are exercised. */
const HUGE_MAX = 300 * 1024;

export class FrameGenerator {
  private readonly schemas = new Map<string, CatalogueSchema>();
  private counter = 0;

  constructor(private readonly rng: Rng) {
    for (const schema of loadSchemaCatalogue()) this.schemas.set(schema.$id, schema);
  }

  next(): GeneratedFrame {
    this.counter += 1;
    const messageId = `fz-${this.counter.toString(36)}`;
    const action = this.rng.pick(INBOUND_ACTIONS);
    const root = this.requestSchema(action);
    const payload = this.valueOf(root, root, 0) as JsonObject;
    const mutation = this.rng.weighted(MUTATION_WEIGHTS);
    const call = (p: Json, a: string = action): GeneratedFrame => ({
      text: JSON.stringify([2, messageId, a, p]),
      mutation,
      messageId,
      action: a,
      mustAnswer: true,
      payload: p,
    });
    switch (mutation) {
      case 'none':
        return call(payload);
      case 'wrongType':
      case 'missingRequired':
      case 'extraField':
      case 'hugeString':
      case 'badEnum':
        return call(this.mutate(mutation, payload, root));
      case 'wrongMessageTypeId': {
        const type = this.rng.pick<Json>([0, 1, 5, 6, -2, 2.5, '2', null, 99]);
        const text = JSON.stringify([type, messageId, action, payload]);
        // A frame of an unknown type with a string id might be a CALL of a later revision:
        // answered with ProtocolError (none of these types is 3 or 4, which are never answered).
        return { text, mutation, messageId, action, mustAnswer: true, payload };
      }
      case 'badJson': {
        const text = JSON.stringify([2, messageId, action, payload]);
        // Every way keeps `[2,"<id>",` intact, so the id can still be read and echoed.
        const head = messageId.length + 6;
        const broken = this.rng.pick([
          () => text.slice(0, this.rng.int(head, text.length - 1)),
          () => `${text}]`,
          () => `${text.slice(0, -1)},]`,
          () => `${text.slice(0, head)}${text.slice(head).replace('{', '{NaN')}`,
        ])();
        return { text: broken, mutation, messageId, action, mustAnswer: true, payload: undefined };
      }
      case 'wrongArity': {
        const items: Json[] = this.rng.chance(0.5)
          ? [2, messageId, action]
          : [2, messageId, action, payload, { extra: true }];
        return { ...call(payload), text: JSON.stringify(items), payload: undefined };
      }
      case 'badMessageId': {
        const id = this.rng.pick<Json>([42, null, { id: messageId }, `${messageId}-`.padEnd(37, 'x'), true]);
        const text = JSON.stringify([2, id, action, payload]);
        // A string id, even too long, is echoed so the peer can match the error; others cannot be.
        const usable = typeof id === 'string' ? id : undefined;
        return { text, mutation, messageId: usable, action, mustAnswer: usable !== undefined, payload };
      }
      case 'unknownAction': {
        const name = this.rng.pick([
          'Foo',
          '',
          'reset',
          'BootNotification.req',
          'x'.repeat(this.rng.int(1, 2000)),
        ]);
        return call(payload, name);
      }
      case 'chargePointAction': {
        const name = this.rng.pick(OUTBOUND_ONLY);
        const schema = this.requestSchema(name);
        return call(this.valueOf(schema, schema, 0), name);
      }
      case 'answerFrame': {
        // A CALLRESULT or CALLERROR for a call that was never made: never answered.
        const text = this.rng.chance(0.5)
          ? JSON.stringify([3, messageId, payload])
          : JSON.stringify([4, messageId, 'GenericError', 'fuzz', {}]);
        return { text, mutation, messageId, action: undefined, mustAnswer: false, payload };
      }
    }
  }

  private requestSchema(action: string): Schema {
    const schema = this.schemas.get(`urn:${action}.req`);
    if (!schema) throw new Error(`no request schema for ${action}`);
    return schema as Schema;
  }

  private resolve(schema: Schema, root: Schema): Schema {
    if (!schema.$ref) return schema;
    const name = schema.$ref.replace('#/definitions/', '');
    const target = root.definitions?.[name];
    if (!target) throw new Error(`unresolved ${schema.$ref}`);
    return target;
  }

  /** A value valid against `schema`, optional fields included at random. */
  private valueOf(raw: Schema, root: Schema, depth: number): Json {
    const schema = this.resolve(raw, root);
    if (schema.enum) return this.rng.pick(schema.enum);
    switch (schema.type) {
      case 'object': {
        const out: JsonObject = {};
        for (const [key, sub] of Object.entries(schema.properties ?? {}))
          if (schema.required?.includes(key) || (depth < 4 && this.rng.chance(0.5)))
            out[key] = this.valueOf(sub, root, depth + 1);
        return out;
      }
      case 'array': {
        const n = this.rng.int(schema.minItems ?? 0, depth < 3 ? 4 : 1);
        return Array.from({ length: n }, () => this.valueOf(schema.items ?? {}, root, depth + 1));
      }
      case 'integer':
        return this.rng.pick([0, 1, 2, this.rng.int(-5, 100), this.rng.int(0, 2 ** 31 - 1)]);
      case 'number':
        return schema.multipleOf ? this.rng.int(0, 1000) / 10 : this.rng.int(-1000, 1000) / 4;
      case 'boolean':
        return this.rng.chance(0.5);
      case 'string':
        return this.stringOf(schema);
      default:
        return {};
    }
  }

  private stringOf(schema: Schema): string {
    if (schema.format === 'date-time')
      return new Date(Date.UTC(2026, 0, 1) + this.rng.int(-1e10, 1e10)).toISOString();
    if (schema.format === 'uri') return this.rng.pick(['ftp://127.0.0.1/x', 'http://127.0.0.1:1/up']);
    const max = schema.maxLength ?? 64;
    // ChangeConfiguration / GetConfiguration keys: real names half the time, or the handlers are
    // only ever asked about keys they do not know.
    if (max === 50 && this.rng.chance(0.5)) return this.rng.pick(CONFIG_KEYS);
    const length = this.rng.int(0, Math.min(max, 24));
    return this.rng.pick([
      () => this.rng.string(length),
      () => String(this.rng.int(-10, 3600)),
      () => this.rng.pick(['true', 'false', '', 'Energy.Active.Import.Register', 'CARD-1']).slice(0, max),
    ])();
  }

  /** Applies one schema mutation somewhere in the payload (or to the payload itself). */
  private mutate(mutation: Mutation, payload: JsonObject, root: Schema): Json {
    const sites = this.sites(payload, root, root);
    const pickSite = (pred: (s: Site) => boolean): Site | undefined => {
      const fitting = sites.filter(pred);
      return fitting.length > 0 ? this.rng.pick(fitting) : undefined;
    };
    switch (mutation) {
      case 'wrongType': {
        const site = pickSite((s) => s.key !== undefined) ?? {
          parent: undefined,
          key: undefined,
          schema: root,
        };
        const value = this.rng.pick<Json>([
          'text',
          12345,
          -1.5,
          true,
          null,
          [1, 2],
          { nested: {} },
          '2026-13-45T99:99:99Z',
        ]);
        if (!site.parent || site.key === undefined) return this.rng.pick<Json>([[], 'payload', 7, null]);
        setAt(site.parent, site.key, value);
        return payload;
      }
      case 'missingRequired': {
        const site = pickSite((s) => s.required.length > 0 && s.value !== null && isObject(s.value));
        if (site && isObject(site.value)) delete site.value[this.rng.pick(site.required)];
        return payload;
      }
      case 'extraField': {
        const site = pickSite((s) => isObject(s.value)) ?? { value: payload };
        // defineProperty, so `__proto__` becomes a key of the JSON rather than the prototype.
        if (isObject(site.value))
          Object.defineProperty(
            site.value,
            this.rng.pick(['unknownField', 'x', '__proto__', 'constructor']),
            {
              value: 1,
              enumerable: true,
              writable: true,
              configurable: true,
            },
          );
        return payload;
      }
      case 'hugeString': {
        const site = pickSite((s) => s.key !== undefined && s.schema.type === 'string');
        const length = this.rng.chance(0.1) ? this.rng.int(HUGE_MAX / 2, HUGE_MAX) : this.rng.int(21, 5000);
        const value = 'H'.repeat(length);
        if (site?.parent && site.key !== undefined) setAt(site.parent, site.key, value);
        else payload.huge = value;
        return payload;
      }
      case 'badEnum': {
        const site = pickSite((s) => s.key !== undefined && s.schema.enum !== undefined);
        const value = this.rng.pick(['Invalid', 'accepted', '', 'ACCEPTED ', 'Accepted\u0000']);
        if (site?.parent && site.key !== undefined) setAt(site.parent, site.key, value);
        else payload.type = value;
        return payload;
      }
      default:
        return payload;
    }
  }

  /** Every value in the payload with the schema it must match, its parent and key. */
  private sites(
    value: Json,
    raw: Schema,
    root: Schema,
    parent?: Json[] | JsonObject,
    key?: string | number,
  ): Site[] {
    const schema = this.resolve(raw, root);
    const here: Site = { value, schema, parent, key, required: schema.required ?? [] };
    if (Array.isArray(value) && schema.items) {
      const items = schema.items;
      return [here, ...value.flatMap((item, i) => this.sites(item, items, root, value, i))];
    }
    if (isObject(value) && schema.properties) {
      const props = schema.properties;
      return [
        here,
        ...Object.entries(value).flatMap(([k, v]) =>
          props[k] ? this.sites(v, props[k], root, value, k) : [],
        ),
      ];
    }
    return [here];
  }
}

interface Site {
  value?: Json;
  schema: Schema;
  parent?: Json[] | JsonObject | undefined;
  key?: string | number | undefined;
  required: string[];
}

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function setAt(parent: Json[] | JsonObject, key: string | number, value: Json): void {
  if (Array.isArray(parent)) parent[Number(key)] = value;
  else parent[String(key)] = value;
}

/** Valid frames often enough that the handlers themselves run, not only the validator. */
const MUTATION_WEIGHTS: ReadonlyArray<readonly [Mutation, number]> = [
  ['none', 30],
  ['wrongType', 10],
  ['missingRequired', 8],
  ['extraField', 8],
  ['hugeString', 5],
  ['badEnum', 8],
  ['wrongMessageTypeId', 5],
  ['badJson', 8],
  ['wrongArity', 4],
  ['badMessageId', 4],
  ['unknownAction', 4],
  ['chargePointAction', 3],
  ['answerFrame', 3],
];
