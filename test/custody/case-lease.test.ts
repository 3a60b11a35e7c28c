/**
 * The case lease through the library (`openCaseCustody(…, { lease, mustExist })`) against the local
 * AWS (moto 5.2.1 supports If-None-Match and If-Match on PutObject): a second writer is refused
 * while the lease is held and appends nothing; a released lease is taken without ceremony; an
 * expired one is taken over and the take-over is a custody event; the old holder finds out on its
 * next renewal and can append nothing more; the record still verifies. And `mustExist` refuses an
 * unknown case before anything is written. Locks: per case, and vault-wide for what cases share.
 */
import t from 'tap';
import { S3Client, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { openCaseCustody } from '../../src/custody/case-custody.js';
import { verifyCaseInVault } from '../../src/custody/verify-vault.js';
import type { CleanroomError } from '../../src/domain/errors.js';
import { lockScopes } from '../../src/domain/exclusive.js';
import type { AwsAccount } from '../../src/aws/ports.js';
import { VAULT, withVault } from './helpers.js';

const entry = (n: number) => ({
  action: 'room.deploy' as const,
  resources: [],
  outcome: { status: 'succeeded' as const },
  idempotencyKey: `step:${n}`,
});

/** A Step Functions step's record of a case, in its lane, holding the locks of `scopes` (16 minutes). */
const stepRecord = (acct: AwsAccount, caseId: string, owner: string, scopes: string[], now?: () => Date) =>
  openCaseCustody(acct, {
    caseId,
    lane: true,
    ...(now ? { now } : {}),
    locks: { owner, command: `automation ${owner}`, scopes, ttlMs: 16 * 60_000 },
  });

t.test('lease: busy, released, expired take-over recorded, lost on renew', async (t) => {
  const { acct } = await withVault(t);
  const twentyMinutesAgo = new Date(Date.now() - 20 * 60_000);

  // A took the case twenty minutes ago and has not renewed since: its lease has expired.
  let aNow = twentyMinutesAgo;
  const a = await openCaseCustody(acct, {
    caseId: 'IR-L',
    now: () => aNow,
    lease: { owner: 'owner-A', command: 'acquire' },
  });
  await a.record(entry(1));
  t.equal(a.lease?.document.expiresAt, new Date(twentyMinutesAgo.getTime() + 10 * 60_000).toISOString());

  // B takes it over, and the record says so.
  const b = await openCaseCustody(acct, {
    caseId: 'IR-L',
    mustExist: true,
    lease: { owner: 'owner-B', command: 'case close' },
  });
  t.match(b.lease?.takeover, { reason: 'expired', previous: { owner: 'owner-A', command: 'acquire' } });
  const takeover = b.events().find((e) => e.action === 'case.lease.takeover');
  t.ok(takeover, 'the take-over is a custody event');
  t.match(takeover!.outcome.details, {
    reason: 'expired',
    previousOwner: 'owner-A',
    previousCommand: 'acquire',
    previousGeneration: 1,
    generation: 2,
  });
  t.same(
    takeover!.resources.map((r) => r.id),
    ['cases/IR-L/lease.json'],
  );

  // A wakes up (its clock now says its lease expired): its next append renews first, finds the
  // lease taken, and stops — no more events from it, and its renewals fail too.
  aNow = new Date();
  const refused = await a.record(entry(2)).catch((e: CleanroomError) => e);
  t.equal((refused as CleanroomError).code, 'CASE_LEASE_LOST', 'a holder that lost the lease appends nothing');
  t.match((refused as CleanroomError).message, /lost the lease of case IR-L .* to `case close`/);
  const lost = await a.lease!.renew().catch((e: CleanroomError) => e);
  t.equal((lost as CleanroomError).code, 'CASE_LEASE_LOST');

  // C while B holds it: refused at once, nothing appended.
  const before = b.events().length;
  const busy = await openCaseCustody(acct, { caseId: 'IR-L', lease: { owner: 'owner-C', command: 'room down' } }).catch(
    (e: CleanroomError) => e,
  );
  t.equal((busy as CleanroomError).code, 'CASE_BUSY');
  t.equal((busy as CleanroomError).exitCode, 1);
  t.match((busy as CleanroomError).message, /Case IR-L is busy: `case close` holds its lease/);
  await b.record(entry(3));
  await b.sealManifest();
  await b.releaseLease();

  // After B released it, C takes it without a take-over.
  const c = await openCaseCustody(acct, { caseId: 'IR-L', lease: { owner: 'owner-C', command: 'room down' } });
  t.equal(c.lease?.takeover, undefined);
  t.equal(c.events().length, before + 1);
  await c.releaseLease();

  const v = await verifyCaseInVault(acct, { caseId: 'IR-L' });
  t.equal(v.ok, true, JSON.stringify(v.findings));
  t.equal(v.events, 3, 'step 1, the take-over, step 3');
});

t.test('mustExist: an unknown case is refused before anything is written, and no lease is taken', async (t) => {
  const { acct } = await withVault(t);
  const err = await openCaseCustody(acct, {
    caseId: 'NOPE-404',
    mustExist: true,
    lease: { owner: 'x', command: 'case close' },
  }).catch((e: CleanroomError) => e);
  t.equal((err as CleanroomError).code, 'UNKNOWN_CASE');
  t.equal((err as CleanroomError).exitCode, 2);
  t.match((err as CleanroomError).message, `There is no case NOPE-404 in the vault s3://${VAULT}/`);
  const listed = await new S3Client({ region: 'us-east-1' }).send(
    new ListObjectVersionsCommand({ Bucket: VAULT, Prefix: 'cases/' }),
  );
  t.same(listed.Versions ?? [], [], 'nothing under cases/');
});

t.test(
  "locks: two instances' writers at once, one room's refused, the lease and a lock exclude each other, an expired lock taken over and recorded",
  async (t) => {
    const { acct } = await withVault(t);
    const step = (owner: string, scopes: string[], now?: () => Date) => stepRecord(acct, 'GD-LK', owner, scopes, now);
    // A step that crashed twenty minutes ago without giving its lock back.
    const crashed = await step('room-0', ['room:cleanroom-GD-LK'], () => new Date(Date.now() - 20 * 60_000));
    await crashed.record(entry(1));
    await crashed.sealManifest();

    const a = await step('isolate-a', ['instance:i-0aaaaaaaaaaaaaaaa']);
    const b = await step('isolate-b', ['instance:i-0bbbbbbbbbbbbbbbb']);
    t.same(
      [...a.locks, ...b.locks].map((l) => l.document.scope),
      ['instance:i-0aaaaaaaaaaaaaaaa', 'instance:i-0bbbbbbbbbbbbbbbb'],
      'two instances of one case held at once',
    );
    const cliBusy = await openCaseCustody(acct, {
      caseId: 'GD-LK',
      lease: { owner: 'cli', command: 'room down' },
    }).catch((e: CleanroomError) => e);
    t.equal((cliBusy as CleanroomError).code, 'CASE_BUSY', 'a command waits for the steps');
    t.match((cliBusy as CleanroomError).message, /`automation isolate-a` holds its lock instance:i-0aaaaaaaaaaaaaaaa/);
    await a.record(entry(2));
    await b.record(entry(3));

    // The crashed step's lock has expired: the next room step takes it over, and says so.
    const room = await step('room-1', ['room:cleanroom-GD-LK']);
    const takeover = room.events().find((e) => e.action === 'case.lease.takeover');
    t.match(takeover?.outcome.details, { reason: 'expired', scope: 'room:cleanroom-GD-LK', previousOwner: 'room-0' });
    t.same(
      takeover?.resources.map((r) => r.id),
      ['cases/GD-LK/locks/room/cleanroom-GD-LK.json'],
    );
    const attachBusy = await step('attach-1', ['room:cleanroom-GD-LK']).catch((e: CleanroomError) => e);
    t.equal((attachBusy as CleanroomError).code, 'CASE_BUSY', 'one writer on the room at a time');
    await room.sealManifest();
    for (const w of [a, b, room]) await w.releaseLease();

    const lease = await openCaseCustody(acct, { caseId: 'GD-LK', lease: { owner: 'cli', command: 'room down' } });
    t.equal(lease.lease?.takeover, undefined, 'every lock given back: the command takes the case');
    const lockBusy = await step('attach-2', ['room:cleanroom-GD-LK']).catch((e: CleanroomError) => e);
    t.match((lockBusy as CleanroomError).message, /`room down` holds its lease/);
    await lease.releaseLease();

    const v = await verifyCaseInVault(acct, { caseId: 'GD-LK' });
    t.equal(v.ok, true, JSON.stringify(v.findings));
  },
);

t.test(
  "vault-wide locks: two cases on one VPC's network ACL take turns; another case's expired holder is taken over and recorded; a lease holder takes them too",
  async (t) => {
    const { acct } = await withVault(t);
    const nacl = lockScopes.nacl('vpc-0aaaaaaaaaaaaaaaa', { account: '123456789012', region: 'us-east-1' });
    const step = (caseId: string, owner: string, now?: () => Date) => stepRecord(acct, caseId, owner, [nacl], now);
    // Case A's step crashed twenty minutes ago holding the ACL's lock.
    const crashed = await step('GD-VA', 'isolate-a0', () => new Date(Date.now() - 20 * 60_000));
    await crashed.record(entry(1));
    await crashed.sealManifest();

    const b = await step('GD-VB', 'isolate-b1');
    const takeover = b.events().find((e) => e.action === 'case.lease.takeover');
    t.match(takeover?.outcome.details, {
      reason: 'expired',
      scope: nacl,
      vaultWide: true,
      previousCase: 'GD-VA',
      previousOwner: 'isolate-a0',
    });
    t.same(
      takeover?.resources.map((r) => r.id),
      ['locks/123456789012/us-east-1/nacl/vpc-0aaaaaaaaaaaaaaaa.json'],
      'recorded in the taking case, naming the vault-wide object',
    );
    const aBusy = await step('GD-VA', 'isolate-a1').catch((e: CleanroomError) => e);
    t.equal((aBusy as CleanroomError).code, 'CASE_BUSY');
    t.match((aBusy as CleanroomError).message, /^Case GD-VA has to wait: case GD-VB's `automation isolate-b1` holds/);
    await b.sealManifest();
    await b.releaseLease();

    // A command holding case A's lease: its record takes the vault-wide lock around a step.
    const cmd = await openCaseCustody(acct, { caseId: 'GD-VA', lease: { owner: 'cli', command: 'isolate' } });
    const during = await cmd.withLocks([nacl], () => step('GD-VB', 'isolate-b2').catch((e: CleanroomError) => e));
    t.match((during as CleanroomError).message, /case GD-VA's `isolate` holds the lock/);
    t.equal(cmd.locks.length, 0, 'given back after the step');
    const after = await step('GD-VB', 'isolate-b3');
    await after.releaseLease();
    await cmd.releaseLease();
    for (const caseId of ['GD-VA', 'GD-VB']) {
      const v = await verifyCaseInVault(acct, { caseId });
      t.equal(v.ok, true, JSON.stringify(v.findings));
    }
  },
);
