/**
 * One evidence item through the pipeline, each step as soon as the step before it is done (so
 * each copy starts the moment its own source snapshot completes, whatever the other items do):
 *
 *   source snapshot (CreateSnapshots for an instance, CreateSnapshot for a volume)
 *   → [cross-account] sharing copy under the sharing key → shared with the forensic account
 *   → forensic copy under the case key (the evidence of record: "preserved")
 *   → content hash of the forensic snapshot (EBS direct), compared with the source snapshot's,
 *     hashed in the source account while the copies are made ("evidence.hash")
 *   → working volume in the room's AZ → attached to the forensic instance.
 *
 * Every step first looks for its own earlier result (tags), creates only what is missing, and is a
 * custody event under an idempotency key naming the resource, so a rerun after a crash converges
 * without a duplicate snapshot, copy, volume or event.
 */
import type { AwsAccount } from '../../aws/ports.js';
import { isAwsCode } from '../../aws/errors.js';
import type { ResourceRef } from '../../domain/recorder.js';
import { caseTags } from '../../domain/case-id.js';
import {
  TAG_CASE,
  TAG_EVIDENCE,
  TAG_ROLE,
  tagMap,
  TAG_SOURCE_ACCOUNT,
  TAG_SOURCE_INSTANCE,
  TAG_SOURCE_VOLUME,
  ROLE,
} from '../../domain/tags.js';
import { asError } from '../../domain/errors.js';
import type { EvidenceState } from '../../domain/evidence.js';
import { waitFor } from '../../domain/waiter.js';
import { isInterrupted } from '../../domain/abort.js';
import { isWaitHandedOff } from '../../domain/hand-off.js';
import { describeSnapshots } from '../../resources/snapshots.js';
import { mapPool } from '../../domain/pool.js';
import type { CaseKey } from '../../resources/case-key.js';
import { findOrCreate, retrying } from '../../evidence/create-once.js';
import type { RoomTarget } from '../../evidence/room.js';
import type { EvidenceRun } from '../../evidence/run.js';
import { attachWorkingVolume, ensureWorkingVolume, type Attached } from '../../evidence/volume.js';
import type { SnapshotInfo } from '../../evidence/watch.js';
import { caseSnapshotsByEvidence, sourceSnapshotsOf, type Discovery } from './discover.js';
import type { SourceVolume } from './resolve.js';
import type { SharingKey } from './share-key.js';
import { eventsOfFamily, idempotencyKeys } from '../../domain/idempotency-keys.js';
import { foldEvidence } from '../../domain/evidence.js';
import {
  hashFields,
  hashSource,
  hashWithinBudget,
  sourceHashOutcome,
  type SnapshotHasher,
  type SourceHashResult,
} from '../../evidence/hash-step.js';

export interface PipelineContext {
  run: EvidenceRun;
  source: AwsAccount;
  sourceAccount: string;
  forensicAccount: string;
  crossAccount: boolean;
  caseKey: CaseKey;
  /** Where working volumes go (the room's AZ and instance); none: stop at `preserved`. */
  target?: RoomTarget;
  attach: boolean;
  /** The sharing key (made or checked once per run, on first use). */
  shareKey: () => Promise<SharingKey>;
  discovery: Discovery;
  /** All source volumes of the run (instance mode snapshots them per instance). */
  sources: readonly SourceVolume[];
  /** One CreateSnapshots per instance, shared by the items of that instance. */
  instanceSnapshots: Map<string, Promise<Map<string, SnapshotInfo>>>;
  /** Hash the source snapshot too, in the source account (default on). */
  sourceHash: boolean;
  /**
   * Leave the acquisition hash to `hashEvidenceStep` (acquisitionHash 'deferred'): each item stops
   * at `preserved`, with no hash and no working volume.
   */
  deferHash?: boolean;
  /** Hashes a snapshot (the library's hashSnapshot unless a test passes a fake). */
  hasher?: SnapshotHasher;
  /** The workflow's signal (a hash stops at once). */
  signal?: AbortSignal;
}

export interface ItemOutcome {
  evidenceId: string;
  attached?: Attached;
}

/** Idempotency keys of the acquisition steps (each names the resource it is about). */
export const acquireKeys = idempotencyKeys.acquire;

/**
 * Custody appends of one item that it does not wait for on the spot. Appends are serialised (one
 * hash chain); with many items in flight, waiting for each append before the next AWS call would
 * put the whole queue on every item's path. Deferring is safe because every step first finds its
 * own earlier result by tag and records it if the record lacks it — except that a forensic copy
 * makes the earlier steps skippable on a rerun, so the item waits for all its appends before it
 * asks for the forensic copy (`flush`), and again before it reports done.
 */
