/**
 * Acquisition with `waits: 'hand-off'` against the local AWS, as a Lambda step runs it: each
 * invocation opens the case's record in the vault, calls `acquireEvidence` and either finishes or
 * hands its wait back (WaitHandedOffError, the record sealed); the test calls again at once
 * (nothing sleeps: it counts invocations, it does not wait the retry time). moto completes
 * snapshots at once, so the fault proxy reports them `pending` for a few polls (the same rewrite
 * as acquire-local-aws.test.ts) to make the waits real. The loop ends in the same custody result as
 * a blocking run of another case on the same instance shape, and `custody verify` is green.
 */
import t from 'tap';
import { RunInstancesCommand } from '@aws-sdk/client-ec2';
import { openAccount } from '../../../src/aws/account.js';
import type { AwsAccount } from '../../../src/aws/ports.js';
import { openCaseCustody } from '../../../src/custody/case-custody.js';
import { isWaitHandedOff, type WaitHandedOffError } from '../../../src/domain/hand-off.js';
import type { RoomGate } from '../../../src/domain/room.js';
import { acquireEvidence, type AcquireOptions } from '../../../src/workflows/acquire/index.js';
import { useLocalAws } from '../../../local-aws/local-aws.js';
import { startFaultProxy } from '../../harness/fault-proxy.js';
import { cli } from '../../custody/helpers.js';
import { ec2In, instanceWithVolumes } from './fixtures.js';

const FAST = {
  watcher: { intervalMs: 200, maxIntervalMs: 1000, debounceMs: 50 },
  budgets: { readOnlyCheckMs: 0, roomHashBaseMs: 0, roomHashPerGiBMs: 0 },
} satisfies Partial<AcquireOptions>;

function gate(caseIds: string[], forensicInstance: string): RoomGate {
  return {
    describe: async (c) =>
      caseIds.includes(c)
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
}

/** One invocation: open the record, acquire, seal (the workflow seals on the way out). */
async function invoke(account: AwsAccount, room: RoomGate, o: AcquireOptions) {
  const custody = await openCaseCustody(account, { caseId: o.caseId });
  return acquireEvidence({ forensic: account, source: account, custody, room }, { ...FAST, ...o });
}

const actions = (evs: ReadonlyArray<{ action: string }>) => {
  const m: Record<string, number> = {};
  for (const e of evs) m[e.action] = (m[e.action] ?? 0) + 1;
  return m;
};

t.test('hand-off on a 1 GiB instance: invoked until done, the same record as a blocking run, verified', async (t) => {
  const aws = await useLocalAws(t);
  t.equal((await cli(aws, ['vault', 'init'])).code, 0);
  const proxy = await startFaultProxy(aws);
  t.teardown(() => proxy.close());
  process.env['AWS_ENDPOINT_URL'] = proxy.endpoint;
  const account = await openAccount({ maxAttempts: 3 });
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
  const room = gate(['IR-BLOCK', 'IR-HAND'], forensicInstance);
  const blockingSource = await instanceWithVolumes(direct, 'us-east-1a', [], 1);
  const handedSource = await instanceWithVolumes(direct, 'us-east-1a', [], 1);

  const blocking = await invoke(account, room, { caseId: 'IR-BLOCK', instanceIds: [blockingSource.instanceId] });
  t.same(blocking.failures, []);

  // Snapshots and copies read `pending` for the next polls (moto completes them at once).
  let rewritten = 0;
  proxy.add({
    service: 'ec2',
    action: 'DescribeSnapshots',
    times: 3,
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
  const handOffs: WaitHandedOffError[] = [];
  let result: Awaited<ReturnType<typeof invoke>> | undefined;
  for (let i = 0; i < 20 && !result; i++) {
    try {
      result = await invoke(account, room, {
        caseId: 'IR-HAND',
        instanceIds: [handedSource.instanceId],
        waits: 'hand-off',
      });
    } catch (e) {
      if (!isWaitHandedOff(e)) throw e;
      t.equal(e.details['sealed'], true, 'each handed-off invocation leaves the record sealed');
      handOffs.push(e);
    }
  }
  t.ok(result, `done after ${handOffs.length + 1} invocations`);
  t.ok(rewritten > 0 && handOffs.length >= 1, `the pending snapshot waits were handed off (${handOffs.length})`);
  for (const h of handOffs) t.match(h.waitingFor, /snap-/);
  t.same(result!.failures, []);
  t.same(
    result!.evidence.map((e) => [e.state, e.sha256 !== undefined]),
    blocking.evidence.map((e) => [e.state, e.sha256 !== undefined]),
    'the items end as the blocking run leaves them, hashed',
  );
  const read = async (caseId: string) => (await openCaseCustody(account, { caseId })).events();
  t.same(actions(await read('IR-HAND')), actions(await read('IR-BLOCK')), 'the same custody actions, none twice');

  delete process.env['AWS_ENDPOINT_URL'];
  for (const c of ['IR-HAND', 'IR-BLOCK']) {
    const v = await cli(aws, ['custody', 'verify', '--case', c]);
    t.equal(v.code, 0, `custody verify ${c}: ${v.stdout}${v.stderr}`);
  }
});
