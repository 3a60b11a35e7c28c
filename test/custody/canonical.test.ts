/**
 * RFC 8785 canonicalisation against the vendored vectors (fixtures/rfc8785, see SOURCE.md), and
 * the refusals the custody record relies on: NaN, Infinity, lone surrogates, non-JSON values.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import {
  canonicalize,
  canonicalizeWithout,
  canonicalBytes,
  CanonicalizationError,
} from '../../src/custody/canonical.js';
import { ROOT } from '../../local-aws/local-aws.js';

const dir = path.join(ROOT, 'test/custody/fixtures/rfc8785');

t.test('every cyberphone input/output vector, byte for byte', async (t) => {
  const names = fs.readdirSync(path.join(dir, 'input')).sort();
  t.same(names, [
    'arrays.json',
    'french.json',
    'simpleString.json',
    'structures.json',
    'unicode.json',
    'values.json',
    'weird.json',
  ]);
  for (const name of names) {
    const input = JSON.parse(fs.readFileSync(path.join(dir, 'input', name), 'utf8'));
    const expected = fs.readFileSync(path.join(dir, 'output', name));
    t.ok(canonicalBytes(input).equals(expected), name);
  }
  const hex = fs
    .readFileSync(path.join(dir, 'outhex/simpleString.txt'), 'utf8')
    .trim()
    .split(/\s+/)
    .map((h) => parseInt(h, 16));
  t.same(
    [...canonicalBytes(JSON.parse(fs.readFileSync(path.join(dir, 'input/simpleString.json'), 'utf8')))],
    hex,
    'simpleString as hex bytes',
  );
});

t.test('RFC 8785 Appendix B numbers, including the two that must be refused', async (t) => {
  const lines = fs
    .readFileSync(path.join(dir, 'numbers.txt'), 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'));
  t.equal(lines.length, 26);
  for (const line of lines) {
    const [bits, expected] = line.split(',') as [string, string];
    const view = new DataView(new ArrayBuffer(8));
    view.setBigUint64(0, BigInt(`0x${bits}`));
    const n = view.getFloat64(0);
    if (expected.endsWith('(invalid)')) {
      t.throws(() => canonicalize(n), CanonicalizationError, `${bits} refused`);
      t.throws(() => canonicalize({ a: [n] }), /\$\.a\[0\]/, 'and the error names the path');
    } else {
      t.equal(canonicalize(n), expected, `${bits} → ${expected}`);
    }
  }
});

t.test('refuses what is not I-JSON data, naming where it is', async (t) => {
  t.throws(() => canonicalize({ x: NaN }), /\$\.x: NaN/);
  t.throws(() => canonicalize({ x: -Infinity }), /Infinity/);
  t.throws(() => canonicalize({ s: 'a\ud800b' }), /lone surrogate/);
  t.throws(() => canonicalize({ s: '\udc00' }), /lone surrogate/);
  t.throws(() => canonicalize({ ['k\ud800']: 1 }), /property name/);
  t.throws(() => canonicalize({ f: () => 1 }), /function/);
  t.throws(() => canonicalize({ b: 1n }), /bigint/);
  t.throws(() => canonicalize([1, undefined]), /array member 1 is undefined/);
  t.throws(() => canonicalize({ d: new Date(0) }), /Date instance/);
  const cyc: Record<string, unknown> = {};
  cyc.self = cyc;
  t.throws(() => canonicalize(cyc), /circular/);
  t.equal(canonicalize({ a: undefined, b: 1 }), '{"b":1}', 'undefined members are omitted, as JSON.stringify does');
  t.equal(canonicalize({ s: '\ud83d\ude02' }), '{"s":"\ud83d\ude02"}', 'a surrogate pair is fine');
  t.equal(
    canonicalize({ a: { a: 1, b: 2 }, b: { a: 1, b: 2 } }),
    '{"a":{"a":1,"b":2},"b":{"a":1,"b":2}}',
    'a shared (non-circular) object is fine',
  );
});

t.test(
  'documents already in canonical key order take the JSON.stringify path and give the same bytes as the package',
  async (t) => {
    const jcs = (await import('canonicalize')).default as (v: unknown) => string;
    for (const name of fs.readdirSync(path.join(dir, 'output'))) {
      const expected = fs.readFileSync(path.join(dir, 'output', name), 'utf8');
      t.equal(canonicalize(JSON.parse(expected)), expected, `re-canonicalising output/${name} is the identity`);
    }
    // Generated documents: keys that V8 enumerates out of code-unit order (integer-like keys), nested
    // arrays/objects, escapes, numbers at the edges. Sorted and unsorted, both paths must agree.
    let seed = 42;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const keys = ['a', 'b', 'B', '1', '10', '2', '', 'é', '\u20ac', '\ud83d\ude02', 'hash', 'z\n', '"q"'];
    // biome-ignore lint/correctness/noPrecisionLoss: 2^53 + 1 is here to be rounded the way JSON.stringify rounds it.
    const nums = [0, -0, 1e21, 1e-7, 5e-324, 333333333.3333333, -1.5, 9007199254740993];
    const gen = (d: number): unknown => {
      const r = rnd();
      if (d > 3 || r < 0.3)
        return [rnd() < 0.5 ? 'text\u0001\\"' : nums[Math.floor(rnd() * nums.length)], true, null][
          Math.floor(rnd() * 3)
        ];
      if (r < 0.5) return Array.from({ length: Math.floor(rnd() * 4) }, () => gen(d + 1));
      return Object.fromEntries(
        Array.from({ length: Math.floor(rnd() * 5) }, () => [keys[Math.floor(rnd() * keys.length)]!, gen(d + 1)]),
      );
    };
    for (let i = 0; i < 300; i++) {
      const doc = gen(0);
      const viaPackage = jcs(doc);
      t.equal(canonicalize(doc), viaPackage);
      t.equal(canonicalize(JSON.parse(viaPackage)), viaPackage);
    }
  },
);

t.test(
  'canonicalizeWithout gives the canonical forms with and without one member, from one serialisation',
  async (t) => {
    const jcs = (await import('canonicalize')).default as (v: unknown) => string;
    const omit = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([k]) => k !== 'hash'));
    // Every position of the member (first, middle, last, alone), escaped keys and values before it,
    // nested objects that also have a `hash` member, undefined members that JSON omits.
    const docs: Record<string, unknown>[] = [
      { hash: 'ab' },
      { a: 1, hash: 'ab' },
      { hash: 'ab', z: [1, { hash: 'ab' }] },
      { '"q"': 'x\u0001"\\', a: { hash: 'ab', k: [] }, b: undefined, hash: { e: 1e21, n: -0 }, i: 'é\u20ac', z: null },
      {
        action: 'evidence.snapshot',
        actor: 'arn:aws:sts::1:assumed-role/R/s',
        case: 'IR-1',
        hash: 'f'.repeat(64),
        prevHash: '0'.repeat(64),
        seq: 2,
      },
      { '': 0, hash: 'ab', hashes: 1 },
    ];
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const keys = ['a', 'B', '1', '', 'é', '\ud83d\ude02', 'hash', 'z\n', '"q"', 'has', 'hash2'];
    const gen = (d: number): unknown => {
      const r = rnd();
      if (d > 3 || r < 0.3)
        return ['text\u0001\\"', 'plain', 5e-324, -1.5, true, null, undefined][Math.floor(rnd() * 7)];
      if (r < 0.5) return Array.from({ length: Math.floor(rnd() * 3) }, () => gen(d + 1) ?? 0);
      return Object.fromEntries(
        Array.from({ length: Math.floor(rnd() * 5) }, () => [keys[Math.floor(rnd() * keys.length)]!, gen(d + 1)]),
      );
    };
    for (let i = 0; i < 300; i++) docs.push(JSON.parse(jcs({ ...(gen(0) as object), hash: gen(1) ?? 'h' })));
    let taken = 0;
    for (const [i, doc] of docs.entries()) {
      const both = canonicalizeWithout(doc, 'hash');
      if (!both) {
        // Only when V8 enumerates some keys out of code-unit order (integer-like keys come first).
        t.not(
          JSON.stringify(doc),
          jcs(doc),
          `document ${i} is not in canonical key order, so it is left to canonicalize`,
        );
        t.ok(i >= 6, `document ${i} takes the one-serialisation path`);
        continue;
      }
      taken++;
      t.equal(both.whole, jcs(doc));
      t.equal(both.without, jcs(omit(doc)));
    }
    t.ok(taken > 200, `most documents take the one-serialisation path (${taken})`);
    t.equal(
      canonicalizeWithout({ b: 1, a: 2, hash: 'x' }, 'hash'),
      undefined,
      'keys out of order: not on this path (canonicalize sorts)',
    );
    t.equal(canonicalizeWithout({ a: 1 }, 'hash'), undefined, 'no such member');
    t.equal(canonicalizeWithout({ hash: undefined }, 'hash'), undefined, 'an undefined member is no member');
    t.equal(canonicalizeWithout([1], 'hash'), undefined, 'not an object');
    t.throws(
      () => canonicalizeWithout({ hash: 'a', x: NaN }, 'hash'),
      /\$\.x: NaN/,
      'refusals name the path, as canonicalize does',
    );
    t.throws(() => canonicalizeWithout({ hash: 'a', s: 'a\ud800' }, 'hash'), /lone surrogate/);
    const cyc: Record<string, unknown> = { hash: 'a' };
    cyc['self'] = { back: cyc };
    t.throws(() => canonicalizeWithout(cyc, 'hash'), /circular/);
  },
);

t.test('deep documents are walked by the path-naming check beyond the fast walk', async (t) => {
  let deep: unknown = 'leaf';
  for (let i = 0; i < 600; i++) deep = { k: deep };
  t.equal(canonicalize(deep), JSON.stringify(deep));
  let bad: unknown = NaN;
  for (let i = 0; i < 300; i++) bad = [bad];
  t.throws(() => canonicalize(bad), /\$(\[0\]){300}: NaN/);
});
