// Reading config files: YAML or JSON, `$ref` composition with overrides, and validation errors that
// name the file, the path inside it and the accepted keys.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import type { z } from 'zod';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** The largest config file read (a config is a few kilobytes; this stops /dev/zero-like inputs). */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/**
 * A parser's message without an excerpt of the input: V8's JSON errors quote the text they stopped at
 * (`Unexpected token 'p', "password=…" is not valid JSON`), and a config error must not echo a file.
 */
export function parseMessage(e: unknown): string {
  const m = ((e as Error)?.message ?? String(e)).split('\n')[0];
  return m.replace(/, ".*"(\.\.\.)? is not valid JSON$/, '').replace(/^Unexpected token '.'/, 'Unexpected character');
}

/**
 * A config file's text: a regular file (no device or FIFO, which would block or never end) of at most
 * MAX_CONFIG_BYTES.
 */
export function readConfigText(file: string, where: string): string {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new ConfigError(`${where}: cannot read ${file}`);
  }
  if (!st.isFile()) throw new ConfigError(`${where}: ${file} is not a regular file`);
  if (st.size > MAX_CONFIG_BYTES) throw new ConfigError(`${where}: ${file} has ${st.size} bytes; a config file may have at most ${MAX_CONFIG_BYTES}`);
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    throw new ConfigError(`${where}: cannot read ${file}`);
  }
}

/**
 * A YAML or JSON file's value. `excerpt`: a YAML syntax error shows the lines around it (for the file
 * a user names on the command line; a file read through $ref is never quoted).
 */
export function readStructured(file: string, where: string, o: { excerpt?: boolean } = {}): unknown {
  const text = readConfigText(file, where);
  try {
    return file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text, { maxAliasCount: 1000 });
  } catch (e) {
    if (e instanceof RangeError) throw new ConfigError(`${file}: nested too deeply to read`);
    const full = ((e as Error).message ?? '').replace(/\s+$/, '');
    const excerpt = o.excerpt && !file.endsWith('.json') && full.includes('\n') ? `\n${full.split('\n').slice(1).filter((l, i, a) => l.trim() || (i > 0 && i < a.length - 1)).map((l) => `    ${l}`).join('\n')}` : '';
    throw new ConfigError(`${file}: not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${parseMessage(e)}${excerpt}`);
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

/** Deepest nesting of a config's objects and arrays, and longest chain of $refs, before an error. */
export const MAX_CONFIG_DEPTH = 200;
export const MAX_REF_CHAIN = 64;
/** Most values a resolved config may expand to (a config has hundreds; $ref fan-out can make 2^N). */
export const MAX_RESOLVED_VALUES = 100_000;

/** difflab's own presets (configs/, experiments/), which any config may reference. */
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SHIPPED = [path.join(PACKAGE_ROOT, 'configs'), path.join(PACKAGE_ROOT, 'experiments')];

/**
 * The directories a config's $refs may read: the project tree of the file (its nearest ancestor
 * holding .git or package.json, else the file's own directory), difflab's shipped presets, and those
 * DIFFLAB_REF_ROOTS lists (separated by the platform's path delimiter).
 */
export function refRoots(file: string): string[] {
  let dir = path.dirname(path.resolve(file)), project = dir;
  for (let d = dir; ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, '.git')) || fs.existsSync(path.join(d, 'package.json'))) { project = d; break; }
    if (path.dirname(d) === d) break;
  }
  const extra = (process.env.DIFFLAB_REF_ROOTS ?? '').split(path.delimiter).filter(Boolean).map((d) => path.resolve(d));
  return [project, ...SHIPPED, ...extra].map((d) => (fs.existsSync(d) ? fs.realpathSync(d) : d));
}

const inside = (file: string, root: string) => file === root || file.startsWith(root.endsWith(path.sep) ? root : root + path.sep);

