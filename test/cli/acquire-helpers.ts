/**
 * Shared by the acquisition CLI tests: run `cleanroom` as a child process (killable at the k-th API
 * call through the fault proxy), build a compromised instance in the source account, and read back
 * what a user would look at — AWS resources by tag in both accounts and the case's custody record.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { DescribeSnapshotsCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { KMSClient, ListKeysCommand, ListResourceTagsCommand, DescribeKeyCommand } from '@aws-sdk/client-kms';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { openAccount } from '../../src/aws/account.js';
import { openCaseCustody } from '../../src/custody/case-custody.js';
import { ROOT } from '../../local-aws/local-aws.js';
import { SOURCE_ROLE, ec2In } from '../workflows/acquire/fixtures.js';

export const BIN = path.join(ROOT, 'dist/cli/bin.js');

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  json(): any;
}

/** Run the CLI; `onChild` gets the process (to kill it from a proxy hook). */
export function runCli(env: NodeJS.ProcessEnv, args: string[], onChild?: (c: ChildProcess) => void): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    onChild?.(child);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, json: () => JSON.parse(stdout) }));
  });
}

/** What a case left in AWS, by tag: snapshots by role in both accounts, working volumes, sharing keys. */
export async function caseResources(endpoint: string, caseId: string) {
  const forensic = ec2In(endpoint);
  const source = ec2In(endpoint, { roleArn: SOURCE_ROLE });
  const byRole = async (ec2: typeof forensic) => {
    const snaps =
      (
        await ec2.send(
          new DescribeSnapshotsCommand({
            OwnerIds: ['self'],
            Filters: [{ Name: 'tag:cleanroom:case', Values: [caseId] }],
          }),
        )
      ).Snapshots ?? [];
    const out: Record<string, number> = {};
    for (const s of snaps) {
      const role = s.Tags?.find((t) => t.Key === 'cleanroom:role')?.Value ?? 'none';
      out[role] = (out[role] ?? 0) + 1;
    }
    return out;
  };
  const volumes =
    (await forensic.send(new DescribeVolumesCommand({ Filters: [{ Name: 'tag:cleanroom:case', Values: [caseId] }] })))
      .Volumes ?? [];
  const kms = new KMSClient({
    endpoint,
    credentials: fromTemporaryCredentials({ params: { RoleArn: SOURCE_ROLE, RoleSessionName: 'check' } }),
  });
  const shareKeys: string[] = [];
  for (const k of (await kms.send(new ListKeysCommand({}))).Keys ?? []) {
    const tags = (await kms.send(new ListResourceTagsCommand({ KeyId: k.KeyId! }))).Tags ?? [];
    if (
      tags.some((x) => x.TagKey === 'cleanroom:case' && x.TagValue === caseId) &&
      tags.some((x) => x.TagKey === 'cleanroom:role' && x.TagValue === 'share-key')
    ) {
      shareKeys.push((await kms.send(new DescribeKeyCommand({ KeyId: k.KeyId! }))).KeyMetadata!.KeyState!);
    }
  }
  return {
    source: await byRole(source),
    forensic: await byRole(forensic),
    workingVolumes: volumes
      .map((v) => `${v.State}${v.Attachments?.length ? ` ${v.Attachments[0]!.InstanceId}` : ''}`)
      .sort(),
    shareKeys: shareKeys.sort(),
  };
}

/** The custody record of a case as stored in the vault (in-process, against moto directly). */
export async function custodyEvents(caseId: string) {
  const account = await openAccount({ region: 'us-east-1' });
  const c = await openCaseCustody(account, { caseId });
  return c.events();
}

/** Idempotency keys with the ids taken out, so that two cases (or two runs) compare by shape. */
export function keyShapes(keys: ReadonlyArray<string | undefined>): string[] {
  return keys
    .map((k) =>
      (k ?? '(none)')
        .replace(/\b(snap|vol|ev|i)-[0-9a-f]+/g, '$1-*')
        .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, 'KEY')
        .replace(/:[0-9a-f]{16}$/, ':DIGEST'),
    )
    .sort();
}
