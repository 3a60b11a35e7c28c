/**
 * What a case has, read from its two sources of truth (design principle 2): the custody record
 * (evidence items folded from `outcome.details.evidence`) and the AWS resources tagged with the
 * case. Read-only: the close plan and its confirmation are built from this.
 */
import type { AwsAccount } from '../../aws/ports.js';
import type { RecordedEvent } from '../../domain/recorder.js';
import { TAG_CASE, TAG_EVIDENCE, TAG_ROLE, tagMap, ROLE } from '../../domain/tags.js';
import { readRoomStack, type RoomStack as FullRoomStack } from '../../resources/stacks.js';
import { describeSnapshots } from '../../resources/snapshots.js';
import { describeVolumes } from '../../resources/volumes.js';
import { findCaseKey, type CaseKey } from '../../resources/case-key.js';
import { foldEvidence, type EvidencePatch } from '../../domain/evidence.js';

/** An evidence item as the custody record folds it (see `domain/evidence.ts`). */
export type EvidenceFold = EvidencePatch;

export interface WorkingVolume {
  volumeId: string;
  evidenceId: string;
  state: string;
  /** The snapshot the volume was created from (the evidence snapshot to compare with). */
  snapshotId?: string;
  attachments: Array<{ instanceId: string; device?: string; state?: string }>;
  tags: Record<string, string>;
}

export interface CaseSnapshot {
  snapshotId: string;
  evidenceId: string;
  role?: string;
  state: string;
  volumeId?: string;
  tags: Record<string, string>;
}

/** The room stack as close needs it (see `resources/stacks.ts`). */
export type RoomStack = Pick<FullRoomStack, 'stackName' | 'stackId' | 'status'>;

export interface CaseState {
  evidence: Map<string, EvidenceFold>;
  /** Working volumes that still exist. */
  volumes: WorkingVolume[];
  /** Working volumes the record names that no longer exist. */
  goneVolumes: Array<{ volumeId: string; evidenceId: string }>;
  /** Evidence snapshots in the forensic account (to retain and lock). */
  evidenceSnapshots: CaseSnapshot[];
  /** Snapshots close made for the written-to check. */
  checkSnapshots: CaseSnapshot[];
  /**
   * Other snapshots of the case in the forensic account that are not the preserved evidence: the
   * source snapshots of a same-account acquisition (kept, never touched by close).
   */
  otherSnapshots: CaseSnapshot[];
  stack?: RoomStack;
  caseKey?: CaseKey;
}

/** Read everything close needs to plan. */
export async function discoverCase(
  account: AwsAccount,
  caseId: string,
  events: readonly RecordedEvent[],
): Promise<CaseState> {
  const evidence = foldEvidence(events);
  const caseFilters = [
    { Name: `tag:${TAG_CASE}`, Values: [caseId] },
    { Name: 'tag-key', Values: [TAG_EVIDENCE] },
  ];
  const { volumes, goneVolumes } = await caseVolumes(account, caseFilters, evidence);
  const all = await caseSnapshots(account, caseFilters, evidence);
  return {
    evidence,
    volumes,
    goneVolumes,
    evidenceSnapshots: all.filter((s) => isEvidenceSnapshot(s, evidence)),
    checkSnapshots: all.filter((s) => s.role === ROLE.writtenCheck),
    otherSnapshots: all.filter((s) => s.role !== ROLE.writtenCheck && !isEvidenceSnapshot(s, evidence)),
    ...(await describeRoomStack(account, caseId).then((s) => (s ? { stack: s } : {}))),
    ...(await findCaseKey(account, caseId).then((k) => (k ? { caseKey: k } : {}))),
  };
}

type Filters = Array<{ Name: string; Values: string[] }>;
type AwsTags = Array<{ Key?: string; Value?: string }>;