export class Deferred {
  private readonly list: Promise<unknown>[] = [];
  add(p: Promise<unknown>): void {
    p.catch(() => undefined); // surfaced by flush(), not as an unhandled rejection
    this.list.push(p);
  }
  async flush(): Promise<void> {
    await Promise.all(this.list.splice(0));
  }
  async settle(): Promise<void> {
    await Promise.allSettled(this.list.splice(0));
  }
}

/** Run one item; on failure record how far it got (and why) and rethrow. */
export async function acquireOne(c: PipelineContext, sv: SourceVolume): Promise<ItemOutcome> {
  const eid = sv.evidenceId;
  let reached: EvidenceState | undefined;
  let step = 'source-snapshot';
  let sharingId = c.discovery.sharingCopies.get(eid)?.SnapshotId;
  const d = new Deferred();
  // The source snapshot's hash, made in the source account while the copies are made.
  let sourceHash: Promise<SourceHashResult> | undefined;
  let sourceSnapshotId: string | undefined;
  // Stops the source hash when the item fails before it is awaited.
  const itemStop = new AbortController();
  try {
    let fc = c.discovery.forensicCopies.get(eid);
    if (!fc) {
      const src = await sourceSnapshot(c, sv, d);
      sourceSnapshotId = src;
      reached = 'snapshotting';
      await c.run.watcher.snapshotCompleted(c.source, src, {
        item: eid,
        phase: 'source snapshot',
        budgetMs: c.run.waitBudget(sv.sizeGiB),
      });
      // Recorded with the next step (a copy can only be made of a completed snapshot): one custody
      // append less per item on the path every item waits on.
      reached = 'snapshotted';
      sourceHash = startSourceHash(c, sv, src, itemStop.signal);
      let from = src;
      if (c.crossAccount) {
        step = 'share';
        from = await sharingCopy(c, sv, src, d);
        sharingId = from;
        reached = 'sharing';
      }
      step = 'forensic-copy';
      fc = await forensicCopy(c, sv, from, src, d);
    } else {
      step = 'forensic-copy';
      d.add(recordForensicCopy(c, sv, fc.SnapshotId!, false));
      if (fc.State !== 'completed')
        await c.run.limits.of(c.forensicAccount, c.run.forensic.region).copies(() => waitCopy(c, sv, fc!.SnapshotId!));
    }
    reached = 'copying';
    const fcid = fc.SnapshotId!;
    d.add(
      c.run.recordEvidence(
        acquireKeys.preserved(eid, fcid),
        'evidence.preserved',
        [snapRef(c, c.forensicAccount, c.run.forensic.region, fcid)],
        { evidenceId: eid, forensicSnapshotId: fcid, kmsKeyArn: c.caseKey.arn, state: 'preserved' },
      ),
    );
    reached = 'preserved';
    // The sharing copy is no longer read from once the forensic copy is complete (the hashes read
    // the source and forensic snapshots): retired now, not at the end (shorter exposure; the
    // end-of-run pass only handles what is left).
    if (sharingId && !c.run.done(acquireKeys.retireSharingCopy(eid, sharingId)))
      d.add(retireSharingCopy(c, eid, sharingId, { ...fc, State: 'completed' }));
    if (c.deferHash) {
      // The hash comes later, a time budget at a time (hashEvidenceStep).
      itemStop.abort(new Error('acquisition hash deferred'));
      step = 'record';
      await d.flush();
      return { evidenceId: eid };
    }
    sourceSnapshotId ??= knownSourceSnapshot(c, sv);
    sourceHash ??= sourceSnapshotId ? startSourceHash(c, sv, sourceSnapshotId, itemStop.signal) : undefined;
    // The working volume is made from the forensic snapshot while that snapshot is hashed: both only
    // read the completed snapshot, so neither waits for the other (with many disks the hashes end
    // last, and each volume used to be made only after its hash). A failed volume stops the hash; the
    // item's failure names the first of the two to fail. The volume is attached only once the hash
    // is computed (the in-room hash is compared with it).
    let first: { step: string; error: unknown } | undefined;
    const failed = (what: string) => (e: unknown) => {
      if (!first) {
        first = { step: what, error: e };
        itemStop.abort(e);
      }
      throw e;
    };
    step = 'hash';
    const hashed = hashItem(c, sv, fcid, sourceSnapshotId, sourceHash, d, itemStop.signal).catch(failed('hash'));
    const target = c.target;
    const made = target
      ? ensureWorkingVolume(c.run, { evidenceId: eid, forensicSnapshotId: fcid }, target, c.caseKey.arn, (p) =>
          d.add(p),
        ).then((vol) => {
          reached = 'volume-created';
          return vol;
        }, failed('working-volume'))
      : undefined;
    await Promise.allSettled([hashed, made]);
    const failure = first as { step: string; error: unknown } | undefined;
    if (failure) {
      step = failure.step;
      throw failure.error;
    }
    sourceHash = undefined;
    let out: ItemOutcome = { evidenceId: eid };
    if (target && made && c.attach) {
      step = 'attach';
      out = { evidenceId: eid, attached: await attachWorkingVolume(c.run, eid, await made, target, (p) => d.add(p)) };
    }
    step = 'record';
    await d.flush();
    return out;
  } catch (e) {
    itemStop.abort(e);
    await d.settle();
    await sourceHash?.catch(() => undefined);
    await c.run.recordFailure(eid, step, reached, e, [
      c.run.ref('ec2:volume', sv.volumeId, c.sourceAccount, c.source.region),
    ]);
    throw e;
  }
}

