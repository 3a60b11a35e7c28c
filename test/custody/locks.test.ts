/**
 * The locks of a case (src/custody/lease.ts with a scope; src/domain/exclusive.ts) on a fake S3
 * with S3's conditional writes: steps on two instances of one case do not exclude each other, two
 * on the one room do (the holder named), a crashed holder's lock is taken over when it expires, and
 * the case's lease and a lock exclude each other whichever is taken first. Scopes naming what is
 * not a case's own (a VPC's ACL, a role, an Auto Scaling group, an instance) exclude writers of two
 * cases of the vault too; the case's own (its groups, quarantine profile, room) do not.
 */
import t from 'tap';
import {
  CaseBusyError,
  acquireCaseLease,
  acquireCaseLocks,
  acquireVaultLocks,
  heldLocks,
  lockKey,
  refuseWhileLocked,
  vaultLockKey,
} from '../../src/custody/lease.js';
import { lockScopes } from '../../src/domain/exclusive.js';
import type { AwsAccount } from '../../src/aws/ports.js';
import { fakeS3 } from './fake-lease-s3.js';

const T0 = Date.parse('2026-12-05T00:00:00Z');
let now = T0;
const clock = () => new Date(now);
const base = (account: Pick<AwsAccount, 's3'>, owner: string, command = 'automation acquire', caseId = 'GD-1') => ({
  account,
  bucket: 'vault',
  vaultKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/v',
  caseId,
  owner,
  command,
  ttlMs: 16 * 60_000,
  now: clock,
});
const A = 'i-0aaaaaaaaaaaaaaaa';
const B = 'i-0bbbbbbbbbbbbbbbb';
const HERE = { account: '123456789012', region: 'us-east-1' };
const instance = (id: string) => lockScopes.instance(id, HERE);

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
  t.equal(lockKey('GD-1', instance(A)), `cases/GD-1/locks/instance/${A}@123456789012.us-east-1.json`);
  t.equal(vaultLockKey(instance(A)), `locks/123456789012/us-east-1/instance/${A}.json`);
  t.equal(vaultLockKey(lockScopes.nacl('vpc-1', HERE)), 'locks/123456789012/us-east-1/nacl/vpc-1.json');
  t.equal(vaultLockKey(lockScopes.asg('web', HERE)), 'locks/123456789012/us-east-1/asg/web.json');
  t.equal(vaultLockKey(lockScopes.role('web@prod', '123456789012')), 'locks/123456789012/global/role/web@prod.json');
  t.throws(() => vaultLockKey(lockScopes.groups('vpc-1')), /not a vault-wide lock scope/, "the case's own groups");
  t.throws(() => vaultLockKey(`instance:${A}`), /not a vault-wide lock scope/, 'a scope written before: the case only');
  t.equal(lockKey('GD-1', lockScopes.room('GD-1')), 'cases/GD-1/locks/room/cleanroom-GD-1.json');
  t.match(
    lockScopes.asg('a group name with spaces', HERE),
    /^asg:sha256-[0-9a-f]{24}@123456789012\.us-east-1$/,
    'an odd name becomes a digest',
  );
  t.throws(() => lockKey('GD-1', '../lease'), /not a lock scope/);
});

