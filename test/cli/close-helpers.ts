/**
 * Shared by the `case close` CLI tests: a fully acquired case (vault, room up, a cross-account
 * acquisition of an instance with two volumes, attached to the forensic instance), and what a
 * user looks at after a close — the room stack, the working volumes, the evidence snapshots and
 * their tags, the case key and the temporary sharing key, the custody record.
 */
import type { Test } from 'tap';
import { DescribeSnapshotsCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeKeyCommand, KMSClient, ListKeysCommand, ListResourceTagsCommand } from '@aws-sdk/client-kms';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { useLocalAws, type LocalAws } from '../../local-aws/local-aws.js';
import { startFaultProxy } from '../harness/fault-proxy.js';
import { SOURCE_ROLE, ec2In, instanceWithVolumes } from '../workflows/acquire/fixtures.js';
import { custodyEvents, keyShapes, runCli } from './acquire-helpers.js';

export const SRC = ['--source-role-arn', SOURCE_ROLE];

/** vault init (once per local AWS) → room up → acquire two volumes, attached. Returns the acquire document. */
export async function acquiredCase(
  aws: LocalAws,
  caseId: string,
  env: NodeJS.ProcessEnv = aws.env(),
  dataSizes: number[] = [1],
  opts: {
    rootSize?: number;
    /** Runs on the source instance before the acquisition (e.g. to give its disks content). */
    beforeAcquire?: (fx: { instanceId: string; volumeIds: string[] }) => Promise<void>;
  } = {},
) {
  const up = await runCli(env, ['room', 'up', '--case', caseId, '--json']);
  if (up.code !== 0) throw new Error(`room up: ${up.stderr}`);
  const fx = await instanceWithVolumes(
    ec2In(aws.endpoint, { roleArn: SOURCE_ROLE }),
    'us-east-1b',
    dataSizes,
    opts.rootSize ?? 1,
  );
  await opts.beforeAcquire?.(fx);
  const acq = await runCli(env, [
    'acquire',
    '--case',
    caseId,
    '--instance',
    fx.instanceId,
    ...SRC,
    '--readonly-check-seconds',
    '0',
    '--json',
  ]);
  if (acq.code !== 0) throw new Error(`acquire: ${acq.stderr}`);
  return {
    room: up.json(),
    evidence: acq.json().evidence as Array<{
      evidenceId: string;
      forensicSnapshotId: string;
      volumeId: string;
      state: string;
    }>,
  };
}

/** What the case has in AWS now, as a user would check it. */
export async function closeState(aws: LocalAws, caseId: string) {
  const ec2 = ec2In(aws.endpoint);
  const cfn = new CloudFormationClient({ region: 'us-east-1', endpoint: aws.endpoint });
  let stack = 'none';
  try {
    const s = (await cfn.send(new DescribeStacksCommand({ StackName: `cleanroom-${caseId}` }))).Stacks?.[0];
    stack = s?.StackStatus ?? 'none';
  } catch {
    stack = 'none';
  }
  if (stack === 'DELETE_COMPLETE') stack = 'none';
  const vols =
    (await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'tag:cleanroom:case', Values: [caseId] }] })))
      .Volumes ?? [];
  const snaps =
    (
      await ec2.send(
        new DescribeSnapshotsCommand({
          OwnerIds: ['self'],
          Filters: [{ Name: 'tag:cleanroom:case', Values: [caseId] }],
        }),
      )
    ).Snapshots ?? [];
  const tag = (tags: Array<{ Key?: string; Value?: string }> | undefined, k: string) =>
    tags?.find((x) => x.Key === k)?.Value;
  const keys = async (kms: KMSClient) => {
    const out: string[] = [];
    for (const k of (await kms.send(new ListKeysCommand({}))).Keys ?? []) {
      const tags = (await kms.send(new ListResourceTagsCommand({ KeyId: k.KeyId! }))).Tags ?? [];
      if (!tags.some((x) => x.TagKey === 'cleanroom:case' && x.TagValue === caseId)) continue;
      const role = tags.find((x) => x.TagKey === 'cleanroom:role')?.TagValue ?? 'none';
      out.push(`${role} ${(await kms.send(new DescribeKeyCommand({ KeyId: k.KeyId! }))).KeyMetadata!.KeyState}`);
    }
    return out.sort();
  };
  const forensicKms = new KMSClient({ region: 'us-east-1', endpoint: aws.endpoint });
  const sourceKms = new KMSClient({
    region: 'us-east-1',
    endpoint: aws.endpoint,
    credentials: fromTemporaryCredentials({
      params: { RoleArn: SOURCE_ROLE, RoleSessionName: 'check' },
      clientConfig: { region: 'us-east-1', endpoint: aws.endpoint },
    }),
  });
  return {
    stack,
    workingVolumes: vols
      .map(
        (v) =>
          `${v.State}${v.Attachments?.length ? ' attached' : ''}${tag(v.Tags, 'cleanroom:written') ? ' written' : ''}`,
      )
      .sort(),
    snapshots: snaps
      .map((s) => `${tag(s.Tags, 'cleanroom:role')}${tag(s.Tags, 'cleanroom:retained') === 'true' ? ' retained' : ''}`)
      .sort(),
    forensicKeys: await keys(forensicKms),
    sourceKeys: await keys(sourceKms),
  };
}