/** A `find` for findOrCreate: the start-of-run discovery answers the first attempt, a retry looks again. */
function discoveredThen<T>(known: T | undefined, again: () => Promise<T | undefined>): () => Promise<T | undefined> {
  let first = true;
  return async () => {
    if (!first) return again();
    first = false;
    return known;
  };
}

/** CopySnapshot into `account` under `keyArn`, exactly once (no client token: found by its tags on a retry). */
function copyOnce(
  c: PipelineContext,
  o: {
    account: AwsAccount;
    accountId: string;
    eid: string;
    what: string;
    from: string;
    keyArn: string;
    description: string;
    tags: Array<{ Key: string; Value: string }>;
    find: () => Promise<SnapshotInfo | undefined>;
  },
) {
  return findOrCreate<SnapshotInfo>({
    description: `${o.what} of ${o.from} (${o.eid})`,
    find: o.find,
    create: async () => {
      await c.run.limits.of(o.accountId, o.account.region).copyAttach.take();
      return (await (o.account.single ?? o.account).ec2.copySnapshot({
        SourceSnapshotId: o.from,
        SourceRegion: c.source.region,
        Encrypted: true,
        KmsKeyId: o.keyArn,
        Description: o.description,
        TagSpecifications: [{ ResourceType: 'snapshot', Tags: o.tags }],
      })) as SnapshotInfo;
    },
    budgetMs: c.run.budgets.apiMs,
    clock: c.run.clock,
    details: { snapshotId: o.from, evidenceId: o.eid },
  });
}

function snapRef(c: PipelineContext, account: string, region: string, id: string): ResourceRef {
  return c.run.ref('ec2:snapshot', id, account, region);
}

const sourceTags = (c: PipelineContext, sv: SourceVolume, role: string, extra: Record<string, string> = {}) =>
  caseTags(c.run.caseId, {
    [TAG_EVIDENCE]: sv.evidenceId,
    [TAG_ROLE]: role,
    [TAG_SOURCE_ACCOUNT]: c.sourceAccount,
    [TAG_SOURCE_VOLUME]: sv.volumeId,
    ...(sv.instanceId ? { [TAG_SOURCE_INSTANCE]: sv.instanceId } : {}),
    ...extra,
  });