t.test("two instances' steps of one case do not exclude each other", async (t) => {
  const { s3, current } = fakeS3();
  const a = await acquireCaseLocks(base(s3, 'exec|acquire|1'), [instance(A)]);
  const b = await acquireCaseLocks(base(s3, 'exec|acquire|2'), [instance(B)]);
  t.equal(a.length, 2, "the case's lock and the vault-wide one");
  t.equal(b.length, 2);
  t.match(current(lockKey('GD-1', instance(A))), { owner: 'exec|acquire|1', scope: instance(A) });
  t.match(current(lockKey('GD-1', instance(B))), { owner: 'exec|acquire|2', scope: instance(B) });
  t.match(current(vaultLockKey(instance(A))), { owner: 'exec|acquire|1', case: 'GD-1' }, 'and vault-wide');
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
  await acquireCaseLocks(base(s3, 'crashed|isolate|1', 'automation isolate'), [instance(A)]);
  now += 15 * 60_000;
  await busy(acquireCaseLocks(base(s3, 'retry|isolate|2'), [instance(A)]));
  now += 2 * 60_000;
  const [l] = await acquireCaseLocks(base(s3, 'retry|isolate|2'), [instance(A)]);
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
  await acquireCaseLocks(base(s3, 'exec|isolate|1', 'automation isolate'), [instance(A)]);
  const o = base(s3, 'cli', 'room down');
  const lease = await acquireCaseLease(o);
  const e = await busy(refuseWhileLocked(lease, o));
  t.match(e.message, new RegExp(`\`automation isolate\` holds its lock instance:${A}@123456789012\\.us-east-1`));
  t.match(current('cases/GD-1/lease.json'), { owner: 'cli', released: true }, 'the lease is given back');
  now += 17 * 60_000;
  const later = await acquireCaseLease(o);
  await refuseWhileLocked(later, o);
  t.pass('a lock past its expiry holds nothing');
});

const nacl = (vpc: string) => lockScopes.nacl(vpc, HERE);

t.test("two cases' steps on one VPC's network ACL exclude each other; the second is told the first case", async (t) => {
  const { s3, current } = fakeS3();
  const [, held] = await acquireCaseLocks(base(s3, 'exec-a|isolate|1', 'automation isolate', 'GD-A'), [nacl('vpc-1')]);
  t.equal(held!.key, 'locks/123456789012/us-east-1/nacl/vpc-1.json');
  const e = await busy(acquireCaseLocks(base(s3, 'exec-b|isolate|1', 'automation isolate', 'GD-B'), [nacl('vpc-1')]));
  t.equal(e.code, 'CASE_BUSY', 'retried by the state machine');
  t.match(
    e.message,
    /^Case GD-B has to wait: case GD-A's `automation isolate` holds the lock nacl:vpc-1@123456789012\.us-east-1 \(holder exec-a\|isolate\|1\) since 2026-12-05T00:00:00\.000Z, until 2026-12-05T00:16:00\.000Z/,
  );
  t.match(e.message, /s3:\/\/vault\/locks\/123456789012\/us-east-1\/nacl\/vpc-1\.json/);
  t.match(e.details, { caseId: 'GD-B', holderCase: 'GD-A', scope: nacl('vpc-1'), until: '2026-12-05T00:16:00.000Z' });
  t.match(
    current(lockKey('GD-B', nacl('vpc-1'))),
    { owner: 'exec-b|isolate|1', released: true },
    "GD-B's own lock is given back",
  );
  t.equal(
    (await acquireCaseLocks(base(s3, 'exec-b|isolate|1', 'automation isolate', 'GD-B'), [nacl('vpc-2')])).length,
    2,
    'another VPC does not wait',
  );
  const elsewhere = lockScopes.nacl('vpc-1', { account: '123456789012', region: 'eu-west-1' });
  t.equal(
    (await acquireCaseLocks(base(s3, 'exec-b|isolate|2', 'automation isolate', 'GD-B'), [elsewhere])).length,
    2,
    'nor the same id in another Region',
  );
  await held!.release();
  t.equal(
    (await acquireCaseLocks(base(s3, 'exec-b|isolate|3', 'automation isolate', 'GD-B'), [nacl('vpc-1')])).length,
    2,
    'given back: the other case takes it',
  );
});

