/**
 * The evidence item: one source EBS volume taken into a case. Its state lives in two places
 * (design principle 2): the AWS resources tagged `cleanroom:evidence=<evidence id>` and the custody
 * record. This module is the one way to read the record's view of it.
 *
 * Convention for writers (acquisition, evidence attach/detach, close): an event that changes an
 * evidence item carries the changed fields under `outcome.details.evidence`, either one partial
 * {@link EvidenceItem} or an array of them, each with its `evidenceId`. {@link foldEvidence} folds
 * the record in order, later fields overriding earlier ones; `null`/absent fields never erase.
 */
import type { RecordedEvent } from './recorder.js';

/** Where an evidence item is in its life. */
export type EvidenceState =
  /** Source snapshot requested or pending in the source account. */
  | 'snapshotting'
  /** Source snapshot completed. */
  | 'snapshotted'
  /** Re-encrypted sharing copy being made / shared with the forensic account. */
  | 'sharing'
  /** Copy into the forensic account in progress. */
  | 'copying'
  /** Forensic snapshot completed under the case key: the evidence of record. */
  | 'preserved'
  /** Working volume created from the forensic snapshot, not attached. */
  | 'volume-created'
  /** Working volume attached to the forensic instance (read-only enforced in the guest). */
  | 'attached'
  /** Working volume detached again. */
  | 'detached'
  /** Working volume deleted (close); the forensic snapshot remains. */
  | 'volume-deleted'
  /** A step failed; the record says which. */
  | 'failed'
  /** A memory image captured into the vault (kind `memory`). */
  | 'captured';

/** The contract's evidence fields (`acquire --json`, `evidence list --json`), plus provenance. */
export interface EvidenceItem {
  evidenceId: string;
  sourceAccount: string;
  sourceRegion: string;
  sourceInstanceId?: string;
  /** The source volume (disk items; a memory image has none). */
  sourceVolumeId?: string;
  /** Device name of the volume on the source instance (e.g. /dev/xvda). */
  sourceDevice?: string;
  sourceSnapshotId?: string;
  /** The snapshot in the forensic account, under the case key: the evidence of record. */
  forensicSnapshotId?: string;
  /** The case key that encrypts the forensic snapshot and the working volume. */
  kmsKeyArn?: string;
  /** The working volume made from the forensic snapshot. */
  volumeId?: string;
  /** The forensic instance it is attached to. */
  instanceId?: string;
  /** Device name requested at attach time (on Nitro the guest sees an NVMe disk found by volume id). */
  device?: string;
  sizeGiB?: number;
  /** The re-encrypted copy shared from the source account (cross-account only; retired once copied). */
  sharingSnapshotId?: string;
  /** The source-account key that encrypts the sharing copy. */
  sharingKeyArn?: string;
  /** Availability Zone of the working volume (the room's). */
  availabilityZone?: string;
  /** What the forensic instance said about the working volume (`cleanroom-evidence-status` over SSM). */
  readOnly?: 'confirmed' | 'writable' | 'not-confirmed';
  readOnlyDetail?: string;
  /** How the guest sees the working volume (on Nitro an NVMe disk found by its volume id). */
  guestDevice?: string;
  /**
   * The working volume's SHA-256, read inside the room (`cleanroom-evidence-hash` over SSM), against
   * the acquisition hash: `verified` equal, `MISMATCH` different, `not-confirmed` not compared (why
   * in the detail). Answered at `inRoomHashAt` (ISO), for the latest attach cycle.
   */
  inRoomHash?: 'verified' | 'MISMATCH' | 'not-confirmed';
  inRoomHashDetail?: string;
  inRoomHashAt?: string;
  /**
   * The acquisition content hash of the forensic snapshot (the evidence of record), through the EBS
   * direct APIs: hex SHA-256 of the whole raw disk (every byte of `sizeBytes`, unlisted blocks as
   * zeros) — what `sha256sum` of the attached device gives.
   */
  sha256?: string;
  /** Hex root of the block Merkle tree (docs/custody.md, "Evidence content hashes"). */
  merkleRoot?: string;
  /** The disk's size in bytes (the volume size in GiB × 2^30). */
  sizeBytes?: number;
  /** The EBS block size the hash read (524288 on AWS). */
  blockSize?: number;
  /** Blocks the snapshot lists (written blocks), each read and checked against AWS's checksum. */
  blocksRead?: number;
  /** When the acquisition hash completed (ISO 8601). */
  hashedAt?: string;
  /** The tool and version that hashed (ISO/IEC 27037: the acquisition record names its tools). */
  hashTool?: EvidenceHashTool;
  /** The source snapshot hashed in the source account, compared with the forensic snapshot's hash. */
  sourceHash?: SourceHash;
  /** The last `evidence export` of the item's raw image (every export is an `evidence.export` event). */
  lastExport?: ImageExport;
  /** `memory` for a memory image; a disk item written before memory capture has no kind (read it as `disk`). */
  kind?: 'disk' | 'memory';
  /** A memory image (kind `memory`): the vault object, both hashes, the tool and what the instance reported. */
  memory?: MemoryImage;
  state: EvidenceState;
}

