/**
 * The locks of a case (src/custody/lease.ts with a scope; src/domain/exclusive.ts) on a fake S3
 * with S3's conditional writes: steps on two instances of one case do not exclude each other, two
 * on the one room do (the holder named), a crashed holder's lock is taken over when it expires, and
 * the case's lease and a lock exclude each other whichever is taken first.
 */
import t from 'tap';
import {
  CaseBusyError,
  acquireCaseLease,
  acquireCaseLocks,
  heldLocks,
  lockKey,
  refuseWhileLocked,
} from '../../src/custody/lease.js';
import { lockScopes } from '../../src/domain/exclusive.js';
import type { AwsAccount } from '../../src/aws/ports.js';
import { fakeS3 } from './fake-lease-s3.js';

const T0 = Date.parse('2026-12-05T00:00:00Z');
let now = T0;
const clock = () => new Date(now);
const base = (account: Pick<AwsAccount, 's3'>, owner: string, command = 'automation acquire') => ({
  account,
  bucket: 'vault',
  vaultKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/v',
  caseId: 'GD-1',
  owner,
  command,
  ttlMs: 16 * 60_000,
  now: clock,
});
const A = 'i-0aaaaaaaaaaaaaaaa';
const B = 'i-0bbbbbbbbbbbbbbbb';

async function busy(p: Promise<unknown>): Promise<CaseBusyError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof CaseBusyError) return e;
    throw e;
  }
  throw new Error('expected CASE_BUSY');
}

t.beforeEach(() => {
  now = T0;
});

t.test('scopes are objects beside the lease: cases/<case>/locks/<kind>/<name>.json', async (t) => {
  t.equal(lockKey('GD-1', lockScopes.instance(A)), `cases/GD-1/locks/instance/${A}.json`);
  t.equal(lockKey('GD-1', lockScopes.room('GD-1')), 'cases/GD-1/locks/room/cleanroom-GD-1.json');
  t.match(lockScopes.asg('a group name with spaces'), /^asg:sha256-[0-9a-f]{24}$/, 'an odd name becomes a digest');
  t.throws(() => lockKey('GD-1', '../lease'), /not a lock scope/);
});

t.test("two instances' steps of one case do not exclude each other", async (t) => {
  const { s3, current } = fakeS3();
  const a = await acquireCaseLocks(base(s3, 'exec|acquire|1'), [lockScopes.instance(A)]);
  const b = await acquireCaseLocks(base(s3, 'exec|acquire|2'), [lockScopes.instance(B)]);
  t.equal(a.length, 1);
  t.equal(b.length, 1);
  t.match(current(lockKey('GD-1', `instance:${A}`)), { owner: 'exec|acquire|1', scope: `instance:${A}` });
  t.match(current(lockKey('GD-1', `instance:${B}`)), { owner: 'exec|acquire|2', scope: `instance:${B}` });
  t.equal((await heldLocks(base(s3, 'x'))).length, 2, 'both held at once');
});

t.test('two attaches on the one room exclude each other; the second is told who holds it', async (t) => {
  const { s3 } = fakeS3();
  const room = lockScopes.room('GD-1');
  const first = await acquireCaseLocks(base(s3, 'exec-1|attach|1', 'automation attach'), [room]);
  const e = await busy(acquireCaseLocks(base(s3, 'exec-2|attach|2', 'automation attach'), [room]));
  t.equal(e.code, 'CASE_BUSY', 'retried by the state machine');
  t.match(e.message, /`automation attach` holds its lock room:cleanroom-GD-1/);
  t.match(e.message, /locks\/room\/cleanroom-GD-1\.json/);
  t.match(e.details, { scope: room, holder: 'exec-1|attach|1', command: 'automation attach' });
  await first[0]!.release();
  const again = await acquireCaseLocks(base(s3, 'exec-2|attach|2', 'automation attach'), [room]);
  t.equal(again[0]!.takeover, undefined, 'a released lock is taken without a take-over');
});

t.test('a busy scope gives back the scopes taken before it (nothing held half)', async (t) => {
  const { s3, current } = fakeS3();
  await acquireCaseLocks(base(s3, 'other'), [lockScopes.groups('vpc-2')]);
  await busy(acquireCaseLocks(base(s3, 'me'), [lockScopes.groups('vpc-1'), lockScopes.groups('vpc-2')]));
  t.match(current(lockKey('GD-1', 'groups:vpc-1')), { owner: 'me', released: true });
  t.same(
    (await heldLocks(base(s3, 'x'))).map((d) => d.owner),
    ['other'],
  );
});

t.test("a crashed holder's lock is taken over once it expires, and the take-over names it", async (t) => {
  const { s3 } = fakeS3();
  await acquireCaseLocks(base(s3, 'crashed|isolate|1', 'automation isolate'), [lockScopes.instance(A)]);
  now += 15 * 60_000;
  await busy(acquireCaseLocks(base(s3, 'retry|isolate|2'), [lockScopes.instance(A)]));
  now += 2 * 60_000;
  const [l] = await acquireCaseLocks(base(s3, 'retry|isolate|2'), [lockScopes.instance(A)]);
  t.match(l!.takeover, { reason: 'expired', previous: { owner: 'crashed|isolate|1', command: 'automation isolate' } });
  t.same(await heldLocks(base(s3, 'x'), 'retry|isolate|2'), [], 'its own lock is not counted against it');
});

t.test("the case's lease covers every scope: a lock is refused while a command holds it", async (t) => {
  const { s3, current } = fakeS3();
  const lease = await acquireCaseLease({ ...base(s3, 'cli', 'acquire') });
  const e = await busy(acquireCaseLocks(base(s3, 'exec|room|1', 'automation room'), [lockScopes.room('GD-1')]));
  t.match(e.message, /`acquire` holds its lease/);
  t.match(current(lockKey('GD-1', 'room:cleanroom-GD-1')), { owner: 'exec|room|1', released: true }, 'given back');
  await lease.release();
  t.equal((await acquireCaseLocks(base(s3, 'exec|room|1'), [lockScopes.room('GD-1')])).length, 1);
});

t.test('the lease is refused (and given back) while a step holds a lock; expired locks do not count', async (t) => {
  const { s3, current } = fakeS3();
  await acquireCaseLocks(base(s3, 'exec|isolate|1', 'automation isolate'), [lockScopes.instance(A)]);
  const o = base(s3, 'cli', 'room down');
  const lease = await acquireCaseLease(o);
  const e = await busy(refuseWhileLocked(lease, o));
  t.match(e.message, new RegExp(`\`automation isolate\` holds its lock instance:${A}`));
  t.match(current('cases/GD-1/lease.json'), { owner: 'cli', released: true }, 'the lease is given back');
  now += 17 * 60_000;
  const later = await acquireCaseLease(o);
  await refuseWhileLocked(later, o);
  t.pass('a lock past its expiry holds nothing');
});
