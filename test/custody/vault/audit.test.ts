/**
 * `vault verify` on a compliant vault and on vaults broken one property at a time, built directly
 * through the S3 and KMS APIs; `vault init` adopting and repairing, and refusing what it must not do.
 */
import t from 'tap';
import {
  S3Client,
  CreateBucketCommand,
  DeleteBucketPolicyCommand,
  DeletePublicAccessBlockCommand,
  PutBucketEncryptionCommand,
  PutBucketPolicyCommand,
} from '@aws-sdk/client-s3';
import { KMSClient, CreateKeyCommand, UpdateAliasCommand, DisableKeyRotationCommand } from '@aws-sdk/client-kms';
import { useLocalAws } from '../../../local-aws/local-aws.js';
import { auditVault } from '../../../src/custody/vault/audit.js';
import { initVault } from '../../../src/workflows/vault/index.js';
import { signingKeyAlias } from '../../../src/domain/vault-name.js';
import type { CleanroomError } from '../../../src/domain/errors.js';
import { account, cli } from '../helpers.js';

const failed = (r: { checks: Array<{ id: string; ok: boolean }> }) => r.checks.filter((c) => !c.ok).map((c) => c.id);

t.test('a compliant vault passes every check; each broken property fails its own check', async (t) => {
  const aws = await useLocalAws(t);
  const acct = await account();
  const s3 = new S3Client({ region: 'us-east-1' });
  const kms = new KMSClient({ region: 'us-east-1' });
  const mk = async (bucket: string) => {
    await initVault(acct, { bucket });
    return bucket;
  };

  const good = await mk('vault-good');
  const ok = await auditVault(acct, good);
  t.equal(ok.ok, true);
  t.equal(ok.checks.length, 12);
  const cliOk = await cli(aws, ['vault', 'verify', '--bucket', good, '--json']);
  t.equal(cliOk.code, 0);
  t.same(Object.keys(cliOk.json().checks[0]).sort(), ['detail', 'id', 'ok', 'severity']);

  const b1 = await mk('vault-no-policy');
  await s3.send(new DeleteBucketPolicyCommand({ Bucket: b1 }));
  t.same(failed(await auditVault(acct, b1)), ['bucket.policy-tls-only', 'bucket.policy-encrypted-uploads']);

  const b2 = await mk('vault-tls-only');
  await s3.send(
    new PutBucketPolicyCommand({
      Bucket: b2,
      Policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'T',
            Effect: 'Deny',
            Principal: '*',
            Action: 's3:*',
            Resource: [`arn:aws:s3:::${b2}`, `arn:aws:s3:::${b2}/*`],
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          },
        ],
      }),
    }),
  );
  t.same(failed(await auditVault(acct, b2)), ['bucket.policy-encrypted-uploads']);

  const b3 = await mk('vault-sse-s3');
  await s3.send(
    new PutBucketEncryptionCommand({
      Bucket: b3,
      ServerSideEncryptionConfiguration: {
        Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
    }),
  );
  t.same(failed(await auditVault(acct, b3)), ['bucket.encryption', 'bucket.bucket-key']);

  const b4 = await mk('vault-other-key');
  const other = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  await s3.send(
    new PutBucketEncryptionCommand({
      Bucket: b4,
      ServerSideEncryptionConfiguration: {
        Rules: [
          {
            ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: other },
            BucketKeyEnabled: true,
          },
        ],
      },
    }),
  );
  t.same(failed(await auditVault(acct, b4)), ['bucket.encryption']);

  const b5 = await mk('vault-public');
  await s3.send(new DeletePublicAccessBlockCommand({ Bucket: b5 }));
  t.same(failed(await auditVault(acct, b5)), ['bucket.public-access-block']);

  const b6 = 'vault-no-rotation';
  const v6 = await initVault(acct, { bucket: b6 });
  await kms.send(new DisableKeyRotationCommand({ KeyId: v6.kmsKeyArn }));
  t.same(failed(await auditVault(acct, b6)), ['vault-key.rotation']);

  const b7 = await mk('vault-rsa-signer');
  const rsa = (await kms.send(new CreateKeyCommand({ KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!
    .KeyId!;
  await kms.send(new UpdateAliasCommand({ AliasName: signingKeyAlias(b7), TargetKeyId: rsa }));
  t.same(failed(await auditVault(acct, b7)), ['signing-key.spec']);
  const refused = await initVault(acct, { bucket: b7 }).catch((e: CleanroomError) => e);
  t.equal((refused as CleanroomError).code, 'VAULT_KEY_MISMATCH', 'init does not silently re-point an alias');

  // No Object Lock: a plain bucket. Not adoptable.
  await s3.send(new CreateBucketCommand({ Bucket: 'plain-bucket' }));
  const plain = await auditVault(acct, 'plain-bucket');
  t.ok(failed(plain).includes('bucket.object-lock'));
  const notLockable = await initVault(acct, { bucket: 'plain-bucket' }).catch((e: CleanroomError) => e);
  t.equal((notLockable as CleanroomError).exitCode, 3);
  t.match((notLockable as CleanroomError).message, /without Object Lock/);

  const missing = await cli(aws, ['vault', 'verify', '--bucket', 'no-such-vault', '--json']);
  t.equal(missing.code, 3);
  t.equal(missing.json().ok, false);
  t.match(missing.json().checks[0].detail, /cleanroom vault init/);

  const broken = await cli(aws, ['vault', 'verify', '--bucket', b5]);
  t.equal(broken.code, 3);
  t.match(broken.stdout, /FAIL {2}bucket\.public-access-block/);

  // init repairs what can be repaired, and says what it changed.
  const repaired = await initVault(acct, { bucket: b1 });
  t.same(repaired.changes, ['set the bucket policy (TLS only, SSE-KMS uploads only)']);
  const again = await initVault(acct, { bucket: b1 });
  t.same(again.changes, []);
});

t.test('vault init refuses to weaken retention and validates its flags before any AWS call', async (t) => {
  const aws = await useLocalAws(t);
  t.equal((await cli(aws, ['vault', 'init', '--retention-days', '30'])).code, 0);
  const shorter = await cli(aws, ['vault', 'init', '--retention-days', '7']);
  t.equal(shorter.code, 2);
  t.match(shorter.stderr, /will not shorten that to 7/);
  const gov = await cli(aws, ['vault', 'init', '--lock-mode', 'GOVERNANCE']);
  t.equal(gov.code, 2);
  t.match(gov.stderr, /will not switch it to GOVERNANCE/);
  const bad = await cli(aws, ['vault', 'init', '--retention-days', '0', '--bucket', 'x-never-created'], {
    ...aws.env(),
    AWS_ENDPOINT_URL: 'https://127.0.0.1:9',
  });
  t.equal(bad.code, 2, 'refused before any AWS call (the endpoint is unreachable)');
  t.match(bad.stderr, /--retention-days must be a whole number/);
});
