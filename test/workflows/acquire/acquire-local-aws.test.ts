/**
 * Acquisition with the real SDK against the local AWS (moto 5.2.1), through the fault-injecting
 * proxy: the cross-account path end to end (with the fidelity patch that lets the forensic account
 * see and copy the shared snapshot — docs/local-aws.md, "Shared snapshot used from another account"),
 * under throttling, 5xx, connection resets, slow answers and snapshots rewritten to stay `pending`
 * or to end in `error`; the same account across Regions; and moto's SSM (always "Success" with no
 * output) recorded as NOT confirmed. The room is a hand-written RoomGate around a forensic instance
 * made here: the room itself and its audit are the room issue's (test/workflows/room/).
 */
import t from 'tap';
import { DescribeSnapshotsCommand, DescribeVolumesCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { KMSClient, DescribeKeyCommand, GetKeyPolicyCommand } from '@aws-sdk/client-kms';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { openAccount } from '../../../src/aws/account.js';
import { MemoryRecorder } from '../../../src/domain/recorder.js';
import { PartialFailureError } from '../../../src/domain/errors.js';
import { foldEvidence } from '../../../src/domain/evidence.js';
import type { RoomGate } from '../../../src/domain/room.js';
import { acquireEvidence, type AcquireOptions } from '../../../src/workflows/acquire/index.js';
import { useLocalAws, type LocalAws } from '../../../local-aws/local-aws.js';
import { startFaultProxy, type FaultProxy } from '../../harness/fault-proxy.js';
import { FORENSIC_ACCOUNT, SOURCE_ACCOUNT, SOURCE_ROLE, ec2In, instanceWithVolumes } from './fixtures.js';

const FAST = {
  watcher: { intervalMs: 200, maxIntervalMs: 1000, debounceMs: 50 },
  budgets: { readOnlyCheckMs: 0 },
} satisfies Partial<AcquireOptions>;

async function world(t: { teardown(fn: () => unknown): void }, aws: LocalAws, caseId: string) {
  const proxy: FaultProxy = await startFaultProxy(aws);
  t.teardown(() => proxy.close());
  process.env['AWS_ENDPOINT_URL'] = proxy.endpoint;
  const forensic = await openAccount({ maxAttempts: 3 });
  const source = await openAccount({ roleArn: SOURCE_ROLE, maxAttempts: 3 });
  const direct = ec2In(aws.endpoint);
  const forensicInstance = (
    await direct.send(
      new RunInstancesCommand({
        ImageId: 'ami-12c6146b',
        InstanceType: 't3.small',
        MinCount: 1,
        MaxCount: 1,
        Placement: { AvailabilityZone: 'us-east-1a' },
      }),
    )
  ).Instances![0]!.InstanceId!;
  const room: RoomGate = {
    describe: async (c) =>
      c === caseId
        ? {
            case: c,
            stackName: `cleanroom-${c}`,
            stackStatus: 'CREATE_COMPLETE',
            instanceId: forensicInstance,
            availabilityZone: 'us-east-1a',
          }
        : undefined,
    audit: async () => ({ ok: true, checks: [] }),
  };
  const custody = new MemoryRecorder();
  return {
    proxy,
    forensic,
    source,
    room,
    custody,
    forensicInstance,
    sourceEc2: ec2In(aws.endpoint, { roleArn: SOURCE_ROLE }),
    direct,
  };
}

t.test('cross-account, through throttling, 5xx, resets, slow answers and snapshots pending for a while', async (t) => {
  const aws = await useLocalAws(t);
  const w = await world(t, aws, 'IR-x1');
  const { instanceId, volumeIds } = await instanceWithVolumes(w.sourceEc2, 'us-east-1b', [1]);
  w.proxy.add({ service: 'ec2', fault: { kind: 'delay', ms: 30 } });
  w.proxy.add({ service: 'ec2', action: 'CopySnapshot', fault: { kind: 'throttle' }, times: 2 });
  w.proxy.add({
    service: 'ec2',
    action: 'CreateVolume',
    fault: { kind: 'error', status: 500, code: 'InternalError' },
    times: 1,
  });
  w.proxy.add({ service: 'ec2', action: 'DescribeSnapshots', fault: { kind: 'reset' }, times: 1, after: 1 });
  w.proxy.add({
    service: 'kms',
    action: 'CreateKey',
    fault: { kind: 'error', status: 503, code: 'ServiceUnavailable' },
    times: 1,
  });
  let rewritten = 0;
  w.proxy.add({
    service: 'ec2',
    action: 'DescribeSnapshots',
    times: 4,
    fault: {
      kind: 'rewrite',
      fn: (b) => {
        if (b.includes('<status>completed</status>')) rewritten++;
        return b
          .replace(/<status>completed<\/status>/g, '<status>pending</status>')
          .replace(/<progress>100%<\/progress>/g, '<progress>37%</progress>');
      },
    },
  });
  const progress: Array<{ phase: string; percent?: number }> = [];
  const r = await acquireEvidence(
    {
      forensic: w.forensic,
      source: w.source,
      custody: w.custody,
      room: w.room,
      reporter: { progress: (e) => e.kind === 'item' && progress.push(e), warn() {}, debug() {} },
    },
    { caseId: 'IR-x1', instanceIds: [instanceId], ...FAST, budgets: { ...FAST.budgets, apiMs: 60_000 } },
  );
  t.same(r.failures, []);
  t.ok(rewritten > 0, 'the pending rewrite was applied');
  t.ok(
    progress.some((p) => p.percent === 37),
    'snapshot Progress % reported from DescribeSnapshots',
  );
  t.ok(
    w.proxy.count('ec2', 'CreateSnapshots') === 1 && w.proxy.count('ec2', 'CreateSnapshot') === 0,
    'one CreateSnapshots for the instance',
  );
  t.equal(
    w.proxy.calls.filter((c) => c.action === 'CopySnapshot').length,
    2 + 4,
    '2 throttled + 2 sharing copies + 2 forensic copies',
  );

  // Source account: the source snapshots (tagged), no sharing copy left, the sharing key retired.
  const src = (await w.sourceEc2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }))).Snapshots!;
  t.same(src.map((s) => s.Tags?.find((x) => x.Key === 'cleanroom:role')?.Value).sort(), [
    'source-snapshot',
    'source-snapshot',
  ]);
  t.same(src.map((s) => s.VolumeId).sort(), [...volumeIds].sort());
  const kmsSource = new KMSClient({
    endpoint: aws.endpoint,
    credentials: fromTemporaryCredentials({ params: { RoleArn: SOURCE_ROLE, RoleSessionName: 't' } }),
  });
  const key = (await kmsSource.send(new DescribeKeyCommand({ KeyId: 'alias/cleanroom/share/IR-x1' }))).KeyMetadata!;
  t.equal(key.KeyState, 'PendingDeletion', 'the sharing key is retired');
  t.match(
    (await kmsSource.send(new GetKeyPolicyCommand({ KeyId: key.KeyId!, PolicyName: 'default' }))).Policy,
    /arn:aws:iam::123456789012:root/,
  );
  t.same(r.sharing?.retired, true);

  // Forensic account: the forensic copies under the case key, working volumes attached.
  const copies = (
    await w.direct.send(
      new DescribeSnapshotsCommand({
        OwnerIds: ['self'],
        Filters: [{ Name: 'tag:cleanroom:case', Values: ['IR-x1'] }],
      }),
    )
  ).Snapshots!;
  t.equal(copies.length, 2);
  const caseKey = (
    await new KMSClient({ endpoint: aws.endpoint }).send(
      new DescribeKeyCommand({ KeyId: 'alias/cleanroom/case/IR-x1' }),
    )
  ).KeyMetadata!.Arn;
  for (const c of copies) {
    t.equal(c.OwnerId, FORENSIC_ACCOUNT);
    t.equal(c.KmsKeyId, caseKey, 'under the case key');
  }
  const vols = (
    await w.direct.send(new DescribeVolumesCommand({ Filters: [{ Name: 'tag:cleanroom:case', Values: ['IR-x1'] }] }))
  ).Volumes!;
  t.equal(vols.length, 2, 'one working volume each (the 5xx on CreateVolume did not make a second)');
  t.same(
    vols.map((v) => v.Attachments?.[0]?.InstanceId),
    [w.forensicInstance, w.forensicInstance],
  );
  t.same(
    vols.map((v) => v.AvailabilityZone),
    ['us-east-1a', 'us-east-1a'],
  );

  // moto's SSM answers Success with no output: recorded as NOT confirmed, never as confirmed.
  t.same(
    r.readOnly.map((x) => x.status),
    ['not-confirmed', 'not-confirmed'],
  );
  t.same(
    r.evidence.map((e) => [e.state, e.readOnly, e.sourceAccount]),
    [
      ['attached', 'not-confirmed', SOURCE_ACCOUNT],
      ['attached', 'not-confirmed', SOURCE_ACCOUNT],
    ],
  );
  const ro = w.custody.events().filter((e) => e.action === 'evidence.readonly-check');
  t.same(
    ro.map((e) => e.outcome.status),
    ['skipped', 'skipped'],
  );
});