/** Step 1: the source snapshot (found, or made), recorded with its provenance. */
async function sourceSnapshot(c: PipelineContext, sv: SourceVolume, d: Deferred): Promise<string> {
  const eid = sv.evidenceId;
  const limits = c.run.limits.of(c.sourceAccount, c.source.region);
  let snap: SnapshotInfo;
  let method: string;
  if (sv.viaInstance) {
    snap = (await instanceSnapshots(c, sv.viaInstance)).get(sv.volumeId)!;
    method = 'CreateSnapshots';
  } else {
    c.run.progress(eid, 'snapshotting', sv.volumeId);
    const made = await findOrCreate<SnapshotInfo>({
      description: `source snapshot of ${sv.volumeId} (${eid})`,
      find: discoveredThen(c.discovery.sourceSnapshots.get(sv.volumeId), async () =>
        (await sourceSnapshotsOf(c.source, c.run.caseId, [sv.volumeId])).sourceSnapshots.get(sv.volumeId),
      ),
      create: async () => {
        await belowPendingLimit(c, [sv.volumeId], sv.sizeGiB);
        await limits.createSnapshot.take();
        return (await (c.source.single ?? c.source).ec2.createSnapshot({
          VolumeId: sv.volumeId,
          Description:
            `cleanroom ${c.run.caseId}: evidence ${eid} from ${sv.volumeId}${sv.instanceId ? ` (${sv.instanceId} ${sv.device ?? ''})` : ''}`.trim(),
          TagSpecifications: [{ ResourceType: 'snapshot', Tags: sourceTags(c, sv, ROLE.sourceSnapshot) }],
        })) as SnapshotInfo;
      },
      budgetMs: c.run.budgets.apiMs,
      clock: c.run.clock,
      details: { volumeId: sv.volumeId, evidenceId: eid },
    });
    snap = made.value;
    method = 'CreateSnapshot';
  }
  const id = snap.SnapshotId!;
  if (tagMap(snap.Tags)[TAG_EVIDENCE] !== eid) {
    // CreateSnapshots tags every snapshot of the instance alike; the evidence id comes after.
    await retrying(
      `tag ${id} with ${eid}`,
      () => c.source.ec2.createTags({ Resources: [id], Tags: sourceTags(c, sv, ROLE.sourceSnapshot) }),
      c.run.budgets.apiMs,
      c.run.clock,
    );
  }
  const others = sv.viaInstance
    ? c.sources.filter((s) => s.viaInstance === sv.viaInstance && s.volumeId !== sv.volumeId).map((s) => s.volumeId)
    : [];
  d.add(
    c.run.recordEvidence(
      acquireKeys.snapshot(eid, id),
      'evidence.snapshot',
      [
        c.run.ref('ec2:volume', sv.volumeId, c.sourceAccount, c.source.region),
        snapRef(c, c.sourceAccount, c.source.region, id),
        ...(sv.instanceId ? [c.run.ref('ec2:instance', sv.instanceId, c.sourceAccount, c.source.region)] : []),
      ],
      {
        evidenceId: eid,
        sourceAccount: c.sourceAccount,
        sourceRegion: c.source.region,
        ...(sv.instanceId ? { sourceInstanceId: sv.instanceId } : {}),
        sourceVolumeId: sv.volumeId,
        ...(sv.device ? { sourceDevice: sv.device } : {}),
        sizeGiB: sv.sizeGiB,
        sourceSnapshotId: id,
        state: 'snapshotting',
      },
      {
        method,
        ...(others.length ? { crashConsistentWith: others } : {}),
        sourceEncrypted: sv.encrypted,
        ...(sv.kmsKeyId ? { sourceKmsKeyId: sv.kmsKeyId } : {}),
      },
      { volumeId: sv.volumeId, ...(sv.viaInstance ? { instanceId: sv.viaInstance } : {}) },
    ),
  );
  return id;
}

/**
 * All volumes of an instance at once, crash-consistent (CreateSnapshots), once per run however many
 * items share the instance. Volumes an interrupted run already snapshotted are not snapshotted again;
 * a volume added to the instance since gets its own CreateSnapshot (said so in a warning).
 */
function instanceSnapshots(c: PipelineContext, instanceId: string): Promise<Map<string, SnapshotInfo>> {
  let p = c.instanceSnapshots.get(instanceId);
  if (!p) {
    p = snapshotInstance(c, instanceId);
    c.instanceSnapshots.set(instanceId, p);
  }
  return p;
}

async function snapshotInstance(c: PipelineContext, instanceId: string): Promise<Map<string, SnapshotInfo>> {
  const vols = c.sources.filter((s) => s.viaInstance === instanceId);
  const ids = vols.map((v) => v.volumeId);
  const have = new Map<string, SnapshotInfo>();
  for (const v of ids) {
    const s = c.discovery.sourceSnapshots.get(v);
    if (s) have.set(v, s);
  }
  if (have.size === 0) {
    c.run.step(`snapshotting the ${ids.length} volume(s) of ${instanceId} at once (crash-consistent)`);
    for (const [k, v] of await snapshotTogether(c, instanceId, vols)) have.set(k, v);
  }
  const missing = vols.filter((v) => !have.has(v.volumeId));
  if (missing.length) {
    c.run.warn(
      `${missing.map((v) => v.volumeId).join(', ')} of ${instanceId} ${missing.length === 1 ? 'has' : 'have'} no snapshot from the instance-wide CreateSnapshots (attached since, or an interrupted run snapshotted only some volumes): snapshotted on ${missing.length === 1 ? 'its' : 'their'} own, so not crash-consistent with the others.`,
    );
    for (const v of missing) have.set(v.volumeId, await snapshotAlone(c, v));
  }
  return have;
}

