/**
 * Event hashing and digest comparison: the hash covers the domain prefix and the canonical form
 * without `hash`; digests compare as hex values, never equal when either is not hex.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { canonicalize, canonicalizeWithout } from '../../src/custody/canonical.js';
import {
  EVENT_HASH_PREFIX,
  EVENT_SCHEMA_ID,
  GENESIS_PREV_HASH,
  type CustodyEvent,
  eventHash,
  eventHashOfCanonical,
  hashEquals,
  sha256Hex,
} from '../../src/custody/event.js';

t.test('eventHash is SHA-256 over the prefix and the canonical event without hash', async (t) => {
  const body: Omit<CustodyEvent, 'hash'> = {
    schema: EVENT_SCHEMA_ID,
    case: 'IR-1',
    seq: 1,
    time: '2026-01-01T00:00:00.000Z',
    actor: 'arn:aws:sts::123456789012:assumed-role/R/s',
    action: 'room.up',
    resources: [],
    outcome: { status: 'succeeded' },
    prevHash: GENESIS_PREV_HASH,
  };
  const canonical =
    '{"action":"room.up","actor":"arn:aws:sts::123456789012:assumed-role/R/s","case":"IR-1","outcome":{"status":"succeeded"},"prevHash":"' +
    GENESIS_PREV_HASH +
    '","resources":[],"schema":"' +
    EVENT_SCHEMA_ID +
    '","seq":1,"time":"2026-01-01T00:00:00.000Z"}';
  const expected = createHash('sha256').update(EVENT_HASH_PREFIX).update(canonical).digest('hex');
  t.equal(eventHash(body), expected);
  t.equal(eventHash({ ...body, hash: 'ignored' }), expected, 'the hash member is not covered');
  t.equal(eventHashOfCanonical(canonical), expected);
  const stored: unknown = JSON.parse(canonicalize({ ...body, hash: expected }));
  t.equal(eventHashOfCanonical(canonicalizeWithout(stored, 'hash')!.without), expected, 'the verifier path agrees');
  t.equal(
    sha256Hex('é'),
    createHash('sha256').update(Buffer.from('é', 'utf8')).digest('hex'),
    'strings are hashed as UTF-8',
  );
});

t.test('hashEquals compares hex values in full', async (t) => {
  const a = sha256Hex('a');
  t.ok(hashEquals(a, a));
  t.ok(hashEquals(a, a.toUpperCase()), 'hex digits in either case (as Buffer.from reads them)');
  t.notOk(hashEquals(a, sha256Hex('b')));
  t.notOk(hashEquals(a, `${a.slice(0, 63)}${a[63] === '0' ? '1' : '0'}`), 'the last digit counts');
  t.notOk(hashEquals(a, a.slice(0, 62)), 'length');
  t.notOk(hashEquals('abc', 'abc'), 'odd length');
  t.notOk(hashEquals('zz', 'zz'), 'not hex, even when equal');
  t.notOk(hashEquals(`${a.slice(0, 62)}g0`, `${a.slice(0, 62)}g0`));
  for (const c of ['/', ':', '@', 'G', '`', 'g', '\u0130', ' '])
    t.notOk(hashEquals(`0${c}`, `0${c}`), `${JSON.stringify(c)} is not a hex digit`);
  t.notOk(hashEquals(undefined as unknown as string, a));
  t.ok(hashEquals('', ''), 'two empty digests are equal (as before: callers check the format with the schema)');
});
