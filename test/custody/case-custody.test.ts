/**
 * The custody seam against the local AWS: `vault init` through the CLI, then events appended and a
 * manifest sealed through the library (`openCaseCustody`), read back as raw objects: one PUT per
 * event, If-None-Match, explicit COMPLIANCE retention, SHA-256 checksums, idempotent reruns,
 * concurrent writers that never fork the chain, and the refusals (no vault: exit 2; a vault that
 * fails its audit: exit 3).
 */
import t from 'tap';
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import {
  S3Client,
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutBucketPolicyCommand,
} from '@aws-sdk/client-s3';
import { KMSClient, GetPublicKeyCommand } from '@aws-sdk/client-kms';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { openCaseCustody } from '../../src/custody/case-custody.js';
import { verifyCaseInVault } from '../../src/custody/verify-vault.js';
import {
  GENESIS_PREV_HASH,
  eventHash,
  manifestStatement,
  type CaseManifest,
  type CustodyEvent,
} from '../../src/custody/event.js';
import { CleanroomError } from '../../src/domain/errors.js';
import { VAULT, account, callsOf, cli } from './helpers.js';

t.test('vault init, then events appended and sealed through the library', async (t) => {
  const aws = await useLocalAws(t);
  const first = await cli(aws, ['vault', 'init', '--json']);
  t.equal(first.code, 0, first.stderr);
  const v = first.json();
  t.equal(v.bucket, VAULT);
  t.match(v.kmsKeyArn, /^arn:aws:kms:us-east-1:123456789012:key\//);
  t.match(v.signingKeyArn, /^arn:aws:kms:us-east-1:123456789012:key\//);
  t.equal(v.lockMode, 'COMPLIANCE');
  t.equal(v.retentionDays, 365);
  t.ok(v.changes.length > 0);

  const again = await cli(aws, ['vault', 'init']);
  t.equal(again.code, 0, again.stderr);
  t.match(again.stdout, /already complies: nothing changed/);
  const againJson = await cli(aws, ['vault', 'init', '--json']);
  t.same(againJson.json().changes, [], 'a second run changes nothing');

  const calls = new Map<string, number>();
  const acct = await account(calls);
  const custody = await openCaseCustody(acct, { caseId: 'IR-1' });
  t.equal(custody.events().length, 0);
  t.equal(custody.dirty, false);
  calls.clear();
  const e1 = await custody.record({
    action: 'room.deploy',
    resources: [{ type: 'cloudformation:stack', id: 'cleanroom-IR-1' }],
    inputs: { az: 'us-east-1a' },
    outcome: { status: 'succeeded' },
    idempotencyKey: 'room:up',
  });
  const e2 = await custody.record({
    action: 'evidence.snapshot',
    resources: [{ type: 'ec2:snapshot', id: 'snap-1', account: '123456789012', region: 'us-east-1' }],
    outcome: {
      status: 'succeeded',
      details: {
        evidence: {
          evidenceId: 'ev-vol-1',
          sourceVolumeId: 'vol-1',
          sourceAccount: '1',
          sourceRegion: 'us-east-1',
          state: 'snapshotted',
        },
      },
    },
    idempotencyKey: 'acquire:snapshot:ev-vol-1',
  });
  const e3 = await custody.record({
    action: 'isolate.complete',
    resources: [],
    outcome: { status: 'failed', error: { code: 'AWS_Throttling', message: 'slow down' } },
  });
  t.equal(callsOf(calls, 's3'), 3, 'one S3 request per appended event');
  t.same([e1.seq, e2.seq, e3.seq], [1, 2, 3]);
  t.equal(e1.prevHash, GENESIS_PREV_HASH);
  t.equal(e2.prevHash, e1.hash);
  t.equal(e3.prevHash, e2.hash);
  t.equal(e1.actor, 'arn:aws:sts::123456789012:user/moto');

  calls.clear();
  const rerun = await custody.record({
    action: 'room.deploy',
    resources: [],
    outcome: { status: 'succeeded' },
    idempotencyKey: 'room:up',
  });
  t.equal(rerun.seq, 1, 'same idempotency key: the existing event');
  t.equal(callsOf(calls, 's3'), 0, 'and no request');
  t.equal(custody.dirty, true);

  const manifest = await custody.sealManifest();
  t.equal(custody.dirty, false);
  t.same(manifest.head, { seq: 3, hash: e3.hash });
  t.equal(manifest.evidence.length, 1);
  t.equal(manifest.evidence[0]!.state, 'snapshotted');

  // The stored objects, read raw.
  const s3 = new S3Client({ region: 'us-east-1' });
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: VAULT, Prefix: 'cases/IR-1/' }));
  t.same(listed.Contents!.map((o) => o.Key).sort(), [
    'cases/IR-1/custody/0000000001.json',
    'cases/IR-1/custody/0000000002.json',
    'cases/IR-1/custody/0000000003.json',
    'cases/IR-1/manifest.json',
  ]);
  for (const seq of [1, 2, 3]) {
    const key = `cases/IR-1/custody/000000000${seq}.json`;
    const head = await s3.send(new HeadObjectCommand({ Bucket: VAULT, Key: key, ChecksumMode: 'ENABLED' }));
    t.equal(head.ObjectLockMode, 'COMPLIANCE', `${key} is locked`);
    t.ok(head.ObjectLockRetainUntilDate!.getTime() > Date.now() + 364 * 86_400_000, 'for the vault retention');
    t.ok(head.ChecksumSHA256, 'with its SHA-256 checksum');
    t.equal(head.ServerSideEncryption, 'aws:kms');
    const body = JSON.parse(
      await (await s3.send(new GetObjectCommand({ Bucket: VAULT, Key: key }))).Body!.transformToString(),
    ) as CustodyEvent;
    t.equal(body.hash, eventHash(body), 'the stored hash is the recomputed one');
    t.equal(body.case, 'IR-1');
  }
  const stored = JSON.parse(
    await (
      await s3.send(new GetObjectCommand({ Bucket: VAULT, Key: 'cases/IR-1/manifest.json' }))
    ).Body!.transformToString(),
  ) as CaseManifest;
  const { signature, ...signed } = stored;
  const pub = await new KMSClient({ region: 'us-east-1' }).send(new GetPublicKeyCommand({ KeyId: v.signingKeyArn }));
  const key = createPublicKey({ key: Buffer.from(pub.PublicKey!), format: 'der', type: 'spki' });
  t.ok(
    cryptoVerify('sha256', manifestStatement(signed).message, key, Buffer.from(signature.value, 'base64')),
    'the manifest signature verifies offline',
  );

  // Reopen: everything is loaded, the manifest is current.
  const reopened = await openCaseCustody(acct, { caseId: 'IR-1' });
  t.equal(reopened.events().length, 3);
  t.equal(reopened.dirty, false);
  t.equal(reopened.find('acquire:snapshot:ev-vol-1')?.seq, 2);
});

