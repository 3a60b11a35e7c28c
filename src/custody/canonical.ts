/**
 * The one canonicalisation of the project: RFC 8785 JSON Canonicalization Scheme (JCS).
 *
 * Built on the `canonicalize` package (erdtman, the RFC's co-author's reference for JavaScript),
 * which already rejects NaN, ±Infinity and lone surrogates. This wrapper adds a strict walk first
 * (which also lets already-sorted documents, i.e. everything read back from the vault, skip the
 * package's sort) so that only the I-JSON data model gets through — no functions, symbols,
 * bigints, `undefined` array members, class instances (Date, Map, Buffer…) or cycles — and so that
 * the error names the JSON path of the offending value. Object members whose value is `undefined`
 * are omitted, as JSON.stringify does (optional fields in TypeScript objects).
 *
 * Verification runs this once per stored event: {@link canonicalizeWithout} gives both the form
 * compared with the stored bytes and the form the event hash covers from one serialisation.
 */
import jcs from 'canonicalize';
import { CleanroomError } from '../domain/errors.js';

/** A value that cannot be canonicalised (exit 2: it is bad input to the record). */
export class CanonicalizationError extends CleanroomError {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super('CANONICALIZATION_FAILED', message, { exitCode: 2, details: { path } });
  }
}

// String.prototype.isWellFormed (ES2024, in Node 20's V8): false when a lone surrogate is present.
const wellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

/**
 * Walk `v`, refusing anything that is not I-JSON data. Returns true when every object's own keys
 * already come in ascending UTF-16 code-unit order (the order JSON.stringify will write them in).
 */
function check(v: unknown, path: string, seen: Set<object>): boolean {
  const fail = (what: string): never => {
    throw new CanonicalizationError(`Cannot canonicalise ${path}: ${what} (RFC 8785 accepts only I-JSON data).`, path);
  };
  switch (typeof v) {
    case 'string':
      if (!wellFormed(v)) fail('the string contains a lone surrogate');
      return true;
    case 'number':
      if (Number.isNaN(v)) fail('NaN is not a JSON number');
      if (!Number.isFinite(v)) fail('Infinity is not a JSON number');
      return true;
    case 'boolean':
      return true;
    case 'object':
      break;
    default:
      fail(`a ${typeof v} is not a JSON value`);
  }
  if (v === null) return true;
  const o = v as object;
  if (seen.has(o)) fail('circular reference');
  seen.add(o);
  let sorted = true;
  if (Array.isArray(o)) {
    for (let i = 0; i < o.length; i++) {
      if (o[i] === undefined) fail(`array member ${i} is undefined`);
      if (!check(o[i], `${path}[${i}]`, seen)) sorted = false;
    }
  } else {
    const proto = Object.getPrototypeOf(o);
    if (proto !== Object.prototype && proto !== null)
      fail(
        `a ${(o as { constructor?: { name?: string } }).constructor?.name ?? 'class'} instance is not plain JSON data (convert it first, e.g. a Date to an ISO string)`,
      );
    let prev: string | undefined;
    for (const k of Object.keys(o)) {
      if (!wellFormed(k)) fail(`the property name ${JSON.stringify(k)} contains a lone surrogate`);
      if (prev !== undefined && !(prev < k)) sorted = false;
      prev = k;
      const x = (o as Record<string, unknown>)[k];
      if (x !== undefined && !check(x, `${path}.${k}`, seen)) sorted = false;
    }
  }
  seen.delete(o);
  return sorted;
}

/** Deeper than this, the fast walk hands over to {@link check} (which finds cycles and names paths). */
const FAST_DEPTH = 256;
const FAST_FAIL = 2;
const FAST_SORTED = 0;
const FAST_UNSORTED = 1;

/**
 * The same walk as {@link check}, without building JSON paths or a set of ancestors (the hot path of
 * verification, once per stored event). Returns FAST_SORTED or FAST_UNSORTED, or FAST_FAIL when the
 * value is refused or nested deeper than FAST_DEPTH (a cycle always is): {@link check} then decides,
 * and names the path in its error. It accepts exactly what {@link check} accepts.
 */