/** The case's custody events (the idempotency keys say which step each is). */
export async function closeEvents(caseId: string) {
  return custodyEvents(caseId);
}

export { runCli };

/**
 * Close `caseId` through the fault proxy, SIGKILLed at the k-th AWS request it sends; returns
 * which request that was.
 */
export async function killedClose(
  proxy: { calls: unknown[]; onCall(n: number, fn: (c: { service: string; action: string }) => void): void },
  env: NodeJS.ProcessEnv,
  caseId: string,
  k: number,
  args: string[],
) {
  let killedAt = '(not reached)';
  const start = proxy.calls.length;
  const r = await runCli(env, ['case', 'close', '--case', caseId, ...args], (child) =>
    proxy.onCall(start + k, (c) => {
      killedAt = `${c.service}:${c.action}`;
      child.kill('SIGKILL');
    }),
  );
  return { run: r, killedAt };
}

// No --accept-unverified: the written-to check decides on the local AWS (ebs_snapshot_content), as on AWS.
const CLOSE_ARGS = ['--yes', ...SRC, '--json'];

/** A request that changes something (the points worth dying at): not a read. */
export function isMutating(c: { service: string; action: string }): boolean {
  if (c.service === 's3') return /^(PUT|POST|DELETE)\b/.test(c.action);
  return !/^(Describe|List|Get|AssumeRole|GET |HEAD )/.test(c.action);
}

/**
 * The crash-and-rerun test of `case close`: an uninterrupted close of one acquired case is the
 * reference (its end state, the events the close appended, by idempotency key); then, for each
 * fraction f, another acquired case is closed and SIGKILLed at the request where the reference
 * made its (f × its count)-th change — that request reaches AWS, its answer never arrives — and the
 * same close is run again. The rerun must finish with the reference's end state and events, none
 * twice, and a record that verifies.
 */
export async function crashAndRerun(t: Test, fractions: number[], prefix: string): Promise<void> {
  const aws = await useLocalAws(t);
  const proxy = await startFaultProxy(aws);
  t.teardown(() => proxy.close());
  const env = aws.env({ AWS_ENDPOINT_URL: proxy.endpoint });
  t.equal((await runCli(aws.env(), ['vault', 'init'])).code, 0);
  // A close killed while holding the case's lease: the rerun on this machine sees the holder's pid
  // gone, takes the lease over and records that (once); the close itself is recorded as uninterrupted.
  const closeKeys = async (caseId: string, from: number) =>
    (await closeEvents(caseId))
      .slice(from)
      .filter((e) => e.action !== 'case.lease.takeover')
      .map((e) => e.idempotencyKey);

  // Cases are built straight against the local AWS; only the close goes through the proxy.
  await acquiredCase(aws, `${prefix}-ref`);
  const acquired = (await closeEvents(`${prefix}-ref`)).length;
  const first = proxy.calls.length;
  const ref = await runCli(env, ['case', 'close', '--case', `${prefix}-ref`, ...CLOSE_ARGS]);
  t.equal(ref.code, 0, ref.stderr);
  const changes = proxy.calls.slice(first).flatMap((c, i) => (isMutating(c) ? [i + 1] : []));
  t.ok(changes.length > 15, `${changes.length} changes in ${proxy.calls.length - first} AWS requests of a close`);
  const want = await closeState(aws, `${prefix}-ref`);
  const wantShapes = keyShapes(await closeKeys(`${prefix}-ref`, acquired));

  for (const [i, f] of fractions.entries()) {
    const caseId = `${prefix}-${i}`;
    await acquiredCase(aws, caseId);
    const before = (await closeEvents(caseId)).length;
    const k = changes[Math.min(changes.length - 1, Math.round(f * (changes.length - 1)))]!;
    const { run, killedAt } = await killedClose(proxy, env, caseId, k, CLOSE_ARGS);
    t.equal(run.signal, 'SIGKILL', `killed at request ${k} (${killedAt})`);
    const rerun = await runCli(env, ['case', 'close', '--case', caseId, ...CLOSE_ARGS]);
    t.equal(
      rerun.code,
      0,
      `rerun after a kill at ${k} (${killedAt}): ${rerun.stderr
        .split('\n')
        .filter((l) => /error/.test(l))
        .join(' ')}`,
    );
    t.equal(rerun.json().incomplete, false);
    t.same(await closeState(aws, caseId), want, `same end state after a kill at ${k} (${killedAt})`);
    const takeovers = (await closeEvents(caseId)).slice(before).filter((e) => e.action === 'case.lease.takeover');
    t.ok(
      takeovers.length <= 1 && takeovers.every((e) => e.outcome.details?.['reason'] === 'holder-gone'),
      `at most one lease take-over, of the killed close (kill at ${k})`,
    );
    const keys = await closeKeys(caseId, before);
    t.equal(new Set(keys).size, keys.length, `no duplicate event (kill at ${k}, ${killedAt})`);
    t.same(keyShapes(keys), wantShapes, `the same events as an uninterrupted close (kill at ${k}, ${killedAt})`);
    t.equal((await closeEvents(caseId)).at(-1)!.action, 'case.close');
    const verify = await runCli(env, ['custody', 'verify', '--case', caseId]);
    t.equal(verify.code, 0, verify.stdout);
  }
}
