/**
 * `evidence list`: the case's evidence items as the custody record folds them — disks, and memory
 * images (`memory capture`) — each disk checked against AWS (is the working volume there, attached
 * where the record says?). Read-only.
 */
import type { AwsAccount } from '../../aws/ports.js';
import type { CustodyRecorder } from '../../domain/recorder.js';
import { assertCaseId } from '../../domain/case-id.js';
import { foldEvidence, type EvidencePatch } from '../../domain/evidence.js';
import { describeVolumes } from '../../resources/volumes.js';

export interface ListedEvidence extends EvidencePatch {
  /** `disk` (an EBS volume; items recorded before memory capture carry no kind) or `memory` (an image in the vault). */
  kind: 'disk' | 'memory';
  /** The working volume as AWS has it now (absent when the item has none). */
  live?: { volumeState: string; attachedTo: string[] };
  /** Where AWS and the record disagree, in words. */
  drift?: string;
}

export interface EvidenceList {
  case: string;
  evidence: ListedEvidence[];
}

export async function listEvidence(
  deps: { forensic: AwsAccount; custody: CustodyRecorder },
  o: { caseId: string },
): Promise<EvidenceList> {
  const caseId = assertCaseId(o.caseId);
  const items = [...foldEvidence(deps.custody.events()).values()].sort((a, b) =>
    a.evidenceId.localeCompare(b.evidenceId),
  );
  const vids = items.flatMap((i) => (i.volumeId ? [i.volumeId] : []));
  const live = new Map<string, { volumeState: string; attachedTo: string[] }>();
  for (let i = 0; i < vids.length; i += 200) {
    for (const v of await describeVolumes(deps.forensic, [{ Name: 'volume-id', Values: vids.slice(i, i + 200) }])) {
      if (v.VolumeId)
        live.set(v.VolumeId, {
          volumeState: v.State ?? 'unknown',
          attachedTo: (v.Attachments ?? [])
            .filter((a) => a.State !== 'detached' && a.InstanceId)
            .map((a) => a.InstanceId!),
        });
    }
  }
  return {
    case: caseId,
    evidence: items.map((it) => {
      const item = { ...it, kind: it.kind ?? 'disk' } as const;
      if (!item.volumeId) return item;
      const l = live.get(item.volumeId);
      const drift = !l
        ? item.state === 'volume-deleted'
          ? undefined
          : `working volume ${item.volumeId} no longer exists`
        : item.state === 'attached' && !l.attachedTo.includes(item.instanceId ?? '')
          ? `the record says attached to ${item.instanceId}, AWS says ${l.attachedTo.length ? `attached to ${l.attachedTo.join(', ')}` : l.volumeState}`
          : item.state !== 'attached' && l.attachedTo.length
            ? `the record says ${item.state}, AWS says attached to ${l.attachedTo.join(', ')}`
            : undefined;
      return { ...item, ...(l ? { live: l } : {}), ...(drift ? { drift } : {}) };
    }),
  };
}
