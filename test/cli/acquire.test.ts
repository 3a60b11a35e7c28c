/**
 * `cleanroom acquire` as a user runs it: the CLI as a child process against the local AWS, through
 * the fault proxy. A compromised instance with two volumes in a source account (111111111111, by
 * assuming a role there), evidence copied into the forensic account (moto's default 123456789012)
 * with the custody record in the vault. Asserts what a user would notice: exit code, the JSON on
 * stdout, the message on stderr, the resources left in both accounts, the custody record.
 *
 * These runs use --no-attach (stop at the preserved snapshot when the room is not up); attaching
 * needs a room that passes its audit — see test/cli/acquire-room.test.ts.
 */
import t from 'tap';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { startFaultProxy } from '../harness/fault-proxy.js';
import { SOURCE_ROLE, ec2In, instanceWithVolumes } from '../workflows/acquire/fixtures.js';
import { caseResources, custodyEvents, runCli } from './acquire-helpers.js';

t.test(
  'faults: throttling, 5xx and snapshots pending for a while are ridden out; a budget spent fails clearly, with the record saying how far',
  async (t) => {
    const aws = await useLocalAws(t);
    const proxy = await startFaultProxy(aws);
    t.teardown(() => proxy.close());
    const env = aws.env({ AWS_ENDPOINT_URL: proxy.endpoint });
    const sourceEc2 = ec2In(aws.endpoint, { roleArn: SOURCE_ROLE });
    t.equal((await runCli(env, ['vault', 'init'])).code, 0);

    const fx = await instanceWithVolumes(sourceEc2, 'us-east-1b', [1]);
    proxy.add({ service: 'ec2', action: 'CreateSnapshots', fault: { kind: 'throttle' }, times: 2 });
    proxy.add({
      service: 'ec2',
      action: 'CopySnapshot',
      fault: { kind: 'error', status: 503, code: 'Unavailable' },
      times: 2,
    });
    proxy.add({ service: 'ec2', action: 'ModifySnapshotAttribute', fault: { kind: 'reset' }, times: 1 });
    proxy.add({
      service: 'ec2',
      action: 'DescribeSnapshots',
      when: (c) => c.body.includes('Filter.1.Name=snapshot-id'), // the status poll, not the discovery
      fault: {
        kind: 'rewrite',
        fn: (b) =>
          b
            .replace(/<status>completed<\/status>/g, '<status>pending</status>')
            .replace(/<progress>100%<\/progress>/g, '<progress>42%</progress>'),
      },
      times: 3,
    });
    const ok = await runCli(env, [
      'acquire',
      '--case',
      'IR-faults',
      '--instance',
      fx.instanceId,
      '--source-role-arn',
      SOURCE_ROLE,
      '--no-attach',
    ]);
    t.equal(ok.code, 0, ok.stderr);
    t.match(ok.stderr, /42%/, 'progress with the snapshot percentage on stderr');
    t.match(ok.stdout, /2 evidence item\(s\) of case IR-faults preserved under the case key/);
    t.same(await caseResources(aws.endpoint, 'IR-faults'), {
      source: { 'source-snapshot': 2 },
      forensic: { 'forensic-copy': 2 },
      workingVolumes: [],
      shareKeys: ['PendingDeletion'],
    });

    // Snapshots that never complete: the budget (scaled by size: 0.05 min + 0 per GiB) is spent.
    proxy.clear();
    proxy.add({
      service: 'ec2',
      action: 'DescribeSnapshots',
      fault: { kind: 'rewrite', fn: (b) => b.replace(/<status>completed<\/status>/g, '<status>pending</status>') },
    });
    const fx2 = await instanceWithVolumes(sourceEc2, 'us-east-1b', [1]);
    const stuck = await runCli(env, [
      'acquire',
      '--case',
      'IR-stuck',
      '--instance',
      fx2.instanceId,
      '--source-role-arn',
      SOURCE_ROLE,
      '--no-attach',
      '--budget-minutes',
      '0.05',
      '--budget-minutes-per-gib',
      '0',
      '--json',
    ]);
    t.equal(stuck.code, 1);
    const err = stuck.json().error;
    t.equal(err.code, 'PARTIAL_FAILURE');
    t.match(err.message, /2 of 2 volume\(s\) of case IR-stuck could not be acquired/);
    t.same(
      err.failures.map((f: any) => f.code),
      ['TIMEOUT', 'TIMEOUT'],
    );
    t.match(
      err.failures[0].message,
      /Gave up waiting for the source snapshot snap-\w+ of ev-\w+ after \d+s \(budget 3s\); last state: pending/,
    );
    t.match(stuck.stderr, /error: 2 of 2 volume\(s\)[\s\S]*- ev-\w+ \(vol-\w+\): Gave up waiting/);
    const ev = await custodyEvents('IR-stuck');
    const failed = ev.filter((e) => e.action === 'evidence.failed');
    t.same(
      failed.map((e) => [e.outcome.details!['step'], e.outcome.details!['reached'], e.outcome.error!.code]),
      [
        ['source-snapshot', 'snapshotting', 'TIMEOUT'],
        ['source-snapshot', 'snapshotting', 'TIMEOUT'],
      ],
      'the record says exactly how far it got',
    );
    t.equal(ev.filter((e) => e.action === 'evidence.snapshot').length, 2, 'the snapshots were requested and recorded');
    t.equal(ev.at(-1)!.action, 'acquire.run');
    t.equal(ev.at(-1)!.outcome.status, 'failed');

    // The next run (AWS healthy again) finishes from where it stopped.
    proxy.clear();
    const snapshotsBefore = proxy.count('ec2', 'CreateSnapshots');
    const done = await runCli(env, [
      'acquire',
      '--case',
      'IR-stuck',
      '--instance',
      fx2.instanceId,
      '--source-role-arn',
      SOURCE_ROLE,
      '--no-attach',
      '--json',
    ]);
    t.equal(done.code, 0, done.stderr);
    t.equal(proxy.count('ec2', 'CreateSnapshots'), snapshotsBefore, 'the snapshots are not taken again');
    t.same(await caseResources(aws.endpoint, 'IR-stuck'), {
      source: { 'source-snapshot': 2 },
      forensic: { 'forensic-copy': 2 },
      workingVolumes: [],
      shareKeys: ['PendingDeletion'],
    });
  },
);

