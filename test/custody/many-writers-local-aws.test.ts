/**
 * Many writers on one case against the local AWS (issue 14 groundwork): eight writers, each with
 * its own account (SDK clients and connections) and its own view of the chain, append at once
 * through conditional writes; then `cleanroom custody verify` proves one unbroken chain holding
 * every acknowledged event once. A fork forged afterwards — a second object version written over
 * one sequence number, as a writer ignoring `If-None-Match` would — fails verification (exit 3).
 */
import t from 'tap';
import { S3Client, PutObjectCommand } from '@aws-sdk/client-s3';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { openCaseCustody } from '../../src/custody/case-custody.js';
import { eventKey } from '../../src/custody/event.js';
import { VAULT, account, cli } from './helpers.js';

t.test('eight concurrent writers on one case, then custody verify; a forged fork exits 3', async (t) => {
  const aws = await useLocalAws(t);
  t.equal((await cli(aws, ['vault', 'init'])).code, 0);
  const writers = await Promise.all(
    Array.from({ length: 8 }, async () => openCaseCustody(await account(), { caseId: 'IR-64' })),
  );
  const acked = (
    await Promise.all(
      writers.map(async (c, w) => {
        const got = [];
        for (let i = 0; i < 4; i++)
          got.push(
            await c.record({
              action: 'room.audit',
              resources: [{ type: 'ec2:instance', id: `i-${String(w).padStart(17, '0')}` }],
              inputs: { writer: w, i },
              outcome: { status: 'succeeded' },
              idempotencyKey: `unit:${w}:${i}`,
            }),
          );
        return got;
      }),
    )
  ).flat();
  t.equal(acked.length, 32, 'every append was acknowledged');
  t.equal(new Set(acked.map((e) => e.seq)).size, 32, 'each at its own number');
  await writers[0]!.sealManifest();

  const ok = await cli(aws, ['custody', 'verify', '--case', 'IR-64', '--json']);
  t.equal(ok.code, 0, ok.stdout + ok.stderr);
  const v = ok.json();
  t.equal(v.ok, true);
  t.equal(v.events, 32, 'every acknowledged event, nothing more');
  const log = await openCaseCustody(await account(), { caseId: 'IR-64' });
  for (const e of acked) t.equal(log.find(e.idempotencyKey!)?.hash, e.hash, `${e.idempotencyKey} is in the chain`);

  // A fork: another event stored over number 5 (a second version of its key).
  const target = writers[0]!.vaultTarget;
  const s3 = new S3Client({ region: 'us-east-1' });
  const forged = { ...acked.find((e) => e.seq === 5)!, action: 'room.down' };
  await s3.send(
    new PutObjectCommand({
      Bucket: VAULT,
      Key: eventKey('IR-64', 5),
      Body: JSON.stringify(forged),
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: target.vaultKeyArn,
      ObjectLockMode: 'COMPLIANCE',
      ObjectLockRetainUntilDate: new Date(Date.now() + 86_400_000),
    }),
  );
  const bad = await cli(aws, ['custody', 'verify', '--case', 'IR-64', '--json']);
  t.equal(bad.code, 3, 'a fork is a verification failure');
  const codes = (bad.json().findings as Array<{ code: string; seq: number | null }>).map((f) => `${f.code}@${f.seq}`);
  t.ok(codes.includes('EXTRA_VERSION@5'), `the second object at number 5 is named: ${codes.join(', ')}`);
});
