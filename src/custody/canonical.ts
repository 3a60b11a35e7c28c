/**
 * The one canonicalisation of the project: RFC 8785 JSON Canonicalization Scheme (JCS).
 *
 * Built on the `canonicalize` package (erdtman, the RFC's co-author's reference for JavaScript),
 * which already rejects NaN, ±Infinity and lone surrogates. This wrapper adds a strict walk first
 * so that only the I-JSON data model gets through — no functions, symbols, bigints, `undefined`
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

function hasLoneSurrogate(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const n = s.charCodeAt(i + 1);
      if (!(n >= 0xdc00 && n <= 0xdfff)) return true;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return true;
  }
  return false;
}

function check(v: unknown, path: string, seen: Set<object>): void {
  const fail = (what: string) => {
    throw new CanonicalizationError(`Cannot canonicalise ${path}: ${what} (RFC 8785 accepts only I-JSON data).`, path);
  };
  switch (typeof v) {
    case 'string':
      if (hasLoneSurrogate(v)) fail('the string contains a lone surrogate');
      return;
    case 'number':
      if (Number.isNaN(v)) fail('NaN is not a JSON number');
      if (!Number.isFinite(v)) fail('Infinity is not a JSON number');
      return;
    case 'boolean':
      return;
    case 'object':
      break;
    default:
      fail(`a ${typeof v} is not a JSON value`);
  }
  if (v === null) return;
  const o = v as object;
  if (seen.has(o)) fail('circular reference');
  seen.add(o);
  if (Array.isArray(o)) {
    o.forEach((x, i) => {
      if (x === undefined) fail(`array member ${i} is undefined`);
      check(x, `${path}[${i}]`, seen);
    });
  } else {
    const proto = Object.getPrototypeOf(o);
    if (proto !== Object.prototype && proto !== null) fail(`a ${(o as { constructor?: { name?: string } }).constructor?.name ?? 'class'} instance is not plain JSON data (convert it first, e.g. a Date to an ISO string)`);
    for (const [k, x] of Object.entries(o)) {
      if (hasLoneSurrogate(k)) fail(`the property name ${JSON.stringify(k)} contains a lone surrogate`);
      if (x !== undefined) check(x, `${path}.${k}`, seen);
    }
  }
  seen.delete(o);
}

/** The RFC 8785 canonical form of `value`, as a string. Throws {@link CanonicalizationError}. */
export function canonicalize(value: unknown): string {
  check(value, '$', new Set());
  const out = jcs(value);
  if (out === undefined) throw new CanonicalizationError('Cannot canonicalise $: no JSON value.', '$');
  return out;
}

/** The canonical form as UTF-8 bytes (what is hashed and stored). */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalize(value), 'utf8');
}
