/**
 * What earlier runs of this acquisition already made, read once at the start with one batched
 * DescribeSnapshots per account (chunked at 200 ids): the source snapshots of the source volumes
 * (and how many snapshots of each volume are pending, for AWS's limit of 5), the sharing copies
 * and the forensic copies of the case. Each item then creates only what is missing; a retry
 * after a failure looks again (see `create-once.ts`).
 */
import type { AwsAccount } from '../../aws/ports.js';
import { TAG_CASE, TAG_EVIDENCE, TAG_ROLE, tagMap, ROLE } from '../../domain/tags.js';
import { describeSnapshots } from '../../resources/snapshots.js';
import type { SnapshotInfo } from '../../evidence/watch.js';

export interface Discovery {
  /** Source volume id → this case's source snapshot of it (not in error). */
  sourceSnapshots: Map<string, SnapshotInfo>;
  /** Source volume id → snapshots of it pending now (anyone's in the account). */
  pending: Map<string, number>;
  /** Evidence id → sharing copy in the source account (not in error). */
  sharingCopies: Map<string, SnapshotInfo>;
  /** Evidence id → forensic copy in the forensic account (not in error). */
  forensicCopies: Map<string, SnapshotInfo>;
}

/** Snapshots of the case with a role, keyed by evidence id (the newest when there are several). */
export async function caseSnapshotsByEvidence(
  account: AwsAccount,
  caseId: string,
  role: string,
): Promise<Map<string, SnapshotInfo>> {
  const out = new Map<string, SnapshotInfo>();
  const list = await describeSnapshots(account, [
    { Name: `tag:${TAG_CASE}`, Values: [caseId] },
    { Name: `tag:${TAG_ROLE}`, Values: [role] },
  ]);
  for (const s of list.sort(byStart)) {
    const eid = tagMap(s.Tags)[TAG_EVIDENCE];
    if (eid && s.State !== 'error') out.set(eid, s);
  }
  return out;
}

/** This case's source snapshots of these volumes, and the pending count per volume. */
export async function sourceSnapshotsOf(
  account: AwsAccount,
  caseId: string,
  volumeIds: readonly string[],
): Promise<Pick<Discovery, 'sourceSnapshots' | 'pending'>> {
  const sourceSnapshots = new Map<string, SnapshotInfo>();
  const pending = new Map<string, number>();
  for (let i = 0; i < volumeIds.length; i += 200) {
    const list = await describeSnapshots(account, [{ Name: 'volume-id', Values: volumeIds.slice(i, i + 200) }]);
    for (const s of list.sort(byStart)) {
      if (!s.VolumeId) continue;
      if (s.State === 'pending') pending.set(s.VolumeId, (pending.get(s.VolumeId) ?? 0) + 1);
      const t = tagMap(s.Tags);
      if (t[TAG_CASE] === caseId && t[TAG_ROLE] === ROLE.sourceSnapshot && s.State !== 'error')
        sourceSnapshots.set(s.VolumeId, s);
    }
  }
  return { sourceSnapshots, pending };
}

export async function discover(
  source: AwsAccount,
  forensic: AwsAccount,
  caseId: string,
  volumeIds: readonly string[],
  crossAccount: boolean,
): Promise<Discovery> {
  const [src, sharingCopies, forensicCopies] = await Promise.all([
    sourceSnapshotsOf(source, caseId, volumeIds),
    crossAccount
      ? caseSnapshotsByEvidence(source, caseId, ROLE.sharingCopy)
      : Promise.resolve(new Map<string, SnapshotInfo>()),
    caseSnapshotsByEvidence(forensic, caseId, ROLE.forensicCopy),
  ]);
  return { ...src, sharingCopies, forensicCopies };
}

/** Oldest first, so that the newest wins when a map is filled in order. */
function byStart(a: SnapshotInfo, b: SnapshotInfo): number {
  return (
    (a.StartTime ? new Date(a.StartTime).getTime() : 0) - (b.StartTime ? new Date(b.StartTime).getTime() : 0) ||
    String(a.SnapshotId).localeCompare(String(b.SnapshotId))
  );
}