t.test('a role is locked account-wide (IAM has no Region); an Auto Scaling group per Region', async (t) => {
  const { s3 } = fakeS3();
  await acquireCaseLocks(base(s3, 'a', 'automation isolate', 'GD-A'), [lockScopes.role('web', '123456789012')]);
  const e = await busy(
    acquireCaseLocks(base(s3, 'b', 'automation isolate', 'GD-B'), [lockScopes.role('web', '123456789012')]),
  );
  t.match(e.details, { holderCase: 'GD-A', scope: 'role:web@123456789012.global' });
  await acquireCaseLocks(base(s3, 'a', 'automation isolate', 'GD-A'), [lockScopes.asg('web', HERE)]);
  await busy(acquireCaseLocks(base(s3, 'b', 'automation isolate', 'GD-B'), [lockScopes.asg('web', HERE)]));
  t.pass('two cases wait for each other on one Auto Scaling group');
});

t.test("a case's own scopes stay the case's: two cases' groups of one VPC do not wait", async (t) => {
  const { s3, versions } = fakeS3();
  const a = await acquireCaseLocks(base(s3, 'a', 'automation isolate', 'GD-A'), [lockScopes.groups('vpc-1')]);
  const b = await acquireCaseLocks(base(s3, 'b', 'automation isolate', 'GD-B'), [lockScopes.groups('vpc-1')]);
  t.same(
    [...a, ...b].map((l) => l.key),
    ['cases/GD-A/locks/groups/vpc-1.json', 'cases/GD-B/locks/groups/vpc-1.json'],
  );
  await acquireCaseLocks(base(s3, 'c', 'automation isolate', 'GD-C'), [`instance:${A}`]);
  await acquireCaseLocks(base(s3, 'd', 'automation isolate', 'GD-D'), [`instance:${A}`]);
  t.same(
    [...versions.keys()].filter((k) => k.startsWith('locks/')),
    [],
    "nothing vault-wide (a scope written before scopes said where is the case's only)",
  );
  await busy(acquireCaseLocks(base(s3, 'e', 'automation isolate', 'GD-A'), [lockScopes.groups('vpc-1')]));
  t.pass('and within the case it still excludes');
});

t.test("another case's crashed holder: its vault-wide lock is taken over once it expires, naming it", async (t) => {
  const { s3 } = fakeS3();
  await acquireCaseLocks(base(s3, 'crashed|isolate|1', 'automation isolate', 'GD-A'), [nacl('vpc-1')]);
  now += 15 * 60_000;
  await busy(acquireCaseLocks(base(s3, 'retry|isolate|2', 'automation isolate', 'GD-B'), [nacl('vpc-1')]));
  now += 2 * 60_000;
  const [own, vault] = await acquireCaseLocks(base(s3, 'retry|isolate|2', 'automation isolate', 'GD-B'), [
    nacl('vpc-1'),
  ]);
  t.equal(own!.takeover, undefined, "GD-B's own lock was free");
  t.equal(vault!.vaultWide, true);
  t.match(vault!.takeover, {
    reason: 'expired',
    previous: { case: 'GD-A', owner: 'crashed|isolate|1', scope: nacl('vpc-1') },
  });
});

t.test(
  "a command holding its case's lease takes the vault-wide locks only, and another case's step waits",
  async (t) => {
    const { s3, versions } = fakeS3();
    const cli = base(s3, 'cli', 'isolate', 'GD-B');
    const lease = await acquireCaseLease(cli);
    const held = await acquireVaultLocks(cli, [nacl('vpc-1'), lockScopes.groups('vpc-1')]);
    t.same(
      held.map((l) => l.key),
      ['locks/123456789012/us-east-1/nacl/vpc-1.json'],
      "its lease covers its own case's objects",
    );
    t.notOk(versions.has(lockKey('GD-B', nacl('vpc-1'))));
    const e = await busy(acquireCaseLocks(base(s3, 'exec|isolate|1', 'automation isolate', 'GD-A'), [nacl('vpc-1')]));
    t.match(e.message, /case GD-B's `isolate` holds the lock nacl:vpc-1@/);
    await refuseWhileLocked(lease, cli);
    t.pass('its own vault-wide lock does not refuse its lease');
  },
);