/**
 * A memory image captured from a running instance (`memory capture`): where it is in the vault and
 * what proves it. `sha256` is the tool's read-back of the stored object (authoritative, and the
 * item's `sha256`); `guestSha256` what the instance reported, recorded but never trusted alone.
 */
export interface MemoryImage {
  key: string;
  versionId: string;
  sizeBytes: number;
  sha256: string;
  guestSha256: string;
  match: boolean;
  tool: string;
  toolVersion: string;
  toolSha256: string;
  commandId?: string;
  kernelRelease?: string;
  memTotalKiB?: number;
  retainUntil?: string;
  capturedAt: string;
}

/** The tool that computed a content hash (src/evidence/content-hash.ts `HashTool`). */
export interface EvidenceHashTool {
  name: 'cleanroom';
  version: string;
  /** `ebs-direct`: read through the EBS direct APIs; `device`: read from the attached device in the room. */
  method: 'ebs-direct' | 'device';
}

/**
 * How the source snapshot's content compares with the forensic snapshot's: `equal` proves the
 * cross-account, re-encrypted copy bit-identical; `different` is a verification problem (exit 3);
 * `unavailable` when the source account could not be read through EBS direct (`reason` says why);
 * `skipped` when not asked (`--no-source-hash`).
 */
export interface SourceHash {
  status: 'equal' | 'different' | 'unavailable' | 'skipped';
  snapshotId?: string;
  sha256?: string;
  merkleRoot?: string;
  hashedAt?: string;
  reason?: string;
}

/** The content-hash fields of an item, in the JSON order (after the contract fields). */
export const EVIDENCE_HASH_FIELDS = [
  'sha256',
  'merkleRoot',
  'sizeBytes',
  'blockSize',
  'blocksRead',
  'hashedAt',
  'hashTool',
  'sourceHash',
] as const;

/** An export of an item's raw image (`evidence export`): the last one is kept on the item as `lastExport`. */
export interface ImageExport {
  target: 'vault' | 'file';
  /** `s3://<vault>/cases/<case>/images/<eid>.raw`, or the file's absolute path. */
  location: string;
  /** SHA-256 (hex) of the image as cleanroom wrote it: equal to the item's acquisition `sha256`. */
  sha256: string;
  sizeBytes: number;
  /** Vault only: the multipart part size, the object version, its Object Lock retain-until date. */
  partSize?: number;
  versionId?: string;
  retainUntil?: string;
  exportedAt: string;
}

/** The contract's JSON field list for evidence items, in order. */
export const EVIDENCE_JSON_FIELDS = [
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
  ...EVIDENCE_HASH_FIELDS,
] as const;

/** An evidence id: `ev-` and lower-case letters, digits and hyphens (tag-safe, path-safe). */
export const EVIDENCE_ID_PATTERN = /^ev-[a-z0-9][a-z0-9-]{2,80}$/;

/** A partial item as written into an event. */
export type EvidencePatch = Partial<EvidenceItem> & { evidenceId: string };

/** Fold the evidence items of a record, in record order. */
export function foldEvidence(events: readonly Pick<RecordedEvent, 'outcome'>[]): Map<string, EvidencePatch> {
  const out = new Map<string, EvidencePatch>();
  for (const e of events) {
    const ev = e.outcome.details?.['evidence'];
    for (const item of Array.isArray(ev) ? ev : ev ? [ev] : []) {
      if (!item || typeof item !== 'object' || typeof (item as EvidencePatch).evidenceId !== 'string') continue;
      const id = (item as EvidencePatch).evidenceId;
      const defined = Object.fromEntries(
        Object.entries(item as object).filter(([, v]) => v !== undefined && v !== null),
      );
      out.set(id, { ...out.get(id), ...defined, evidenceId: id } as EvidencePatch);
    }
  }
  return out;
}

/** An item in the contract's JSON shape: every contract field present (null when not known yet). */
export function evidenceJson(item: EvidencePatch): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of EVIDENCE_JSON_FIELDS) out[f] = (item as Record<string, unknown>)[f] ?? null;
  for (const [k, v] of Object.entries(item)) if (!(k in out)) out[k] = v;
  return out;
}
