/**
 * The smallest value valid for a JSON schema, for mock tool arguments and structured
 * output: required properties only, minItems items, the first enum / const / anyOf
 * branch, numbers at their minimum, strings of a plausible format padded to minLength.
 * Local `$ref`s (`#/$defs/…`, `#/definitions/…`) are followed; recursion stops at a
 * fixed depth with null. `pattern` and `multipleOf` are not honoured.
 */

type Schema = Record<string, any>;

const MAX_DEPTH = 12;

const FORMATS: Record<string, string> = {
  'date-time': '2024-01-01T00:00:00Z',
  date: '2024-01-01',
  time: '00:00:00',
  email: 'mock@example.com',
  uri: 'https://example.com',
  url: 'https://example.com',
  uuid: '00000000-0000-4000-8000-000000000000',
  ipv4: '127.0.0.1',
  hostname: 'example.com',
};

/** A minimal value valid for `schema`. */
export function valueForSchema(schema: unknown, root: unknown = schema, depth = 0): unknown {
  if (schema === true || schema === undefined || schema === null || typeof schema !== 'object' || depth > MAX_DEPTH) return null;
  let s = schema as Schema;
  if (typeof s.$ref === 'string') return valueForSchema(resolveRef(root, s.$ref), root, depth + 1);
  if ('const' in s) return s.const;
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0];
  if (Array.isArray(s.anyOf) && s.anyOf.length > 0) return valueForSchema(firstNonNull(s.anyOf), root, depth + 1);
  if (Array.isArray(s.oneOf) && s.oneOf.length > 0) return valueForSchema(firstNonNull(s.oneOf), root, depth + 1);
  if (Array.isArray(s.allOf) && s.allOf.length > 0) {
    s = Object.assign({}, ...s.allOf.map((part: unknown) => resolveSchema(part, root)), { ...s, allOf: undefined });
  }
  let type = s.type;
  if (Array.isArray(type)) type = type.find((t) => t !== 'null') ?? 'null';
  if (type === undefined) type = s.properties !== undefined ? 'object' : s.items !== undefined ? 'array' : undefined;
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      const properties: Schema = s.properties ?? {};
      const required: string[] = Array.isArray(s.required) ? s.required : [];
      for (const key of required) out[key] = valueForSchema(properties[key] ?? {}, root, depth + 1);
      return out;
    }
    case 'array': {
      const count = typeof s.minItems === 'number' ? s.minItems : 0;
      const items: unknown[] = [];
      for (let i = 0; i < count; i++) items.push(valueForSchema(Array.isArray(s.prefixItems) ? s.prefixItems[i] ?? s.items : s.items, root, depth + 1));
      return items;
    }
    case 'string':
      return stringFor(s);
    case 'integer':
    case 'number':
      return numberFor(s, type === 'integer');
    case 'boolean':
      return true;
    default:
      return null;
  }
}

function stringFor(s: Schema): string {
  let text = (typeof s.format === 'string' ? FORMATS[s.format] : undefined) ?? 'mock';
  const min = typeof s.minLength === 'number' ? s.minLength : 0;
  const max = typeof s.maxLength === 'number' ? s.maxLength : Infinity;
  while (text.length < min) text += 'x';
  return text.length > max ? text.slice(0, max) : text;
}

function numberFor(s: Schema, integer: boolean): number {
  let value = 0;
  if (typeof s.minimum === 'number') value = s.minimum;
  else if (typeof s.exclusiveMinimum === 'number') value = integer ? Math.floor(s.exclusiveMinimum) + 1 : s.exclusiveMinimum + 1;
  if (typeof s.maximum === 'number' && value > s.maximum) value = s.maximum;
  if (typeof s.exclusiveMaximum === 'number' && value >= s.exclusiveMaximum) value = s.exclusiveMaximum - 1;
  return integer ? Math.ceil(value) : value;
}

function firstNonNull(options: unknown[]): unknown {
  return options.find((o) => !(o !== null && typeof o === 'object' && (o as Schema).type === 'null')) ?? options[0];
}

function resolveSchema(schema: unknown, root: unknown): unknown {
  if (schema !== null && typeof schema === 'object' && typeof (schema as Schema).$ref === 'string') return resolveRef(root, (schema as Schema).$ref);
  return schema;
}

function resolveRef(root: unknown, ref: string): unknown {
  if (!ref.startsWith('#')) return null;
  let node: any = root;
  for (const segment of ref.slice(1).split('/')) {
    if (segment === '') continue;
    node = node?.[segment.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return node ?? null;
}
