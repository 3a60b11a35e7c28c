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
import { useLocalAws } from '../harness/local-aws.js';
import { startFaultProxy } from '../harness/fault-proxy.js';
import { SOURCE_ROLE, ec2In, instanceWithVolumes } from '../workflows/acquire/fixtures.js';
import { caseResources, custodyEvents, keyShapes, runCli } from './acquire-helpers.js';

t.test('acquire from a source account: exit codes, JSON, resources, custody; killed at any point and rerun', async (t) => {
  const aws = await useLocalAws(t);
  const proxy = await startFaultProxy(aws);
  t.teardown(() => proxy.close());
  const env = aws.env({ AWS_ENDPOINT_URL: proxy.endpoint });
  const sourceEc2 = ec2In(aws.endpoint, { roleArn: SOURCE_ROLE });
  const acquireArgs = (caseId: string, instanceId: string, extra: string[] = []) => ['acquire', '--case', caseId, '--instance', instanceId, '--source-role-arn', SOURCE_ROLE, '--no-attach', '--json', ...extra];

  const init = await runCli(env, ['vault', 'init', '--json']);
  t.equal(init.code, 0, init.stderr);

  // A clean run.
  const fx = await instanceWithVolumes(sourceEc2, 'us-east-1b', [20]);
  const first = proxy.calls.length;
  const r = await runCli(env, acquireArgs('IR-cli-1', fx.instanceId));
  t.equal(r.code, 0, r.stderr);
  const calls = proxy.calls.length - first;
  const doc = r.json();
  t.equal(doc.case, 'IR-cli-1');
  t.equal(doc.evidence.length, 2);
  for (const e of doc.evidence) {
    for (const f of ['evidenceId', 'sourceAccount', 'sourceRegion', 'sourceVolumeId', 'sourceSnapshotId', 'forensicSnapshotId', 'kmsKeyArn', 'volumeId', 'instanceId', 'device', 'state']) t.ok(f in e, `contract field ${f}`);
    t.equal(e.sourceAccount, '111111111111');
    t.equal(e.state, 'preserved');
    t.match(e.forensicSnapshotId, /^snap-/);
    t.match(e.kmsKeyArn, /^arn:aws:kms:us-east-1:123456789012:key\//);
  }
  t.same(doc.evidence.map((e: any) => e.sourceVolumeId).sort(), [...fx.volumeIds].sort());
  t.match(r.stderr, /The room of case IR-cli-1 is not up: the evidence is preserved as snapshots only/);
  const want = await caseResources(aws.endpoint, 'IR-cli-1');
  t.same(want, { source: { 'source-snapshot': 2 }, forensic: { 'forensic-copy': 2 }, workingVolumes: [], shareKeys: ['PendingDeletion'] });
  const events = await custodyEvents('IR-cli-1');
  const wantShapes = keyShapes(events.map((e) => e.idempotencyKey));
  t.ok(events.some((e) => e.action === 'acquire.share-key.retire'));
  const list = await runCli(env, ['evidence', 'list', '--case', 'IR-cli-1', '--json']);
  t.equal(list.code, 0, list.stderr);
  t.same(list.json().evidence.map((e: any) => [e.evidenceId, e.state]).sort(), doc.evidence.map((e: any) => [e.evidenceId, e.state]).sort(), 'evidence list shows what acquire recorded');

  // The same command again: nothing new.
  const again = await runCli(env, acquireArgs('IR-cli-1', fx.instanceId));
  t.equal(again.code, 0, again.stderr);
  t.equal((await custodyEvents('IR-cli-1')).length, events.length, 'a rerun appends nothing');

  // SIGKILL after k API calls, for k across the whole run, then the same command again.
  t.ok(calls > 30, `${calls} API calls in a clean run`);
  const points = [0.05, 0.15, 0.3, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95].map((f) => Math.max(1, Math.round(f * calls)));
  for (const [i, k] of points.entries()) {
    const caseId = `IR-kill-${i}`;
    const inst = await instanceWithVolumes(sourceEc2, 'us-east-1b', [20]);
    let killedAt = '';
    const start = proxy.calls.length;
    const killed = await runCli(env, acquireArgs(caseId, inst.instanceId), (child) =>
      proxy.onCall(start + k, (c) => {
        killedAt = `${c.service}:${c.action}`;
        child.kill('SIGKILL');
      }),
    );
    t.equal(killed.signal, 'SIGKILL', `killed at call ${k} (${killedAt})`);
    const rerun = await runCli(env, acquireArgs(caseId, inst.instanceId));
    t.equal(rerun.code, 0, `rerun after a kill at call ${k} (${killedAt}) succeeds: ${rerun.stderr.split('\n').filter((l) => /error/.test(l)).join(' ')}`);
    t.same(rerun.json().evidence.map((e: any) => e.state), ['preserved', 'preserved']);
    t.same(await caseResources(aws.endpoint, caseId), want, `same end state after a kill at call ${k} (${killedAt}): no duplicate snapshot or copy, no leaked key`);
    const ev = await custodyEvents(caseId);
    const keys = ev.map((e) => e.idempotencyKey);
    t.equal(new Set(keys).size, keys.length, `no duplicate custody event (kill at ${k})`);
    t.same(keyShapes(keys), wantShapes, `the same custody events as a clean run (kill at ${k}, ${killedAt})`);
  }
});

t.test('faults: throttling, 5xx and snapshots pending for a while are ridden out; a budget spent fails clearly, with the record saying how far', async (t) => {
  const aws = await useLocalAws(t);
  const proxy = await startFaultProxy(aws);
  t.teardown(() => proxy.close());
  const env = aws.env({ AWS_ENDPOINT_URL: proxy.endpoint });
  const sourceEc2 = ec2In(aws.endpoint, { roleArn: SOURCE_ROLE });
  t.equal((await runCli(env, ['vault', 'init'])).code, 0);

  const fx = await instanceWithVolumes(sourceEc2, 'us-east-1b', [4]);
  proxy.add({ service: 'ec2', action: 'CreateSnapshots', fault: { kind: 'throttle' }, times: 2 });
  proxy.add({ service: 'ec2', action: 'CopySnapshot', fault: { kind: 'error', status: 503, code: 'Unavailable' }, times: 2 });
  proxy.add({ service: 'ec2', action: 'ModifySnapshotAttribute', fault: { kind: 'reset' }, times: 1 });
  proxy.add({
    service: 'ec2',
    action: 'DescribeSnapshots',
    when: (c) => c.body.includes('Filter.1.Name=snapshot-id'), // the status poll, not the discovery
    fault: { kind: 'rewrite', fn: (b) => b.replace(/<status>completed<\/status>/g, '<status>pending</status>').replace(/<progress>100%<\/progress>/g, '<progress>42%</progress>') },
    times: 3,
  });
  const ok = await runCli(env, ['acquire', '--case', 'IR-faults', '--instance', fx.instanceId, '--source-role-arn', SOURCE_ROLE, '--no-attach']);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stderr, /42%/, 'progress with the snapshot percentage on stderr');
  t.match(ok.stdout, /2 evidence item\(s\) of case IR-faults preserved under the case key/);
  t.same(await caseResources(aws.endpoint, 'IR-faults'), { source: { 'source-snapshot': 2 }, forensic: { 'forensic-copy': 2 }, workingVolumes: [], shareKeys: ['PendingDeletion'] });

  // Snapshots that never complete: the budget (scaled by size: 0.05 min + 0 per GiB) is spent.
  proxy.clear();
  proxy.add({ service: 'ec2', action: 'DescribeSnapshots', fault: { kind: 'rewrite', fn: (b) => b.replace(/<status>completed<\/status>/g, '<status>pending</status>') } });
  const fx2 = await instanceWithVolumes(sourceEc2, 'us-east-1b', [4]);
  const stuck = await runCli(env, ['acquire', '--case', 'IR-stuck', '--instance', fx2.instanceId, '--source-role-arn', SOURCE_ROLE, '--no-attach', '--budget-minutes', '0.05', '--budget-minutes-per-gib', '0', '--json']);
  t.equal(stuck.code, 1);
  const err = stuck.json().error;
  t.equal(err.code, 'PARTIAL_FAILURE');
  t.match(err.message, /2 of 2 volume\(s\) of case IR-stuck could not be acquired/);
  t.same(err.failures.map((f: any) => f.code), ['TIMEOUT', 'TIMEOUT']);
  t.match(err.failures[0].message, /Gave up waiting for the source snapshot snap-\w+ of ev-\w+ after \d+s \(budget 3s\); last state: pending/);
  t.match(stuck.stderr, /error: 2 of 2 volume\(s\)[\s\S]*- ev-\w+ \(vol-\w+\): Gave up waiting/);
  const ev = await custodyEvents('IR-stuck');
  const failed = ev.filter((e) => e.action === 'evidence.failed');
  t.same(failed.map((e) => [e.outcome.details!['step'], e.outcome.details!['reached'], e.outcome.error!.code]), [['source-snapshot', 'snapshotting', 'TIMEOUT'], ['source-snapshot', 'snapshotting', 'TIMEOUT']], 'the record says exactly how far it got');
  t.equal(ev.filter((e) => e.action === 'evidence.snapshot').length, 2, 'the snapshots were requested and recorded');
  t.equal(ev.at(-1)!.action, 'acquire.run');
  t.equal(ev.at(-1)!.outcome.status, 'failed');

  // The next run (AWS healthy again) finishes from where it stopped.
  proxy.clear();
  const snapshotsBefore = proxy.count('ec2', 'CreateSnapshots');
  const done = await runCli(env, ['acquire', '--case', 'IR-stuck', '--instance', fx2.instanceId, '--source-role-arn', SOURCE_ROLE, '--no-attach', '--json']);
  t.equal(done.code, 0, done.stderr);
  t.equal(proxy.count('ec2', 'CreateSnapshots'), snapshotsBefore, 'the snapshots are not taken again');
  t.same(await caseResources(aws.endpoint, 'IR-stuck'), { source: { 'source-snapshot': 2 }, forensic: { 'forensic-copy': 2 }, workingVolumes: [], shareKeys: ['PendingDeletion'] });
});

