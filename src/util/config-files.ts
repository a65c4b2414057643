// Reading config files: YAML or JSON, `$ref` composition with overrides, and validation errors that
// name the file, the path inside it and the accepted keys.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { z } from 'zod';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export function readStructured(file: string, where: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new ConfigError(`${where}: cannot read ${file}`);
  }
  try {
    return file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
  } catch (e) {
    throw new ConfigError(`${file}: not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(e as Error).message.split('\n')[0]}`);
  }
}

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Objects merge key by key; arrays and scalars in `over` replace those in `base`. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isObject(base) || !isObject(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in base ? deepMerge(base[k], v) : v;
  return out;
}

/**
 * Replaces every `{ $ref: FILE, ...overrides }` by FILE's content (resolved relative to the file that
 * names it, itself resolved recursively) merged with the overrides.
 */
export function resolveRefs(value: unknown, file: string, where: string[] = [], seen: string[] = []): unknown {
  if (Array.isArray(value)) return value.map((v, i) => resolveRefs(v, file, [...where, String(i)], seen));
  if (!isObject(value)) return value;
  let out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (k !== '$ref') out[k] = resolveRefs(v, file, [...where, k], seen);
  if ('$ref' in value) {
    const ref = value.$ref;
    const at = `${file}: ${[...where, '$ref'].join('.')}`;
    if (typeof ref !== 'string') throw new ConfigError(`${at}: expected a file path (string), got ${JSON.stringify(ref)}`);
    // FILE#/a/b: the part of FILE at that JSON pointer (e.g. one model of another experiment).
    const [rel, pointer] = ref.split('#', 2) as [string, string | undefined];
    const target = path.resolve(path.dirname(file), rel);
    if (!fs.existsSync(target)) throw new ConfigError(`${at}: file not found: ${rel} (resolved to ${path.relative(process.cwd(), target)})`);
    const key = pointer ? `${target}#${pointer}` : target;
    if (seen.includes(key) || seen.includes(target)) throw new ConfigError(`${at}: circular reference through ${ref}`);
    let base = resolveRefs(readStructured(target, at), target, [], [...seen, key]);
    if (pointer !== undefined) {
      if (!pointer.startsWith('/')) throw new ConfigError(`${at}: expected FILE#/path/to/part (a JSON pointer), got '${ref}'`);
      for (const part of pointer.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'))) {
        if (!isObject(base) || !(part in base)) throw new ConfigError(`${at}: ${rel} has nothing at ${pointer} ('${part}' not found)`);
        base = base[part];
      }
    }
    out = deepMerge(base, out) as Record<string, unknown>;
  }
  return out;
}

/** Accepted keys of the object schema at `p` (for "unknown key" messages). */
function keysAt(schema: z.ZodType, p: PropertyKey[]): string[] | undefined {
  let s: z.ZodType | undefined = schema;
  const unwrap = (x: z.ZodType): z.ZodType => {
    let cur = x as unknown as { _zod: { def: { type: string; innerType?: z.ZodType; in?: z.ZodType; out?: z.ZodType } } };
    for (let i = 0; i < 10; i++) {
      const d = cur._zod.def;
      if ((d.type === 'optional' || d.type === 'default' || d.type === 'nullable' || d.type === 'prefault') && d.innerType) cur = d.innerType as never;
      // z.preprocess(f, schema) is a pipe from a transform into the schema: follow the schema.
      else if (d.type === 'pipe' && d.in) cur = ((d.in as unknown as typeof cur)._zod.def.type === 'transform' && d.out ? d.out : d.in) as never;
      else break;
    }
    return cur as unknown as z.ZodType;
  };
  for (const key of p) {
    if (!s) return undefined;
    const u = unwrap(s) as unknown as { _zod: { def: { type: string; shape?: Record<string, z.ZodType>; element?: z.ZodType; valueType?: z.ZodType } } };
    const d = u._zod.def;
    if (d.type === 'object' && d.shape) s = d.shape[String(key)];
    else if (d.type === 'array') s = d.element;
    else if (d.type === 'record') s = d.valueType;
    else return undefined;
  }
  if (!s) return undefined;
  const d = (unwrap(s) as unknown as { _zod: { def: { type: string; shape?: Record<string, unknown> } } })._zod.def;
  return d.type === 'object' && d.shape ? Object.keys(d.shape) : undefined;
}

export function formatIssues(issues: z.core.$ZodIssue[], file: string, prefix: string[], schema: z.ZodType): string {
  return issues.map((i) => {
    const p = [...prefix, ...i.path.map(String)];
    const where = p.length ? p.join('.') : '(top level)';
    if (i.code === 'unrecognized_keys') {
      const keys = keysAt(schema, i.path);
      return `${file}: ${where ? `${where}: ` : ''}unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `'${k}'`).join(', ')}${keys ? `; accepted: ${keys.join(', ')}` : ''}`;
    }
    return `${file}: ${where}: ${i.message}`;
  }).join('\n');
}


/**
 * A name that becomes one directory under results/: letters, digits, '.', '_' and '-', and never '.'
 * or '..' (which would write outside it).
 */
export const SAFE_NAME = /^(?!\.{1,2}$)[\w.-]{1,120}$/;
export const SAFE_NAME_MESSAGE = "a single path segment: letters, digits, '.', '_' and '-' (at most 120), not '.' or '..'";