/** JSON pointer tokens ('/a/b~1c' → ['a', 'b/c']). */
const pointerParts = (pointer: string) => (pointer === '' ? [] : pointer.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~')));

/**
 * Resolves `$ref`s: every `{ $ref: FILE#/pointer, ...overrides }` becomes the part of FILE at the
 * JSON pointer (the whole file without one; FILE may be left out for the same file, `#/models/base`;
 * array indices count as keys), its own $refs resolved relative to FILE, merged with the overrides.
 * FILE must be a regular file under one of `roots`; each file is read once and each reference
 * resolved once, however often it is named.
 */
class RefResolver {
  private resolved = new Map<string, unknown>();
  /** `parsed`: each file's value as read, by real path (the file being resolved is already read). */
  constructor(private roots: string[], private parsed: Map<string, unknown>) {}

  resolve(value: unknown, file: string, where: string[], stack: string[], depth: number): unknown {
    if (depth > MAX_CONFIG_DEPTH) throw new ConfigError(`${file}: ${where.slice(0, 8).join('.')}…: nested deeper than ${MAX_CONFIG_DEPTH} levels`);
    if (Array.isArray(value)) return value.map((v, i) => this.resolve(v, file, [...where, String(i)], stack, depth + 1));
    if (!isObject(value)) return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (k !== '$ref') out[k] = this.resolve(v, file, [...where, k], stack, depth + 1);
    if (!('$ref' in value)) return out;
    const base = this.target(value.$ref, `${file}: ${[...where, '$ref'].join('.')}`, file, stack);
    // A $ref alone stands for the part it names, whatever it is (a number, a list, an object).
    return Object.keys(out).length ? deepMerge(base, out) : base;
  }

  /** The resolved part a $ref names. */
  private target(ref: unknown, at: string, file: string, stack: string[]): unknown {
    if (typeof ref !== 'string') throw new ConfigError(`${at}: expected a file path (string), got ${typeof ref}`);
    const hash = ref.indexOf('#');
    const rel = hash < 0 ? ref : ref.slice(0, hash), pointer = hash < 0 ? '' : ref.slice(hash + 1);
    if (pointer && !pointer.startsWith('/')) throw new ConfigError(`${at}: expected FILE#/path/to/part (a JSON pointer), got '${ref}'`);
    const real = rel === '' ? fs.realpathSync(file) : this.locate(rel, at, file);
    const key = `${real}#${pointer}`;
    if (stack.includes(key)) throw new ConfigError(`${at}: circular reference: ${[...stack.slice(stack.indexOf(key)), key].map((k) => path.relative(process.cwd(), k)).join(' → ')}`);
    if (stack.length >= MAX_REF_CHAIN) throw new ConfigError(`${at}: more than ${MAX_REF_CHAIN} $refs in a chain`);
    if (!this.resolved.has(key)) this.resolved.set(key, this.at(real, pointer, at, [...stack, key], rel || path.basename(real)));
    return this.resolved.get(key);
  }

  /** A referenced file's real path, refused outside the roots or when it is no regular file. */
  private locate(rel: string, at: string, file: string): string {
    const target = path.resolve(path.dirname(file), rel);
    if (!fs.existsSync(target)) throw new ConfigError(`${at}: file not found: ${rel} (resolved to ${path.relative(process.cwd(), target)})`);
    const real = fs.realpathSync(target);
    if (!this.roots.some((r) => inside(real, r))) {
      throw new ConfigError(`${at}: ${rel} is outside the project tree (${this.roots[0]}) and difflab's presets: $ref reads only there; to allow another directory, add it to DIFFLAB_REF_ROOTS`);
    }
    return real;
  }

  /** The part of a file at a pointer, its $refs resolved (a $ref met on the way is resolved first). */
  private at(real: string, pointer: string, at: string, stack: string[], shown: string): unknown {
    if (!this.parsed.has(real)) this.parsed.set(real, readStructured(real, at));
    let node = this.parsed.get(real);
    const parts = pointerParts(pointer), walked: string[] = [];
    for (const part of parts) {
      if (isObject(node) && '$ref' in node) node = this.resolve(node, real, walked, stack, walked.length);
      const index = Array.isArray(node) && /^(0|[1-9]\d*)$/.test(part) ? Number(part) : undefined;
      if (index !== undefined && index < (node as unknown[]).length) node = (node as unknown[])[index];
      else if (isObject(node) && Object.hasOwn(node, part)) node = node[part];
      else throw new ConfigError(`${at}: ${shown} has nothing at ${pointer} ('${part}' not found)`);
      walked.push(part);
    }
    return this.resolve(node, real, walked, stack, walked.length);
  }
}

/** How many values a resolved config expands to (shared parts counted each time they appear). */
function expandedSize(v: unknown, memo = new Map<object, number>()): number {
  if (typeof v !== 'object' || v === null) return 1;
  const hit = memo.get(v);
  if (hit !== undefined) return hit;
  let n = 1;
  for (const c of Array.isArray(v) ? v : Object.values(v)) { n += expandedSize(c, memo); if (n > MAX_RESOLVED_VALUES) break; }
  memo.set(v, n);
  return n;
}

/**
 * Replaces every `{ $ref: FILE#/pointer, ...overrides }` in a config read from `file` (see
 * RefResolver); `roots` defaults to refRoots(file).
 */
export function resolveRefs(value: unknown, file: string, roots: string[] = refRoots(file)): unknown {
  const real = fs.existsSync(file) ? fs.realpathSync(file) : path.resolve(file);
  const out = new RefResolver(roots, new Map([[real, value]])).resolve(value, file, [], [`${real}#`], 0);
  if (expandedSize(out) > MAX_RESOLVED_VALUES) throw new ConfigError(`${file}: its $refs expand to more than ${MAX_RESOLVED_VALUES} values (a file referenced many times over)`);
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

/** "expected one of …" for an enum, a literal or a union of them (zod's own text is "Invalid input"). */
function acceptedValues(i: z.core.$ZodIssue): string | undefined {
  const values = (x: z.core.$ZodIssue): unknown[] => (x.code === 'invalid_value' ? [...x.values] : x.code === 'invalid_union' ? x.errors.flatMap((branch) => branch.filter((b) => b.path.length === 0).flatMap(values)) : []);
  const v = values(i);
  if (!v.length) return undefined;
  const objectToo = i.code === 'invalid_union' && i.errors.some((branch) => branch.some((b) => b.code === 'invalid_type' && b.expected === 'object'));
  return `expected one of ${v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(', ')}${objectToo ? ' (or an object naming one)' : ''}`;
}

export function formatIssues(issues: z.core.$ZodIssue[], file: string, prefix: string[], schema: z.ZodType): string {
  return issues.map((i) => {
    const p = [...prefix, ...i.path.map(String)];
    const where = p.length ? p.join('.') : '(top level)';
    if (i.code === 'unrecognized_keys') {
      const keys = keysAt(schema, i.path);
      return `${file}: ${where ? `${where}: ` : ''}unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `'${k}'`).join(', ')}${keys ? `; accepted: ${keys.join(', ')}` : ''}`;
    }
    return `${file}: ${where}: ${acceptedValues(i) ?? i.message}`;
  }).join('\n');
}


/**
 * A name that becomes one directory under results/: letters, digits, '.', '_' and '-', and never '.'
 * or '..' (which would write outside it).
 */
export const SAFE_NAME = /^(?!\.{1,2}$)[\w.-]{1,120}$/;
export const SAFE_NAME_MESSAGE = "a single path segment: letters, digits, '.', '_' and '-' (at most 120), not '.' or '..'";