/** The case's working volumes (by tag, and the ones the record names), and the recorded ones that are gone. */
async function caseVolumes(
  account: AwsAccount,
  caseFilters: Filters,
  evidence: ReadonlyMap<string, EvidenceFold>,
): Promise<Pick<CaseState, 'volumes' | 'goneVolumes'>> {
  const volumes = new Map<string, WorkingVolume>();
  const addVolume = (
    v: {
      VolumeId?: string;
      State?: string;
      SnapshotId?: string;
      Attachments?: Array<{ InstanceId?: string; Device?: string; State?: string }>;
      Tags?: AwsTags;
    },
    evidenceId?: string,
  ) => {
    if (!v.VolumeId || v.State === 'deleted' || v.State === 'deleting') return;
    const tags = tagMap(v.Tags);
    volumes.set(v.VolumeId, {
      volumeId: v.VolumeId,
      evidenceId: tags[TAG_EVIDENCE] ?? evidenceId ?? 'unknown',
      state: v.State ?? 'unknown',
      ...(v.SnapshotId ? { snapshotId: v.SnapshotId } : {}),
      attachments: (v.Attachments ?? [])
        .filter((a) => a.InstanceId && a.State !== 'detached')
        .map((a) => ({
          instanceId: a.InstanceId!,
          ...(a.Device ? { device: a.Device } : {}),
          ...(a.State ? { state: a.State } : {}),
        })),
      tags,
    });
  };
  for (const v of await describeVolumes(account, caseFilters)) addVolume(v);
  const goneVolumes: CaseState['goneVolumes'] = [];
  const recordedVolumes = [...evidence.values()].filter((e) => e.volumeId && !volumes.has(e.volumeId));
  if (recordedVolumes.length) {
    const found = await describeVolumes(account, [
      { Name: 'volume-id', Values: recordedVolumes.map((e) => e.volumeId!) },
    ]);
    for (const v of found) addVolume(v, recordedVolumes.find((e) => e.volumeId === v.VolumeId)?.evidenceId);
    for (const e of recordedVolumes)
      if (!volumes.has(e.volumeId!)) goneVolumes.push({ volumeId: e.volumeId!, evidenceId: e.evidenceId });
  }
  return {
    volumes: [...volumes.values()].sort(
      (a, b) => a.evidenceId.localeCompare(b.evidenceId) || a.volumeId.localeCompare(b.volumeId),
    ),
    goneVolumes,
  };
}

/** The case's snapshots (by tag, and the forensic snapshots the record names), sorted by id. */
async function caseSnapshots(
  account: AwsAccount,
  caseFilters: Filters,
  evidence: ReadonlyMap<string, EvidenceFold>,
): Promise<CaseSnapshot[]> {
  const snapshots = new Map<string, CaseSnapshot>();
  const addSnapshot = (
    s: { SnapshotId?: string; State?: string; VolumeId?: string; Tags?: AwsTags },
    evidenceId?: string,
  ) => {
    if (!s.SnapshotId) return;
    const tags = tagMap(s.Tags);
    snapshots.set(s.SnapshotId, {
      snapshotId: s.SnapshotId,
      evidenceId: tags[TAG_EVIDENCE] ?? evidenceId ?? 'unknown',
      ...(tags[TAG_ROLE] ? { role: tags[TAG_ROLE] } : {}),
      state: s.State ?? 'unknown',
      ...(s.VolumeId ? { volumeId: s.VolumeId } : {}),
      tags,
    });
  };
  for (const s of await describeSnapshots(account, caseFilters)) addSnapshot(s);
  const recordedSnaps = [...evidence.values()].filter(
    (e) => e.forensicSnapshotId && !snapshots.has(e.forensicSnapshotId),
  );
  if (recordedSnaps.length) {
    const found = await describeSnapshots(account, [
      { Name: 'snapshot-id', Values: recordedSnaps.map((e) => e.forensicSnapshotId!) },
    ]);
    for (const s of found) addSnapshot(s, recordedSnaps.find((e) => e.forensicSnapshotId === s.SnapshotId)?.evidenceId);
  }
  return [...snapshots.values()].sort((a, b) => a.snapshotId.localeCompare(b.snapshotId));
}

/**
 * The preserved evidence: the forensic copy acquisition made under the case key (role
 * `forensic-copy`), or a snapshot the record names as an item's forensic snapshot. A source
 * snapshot or sharing copy of a same-account acquisition is not.
 */
function isEvidenceSnapshot(s: CaseSnapshot, evidence: ReadonlyMap<string, EvidenceFold>): boolean {
  if (s.role === ROLE.forensicCopy) return true;
  if ([...evidence.values()].some((e) => e.forensicSnapshotId === s.snapshotId)) return true;
  return s.role === undefined;
}

/** The room stack of the case, or undefined when there is none (the room module's one reader). */
export async function describeRoomStack(account: AwsAccount, caseId: string): Promise<RoomStack | undefined> {
  const s = await readRoomStack(account, caseId);
  return s ? { stackName: s.stackName, stackId: s.stackId, status: s.status } : undefined;
}
