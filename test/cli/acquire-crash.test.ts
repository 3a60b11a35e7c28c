/**
 * `cleanroom acquire` as a user runs it: the CLI as a child process against the local AWS, through
 * the fault proxy. A compromised instance with two volumes in a source account (111111111111, by
 * assuming a role there), evidence copied into the forensic account (moto's default 123456789012)
 * with the custody record in the vault. Asserts what a user would notice: exit code, the JSON on
 * stdout, the message on stderr, the resources left in both accounts, the custody record.
 *
 * This file: the happy path and the crash-and-rerun runs (faults and bad input: acquire.test.ts).
 * These runs use --no-attach (stop at the preserved snapshot when the room is not up); attaching
 * needs a room that passes its audit — see test/cli/acquire-room.test.ts.
 */
import t from 'tap';
import { useLocalAws } from '../../local-aws/local-aws.js';
import type { ChildProcess } from 'node:child_process';
import { startFaultProxy, type SeenCall } from '../harness/fault-proxy.js';
import { SOURCE_ROLE, ec2In, instanceWithVolumes } from '../workflows/acquire/fixtures.js';
import { caseResources, custodyEvents, keyShapes, runCli } from './acquire-helpers.js';

t.test(
  'acquire from a source account: exit codes, JSON, resources, custody; killed at any point and rerun',
  async (t) => {
    const aws = await useLocalAws(t);
    const proxy = await startFaultProxy(aws);
    t.teardown(() => proxy.close());
    const env = aws.env({ AWS_ENDPOINT_URL: proxy.endpoint });
    const sourceEc2 = ec2In(aws.endpoint, { roleArn: SOURCE_ROLE });
    const acquireArgs = (caseId: string, instanceId: string, extra: string[] = []) => [
      'acquire',
      '--case',
      caseId,
      '--instance',
      instanceId,
      '--source-role-arn',
      SOURCE_ROLE,
      '--no-attach',
      '--json',
      ...extra,
    ];

    const init = await runCli(env, ['vault', 'init', '--json']);
    t.equal(init.code, 0, init.stderr);

    // A clean run.
    const fx = await instanceWithVolumes(sourceEc2, 'us-east-1b', [1]);
    const first = proxy.calls.length;
    const r = await runCli(env, acquireArgs('IR-cli-1', fx.instanceId));
    t.equal(r.code, 0, r.stderr);
    const calls = proxy.calls.length - first;
    const doc = r.json();
    t.equal(doc.case, 'IR-cli-1');
    t.equal(doc.evidence.length, 2);
    for (const e of doc.evidence) {
      for (const f of [
        'evidenceId',
        'sourceAccount',
        'sourceRegion',
        'sourceVolumeId',
        'sourceSnapshotId',
        'forensicSnapshotId',
        'kmsKeyArn',
        'volumeId',
        'instanceId',
        'device',
        'state',
      ])
        t.ok(f in e, `contract field ${f}`);
      t.equal(e.sourceAccount, '111111111111');
      t.equal(e.state, 'preserved');
      t.match(e.forensicSnapshotId, /^snap-/);
      t.match(e.kmsKeyArn, /^arn:aws:kms:us-east-1:123456789012:key\//);
    }
    t.same(doc.evidence.map((e: any) => e.sourceVolumeId).sort(), [...fx.volumeIds].sort());
    t.match(r.stderr, /The room of case IR-cli-1 is not up: the evidence is preserved as snapshots only/);
    const want = await caseResources(aws.endpoint, 'IR-cli-1');
    t.same(want, {
      source: { 'source-snapshot': 2 },
      forensic: { 'forensic-copy': 2 },
      workingVolumes: [],
      shareKeys: ['PendingDeletion'],
    });
    const events = await custodyEvents('IR-cli-1');
    // The work's events (checkpoints carry no key: how many there are depends on how appends grouped).
    const isWork = (e: { action: string }) => e.action !== 'case.lease.takeover' && e.action !== 'custody.checkpoint';
    const wantShapes = keyShapes(events.filter(isWork).map((e) => e.idempotencyKey));
    t.ok(events.some((e) => e.action === 'acquire.share-key.retire'));
    const list = await runCli(env, ['evidence', 'list', '--case', 'IR-cli-1', '--json']);
    t.equal(list.code, 0, list.stderr);
    t.same(
      list
        .json()
        .evidence.map((e: any) => [e.evidenceId, e.state])
        .sort(),
      doc.evidence.map((e: any) => [e.evidenceId, e.state]).sort(),
      'evidence list shows what acquire recorded',
    );

    // The same command again: nothing new.
    const again = await runCli(env, acquireArgs('IR-cli-1', fx.instanceId));
    t.equal(again.code, 0, again.stderr);
    t.equal((await custodyEvents('IR-cli-1')).length, events.length, 'a rerun appends nothing');

    // SIGKILL after k API calls, for k across the whole run, then the same command again; and once
    // at the first group-commit object (#group), the window between a batch's lane object and its
    // checkpoint: the object reaches the vault (a killed call is still forwarded), its checkpoint never does.
    t.ok(calls > 30, `${calls} API calls in a clean run`);
    const points: Array<number | '#group'> = [0.05, 0.15, 0.3, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95].map((f) =>
      Math.max(1, Math.round(f * calls)),
    );
    points.push('#group');
    const isGroupObject = (c: SeenCall) => c.service === 's3' && /^PUT .*\/custody\/lanes\/group-/.test(c.action);
    for (const [i, k] of points.entries()) {
      const caseId = `IR-kill-${i}`;
      const inst = await instanceWithVolumes(sourceEc2, 'us-east-1b', [1]);
      let killedAt = '';
      const start = proxy.calls.length;
      const kill = (child: ChildProcess) => (c: SeenCall) => {
        killedAt = `${c.service}:${c.action}`;
        child.kill('SIGKILL');
      };
      const killed = await runCli(env, acquireArgs(caseId, inst.instanceId), (child) =>
        k === '#group' ? proxy.onFirst(isGroupObject, kill(child)) : proxy.onCall(start + k, kill(child)),
      );
      t.equal(killed.signal, 'SIGKILL', `killed at call ${k} (${killedAt})`);
      const rerun = await runCli(env, acquireArgs(caseId, inst.instanceId));
      t.equal(
        rerun.code,
        0,
        `rerun after a kill at call ${k} (${killedAt}) succeeds: ${rerun.stderr
          .split('\n')
          .filter((l) => /error/.test(l))
          .join(' ')}`,
      );
      t.same(
        rerun.json().evidence.map((e: any) => e.state),
        ['preserved', 'preserved'],
      );
      t.same(
        await caseResources(aws.endpoint, caseId),
        want,
        `same end state after a kill at call ${k} (${killedAt}): no duplicate snapshot or copy, no leaked key`,
      );
      const all = await custodyEvents(caseId);
      // Killed while holding the case's lease (and, once acquiring, the instance's vault-wide lock):
      // the rerun on this machine sees the holder's pid gone, takes each over and records that
      // (once each); the work itself is recorded as in a clean run.
      const takeovers = all.filter((e) => e.action === 'case.lease.takeover');
      const ofLock = takeovers.filter((e) => e.outcome.details?.['scope']);
      t.ok(takeovers.length - ofLock.length <= 1, `at most one lease take-over recorded (kill at ${k})`);
      t.ok(
        ofLock.every((e) => e.outcome.details?.['scope'] === `instance:${inst.instanceId}@111111111111.us-east-1`) &&
          ofLock.length <= 1,
        `at most one take-over of the instance's lock recorded (kill at ${k})`,
      );
      for (const e of takeovers) t.equal(e.outcome.details?.['reason'], 'holder-gone');
      // The record reads in the order things happened: what the killed run wrote (committed or
      // not when it died) comes before the rerun's take-over.
      const over = all.findIndex((e) => e.action === 'case.lease.takeover');
      if (over >= 0)
        t.same(
          all
            .slice(over + 1)
            .filter((e) => e.time < all[over]!.time)
            .map((e) => e.idempotencyKey),
          [],
          `nothing the killed run wrote comes after the take-over (kill at ${k})`,
        );
      if (k === '#group') {
        t.match(killedAt, /custody\/lanes\/group-/, 'killed at a group object');
        t.equal(
          all.filter((e) => e.action === 'custody.checkpoint' && e.outcome.details?.['recovered']).length,
          1,
          "the rerun committed the killed run's group object at open (one checkpoint, details.recovered)",
        );
      }
      const ev = all.filter(isWork);
      const keys = ev.map((e) => e.idempotencyKey);
      t.equal(new Set(keys).size, keys.length, `no duplicate custody event (kill at ${k})`);
      t.same(keyShapes(keys), wantShapes, `the same custody events as a clean run (kill at ${k}, ${killedAt})`);
    }
  },
);