t.test('bad input: a clear message and the contract exit code, nothing made', async (t) => {
  const aws = await useLocalAws(t);
  const proxy = await startFaultProxy(aws);
  t.teardown(() => proxy.close());
  const env = aws.env({ AWS_ENDPOINT_URL: proxy.endpoint });
  t.equal((await runCli(env, ['vault', 'init'])).code, 0);
  const sourceEc2 = ec2In(aws.endpoint, { roleArn: SOURCE_ROLE });
  const west = ec2In(aws.endpoint, { roleArn: SOURCE_ROLE, region: 'us-west-2' });
  const fx = await instanceWithVolumes(sourceEc2, 'us-east-1b', [1]);
  const westFx = await instanceWithVolumes(west, 'us-west-2a', []);
  const src = ['--source-role-arn', SOURCE_ROLE];

  const before = proxy.calls.length;
  const malformed = await runCli(env, ['acquire', '--case', 'IR-bad', '--volume', 'vol-nothex', ...src]);
  t.equal(malformed.code, 2);
  t.match(malformed.stderr, /Not an EC2 volume id: "vol-nothex"/);
  const nothing = await runCli(env, ['acquire', '--case', 'IR-bad']);
  t.equal(nothing.code, 2);
  t.match(nothing.stderr, /Name what to acquire/);
  const badCase = await runCli(env, ['acquire', '--case', 'bad case', '--volume', fx.volumeIds[0]!]);
  t.equal(badCase.code, 2);
  t.equal(proxy.calls.length, before, 'refused before any AWS call');

  const unknown = await runCli(env, [
    'acquire',
    '--case',
    'IR-bad',
    '--instance',
    'i-00000000000000000',
    ...src,
    '--no-attach',
  ]);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /No instance i-00000000000000000 in account 111111111111 \(us-east-1 or any other Region\)/);
  const elsewhere = await runCli(env, [
    'acquire',
    '--case',
    'IR-bad',
    '--instance',
    westFx.instanceId,
    ...src,
    '--no-attach',
  ]);
  t.equal(elsewhere.code, 2);
  t.match(
    elsewhere.stderr,
    new RegExp(
      `Instance ${westFx.instanceId} is in us-west-2, not in us-east-1 where cleanroom looked: run again with --source-region us-west-2`,
    ),
  );
  const unknownVol = await runCli(env, [
    'acquire',
    '--case',
    'IR-bad',
    '--volume',
    'vol-00000000000000000',
    ...src,
    '--no-attach',
    '--json',
  ]);
  t.equal(unknownVol.code, 2);
  t.equal(unknownVol.json().error.code, 'VOLUME_NOT_FOUND');

  const noRoom = await runCli(env, ['acquire', '--case', 'IR-bad', '--instance', fx.instanceId, ...src]);
  t.equal(noRoom.code, 2);
  t.match(noRoom.stderr, /The clean room of case IR-bad is not there \(no stack\).*--no-attach/);

  // A key of the source account whose policy does not name the forensic account.
  const { KMSClient, CreateKeyCommand } = await import('@aws-sdk/client-kms');
  const { fromTemporaryCredentials } = await import('@aws-sdk/credential-providers');
  const kms = new KMSClient({
    endpoint: aws.endpoint,
    credentials: fromTemporaryCredentials({ params: { RoleArn: SOURCE_ROLE, RoleSessionName: 't' } }),
  });
  const key = (await kms.send(new CreateKeyCommand({ Description: 'not shared' }))).KeyMetadata!.Arn!;
  const badKey = await runCli(env, [
    'acquire',
    '--case',
    'IR-bad',
    '--instance',
    fx.instanceId,
    ...src,
    '--no-attach',
    '--source-kms-key',
    key,
  ]);
  t.equal(badKey.code, 2);
  t.match(
    badKey.stderr,
    new RegExp(
      `The forensic account 123456789012 cannot use --source-kms-key ${key.replace(/[/]/g, '\\/')}: neither its key policy nor a grant allows account 123456789012 kms:DescribeKey`,
    ),
  );

  t.same(
    await caseResources(aws.endpoint, 'IR-bad'),
    { source: {}, forensic: {}, workingVolumes: [], shareKeys: [] },
    'nothing was made for the refused case',
  );
  t.notOk(
    proxy.calls.slice(before).some((c) => /^(CreateSnapshots?|CopySnapshot|CreateVolume|CreateKey)$/.test(c.action)),
    'no create was sent',
  );
});