t.test(
  'a copy that ends in error fails its item only, the record says where; the budget spent on a snapshot stuck pending fails clearly',
  async (t) => {
    const aws = await useLocalAws(t);
    const w = await world(t, aws, 'IR-x2');
    const { volumeIds } = await instanceWithVolumes(w.sourceEc2, 'us-east-1b', [1]);
    // The forensic copy of the second volume answers `error`.
    let errored = '';
    w.proxy.add({
      service: 'ec2',
      action: 'DescribeSnapshots',
      when: (c) => c.body.includes('Filter.1.Name=snapshot-id') && !!errored && c.body.includes(errored),
      fault: {
        kind: 'rewrite',
        fn: (b) =>
          b.replace(
            new RegExp(`(<snapshotId>${errored}</snapshotId>[\\s\\S]*?)<status>completed</status>`),
            '$1<status>error</status>',
          ),
      },
    });
    w.proxy.add({
      service: 'ec2',
      action: 'CopySnapshot',
      when: (c) =>
        /SourceSnapshotId=snap-/.test(c.body) &&
        c.body.includes(`KmsKeyId=arn%3Aaws%3Akms%3Aus-east-1%3A${FORENSIC_ACCOUNT}`),
      times: 1,
      fault: { kind: 'rewrite', fn: (b) => ((errored = /<snapshotId>(snap-[0-9a-f]+)<\/snapshotId>/.exec(b)![1]!), b) },
    });
    const e = await acquireEvidence(
      { forensic: w.forensic, source: w.source, custody: w.custody, room: w.room },
      { caseId: 'IR-x2', volumeIds, attach: false, ...FAST },
    ).catch((x) => x);
    t.ok(e instanceof PartialFailureError, `${e}`);
    t.equal(e.failures.length, 1);
    t.match(e.failures[0].error.message, /forensic copy snap-\w+ of ev-\w+ ended in state error/);
    const failed = w.custody.events().find((x) => x.action === 'evidence.failed')!;
    t.same(
      [failed.outcome.details!['step'], failed.outcome.details!['reached'], failed.outcome.error!.code],
      ['forensic-copy', 'sharing', 'SNAPSHOT_ERROR'],
    );
    const items = foldEvidence(w.custody.events());
    t.same([...items.values()].map((i) => i.state).sort(), ['failed', 'volume-created']);
    t.equal(
      w.custody.events().filter((x) => x.action === 'evidence.share.retire').length,
      2,
      'both sharing copies retired in finally, also the failed one',
    );
    t.ok(
      w.custody.events().some((x) => x.action === 'acquire.share-key.retire' && x.outcome.status === 'succeeded'),
      'and the key',
    );

    // A snapshot stuck pending past its budget.
    w.proxy.clear();
    w.proxy.add({
      service: 'ec2',
      action: 'DescribeSnapshots',
      fault: { kind: 'rewrite', fn: (b) => b.replace(/<status>completed<\/status>/g, '<status>pending</status>') },
    });
    const { volumeIds: other } = await instanceWithVolumes(w.sourceEc2, 'us-east-1b', [], 1);
    const stuck = await acquireEvidence(
      { forensic: w.forensic, source: w.source, custody: w.custody, room: w.room },
      { caseId: 'IR-x2', volumeIds: other, ...FAST, budgets: { ...FAST.budgets, waitBaseMs: 2000, waitPerGiBMs: 0 } },
    ).catch((x) => x);
    t.ok(stuck instanceof PartialFailureError);
    t.match(
      stuck.failures[0].error.message,
      /Gave up waiting for the source snapshot snap-\w+ of ev-\w+ after \d+s \(budget 2s\); last state: pending.*Run the same command again to resume/,
    );
    const f2 = w.custody
      .events()
      .filter((x) => x.action === 'evidence.failed')
      .at(-1)!;
    t.same(
      [f2.outcome.details!['step'], f2.outcome.details!['reached'], f2.outcome.error!.code],
      ['source-snapshot', 'snapshotting', 'TIMEOUT'],
    );
  },
);

