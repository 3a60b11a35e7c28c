/**
 * The fidelity patch patches/s3_bucket_policy_conditions.py: S3 bucket policies evaluate their
 * conditions (aws:SecureTransport, s3:x-amz-server-side-encryption) for object requests, as AWS
 * documents. Proved with the vault's own policy statements against moto over TLS (the harness) and
 * over plain HTTP (a second moto with the same patches, started here without TLS).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';
import {
  S3Client,
  CreateBucketCommand,
  PutBucketPolicyCommand,
  PutObjectCommand,
  GetObjectCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  CompleteMultipartUploadCommand,
} from '@aws-sdk/client-s3';
import { KMSClient, CreateKeyCommand } from '@aws-sdk/client-kms';
import { useLocalAws, ROOT } from '../../local-aws/local-aws.js';
import { vaultStatements } from '../../src/custody/vault/policy.js';

const creds = { accessKeyId: 'testing', secretAccessKey: 'testing' };

async function denied(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'allowed';
  } catch (e) {
    return (e as { name?: string; $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 403
      ? 'denied'
      : `error ${(e as Error).name}`;
  }
}

async function setup(endpoint: string, bucket: string, statements = vaultStatements(bucket)) {
  const s3 = new S3Client({ endpoint, region: 'us-east-1', credentials: creds });
  const kms = new KMSClient({ endpoint, region: 'us-east-1', credentials: creds });
  const key = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(
    new PutBucketPolicyCommand({
      Bucket: bucket,
      Policy: JSON.stringify({ Version: '2012-10-17', Statement: statements }),
    }),
  );
  return { s3, key };
}

t.test('over TLS: SSE-KMS uploads and reads pass, uploads without the header or with AES256 are refused', async (t) => {
  const aws = await useLocalAws(t);
  const { s3, key } = await setup(aws.endpoint, 'vault-tls');
  t.equal(
    await denied(
      s3.send(
        new PutObjectCommand({
          Bucket: 'vault-tls',
          Key: 'a',
          Body: 'x',
          ServerSideEncryption: 'aws:kms',
          SSEKMSKeyId: key,
        }),
      ),
    ),
    'allowed',
  );
  t.equal(await denied(s3.send(new GetObjectCommand({ Bucket: 'vault-tls', Key: 'a' }))), 'allowed');
  t.equal(
    await denied(s3.send(new PutObjectCommand({ Bucket: 'vault-tls', Key: 'b', Body: 'x' }))),
    'denied',
    'no SSE header',
  );
  t.equal(
    await denied(
      s3.send(new PutObjectCommand({ Bucket: 'vault-tls', Key: 'c', Body: 'x', ServerSideEncryption: 'AES256' })),
    ),
    'denied',
    'SSE-S3 instead of SSE-KMS',
  );
  // NotResource: Session Manager's transcripts may come without the header (the SSM agent sends
  // none; the bucket's default SSE-KMS encrypts them), but never asking for SSE-S3.
  const transcript = 'cases/IR-1/sessions/alice-0123456789abcdef0.log';
  t.equal(
    await denied(s3.send(new PutObjectCommand({ Bucket: 'vault-tls', Key: transcript, Body: 'x' }))),
    'allowed',
    'a session transcript without the SSE header (NotResource of the header Deny)',
  );
  t.equal(
    await denied(
      s3.send(
        new PutObjectCommand({ Bucket: 'vault-tls', Key: transcript, Body: 'x', ServerSideEncryption: 'AES256' }),
      ),
    ),
    'denied',
    'a session transcript asking for SSE-S3',
  );
  t.equal(
    await denied(
      s3.send(new PutObjectCommand({ Bucket: 'vault-tls', Key: 'cases/IR-1/custody/0000000001.json', Body: 'x' })),
    ),
    'denied',
    'anything else without the header',
  );
});

t.test(
  'a multipart upload started with SSE-KMS: its parts and completion pass; one started without is refused',
  async (t) => {
    const aws = await useLocalAws(t);
    const { s3, key } = await setup(aws.endpoint, 'vault-mpu');
    const up = await s3.send(
      new CreateMultipartUploadCommand({
        Bucket: 'vault-mpu',
        Key: 'img',
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: key,
      }),
    );
    const part = s3.send(
      new UploadPartCommand({ Bucket: 'vault-mpu', Key: 'img', UploadId: up.UploadId!, PartNumber: 1, Body: 'x' }),
    );
    t.equal(await denied(part), 'allowed', 'UploadPart carries no SSE header: the upload asked for SSE-KMS');
    const etag = (await part).ETag!;
    t.equal(
      await denied(
        s3.send(
          new CompleteMultipartUploadCommand({
            Bucket: 'vault-mpu',
            Key: 'img',
            UploadId: up.UploadId!,
            MultipartUpload: { Parts: [{ PartNumber: 1, ETag: etag }] },
          }),
        ),
      ),
      'allowed',
    );
    t.equal(
      await denied(s3.send(new CreateMultipartUploadCommand({ Bucket: 'vault-mpu', Key: 'plain' }))),
      'denied',
      'CreateMultipartUpload (s3:PutObject) without the SSE header',
    );
  },
);

t.test('a Deny statement without conditions still denies everything (moto behaviour kept)', async (t) => {
  const aws = await useLocalAws(t);
  const { s3, key } = await setup(aws.endpoint, 'vault-deny', [
    { Sid: 'All', Effect: 'Deny', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::vault-deny/*' },
  ]);
  t.equal(
    await denied(
      s3.send(
        new PutObjectCommand({
          Bucket: 'vault-deny',
          Key: 'a',
          Body: 'x',
          ServerSideEncryption: 'aws:kms',
          SSEKMSKeyId: key,
        }),
      ),
    ),
    'allowed',
  );
  t.equal(await denied(s3.send(new GetObjectCommand({ Bucket: 'vault-deny', Key: 'a' }))), 'denied');
});

t.test('over plain HTTP: the TLS-only statement refuses even a correctly encrypted upload', async (t) => {
  // A second moto with the same patches, without TLS (the harness serves TLS only).
  const code = [
    'import json, sys',
    `sys.path.insert(0, ${JSON.stringify(path.join(ROOT, 'local-aws'))})`,
    'import fidelity_patches; fidelity_patches.apply()',
    'from werkzeug.serving import make_server',
    'from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app',
    'server = make_server("127.0.0.1", 0, DomainDispatcherApplication(create_backend_app), threaded=True)',
    'print(json.dumps({"port": server.port}), flush=True)',
    'server.serve_forever()',
  ].join('\n');
  const child = spawn(path.join(ROOT, '.venv/bin/python'), ['-c', code], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  t.teardown(() => {
    child.kill('SIGTERM');
  });
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (l) => resolve(JSON.parse(l).port));
    child.once('exit', (c) => reject(new Error(`plain-http moto exited ${c}`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${endpoint}/moto-api/data.json`)).ok) break;
    } catch {
      // not listening yet
    }
    if (i > 200) throw new Error('plain-http moto did not answer');
    await new Promise((r) => setTimeout(r, 50));
  }
  const { s3, key } = await setup(endpoint, 'vault-http');
  t.equal(
    await denied(
      s3.send(
        new PutObjectCommand({
          Bucket: 'vault-http',
          Key: 'a',
          Body: 'x',
          ServerSideEncryption: 'aws:kms',
          SSEKMSKeyId: key,
        }),
      ),
    ),
    'denied',
  );
  t.equal(await denied(s3.send(new GetObjectCommand({ Bucket: 'vault-http', Key: 'a' }))), 'denied');
  // Control: the same upload to a bucket without the policy goes through over plain HTTP.
  await s3.send(new CreateBucketCommand({ Bucket: 'no-policy' }));
  t.equal(
    await denied(
      s3.send(
        new PutObjectCommand({
          Bucket: 'no-policy',
          Key: 'a',
          Body: 'x',
          ServerSideEncryption: 'aws:kms',
          SSEKMSKeyId: key,
        }),
      ),
    ),
    'allowed',
  );
});