t.test('two writers appending at once never fork the chain', async (t) => {
  const aws = await useLocalAws(t);
  t.equal((await cli(aws, ['vault', 'init'])).code, 0);
  const a = await openCaseCustody(await account(), { caseId: 'IR-2' });
  const b = await openCaseCustody(await account(), { caseId: 'IR-2' });
  const entries = (who: string) =>
    Array.from({ length: 8 }, (_, i) => ({
      action: who === 'a' ? ('room.audit' as const) : ('room.deploy' as const),
      resources: [],
      outcome: { status: 'succeeded' as const },
      idempotencyKey: `${who}:${i}`,
    }));
  await Promise.all([...entries('a').map((e) => a.record(e)), ...entries('b').map((e) => b.record(e))]);
  // A shared unit of work recorded by both: one event.
  const [x, y] = await Promise.all([
    a.record({
      action: 'case.close.verify',
      resources: [],
      outcome: { status: 'succeeded' },
      idempotencyKey: 'shared',
    }),
    b.record({
      action: 'case.close.verify',
      resources: [],
      outcome: { status: 'succeeded' },
      idempotencyKey: 'shared',
    }),
  ]);
  const c = await openCaseCustody(await account(), { caseId: 'IR-2' });
  const evs = c.events();
  t.equal(evs.filter((e) => e.idempotencyKey === 'shared').length, 1, 'the shared unit was recorded once');
  t.equal(x.hash, y.hash);
  const keys = evs.map((e) => e.idempotencyKey).filter(Boolean);
  t.equal(keys.length, 17, 'every unit recorded');
  t.equal(new Set(keys).size, 17, 'none twice');
  // Each writer's eight appends made at once went out as one group commit (a lane object and the
  // checkpoint committing it): the main chain holds the checkpoints and single appends, linked.
  const main = evs.filter((e) => e.lane === undefined);
  main.forEach((e, i) => {
    t.equal(e.seq, i + 1);
    t.equal(e.prevHash, i === 0 ? GENESIS_PREV_HASH : main[i - 1]!.hash);
  });
  await c.sealManifest();
  const v = await verifyCaseInVault(await account(), { caseId: 'IR-2' });
  t.same(
    v.findings.map((f) => f.code),
    [],
    'custody verify: green, no fork',
  );
});

t.test('no vault: exit 2 naming vault init; a vault failing its audit: exit 3, nothing written', async (t) => {
  const aws = await useLocalAws(t);
  const acct = await account();
  const none = await openCaseCustody(acct, { caseId: 'IR-3' }).catch((e: CleanroomError) => e);
  t.ok(none instanceof CleanroomError);
  t.equal((none as CleanroomError).exitCode, 2);
  t.match((none as CleanroomError).message, /cleanroom vault init/);

  // A bucket that exists but was not set up as a vault (no Object Lock, no policy, no keys).
  const s3 = new S3Client({ region: 'us-east-1' });
  await s3.send(new CreateBucketCommand({ Bucket: 'plain-bucket' }));
  const bad = await openCaseCustody(acct, { caseId: 'IR-3', bucket: 'plain-bucket' }).catch((e: CleanroomError) => e);
  t.equal((bad as CleanroomError).exitCode, 3);
  t.equal((bad as CleanroomError).code, 'VAULT_AUDIT_FAILED');
  t.match((bad as CleanroomError).message, /bucket\.object-lock/);

  // A real vault whose policy was weakened afterwards.
  t.equal((await cli(aws, ['vault', 'init'])).code, 0);
  await s3.send(
    new PutBucketPolicyCommand({
      Bucket: VAULT,
      Policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Deny', Principal: '*', Action: 's3:DeleteBucket', Resource: `arn:aws:s3:::${VAULT}` }],
      }),
    }),
  );
  const weak = await openCaseCustody(acct, { caseId: 'IR-3' }).catch((e: CleanroomError) => e);
  t.equal((weak as CleanroomError).code, 'VAULT_AUDIT_FAILED');
  t.match((weak as CleanroomError).message, /bucket\.policy-tls-only/);
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: VAULT, Prefix: 'cases/IR-3/' }));
  t.equal(listed.KeyCount ?? 0, 0, 'nothing was written');
});