t.test('bad input: a clear message and the contract exit code, nothing made', async (t) => {
  const aws = await useLocalAws(t);
  const proxy = await startFaultProxy(aws);
  t.teardown(() => proxy.close());
  const env = aws.env({ AWS_ENDPOINT_URL: proxy.endpoint });
  t.equal((await runCli(env, ['vault', 'init'])).code, 0);
  const sourceEc2 = ec2In(aws.endpoint, { roleArn: SOURCE_ROLE });
  const west = ec2In(aws.endpoint, { roleArn: SOURCE_ROLE, region: 'us-west-2' });
  const fx = await instanceWithVolumes(sourceEc2, 'us-east-1b', [4]);
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

  const unknown = await runCli(env, ['acquire', '--case', 'IR-bad', '--instance', 'i-00000000000000000', ...src, '--no-attach']);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /No instance i-00000000000000000 in account 111111111111 \(us-east-1 or any other Region\)/);
  const elsewhere = await runCli(env, ['acquire', '--case', 'IR-bad', '--instance', westFx.instanceId, ...src, '--no-attach']);
  t.equal(elsewhere.code, 2);
  t.match(elsewhere.stderr, new RegExp(`Instance ${westFx.instanceId} is in us-west-2, not in us-east-1 where cleanroom looked: run again with --source-region us-west-2`));
  const unknownVol = await runCli(env, ['acquire', '--case', 'IR-bad', '--volume', 'vol-00000000000000000', ...src, '--no-attach', '--json']);
  t.equal(unknownVol.code, 2);
  t.equal(unknownVol.json().error.code, 'VOLUME_NOT_FOUND');

  const noRoom = await runCli(env, ['acquire', '--case', 'IR-bad', '--instance', fx.instanceId, ...src]);
  t.equal(noRoom.code, 2);
  t.match(noRoom.stderr, /The clean room of case IR-bad is not there \(no stack\).*--no-attach/);

  // A key of the source account whose policy does not name the forensic account.
  const { KMSClient, CreateKeyCommand } = await import('@aws-sdk/client-kms');
  const { fromTemporaryCredentials } = await import('@aws-sdk/credential-providers');
  const kms = new KMSClient({ endpoint: aws.endpoint, credentials: fromTemporaryCredentials({ params: { RoleArn: SOURCE_ROLE, RoleSessionName: 't' } }) });
  const key = (await kms.send(new CreateKeyCommand({ Description: 'not shared' }))).KeyMetadata!.Arn!;
  const badKey = await runCli(env, ['acquire', '--case', 'IR-bad', '--instance', fx.instanceId, ...src, '--no-attach', '--source-kms-key', key]);
  t.equal(badKey.code, 2);
  t.match(badKey.stderr, new RegExp(`The forensic account 123456789012 cannot use --source-kms-key ${key.replace(/[/]/g, '\\/')}: neither its key policy nor a grant allows account 123456789012 kms:DescribeKey`));

  t.same(await caseResources(aws.endpoint, 'IR-bad'), { source: {}, forensic: {}, workingVolumes: [], shareKeys: [] }, 'nothing was made for the refused case');
  t.notOk(proxy.calls.slice(before).some((c) => /^(CreateSnapshots?|CopySnapshot|CreateVolume|CreateKey)$/.test(c.action)), 'no create was sent');
});