/** One crash-consistent CreateSnapshots of every volume of the instance (found again on a retry). */
async function snapshotTogether(
  c: PipelineContext,
  instanceId: string,
  vols: SourceVolume[],
): Promise<Map<string, SnapshotInfo>> {
  const ids = vols.map((v) => v.volumeId);
  const limits = c.run.limits.of(c.sourceAccount, c.source.region);
  const made = await findOrCreate<Map<string, SnapshotInfo>>({
    description: `snapshots of the volumes of ${instanceId}`,
    // The discovery at the start found none; a retry looks again.
    find: discoveredThen(undefined, async () => {
      const again = (await sourceSnapshotsOf(c.source, c.run.caseId, ids)).sourceSnapshots;
      return again.size ? again : undefined;
    }),
    create: async () => {
      await belowPendingLimit(c, ids, Math.max(...vols.map((v) => v.sizeGiB)));
      await limits.createSnapshot.take();
      const r = await (c.source.single ?? c.source).ec2.createSnapshots({
        InstanceSpecification: { InstanceId: instanceId, ExcludeBootVolume: false },
        Description: `cleanroom ${c.run.caseId}: crash-consistent evidence snapshot of ${instanceId}`,
        TagSpecifications: [
          {
            ResourceType: 'snapshot',
            Tags: caseTags(c.run.caseId, {
              [TAG_ROLE]: ROLE.sourceSnapshot,
              [TAG_SOURCE_ACCOUNT]: c.sourceAccount,
              [TAG_SOURCE_INSTANCE]: instanceId,
            }),
          },
        ],
      });
      const m = new Map<string, SnapshotInfo>();
      for (const s of r.Snapshots ?? [])
        if (s.VolumeId && s.SnapshotId)
          m.set(s.VolumeId, {
            SnapshotId: s.SnapshotId,
            VolumeId: s.VolumeId,
            State: s.State as SnapshotInfo['State'],
            Tags: s.Tags,
          });
      return m;
    },
    budgetMs: c.run.budgets.apiMs,
    clock: c.run.clock,
    details: { instanceId },
  });
  return made.value;
}

/** A volume the instance-wide snapshot missed, snapshotted on its own. */
async function snapshotAlone(c: PipelineContext, v: SourceVolume): Promise<SnapshotInfo> {
  const limits = c.run.limits.of(c.sourceAccount, c.source.region);
  const made = await findOrCreate<SnapshotInfo>({
    description: `source snapshot of ${v.volumeId} (${v.evidenceId})`,
    find: async () => (await sourceSnapshotsOf(c.source, c.run.caseId, [v.volumeId])).sourceSnapshots.get(v.volumeId),
    create: async () => {
      await belowPendingLimit(c, [v.volumeId], v.sizeGiB);
      await limits.createSnapshot.take();
      return (await (c.source.single ?? c.source).ec2.createSnapshot({
        VolumeId: v.volumeId,
        Description: `cleanroom ${c.run.caseId}: evidence ${v.evidenceId} from ${v.volumeId}`,
        TagSpecifications: [{ ResourceType: 'snapshot', Tags: sourceTags(c, v, ROLE.sourceSnapshot) }],
      })) as SnapshotInfo;
    },
    budgetMs: c.run.budgets.apiMs,
    clock: c.run.clock,
    details: { volumeId: v.volumeId },
  });
  return made.value;
}

/**
 * AWS allows 5 pending snapshots per volume: before asking for another, wait (within the item's
 * budget) until each volume has fewer. The start-of-run discovery answers the first time.
 */
async function belowPendingLimit(c: PipelineContext, volumeIds: string[], sizeGiB: number): Promise<void> {
  const limit = c.run.limits.config.pendingSnapshotsPerVolume;
  if (volumeIds.every((v) => (c.discovery.pending.get(v) ?? 0) < limit)) return;
  await waitFor(
    async () => {
      const { pending } = await sourceSnapshotsOf(c.source, c.run.caseId, volumeIds);
      for (const v of volumeIds) c.discovery.pending.set(v, pending.get(v) ?? 0);
      const full = volumeIds.filter((v) => (pending.get(v) ?? 0) >= limit);
      return full.length === 0
        ? { state: 'done', value: true }
        : {
            state: 'pending',
            detail: `${full.join(', ')} already ${full.length === 1 ? 'has' : 'have'} ${limit} pending snapshots (AWS allows ${limit} per volume)`,
          };
    },
    {
      description: `a free pending-snapshot slot on ${volumeIds.join(', ')}`,
      budgetMs: c.run.waitBudget(sizeGiB),
      clock: c.run.clock,
      intervalMs: 5000,
      maxIntervalMs: 30_000,
      details: { volumeIds },
    },
  );
}

