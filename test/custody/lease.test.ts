/**
 * The case lease (src/custody/lease.ts) on a fake S3 port that does what S3 documents for
 * conditional writes (If-None-Match: * → 412 when the key exists; If-Match: <etag> → 412 when the
 * current version's ETag differs, 404 when there is none) and an injected clock: take, renew,
 * release, a busy case refused naming its holder, an expired lease taken over (and said so), a
 * holder known to be gone, and a lost lease detected on renew.
 */
import t from 'tap';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import {
  CaseBusyError,
  LeaseLostError,
  acquireCaseLease,
  leaseKey,
  localHolderGone,
  machineBootedAt,
  type LeaseDocument,
} from '../../src/custody/lease.js';
import type { AwsAccount } from '../../src/aws/ports.js';
import { fakeS3 } from './fake-lease-s3.js';

const T0 = Date.parse('2026-12-05T00:00:00Z');
function clock() {
  let now = T0;
  return { now: () => new Date(now), advance: (ms: number) => (now += ms) };
}
const base = (account: Pick<AwsAccount, 's3'>, c: { now: () => Date }, owner: string, command = 'acquire') => ({
  account,
  bucket: 'vault',
  vaultKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/v',
  caseId: 'IR-1',
  owner,
  command,
  actor: `arn:aws:sts::123456789012:assumed-role/r/${owner}`,
  now: c.now,
});
const KEY = leaseKey('IR-1');

t.test('take, renew, release: conditional writes, every version different', async (t) => {
  const { s3, puts, versions, current } = fakeS3();
  const c = clock();
  const a = await acquireCaseLease({ ...base(s3, c, 'A'), ttlMs: 600_000 });
  t.equal(KEY, 'cases/IR-1/lease.json');
  t.equal(a.takeover, undefined, 'a fresh lease is no take-over');
  t.equal(puts[0]!.ifNoneMatch, '*', 'an absent lease is created with If-None-Match: *');
  t.equal(puts[0]!.sse, 'aws:kms', 'SSE-KMS, as the vault policy demands');
  t.match(current(KEY), {
    owner: 'A',
    command: 'acquire',
    acquiredAt: '2026-12-05T00:00:00.000Z',
    expiresAt: '2026-12-05T00:10:00.000Z',
    generation: 1,
    released: false,
  });

  c.advance(180_000);
  await a.renew();
  t.equal(puts[1]!.ifMatch, puts[0] && versions.get(KEY)![0]!.etag, 'renewal is If-Match on the holder’s last ETag');
  t.match(current(KEY), {
    owner: 'A',
    acquiredAt: '2026-12-05T00:00:00.000Z',
    expiresAt: '2026-12-05T00:13:00.000Z',
    generation: 2,
  });

  await a.release();
  t.match(current(KEY), { owner: 'A', released: true, generation: 3 });
  t.equal(puts[2]!.ifMatch, versions.get(KEY)![1]!.etag);
  const etags = versions.get(KEY)!.map((v) => v.etag);
  t.equal(new Set(etags).size, etags.length, 'no two versions share an ETag');

  const b = await acquireCaseLease(base(s3, c, 'B', 'case close'));
  t.equal(b.takeover, undefined, 'a released lease is taken without a take-over');
  t.equal(puts[3]!.ifMatch, versions.get(KEY)![2]!.etag, 'taking a released lease is If-Match on the version read');
  t.match(current(KEY), { owner: 'B', command: 'case close', generation: 4, released: false });
});

t.test('a busy case is refused at once, naming the holder, its command, since and until', async (t) => {
  const { s3, puts } = fakeS3();
  const c = clock();
  await acquireCaseLease(base(s3, c, 'A', 'acquire'));
  c.advance(60_000);
  const err = await acquireCaseLease(base(s3, c, 'B', 'room down')).catch((e: unknown) => e);
  t.ok(err instanceof CaseBusyError);
  const e = err as CaseBusyError;
  t.equal(e.code, 'CASE_BUSY');
  t.equal(e.exitCode, 1);
  t.match(
    e.message,
    /Case IR-1 is busy: `acquire` holds its lease \(holder arn:aws:sts::123456789012:assumed-role\/r\/A\) since 2026-12-05T00:00:00.000Z, until 2026-12-05T00:10:00.000Z/,
  );
  t.match(e.details, {
    holder: 'A',
    command: 'acquire',
    since: '2026-12-05T00:00:00.000Z',
    until: '2026-12-05T00:10:00.000Z',
  });
  t.equal(puts.length, 1, 'the refused command wrote nothing');
});

t.test('an expired lease is taken over, and the take-over says from whom', async (t) => {
  const { s3, current } = fakeS3();
  const c = clock();
  await acquireCaseLease(base(s3, c, 'A', 'acquire'));
  c.advance(600_000);
  const b = await acquireCaseLease(base(s3, c, 'B', 'case close'));
  t.match(b.takeover, {
    reason: 'expired',
    previous: { owner: 'A', command: 'acquire', generation: 1, expiresAt: '2026-12-05T00:10:00.000Z' },
  });
  t.match(current(KEY), { owner: 'B', generation: 2 });
});

