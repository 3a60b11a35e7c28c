/**
 * The case lease through the library (`openCaseCustody(…, { lease, mustExist })`) against the local
 * AWS (moto 5.2.1 supports If-None-Match and If-Match on PutObject): a second writer is refused
 * while the lease is held and appends nothing; a released lease is taken without ceremony; an
 * expired one is taken over and the take-over is a custody event; the old holder finds out on its
 * next renewal and can append nothing more; the record still verifies. And `mustExist` refuses an
 * unknown case before anything is written.
 */
import t from 'tap';
import { S3Client, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { openCaseCustody } from '../../src/custody/case-custody.js';
import { verifyCaseInVault } from '../../src/custody/verify-vault.js';
import type { CleanroomError } from '../../src/domain/errors.js';
import { VAULT, account, cli } from './helpers.js';

const entry = (n: number) => ({
  action: 'room.deploy' as const,
  resources: [],
  outcome: { status: 'succeeded' as const },
  idempotencyKey: `step:${n}`,
});

t.test('lease: busy, released, expired take-over recorded, lost on renew', async (t) => {
  const aws = await useLocalAws(t);
  t.equal((await cli(aws, ['vault', 'init'])).code, 0);
  const acct = await account();
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
  const aws = await useLocalAws(t);
  t.equal((await cli(aws, ['vault', 'init'])).code, 0);
  const acct = await account();
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