/** Step 2 (cross-account): copy under the sharing key, wait, share with the forensic account. */
async function sharingCopy(
  c: PipelineContext,
  sv: SourceVolume,
  sourceSnapshotId: string,
  d: Deferred,
): Promise<string> {
  const eid = sv.evidenceId;
  const key = await c.shareKey();
  const limits = c.run.limits.of(c.sourceAccount, c.source.region);
  let id: string;
  const known = c.discovery.sharingCopies.get(eid);
  if (known?.State === 'completed') {
    id = known.SnapshotId!;
    d.add(recordSharingCopy(c, sv, id, key, false, sourceSnapshotId));
  } else {
    // A copy holds one of the source Region's 20 copy slots until it completes.
    id = await limits.copies(async () => {
      c.run.progress(eid, 're-encrypting', `copy of ${sourceSnapshotId} under ${key.arn}`);
      const made = await copyOnce(c, {
        account: c.source,
        accountId: c.sourceAccount,
        eid,
        what: 'sharing copy',
        from: sourceSnapshotId,
        keyArn: key.arn,
        description: `cleanroom ${c.run.caseId}: ${eid} re-encrypted to share with account ${c.forensicAccount} (temporary)`,
        tags: sourceTags(c, sv, ROLE.sharingCopy),
        find: discoveredThen(known, async () =>
          (await caseSnapshotsByEvidence(c.source, c.run.caseId, ROLE.sharingCopy)).get(eid),
        ),
      });
      const sid = made.value.SnapshotId!;
      d.add(recordSharingCopy(c, sv, sid, key, !made.created, sourceSnapshotId));
      await c.run.watcher.snapshotCompleted(c.source, sid, {
        item: eid,
        phase: 'sharing copy',
        budgetMs: c.run.waitBudget(sv.sizeGiB),
      });
      return sid;
    });
  }
  const shareKey = acquireKeys.share(eid, id);
  if (!c.run.done(shareKey)) {
    await retrying(
      `share ${id} with account ${c.forensicAccount}`,
      async () => {
        await limits.modifySnapshotAttribute.take();
        // OperationType + UserIds: the form both AWS and the local emulator apply (docs/local-aws.md).
        await c.source.ec2.modifySnapshotAttribute({
          SnapshotId: id,
          Attribute: 'createVolumePermission',
          OperationType: 'add',
          UserIds: [c.forensicAccount],
        });
      },
      c.run.budgets.apiMs,
      c.run.clock,
      { snapshotId: id },
    );
    d.add(
      c.run.record(shareKey, 'evidence.share', [snapRef(c, c.sourceAccount, c.source.region, id), ...keyRefs(c, key)], {
        status: 'succeeded',
        details: {
          evidenceId: eid,
          sharingSnapshotId: id,
          sharedWith: c.forensicAccount,
          keyArn: key.arn,
          keyPolicyNamesForensicAccount: true,
        },
      }),
    );
  }
  return id;
}

/**
 * The sharing key as a resource of an event — only a key cleanroom made: case close schedules the
 * deletion of the temporary keys the record names, and a responder's own key (--source-kms-key) is
 * not cleanroom's to delete (its ARN is still in the event's details).
 */
function keyRefs(c: PipelineContext, key: SharingKey): ResourceRef[] {
  return key.owner === 'cleanroom' ? [c.run.ref('kms:key', key.keyId, c.sourceAccount, c.source.region, key.arn)] : [];
}

function recordSharingCopy(
  c: PipelineContext,
  sv: SourceVolume,
  id: string,
  key: SharingKey,
  found: boolean,
  sourceSnapshotId: string,
) {
  return c.run.recordEvidence(
    acquireKeys.sharingCopy(sv.evidenceId, id),
    'evidence.share.copy',
    [snapRef(c, c.sourceAccount, c.source.region, id), ...keyRefs(c, key)],
    { evidenceId: sv.evidenceId, sharingSnapshotId: id, sharingKeyArn: key.arn, state: 'sharing' },
    { keyOwner: key.owner, foundExisting: found, sourceSnapshotId, sourceSnapshotCompleted: true },
  );
}

/** Step 3: copy into the forensic account under the case key; wait until it is complete. */
async function forensicCopy(
  c: PipelineContext,
  sv: SourceVolume,
  fromSnapshotId: string,
  sourceSnapshotId: string,
  d: Deferred,
): Promise<SnapshotInfo> {
  const eid = sv.evidenceId;
  const region = c.run.forensic.region;
  const limits = c.run.limits.of(c.forensicAccount, region);
  // Once the forensic copy exists, a rerun skips the steps before it: their events must be durable first.
  await d.flush();
  return limits.copies(async () => {
    c.run.progress(eid, 'copying', `${fromSnapshotId} into account ${c.forensicAccount} under the case key`);
    const made = await copyOnce(c, {
      account: c.run.forensic,
      accountId: c.forensicAccount,
      eid,
      what: 'forensic copy',
      from: fromSnapshotId,
      keyArn: c.caseKey.arn,
      description: `cleanroom ${c.run.caseId}: evidence ${eid} (${sv.volumeId}, account ${c.sourceAccount}, ${c.source.region})`,
      tags: sourceTags(c, sv, ROLE.forensicCopy),
      // The start-of-run discovery found none (else this step is skipped); a retry looks again.
      find: discoveredThen(undefined, async () =>
        (await caseSnapshotsByEvidence(c.run.forensic, c.run.caseId, ROLE.forensicCopy)).get(eid),
      ),
    });
    const id = made.value.SnapshotId!;
    d.add(
      recordForensicCopy(c, sv, id, !made.created, {
        copiedFrom: fromSnapshotId,
        sourceSnapshotId,
        sourceSnapshotCompleted: true,
      }),
    );
    return waitCopy(c, sv, id);
  });
}