function fastCheck(v: unknown, depth: number): number {
  switch (typeof v) {
    case 'string':
      return wellFormed(v) ? FAST_SORTED : FAST_FAIL;
    case 'number':
      return Number.isFinite(v) ? FAST_SORTED : FAST_FAIL;
    case 'boolean':
      return FAST_SORTED;
    case 'object':
      break;
    default:
      return FAST_FAIL;
  }
  if (v === null) return FAST_SORTED;
  if (depth > FAST_DEPTH) return FAST_FAIL;
  let r = FAST_SORTED;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      if (x === undefined) return FAST_FAIL;
      const c = fastCheck(x, depth + 1);
      if (c === FAST_FAIL) return FAST_FAIL;
      r |= c;
    }
    return r;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return FAST_FAIL;
  let prev: string | undefined;
  for (const k of Object.keys(v)) {
    if (!wellFormed(k)) return FAST_FAIL;
    if (prev !== undefined && !(prev < k)) r = FAST_UNSORTED;
    prev = k;
    const x = (v as Record<string, unknown>)[k];
    if (x !== undefined) {
      const c = fastCheck(x, depth + 1);
      if (c === FAST_FAIL) return FAST_FAIL;
      r |= c;
    }
  }
  return r;
}

/** Whether `value` is already in canonical key order; throws {@link CanonicalizationError} when it is not I-JSON. */
function sortedIJson(value: unknown): boolean {
  const c = fastCheck(value, 0);
  return c === FAST_FAIL ? check(value, '$', new Set()) : c === FAST_SORTED;
}

/** The RFC 8785 canonical form of `value`, as a string. Throws {@link CanonicalizationError}. */
export function canonicalize(value: unknown): string {
  // When every object's keys are already in code-unit order (a document parsed from canonical
  // bytes), JSON.stringify writes exactly the JCS form: RFC 8785 serialises strings and numbers as
  // ECMAScript's JSON.stringify does (§3.2.2.2, §3.2.2.3), and the walk above has refused lone
  // surrogates, non-finite numbers and non-JSON values. Otherwise the package sorts.
  if (sortedIJson(value)) return JSON.stringify(value);
  const out = jcs(value);
  if (out === undefined) throw new CanonicalizationError('Cannot canonicalise $: no JSON value.', '$');
  return out;
}

/**
 * The canonical forms of a plain object with and without its top-level member `omit`, from one
 * serialisation: `whole` is {@link canonicalize}(value) and `without` is {@link canonicalize} of a
 * copy without `omit` (what an event's hash covers, while verification compares the whole with the
 * stored bytes). JCS writes an object as its members in key order joined by commas, so removing one
 * member from the text is removing it from the object. Returns undefined when `value` is not a
 * plain object whose keys are all in canonical order, or has no `omit` member: use
 * {@link canonicalize} then. Throws {@link CanonicalizationError} when `value` is not I-JSON.
 */
export function canonicalizeWithout(value: unknown, omit: string): { whole: string; without: string } | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  if (!sortedIJson(value)) return undefined;
  const o = value as Record<string, unknown>;
  if (o[omit] === undefined || !Object.hasOwn(o, omit)) return undefined;
  const whole = JSON.stringify(o);
  // Offset of the member in `whole`: one brace, then each earlier member (key, colon, value) and its
  // comma. JSON.stringify writes the members in Object.keys order, skipping undefined values.
  let at = 1;
  let first = true;
  for (const k of Object.keys(o)) {
    const x = o[k];
    if (x === undefined) continue;
    const length = jsonLength(k) + 1 + jsonLength(x);
    if (k === omit) {
      const end = at + length;
      const next = whole.charCodeAt(end);
      if (!whole.startsWith(JSON.stringify(k), at) || (next !== 0x2c && next !== 0x7d)) return undefined;
      // The member and the comma after it; the last member takes the comma before it instead.
      const without =
        next === 0x2c
          ? whole.slice(0, at) + whole.slice(end + 1)
          : first
            ? '{}'
            : whole.slice(0, at - 1) + whole.slice(end);
      return { whole, without };
    }
    at += length + 1;
    first = false;
  }
  return undefined;
}

/** Characters JSON.stringify escapes in a well-formed string. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what JSON.stringify escapes.
const ESCAPED = /["\\\u0000-\u001f]/;

/** The length of JSON.stringify(x) (x already checked): a string without escapes is its length and two quotes. */
function jsonLength(x: unknown): number {
  return typeof x === 'string' && !ESCAPED.test(x) ? x.length + 2 : JSON.stringify(x).length;
}

/** The canonical form as UTF-8 bytes (what is hashed and stored). */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalize(value), 'utf8');
}