t.test('same account, another Region: copied across Regions under the case key, no sharing', async (t) => {
  const aws = await useLocalAws(t);
  const w = await world(t, aws, 'IR-x3');
  const west = ec2In(aws.endpoint, { region: 'us-west-2' });
  const { volumeIds } = await instanceWithVolumes(west, 'us-west-2a', [1]);
  const sourceWest = await openAccount({ region: 'us-west-2', maxAttempts: 3 });
  const r = await acquireEvidence(
    { forensic: w.forensic, source: sourceWest, custody: w.custody, room: w.room },
    { caseId: 'IR-x3', volumeIds, ...FAST },
  );
  t.same(r.failures, []);
  t.equal(r.sharing, undefined);
  t.equal(w.proxy.count('kms', 'CreateKey'), 1, 'only the case key');
  t.same(
    r.evidence.map((e) => [e.sourceRegion, e.state]),
    [
      ['us-west-2', 'attached'],
      ['us-west-2', 'attached'],
    ],
  );
  const copies = (
    await w.direct.send(
      new DescribeSnapshotsCommand({
        OwnerIds: ['self'],
        Filters: [{ Name: 'tag:cleanroom:role', Values: ['forensic-copy'] }],
      }),
    )
  ).Snapshots!;
  t.equal(copies.length, 2, 'the copies are in the forensic Region');
});