function recordForensicCopy(
  c: PipelineContext,
  sv: SourceVolume,
  id: string,
  found: boolean,
  extra: Record<string, unknown> = {},
) {
  return c.run.recordEvidence(
    acquireKeys.forensicCopy(sv.evidenceId, id),
    'evidence.copy',
    [
      snapRef(c, c.forensicAccount, c.run.forensic.region, id),
      c.run.ref('kms:key', c.caseKey.keyId, c.forensicAccount, c.run.forensic.region, c.caseKey.arn),
    ],
    { evidenceId: sv.evidenceId, forensicSnapshotId: id, kmsKeyArn: c.caseKey.arn, state: 'copying' },
    { foundExisting: found, ...extra },
  );
}

function waitCopy(c: PipelineContext, sv: SourceVolume, id: string): Promise<SnapshotInfo> {
  return c.run.watcher.snapshotCompleted(c.run.forensic, id, {
    item: sv.evidenceId,
    phase: 'forensic copy',
    budgetMs: c.run.waitBudget(sv.sizeGiB),
  });
}

/**
 * Retire the temporary sharing copies of the case in the source account (also those an
 * interrupted run left): every one whose forensic copy is complete, failed or never started.
 * One that a forensic copy still reads from is kept (deleting it would break the copy); the caller
 * then keeps the sharing key too. Returns the copies kept.
 */
export async function retireSharingCopies(
  c: PipelineContext,
): Promise<Array<{ evidenceId: string; snapshotId: string; forensicSnapshotId: string }>> {
  const sharing = await describeSnapshots(c.source, [
    { Name: `tag:${TAG_CASE}`, Values: [c.run.caseId] },
    { Name: `tag:${TAG_ROLE}`, Values: [ROLE.sharingCopy] },
  ]);
  await recordRetiredElsewhere(c, new Set(sharing.map((s) => s.SnapshotId!)));
  if (sharing.length === 0) return [];
  const forensic = await caseSnapshotsByEvidence(c.run.forensic, c.run.caseId, ROLE.forensicCopy);
  const kept: Array<{ evidenceId: string; snapshotId: string; forensicSnapshotId: string }> = [];
  await mapPool(sharing, 8, async (s) => {
    const eid = tagMap(s.Tags)[TAG_EVIDENCE] ?? 'unknown';
    const fc = forensic.get(eid);
    if (fc && fc.State === 'pending') {
      kept.push({ evidenceId: eid, snapshotId: s.SnapshotId!, forensicSnapshotId: fc.SnapshotId! });
      return;
    }
    if (!(await retireSharingCopy(c, eid, s.SnapshotId!, fc)))
      kept.push({ evidenceId: eid, snapshotId: s.SnapshotId!, forensicSnapshotId: fc?.SnapshotId ?? '' });
  });
  return kept;
}

/**
 * Delete one sharing copy and record it; false (with a warning) when that failed — the copy is
 * then left for the next run or case close. Never throws: retiring must not fail an item.
 */
async function retireSharingCopy(
  c: PipelineContext,
  eid: string,
  id: string,
  fc: SnapshotInfo | undefined,
): Promise<boolean> {
  try {
    await retrying(
      `delete the sharing copy ${id}`,
      async () => {
        try {
          await c.source.ec2.deleteSnapshot({ SnapshotId: id });
        } catch (e) {
          if (!isAwsCode(e, 'InvalidSnapshot.NotFound')) throw e;
        }
      },
      c.run.budgets.apiMs,
      c.run.clock,
      { snapshotId: id },
    );
    await c.run.record(
      acquireKeys.retireSharingCopy(eid, id),
      'evidence.share.retire',
      [snapRef(c, c.sourceAccount, c.source.region, id)],
      {
        status: 'succeeded',
        details: {
          evidenceId: eid,
          sharingSnapshotId: id,
          forensicSnapshotId: fc?.SnapshotId ?? null,
          forensicCopyState: fc?.State ?? 'none',
          reason:
            fc?.State === 'completed'
              ? 'the forensic copy is complete'
              : 'no forensic copy reads from it; a rerun makes a new one',
        },
      },
    );
    return true;
  } catch (e) {
    if (isInterrupted(e) || isWaitHandedOff(e)) throw e;
    c.run.warn(
      `could not retire the sharing copy ${id} of ${eid} in account ${c.sourceAccount}: ${asError(e).message}; run acquire again (or case close) to retire it.`,
    );
    return false;
  }
}

/**
 * Sharing copies the record names that no longer exist and whose retirement is not recorded: a
 * run was killed between DeleteSnapshot and its event. Record what is true now.
 */
