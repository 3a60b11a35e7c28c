// room up at the library level against the local AWS (moto 5.2.1), with a real vault (vault init)
// and a MemoryRecorder: what it creates, what it records, a second run that changes nothing, drift
// put back, an explicit AMI, and bad input refused before anything changes.
//
// What moto cannot build from the template (docs/local-aws.md, "What moto 5.2.1 does
// NOT reproduce"): "CFN SecurityGroup — always adds allow-all egress; SecurityGroupEgress property
// ignored", "standalone SecurityGroupEgress ... skipped", "CFN Instance — LaunchTemplate,
// MetadataOptions, SecurityGroupIds ignored", "CFN NetworkAcl / NetworkAclEntry /
// SubnetNetworkAclAssociation ... skipped". The first three are exactly what room up's guard-rail
// reconciliation puts back in a live room, so here they show up as recorded corrections; the network
// ACL cannot be put back (room up does not build NACLs outside the stack), so the audit's
// nacl.restrictive warning stays — the template tests prove the NACL.
import t from 'tap';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { openAccount } from '../../../src/aws/account.js';
import type { AwsAccount } from '../../../src/aws/ports.js';
import { MemoryRecorder } from '../../../src/domain/recorder.js';
import { UsageError } from '../../../src/domain/errors.js';
import { initVault } from '../../../src/workflows/vault/index.js';
import { roomUp } from '../../../src/workflows/room/up.js';
import { readRoomStack } from '../../../src/resources/stacks.js';
import { GUEST_TOOLS_DIR } from '../../../src/workflows/room/guest-tools.js';
import { vaultKeyAlias } from '../../../src/domain/vault-name.js';
import { ROOT, useLocalAws } from '../../../local-aws/local-aws.js';
import { VAULT } from './fixtures.js';

const MUTATING =
  /^(create|put|delete|execute|revoke|authorize|modify|run|attach|detach|schedule|enable|tag|associate|replace)/;

