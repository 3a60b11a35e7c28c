// The room's forensic toolkit end to end, as a user runs it: `node dist/cli/bin.js` against the
// local AWS (moto 5.2.1). A small toolkit is published into the vault by the test (the objects
// `room tools --publish` writes: manifest, requirements, one wheel, the default pointer); then
// `room up --toolkit <unknown id>` refuses before anything exists (exit 2), `room up` takes the
// default toolkit — copied into the case, recorded, handed to the stack, the S3 endpoint reading the
// AL2023 repositories read-only and the audit green — `room status` shows it, and `room up --toolkit
// none` builds a room without it.
//
// The local AWS's SSM answers SendCommand with an empty output (it runs nothing on the instance),
// so what the room says about its toolkit is `not-confirmed` here; installed / mismatch are tested
// on fakes (test/workflows/room/toolkit.test.ts) and the install itself for real by the toolkit's
// own test.
import t from 'tap';
import { createHash } from 'node:crypto';
import { openAccount } from '../../src/aws/account.js';
import { openCaseCustody } from '../../src/custody/case-custody.js';
import { readRoomStack } from '../../src/resources/stacks.js';
import { vaultKeyAlias } from '../../src/domain/vault-name.js';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { cli } from '../custody/helpers.js';
import { fakeToolkit } from '../workflows/room/toolkit-fixture.js';

const VAULT = 'cleanroom-evidence-123456789012-us-east-1';