t.test('a holder known to be gone (holderGone) is taken over before expiry; otherwise not', async (t) => {
  const { s3 } = fakeS3();
  const c = clock();
  await acquireCaseLease({ ...base(s3, c, 'A'), host: 'h1', pid: 42 });
  const busy = await acquireCaseLease({ ...base(s3, c, 'B'), holderGone: () => false }).catch((e: unknown) => e);
  t.ok(busy instanceof CaseBusyError, 'a live holder keeps the case');
  const seen: LeaseDocument[] = [];
  const b = await acquireCaseLease({ ...base(s3, c, 'B'), holderGone: (held) => (seen.push(held), held.pid === 42) });
  t.equal(seen[0]!.host, 'h1');
  t.match(b.takeover, { reason: 'holder-gone', previous: { owner: 'A', pid: 42 } });
});

t.test('a lost lease is detected on renew: the holder stops, and writes nothing more', async (t) => {
  const { s3, puts, current } = fakeS3();
  const c = clock();
  const a = await acquireCaseLease(base(s3, c, 'A', 'acquire'));
  c.advance(11 * 60_000); // A missed its renewals
  await acquireCaseLease(base(s3, c, 'B', 'room down'));
  const n = puts.length;
  const err = await a.renew().catch((e: unknown) => e);
  t.ok(err instanceof LeaseLostError);
  t.equal((err as LeaseLostError).code, 'CASE_LEASE_LOST');
  t.match((err as LeaseLostError).message, /lost the lease of case IR-1 .* to `room down`/);
  t.equal(a.lostError, err, 'remembered');
  t.throws(() => a.assertHeld(), LeaseLostError);
  await a.release();
  t.equal(puts.length, n, 'neither the failed renewal nor release overwrote the new holder');
  t.equal(current(KEY).owner, 'B');
});

t.test('two takers at once: exactly one gets the lease', async (t) => {
  const { s3 } = fakeS3();
  const c = clock();
  const got = await Promise.allSettled(['A', 'B', 'C', 'D'].map((o) => acquireCaseLease(base(s3, c, o))));
  t.equal(got.filter((g) => g.status === 'fulfilled').length, 1);
  for (const g of got) if (g.status === 'rejected') t.ok(g.reason instanceof CaseBusyError);
});

t.test('localHolderGone: only a dead process of this very machine (host name AND boot) is gone', async (t) => {
  // A pid that ran here and has exited.
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  const held = (over: Partial<LeaseDocument>): LeaseDocument => ({
    schema: 'cleanroom.case-lease.v1',
    case: 'IR-1',
    owner: 'o',
    command: 'acquire',
    host: os.hostname(),
    pid: dead,
    bootedAt: machineBootedAt(),
    acquiredAt: '2026-01-01T00:00:00.000Z',
    renewedAt: '2026-01-01T00:00:00.000Z',
    expiresAt: '2999-01-01T00:00:00.000Z',
    generation: 1,
    released: false,
    ...over,
  });
  t.equal(localHolderGone(held({})), true, 'same host, same boot, pid not running: gone');
  t.equal(localHolderGone(held({ pid: process.pid })), false, 'this very process is not gone');
  t.equal(localHolderGone(held({ pid: process.ppid })), false, 'a running pid is not gone');
  t.equal(localHolderGone(held({ host: `${os.hostname()}-other` })), false, 'another host name: not judged');
  t.equal(
    localHolderGone(held({ bootedAt: undefined })),
    false,
    'no boot time recorded (another machine of the same name cannot be ruled out): not judged',
  );
  t.equal(
    localHolderGone(held({ bootedAt: new Date(Date.parse(machineBootedAt()) - 3_600_000).toISOString() })),
    false,
    'same host name, another boot (a clone or a container of the same name elsewhere): not judged',
  );
});

t.test(
  'a lease object that is JSON but not a lease (null, [], {}, no expiry) is unreadable: taken, not a crash nor busy forever',
  async (t) => {
    for (const body of [
      'null',
      '[]',
      '{}',
      '"x"',
      JSON.stringify({
        schema: 'cleanroom.case-lease.v1',
        case: 'IR-1',
        owner: 'X',
        command: 'acquire',
        generation: 3,
        released: false,
      }),
    ]) {
      const { s3, versions, current } = fakeS3();
      versions.set(KEY, [{ body: Buffer.from(body), etag: '"e0"' }]);
      const c = clock();
      const b = await acquireCaseLease(base(s3, c, 'B', 'case close'));
      t.equal(b.takeover, undefined, `${body}: taken as a released lease (nothing to record as taken over)`);
      t.match(current(KEY), { owner: 'B', released: false }, `${body}: B holds it`);
    }
  },
);