async function recordRetiredElsewhere(c: PipelineContext, existing: ReadonlySet<string>): Promise<void> {
  for (const { fields } of eventsOfFamily(c.run.custody.events(), 'acquire.sharing-copy')) {
    const eid = fields['evidenceId']!;
    const snap = fields['snapshotId']!;
    if (existing.has(snap) || c.run.custody.find(acquireKeys.retireSharingCopy(eid, snap))) continue;
    await c.run.record(
      acquireKeys.retireSharingCopy(eid, snap),
      'evidence.share.retire',
      [snapRef(c, c.sourceAccount, c.source.region, snap)],
      {
        status: 'succeeded',
        details: {
          evidenceId: eid,
          sharingSnapshotId: snap,
          foundDeleted: true,
          reason: 'no longer exists (deleted by an interrupted run)',
        },
      },
    );
  }
}

/**
 * Start hashing the source snapshot in the source account (not awaited: it runs while the copies
 * are made), unless not asked or the item's hash is already recorded. Caught here so that a
 * failure surfaces where it is awaited, not as an unhandled rejection.
 */
function startSourceHash(
  c: PipelineContext,
  sv: SourceVolume,
  snapshotId: string,
  stop: AbortSignal,
): Promise<SourceHashResult> | undefined {
  if (!c.sourceHash || alreadyHashed(c, sv.evidenceId)) return undefined;
  const p = hashSource(c.run, c.source, snapshotId, {
    item: sv.evidenceId,
    what: 'source snapshot',
    sizeGiB: sv.sizeGiB,
    signal: c.signal ? AbortSignal.any([c.signal, stop]) : stop,
    ...(c.hasher ? { hasher: c.hasher } : {}),
  });
  p.catch(() => undefined);
  return p;
}

/** Whether an earlier run recorded this item's acquisition hash (of any forensic snapshot of it). */
function alreadyHashed(c: PipelineContext, eid: string): boolean {
  return eventsOfFamily(c.run.custody.events(), 'acquire.hash').some(({ fields }) => fields['evidenceId'] === eid);
}

/** The source snapshot of an item an earlier run took past the copy: from the record, or the discovery. */
function knownSourceSnapshot(c: PipelineContext, sv: SourceVolume): string | undefined {
  return (
    foldEvidence(c.run.custody.events()).get(sv.evidenceId)?.sourceSnapshotId ??
    c.discovery.sourceSnapshots.get(sv.volumeId)?.SnapshotId
  );
}

/**
 * The acquisition hash: the forensic snapshot (the evidence of record) hashed through the forensic
 * account's EBS direct APIs, compared with the source snapshot's hash; one `evidence.hash` event
 * per item and forensic snapshot. A rerun after a crash during the hash hashes again and records
 * once. Source and forensic content differing is recorded and reported (the workflow ends exit 3),
 * not thrown here: the item is preserved either way.
 */
async function hashItem(
  c: PipelineContext,
  sv: SourceVolume,
  forensicSnapshotId: string,
  sourceSnapshotId: string | undefined,
  sourceHash: Promise<SourceHashResult> | undefined,
  d: Deferred,
  stop: AbortSignal,
): Promise<void> {
  const eid = sv.evidenceId;
  const key = acquireKeys.hash(eid, forensicSnapshotId);
  if (c.run.done(key)) return;
  const forensic = await hashWithinBudget(c.run, c.run.forensic, forensicSnapshotId, {
    item: eid,
    what: 'forensic snapshot',
    sizeGiB: sv.sizeGiB,
    signal: c.signal ? AbortSignal.any([c.signal, stop]) : stop,
    ...(c.hasher ? { hasher: c.hasher } : {}),
  });
  const outcome = sourceHashOutcome(
    forensic,
    c.sourceHash
      ? sourceHash
        ? await sourceHash
        : { unavailable: 'the source snapshot is no longer known' }
      : undefined,
    sourceSnapshotId,
  );
  if (outcome.status === 'unavailable')
    c.run.warn(`source hash of ${eid} unavailable: ${outcome.reason ?? 'unknown reason'}`);
  if (outcome.status === 'different')
    c.run.warn(
      `${eid}: the forensic snapshot ${forensicSnapshotId} (sha256 ${forensic.sha256}) DIFFERS from the source snapshot ${outcome.snapshotId} (sha256 ${outcome.sha256}): the copy is not bit-identical.`,
    );
  d.add(
    c.run.recordEvidence(
      key,
      'evidence.hash',
      [
        snapRef(c, c.forensicAccount, c.run.forensic.region, forensicSnapshotId),
        ...(sourceSnapshotId ? [snapRef(c, c.sourceAccount, c.source.region, sourceSnapshotId)] : []),
      ],
      { evidenceId: eid, ...hashFields(forensic), sourceHash: outcome },
      { snapshotId: forensicSnapshotId, result: outcome.status },
    ),
  );
}