t.test('room up --toolkit through the CLI', async (t) => {
  const aws = await useLocalAws(t);
  const account = await openAccount({});
  t.equal((await cli(aws, ['vault', 'init'])).code, 0, 'vault init');

  // Publish a toolkit as `room tools --publish` would: SSE-KMS under the vault key, each object's SHA-256.
  const vaultKey = (await account.kms.describeKey({ KeyId: vaultKeyAlias(VAULT) })).KeyMetadata!.Arn!;
  const tk = fakeToolkit('e2e');
  const put = (Key: string, Body: Buffer) =>
    account.s3.putObject({
      Bucket: VAULT,
      Key,
      Body,
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: vaultKey,
      ChecksumAlgorithm: 'SHA256',
      ChecksumSHA256: createHash('sha256').update(Body).digest('base64'),
    });
  for (const [name, body] of tk.files) await put(`tools/toolkits/${tk.id}/${name}`, body);
  await put('tools/toolkits/default.json', tk.pointer);

  t.test('an explicit toolkit that is not in the vault: exit 2, no stack, nothing recorded', async (t) => {
    const r = await cli(aws, ['room', 'up', '--case', 'IR-TK-0', '--toolkit', 'tk-ffffffffffffffffffff']);
    t.equal(r.code, 2, r.stderr);
    t.match(r.stderr, /has no toolkit tk-ffffffffffffffffffff .*cleanroom room tools --publish/);
    t.equal(await readRoomStack(account, 'IR-TK-0'), undefined, 'no stack was created');
    const bad = await cli(aws, ['room', 'up', '--case', 'IR-TK-0', '--toolkit', 'newest']);
    t.equal(bad.code, 2);
    t.match(bad.stderr, /--toolkit "newest" is not default, none, a toolkit id/);
  });

  t.test('the default toolkit: copied into the case, recorded, in the stack, audit green', async (t) => {
    const CASE = 'IR-TK-1';
    const up = await cli(aws, ['room', 'up', '--case', CASE, '--json']);
    t.equal(up.code, 0, up.stderr);
    const r = up.json();
    t.match(r, {
      toolkitId: tk.id,
      toolkit: {
        toolkitId: tk.id,
        manifestSha256: tk.manifestSha256,
        tools: [{ name: 'dissect.target', version: '3.25.1' }],
        prefix: `cases/${CASE}/tools/toolkit/`,
        copied: 3,
        inRoom: { status: 'not-confirmed' },
      },
      audit: { ok: true },
    });
    t.match(
      r.audit.checks.find((c: { id: string }) => c.id === 'endpoints.s3-vault-only'),
      { ok: true, detail: /and, read-only, the Amazon Linux repositories al2023-repos-us-east-1-de612dc2/ },
    );

    // The case's copy, byte for byte the published files.
    for (const [name, body] of tk.files) {
      const got = await account.s3.getObject({ Bucket: VAULT, Key: `cases/${CASE}/tools/toolkit/${name}` });
      t.equal(
        createHash('sha256')
          .update(await got.Body!.transformToByteArray())
          .digest('hex'),
        createHash('sha256').update(body).digest('hex'),
        `cases/${CASE}/tools/toolkit/${name}`,
      );
    }
    const stack = (await readRoomStack(account, CASE))!;
    t.equal(stack.parameters['ToolkitId'], tk.id, 'the stack installs the toolkit');
    t.equal(stack.parameters['ToolkitManifestSha256'], tk.manifestSha256);
    const s3 = (
      await account.ec2.describeVpcEndpoints({ Filters: [{ Name: 'vpc-id', Values: [r.vpcId] }] })
    ).VpcEndpoints!.find((e) => e.VpcEndpointType === 'Gateway')!;
    t.match(JSON.parse(s3.PolicyDocument!).Statement, [
      { Sid: 'VaultBucketOnly' },
      {
        Sid: 'AmazonLinuxRepositoriesReadOnly',
        Action: 's3:GetObject',
        Resource: 'arn:aws:s3:::al2023-repos-us-east-1-de612dc2/*',
      },
    ]);

    const events = (await openCaseCustody(account, { caseId: CASE })).events();
    const recorded = events.find((e) => e.action === 'room.toolkit')!;
    t.match(recorded.outcome, {
      status: 'succeeded',
      details: {
        toolkitId: tk.id,
        manifestSha256: tk.manifestSha256,
        tools: [{ name: 'dissect.target', version: '3.25.1' }],
      },
    });
    t.same(
      (recorded.outcome.details!['files'] as { key: string }[]).map((f) => f.key).sort(),
      [...tk.files.keys()].map((n) => `cases/${CASE}/tools/toolkit/${n}`).sort(),
    );
    const actions = events.map((e) => e.action);
    t.ok(actions.indexOf('room.toolkit') < actions.indexOf('room.deploy.start'), 'copied before the stack changes');
    // moto's SSM runs nothing on the instance and answers with no output.
    t.match(events.find((e) => e.action === 'room.toolkit.verify')!.outcome, {
      status: 'partial',
      details: { result: 'not-confirmed', toolkitId: tk.id, detail: /no status line/ },
    });

    const status = await cli(aws, ['room', 'status', '--case', CASE, '--json']);
    t.equal(status.code, 0, status.stderr);
    t.match(status.json().toolkit, {
      toolkitId: tk.id,
      tools: [{ name: 'dissect.target', version: '3.25.1' }],
      inRoom: { status: 'not-confirmed' },
    });
    const text = await cli(aws, ['room', 'status', '--case', CASE]);
    t.match(text.stdout, new RegExp(`toolkit\\s+${tk.id}: dissect\\.target 3\\.25\\.1; in the room: not-confirmed`));

    const again = await cli(aws, ['room', 'up', '--case', CASE]);
    t.equal(again.code, 0, again.stderr);
    t.match(again.stdout, /is up to date: nothing changed/);
    t.equal(
      (await openCaseCustody(account, { caseId: CASE })).events().length,
      events.length,
      'a second room up keeps the toolkit and appends nothing',
    );
  });

  t.test('--toolkit none: no toolkit, no repository access, and the record says so', async (t) => {
    const CASE = 'IR-TK-2';
    const up = await cli(aws, ['room', 'up', '--case', CASE, '--toolkit', 'none', '--json']);
    t.equal(up.code, 0, up.stderr);
    const r = up.json();
    t.match(r.toolkit, { tools: [], copied: 0, reason: /--toolkit none/ });
    t.notOk(r.toolkit.toolkitId);
    t.equal((await readRoomStack(account, CASE))!.parameters['ToolkitId'], '');
    t.match(
      r.audit.checks.find((c: { id: string }) => c.id === 'endpoints.s3-vault-only'),
      {
        ok: true,
        detail: new RegExp(`reaches only ${VAULT}$`),
      },
    );
    const events = (await openCaseCustody(account, { caseId: CASE })).events();
    t.match(events.find((e) => e.action === 'room.toolkit')!.outcome, {
      status: 'succeeded',
      details: { toolkit: 'none', reason: /--toolkit none/ },
    });
    t.notOk(
      events.some((e) => e.action === 'room.toolkit.verify'),
      'nothing to ask the room',
    );
  });
});
