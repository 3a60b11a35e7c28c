/**
 * The one canonicalisation of the project: RFC 8785 JSON Canonicalization Scheme (JCS).
 *
 * Built on the `canonicalize` package (erdtman, the RFC's co-author's reference for JavaScript),
 * which already rejects NaN, ±Infinity and lone surrogates. This wrapper adds a strict walk first
 * (which also lets already-sorted documents, i.e. everything read back from the vault, skip the
 * package's sort: verification canonicalises every stored event twice) so that only the I-JSON
 * data model gets through — no functions, symbols, bigints, `undefined`
 * array members, class instances (Date, Map, Buffer…) or cycles — and so that the error names the
 * JSON path of the offending value. Object members whose value is `undefined` are omitted, as
 * JSON.stringify does (optional fields in TypeScript objects).
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
    if (proto !== Object.prototype && proto !== null) fail(`a ${(o as { constructor?: { name?: string } }).constructor?.name ?? 'class'} instance is not plain JSON data (convert it first, e.g. a Date to an ISO string)`);
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

/** The RFC 8785 canonical form of `value`, as a string. Throws {@link CanonicalizationError}. */
export function canonicalize(value: unknown): string {
  // When every object's keys are already in code-unit order (a document parsed from canonical
  // bytes), JSON.stringify writes exactly the JCS form: RFC 8785 serialises strings and numbers as
  // ECMAScript's JSON.stringify does (§3.2.2.2, §3.2.2.3), and the walk above has refused lone
  // surrogates, non-finite numbers and non-JSON values. Otherwise the package sorts.
  if (check(value, '$', new Set())) return JSON.stringify(value);
  const out = jcs(value);
  if (out === undefined) throw new CanonicalizationError('Cannot canonicalise $: no JSON value.', '$');
  return out;
}

/** The canonical form as UTF-8 bytes (what is hashed and stored). */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalize(value), 'utf8');
}