t.test('room up against the local AWS', async (t) => {
  await useLocalAws(t);
  const calls: string[] = [];
  const account = await openAccount({ onCall: (s, o) => calls.push(`${s}:${o}`) });
  await initVault(account, {});
  const vaultKey = (await account.kms.describeKey({ KeyId: vaultKeyAlias(VAULT) })).KeyMetadata!.Arn!;
  const rec = new MemoryRecorder();
  const warnings: string[] = [];
  const reporter = { progress() {}, warn: (m: string) => warnings.push(m), debug() {} };

  t.test('creates the room; the guard rails fix what moto did not build, each recorded', async (t) => {
    const r = await roomUp({ account, custody: rec, reporter }, { caseId: 'IR-up' });
    t.equal(r.change, 'created');
    t.equal(r.upToDate, false);
    t.match(r.room, {
      case: 'IR-up',
      stackName: 'cleanroom-IR-up',
      stackStatus: 'CREATE_COMPLETE',
      availabilityZone: 'us-east-1a',
      vpcId: /^vpc-/,
      subnetId: /^subnet-/,
      instanceId: /^i-/,
      forensicsSecurityGroupId: /^sg-/,
    });

    // The corrections: moto's allow-all egress on the three groups, the access group's two
    // declared rules it skipped, the instance's groups and its metadata options.
    const kinds = r.corrections.map((c) => `${c.kind} ${c.resource.split(' ')[0]}`).sort();
    t.same(
      kinds,
      [
        'authorize-rules access',
        'authorize-rules access',
        'imds instance',
        'instance-groups network',
        'revoke-rules access',
        'revoke-rules endpoint',
        'revoke-rules forensics',
      ].sort(),
    );
    t.ok(r.corrections.every((c) => c.ok));
    t.match(
      r.corrections.find((c) => c.kind === 'revoke-rules' && c.resource.startsWith('forensics'))!.found,
      /egress all traffic to 0\.0\.0\.0\/0 \(sgr-/,
    );
    t.equal(warnings.filter((w) => w.startsWith('guard rail restored')).length, 7, 'each correction reported');
    const recorded = rec.events().filter((e) => e.action.startsWith('room.guard-rail.'));
    t.equal(recorded.length, 7, 'each correction recorded');
    const revoke = recorded.find(
      (e) => e.action === 'room.guard-rail.revoke-rules' && e.outcome.details?.['role'] === 'forensics',
    )!;
    t.match(
      revoke.idempotencyKey,
      new RegExp(`^room:revoke:${r.room.forensicsSecurityGroupId}:sgr-`),
      'a revocation is keyed by the rule ids',
    );
    t.match(
      revoke.resources.map((x) => x.type),
      ['ec2:security-group', 'ec2:security-group-rule'],
    );

    // The live room now holds.
    const rules =
      (
        await account.ec2.describeSecurityGroupRules({
          Filters: [{ Name: 'group-id', Values: [r.room.forensicsSecurityGroupId!] }],
        })
      ).SecurityGroupRules ?? [];
    t.same(rules, [], 'the forensics group has no rule left');
    const inst = (await account.ec2.describeInstances({ InstanceIds: [r.room.instanceId!] })).Reservations![0]!
      .Instances![0]!;
    t.match(inst.MetadataOptions, { HttpTokens: 'required', HttpPutResponseHopLimit: 1, HttpEndpoint: 'enabled' });
    t.same(
      inst.NetworkInterfaces![0]!.Groups!.map((g) => g.GroupId).sort(),
      [r.room.forensicsSecurityGroupId, r.room.accessSecurityGroupId].sort(),
    );

    t.equal(r.audit.ok, true, 'the live audit passes');
    t.same(
      r.audit.checks.filter((c) => !c.ok).map((c) => c.id),
      ['nacl.restrictive'],
      'only the NACL warning (moto skips CFN NACLs)',
    );

    // The guest tooling in the vault, SSE-KMS under the vault key, with its SHA-256.
    t.equal(r.guestTools.uploaded, r.guestTools.files);
    for (const name of ['install.sh', 'cleanroom-evidence-ro', '10-cleanroom-evidence-ro.rules']) {
      const body = readFileSync(path.join(GUEST_TOOLS_DIR, name));
      const head = await account.s3.headObject({ Bucket: VAULT, Key: `cases/IR-up/tools/guest/${name}` });
      t.equal(head.ServerSideEncryption, 'aws:kms', `${name} is SSE-KMS`);
      t.equal(head.SSEKMSKeyId, vaultKey, `${name} is under the vault key`);
      t.equal(head.Metadata?.['sha256'], createHash('sha256').update(body).digest('hex'));
    }
    t.equal(GUEST_TOOLS_DIR, path.join(ROOT, 'scripts/guest'), 'the tooling comes from scripts/guest');

    // What the record says, in order.
    const actions = rec.events().map((e) => e.action);
    t.same(actions.slice(0, 5), [
      'case.key.create',
      'room.guest-tools',
      'room.toolkit',
      'room.deploy.start',
      'room.deploy',
    ]);
    // No toolkit published in this vault: the room comes up without one, and says why.
    t.match(rec.events().find((e) => e.action === 'room.toolkit')!.outcome.details, {
      toolkit: 'none',
      reason: /no default toolkit.*cleanroom room tools --publish/,
    });
    t.ok(
      warnings.some((w) => /no default toolkit/.test(w)),
      'a warning names room tools --publish',
    );
    t.equal(r.toolkit.toolkitId, undefined);
    t.equal(actions.at(-1), 'room.audit');
    const deploy = rec.events().find((e) => e.action === 'room.deploy')!;
    t.match(deploy.outcome, {
      status: 'succeeded',
      details: { changeSetId: /changeSet\/cleanroom-up-/, stackStatus: 'CREATE_COMPLETE' },
    });
    const stack = await readRoomStack(account, 'IR-up');
    t.same(stack!.tags, { 'cleanroom:case': 'IR-up', 'cleanroom:role': 'room-stack' });
    t.equal(stack!.parameters['AmiId'], '', 'no explicit AMI: the SSM parameter is used');
  });

  t.test('a second room up is a no-op that says so', async (t) => {
    const before = rec.events().length;
    calls.length = 0;
    const r = await roomUp({ account, custody: rec, reporter }, { caseId: 'IR-up' });
    t.equal(r.change, 'unchanged');
    t.equal(r.upToDate, true);
    t.same(r.corrections, []);
    t.equal(r.guestTools.uploaded, 0);
    t.equal(rec.events().length, before, 'nothing appended to the record');
    const mutations = calls.map((c) => c.split(':')[1]!).filter((op) => MUTATING.test(op));
    t.same(
      mutations,
      ['createChangeSet', 'deleteChangeSet'],
      'the only writes: the change set found empty, and its removal',
    );
  });

  t.test('drift is put back by rule id (IPv4 and IPv6) and recorded; the next run is a no-op again', async (t) => {
    const info = (await readRoomStack(account, 'IR-up'))!;
    const sg = info.outputs['ForensicsSecurityGroupId']!;
    const added = await account.ec2.authorizeSecurityGroupIngress({
      GroupId: sg,
      IpPermissions: [
        {
          IpProtocol: 'tcp',
          FromPort: 22,
          ToPort: 22,
          Ipv6Ranges: [{ CidrIpv6: '::/0' }],
          IpRanges: [{ CidrIp: '0.0.0.0/0' }],
        },
      ],
    });
    await account.ec2.modifyInstanceMetadataOptions({
      InstanceId: info.outputs['InstanceId']!,
      HttpTokens: 'optional',
      HttpPutResponseHopLimit: 2,
    });
    const before = rec.events().length;
    const r = await roomUp({ account, custody: rec, reporter }, { caseId: 'IR-up' });
    t.equal(r.change, 'unchanged');
    t.equal(r.upToDate, false);
    t.same(r.corrections.map((c) => c.kind).sort(), ['imds', 'revoke-rules']);
    const revoked = r.corrections.find((c) => c.kind === 'revoke-rules')!;
    const ids = (added.SecurityGroupRules ?? []).map((x) => x.SecurityGroupRuleId!);
    t.ok(ids.length >= 1 && ids.every((id) => revoked.found.includes(id)), 'the added rules are named by id');
    t.match(revoked.found, /ingress tcp 22 from ::\/0/);
    t.match(r.corrections.find((c) => c.kind === 'imds')!.found, /HttpTokens optional, hop limit 2/);
    t.equal(r.audit.ok, true);
    const fresh = rec
      .events()
      .slice(before)
      .map((e) => e.action);
    t.same(
      fresh,
      ['room.guard-rail.revoke-rules', 'room.guard-rail.imds'],
      'the corrections are recorded; the audit result did not change, so it is not recorded again',
    );
    const again = await roomUp({ account, custody: rec, reporter }, { caseId: 'IR-up' });
    t.equal(again.upToDate, true);
  });

  t.test('--ami: the instance boots the given image through the AmiId parameter', async (t) => {
    const ami = (await account.ec2.describeInstances({ Filters: [{ Name: 'tag:cleanroom:case', Values: ['IR-up'] }] }))
      .Reservations![0]!.Instances![0]!;
    const { CreateImageCommand, EC2Client } = await import('@aws-sdk/client-ec2');
    const imageId = (
      await new EC2Client({}).send(
        new CreateImageCommand({ InstanceId: ami.InstanceId!, Name: 'forensic-workstation' }),
      )
    ).ImageId!;
    const r = await roomUp({ account, custody: new MemoryRecorder(), reporter }, { caseId: 'IR-ami', amiId: imageId });
    const inst = (await account.ec2.describeInstances({ InstanceIds: [r.room.instanceId!] })).Reservations![0]!
      .Instances![0]!;
    t.equal(inst.ImageId, imageId);
    t.equal((await readRoomStack(account, 'IR-ami'))!.parameters['AmiId'], imageId);
  });

  t.test('bad input is refused before anything changes', async (t) => {
    const refuse = async (
      what: string,
      o: Parameters<typeof roomUp>[1],
      code: string,
      message: RegExp,
      acct: AwsAccount = account,
    ) => {
      const r2 = new MemoryRecorder();
      const e = await roomUp({ account: acct, custody: r2, reporter }, o).catch((x) => x);
      t.ok(e instanceof UsageError, `${what}: a usage error`);
      t.equal(e.exitCode, 2, `${what}: exit 2`);
      t.equal(e.code, code, what);
      t.match(e.message, message, `${what}: the message names it`);
      t.equal(r2.events().length, 0, `${what}: nothing recorded`);
      if (o.caseId !== 'IR-up') t.equal(await readRoomStack(account, o.caseId), undefined, `${what}: no stack made`);
    };
    await refuse(
      'an unknown AZ',
      { caseId: 'IR-bad', availabilityZone: 'us-east-1z' },
      'UNKNOWN_AZ',
      /us-east-1z does not exist in us-east-1 \(zones: us-east-1a, /,
    );
    await refuse(
      'an AZ that is not a name',
      { caseId: 'IR-bad', availabilityZone: 'east' },
      'INVALID_AZ',
      /--az "east"/,
    );
    await refuse(
      'an instance type offered nowhere',
      { caseId: 'IR-bad', instanceType: 'zz9.huge' },
      'UNKNOWN_INSTANCE_TYPE',
      /zz9\.huge is not offered/,
    );
    await refuse(
      'an unknown AMI',
      { caseId: 'IR-bad', amiId: 'ami-0123456789abcdef0' },
      'UNKNOWN_AMI',
      /ami-0123456789abcdef0 does not exist in us-east-1/,
    );
    await refuse(
      'a vault that does not exist',
      { caseId: 'IR-bad', bucket: 'no-such-vault-here' },
      'NO_VAULT',
      /vault init --bucket no-such-vault-here/,
    );
    await refuse(
      'moving an existing room to another AZ',
      { caseId: 'IR-up', availabilityZone: 'us-east-1b' },
      'ROOM_AZ_CHANGE',
      /is in us-east-1a.*room down --case IR-up/,
    );
    const elsewhere = await openAccount({ region: 'xx-north-1' });
    await refuse(
      'an unknown region',
      { caseId: 'IR-bad' },
      'UNKNOWN_REGION',
      /Region xx-north-1 cannot be used/,
      elsewhere,
    );
    const e = await roomUp({ account, custody: new MemoryRecorder() }, { caseId: 'bad id!' }).catch((x) => x);
    t.equal(e.code, 'INVALID_CASE_ID');
  });
});
