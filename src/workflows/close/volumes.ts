/**
 * Working volumes at close: detach (wait `available`), prove the volume was not written to
 * (snapshot it, compare with the evidence snapshot it was made from), then delete it — or keep it,
 * tagged, when the proof says it was written to or could not be made, unless the custodian
 * accepted that (`--accept-written`, `--accept-unverified`).
 */
import type { ResourceRef, RecordedEvent } from '../../domain/recorder.js';
import { isAwsCode } from '../../aws/errors.js';
import { CleanroomError } from '../../domain/errors.js';
import { caseTags } from '../../domain/case-id.js';
import { TAG_EVIDENCE, TAG_ROLE, TAG_CHECK_OF, TAG_WRITTEN, ROLE } from '../../domain/tags.js';
import { waitFor, type PollResult } from '../../domain/waiter.js';
import { compareSnapshots, type CompareResult } from '../../evidence/volume-compare.js';
import { detachAndWait } from '../../evidence/detach.js';
import { detachKeyIn } from '../../evidence/volume.js';
import type { EvidenceFold, WorkingVolume } from './discover.js';
import { describeSnapshots } from '../../resources/snapshots.js';
import { describeVolumes } from '../../resources/volumes.js';
import type { CloseRun } from './run.js';
import { idempotencyKeys } from '../../domain/idempotency-keys.js';
import { resourceRef } from '../../resources/refs.js';

/** The written-to check as recorded. */
export interface WrittenCheck extends CompareResult {
  evidenceId: string;
  volumeId: string;
  evidenceSnapshotId?: string;
  checkSnapshotId?: string;
}

export interface VolumeOutcome {
  volumeId: string;
  evidenceId: string;
  check?: WrittenCheck;
  deleted: boolean;
  /** Why the volume was kept (when not deleted). */
  keptBecause?: 'written' | 'unverified' | 'failed';
}

export const keys = { check: idempotencyKeys.close.writtenCheck, delete: idempotencyKeys.close.deleteVolume };

/** Detach, check and delete (or keep) one working volume. */
export async function closeVolume(
  run: CloseRun,
  vol: WorkingVolume,
  fold: EvidenceFold | undefined,
): Promise<VolumeOutcome> {
  const { evidenceId: eid, volumeId: vid } = vol;
  const account = await run.account.accountId();
  const volRef = resourceRef('ec2:volume', vid, account, run.account.region);
  const out: VolumeOutcome = { volumeId: vid, evidenceId: eid, deleted: false };

  // 1. Detach.
  // The detach is recorded under the evidence detach key of the current attach cycle (as `evidence
  // detach` and `room down` record theirs), so attach/detach cycles stay counted right.
  const { key: detachKey, recordSaysAttached } = detachKeyIn(run.custody.events(), eid, vid);
  if (vol.attachments.length) {
    const ok = await run.guard(detachKey, 'case.close.detach', vid, [volRef], async () => {
      await detachAndWait(run.account, vid, vol.attachments, {
        item: eid,
        budgetMs: run.settings.budgets.detachMs,
        ...(run.clock ? { clock: run.clock } : {}),
        reporter: run.reporter,
      });
      await run.record(
        detachKey,
        'case.close.detach',
        [volRef, ...vol.attachments.map((a) => resourceRef('ec2:instance', a.instanceId, account, run.account.region))],
        {
          status: 'succeeded',
          details: {
            evidenceId: eid,
            volumeId: vid,
            instances: vol.attachments.map((a) => a.instanceId),
            evidence: { evidenceId: eid, state: 'detached' },
          },
        },
      );
      return true;
    });
    if (!ok) return { ...out, keptBecause: 'failed' };
  } else if (recordSaysAttached) {
    // The record says attached, AWS says not (an interrupted detach, or one made outside cleanroom): record what is true now.
    await run.record(detachKey, 'case.close.detach', [volRef], {
      status: 'succeeded',
      details: {
        evidenceId: eid,
        volumeId: vid,
        foundDetached: true,
        state: vol.state,
        evidence: { evidenceId: eid, state: 'detached' },
      },
    });
  }

  // 2. The written-to check (its result is a fact: recorded whatever it says, reused on a rerun).
  const checkKey = keys.check(eid, vid);
  let check = checkFromEvent(run.custody.find(checkKey));
  if (!check) {
    check = await run.guard(checkKey, 'case.close.written-check', vid, [volRef], () =>
      writtenCheck(run, vol, fold, volRef),
    );
    if (!check) return { ...out, keptBecause: 'failed' };
  }
  out.check = check;

  // 3. Delete, or keep.
  let accepted: 'written' | 'unverified' | undefined;
  if (check.identical === false) {
    if (!run.settings.acceptWritten) {
      run.outstanding.push(
        `Working volume ${vid} (${eid}) WAS WRITTEN TO: ${check.changedBlocks ?? 'some'} block(s) differ from evidence snapshot ${check.evidenceSnapshotId} (${check.method}). It is kept, tagged ${TAG_WRITTEN}=true, with snapshot ${check.checkSnapshotId} of its current content; examine it, then run close again with --accept-written to delete it.`,
      );
      return { ...out, keptBecause: 'written' };
    }
    accepted = 'written';
  } else if (check.identical !== true) {
    if (!run.settings.acceptUnverified) {
      run.outstanding.push(
        `The written-to check of working volume ${vid} (${eid}) could not run (${check.reason}). The volume is kept; run close again with --accept-unverified to delete it without that proof (snapshot ${check.checkSnapshotId} of its content is kept either way).`,
      );
      return { ...out, keptBecause: 'unverified' };
    }
    accepted = 'unverified';
  }
  const deleted = await deleteWorkingVolume(run, eid, vid, volRef, check, accepted);
  return deleted ? { ...out, deleted: true } : { ...out, keptBecause: 'failed' };
}

/**
 * A working volume the record names that no longer exists: if its check passed (or was accepted)
 * close deleted it and was interrupted before recording that; otherwise it went some other way,
 * which the record says.
 */
export async function closeGoneVolume(run: CloseRun, eid: string, vid: string): Promise<VolumeOutcome> {
  const delKey = keys.delete(eid, vid);
  const check = checkFromEvent(run.custody.find(keys.check(eid, vid)));
  const out: VolumeOutcome = { volumeId: vid, evidenceId: eid, deleted: true, ...(check ? { check } : {}) };
  if (run.custody.find(delKey)) return out;
  const account = await run.account.accountId();
  const volRef = resourceRef('ec2:volume', vid, account, run.account.region);
  const deletedByClose =
    check &&
    (check.identical === true ||
      (check.identical === false ? run.settings.acceptWritten : run.settings.acceptUnverified));
  if (deletedByClose) {
    await run.record(delKey, 'case.close.delete-volume', [volRef], {
      status: 'succeeded',
      details: { evidenceId: eid, volumeId: vid, foundAlreadyDeleted: true, writtenCheck: summary(check) },
    });
  } else {
    run.warn(
      `Working volume ${vid} (${eid}) no longer exists and close did not delete it: it was deleted outside cleanroom, so no written-to check was possible. The evidence snapshot is unaffected.`,
    );
    await run.record(delKey, 'case.close.delete-volume', [volRef], {
      status: 'skipped',
      details: {
        evidenceId: eid,
        volumeId: vid,
        reason: 'volume no longer exists; deleted outside close, so no written-to check was possible',
      },
    });
  }
  return out;
}

async function writtenCheck(
  run: CloseRun,
  vol: WorkingVolume,
  fold: EvidenceFold | undefined,
  volRef: ResourceRef,
): Promise<WrittenCheck> {
  const { evidenceId: eid, volumeId: vid } = vol;
  const account = await run.account.accountId();
  const evidenceSnapshotId = vol.snapshotId ?? fold?.forensicSnapshotId;
  const checkSnapshotId = await checkSnapshot(run, vol, evidenceSnapshotId);
  const result = await compareWithEvidence(run, vol, evidenceSnapshotId, checkSnapshotId);
  const check: WrittenCheck & { checkSnapshotId: string } = {
    ...result,
    evidenceId: eid,
    volumeId: vid,
    ...(evidenceSnapshotId ? { evidenceSnapshotId } : {}),
    checkSnapshotId,
  };
  await reportCheck(run, check, account, volRef);
  return check;
}

/** The completed check snapshot of a working volume: the one an interrupted run made, or a new one. */
async function checkSnapshot(
  run: CloseRun,
  vol: WorkingVolume,
  evidenceSnapshotId: string | undefined,
): Promise<string> {
  const { evidenceId: eid, volumeId: vid } = vol;
  // Find the check snapshot an interrupted run made before making another (CreateSnapshot takes
  // no client token).
  run.reporter.progress({ kind: 'item', item: eid, phase: 'written-to check', message: `snapshot of ${vid}` });
  const existing = (
    await describeSnapshots(run.account, [
      { Name: 'volume-id', Values: [vid] },
      { Name: `tag:${TAG_ROLE}`, Values: [ROLE.writtenCheck] },
    ])
  ).filter((s) => s.State !== 'error');
  let checkSnapshotId = existing.sort((a, b) => (b.StartTime?.getTime?.() ?? 0) - (a.StartTime?.getTime?.() ?? 0))[0]
    ?.SnapshotId;
  if (!checkSnapshotId) {
    const s = await run.account.ec2.createSnapshot({
      VolumeId: vid,
      Description: `cleanroom ${run.caseId}: written-to check of working volume ${vid} (${eid})${evidenceSnapshotId ? ` against ${evidenceSnapshotId}` : ''}`,
      TagSpecifications: [
        {
          ResourceType: 'snapshot',
          Tags: caseTags(run.caseId, {
            [TAG_EVIDENCE]: eid,
            [TAG_ROLE]: ROLE.writtenCheck,
            ...(evidenceSnapshotId ? { [TAG_CHECK_OF]: evidenceSnapshotId } : {}),
          }),
        },
      ],
    });
    checkSnapshotId = s.SnapshotId!;
  }
  await waitFor(() => pollSnapshot(run, checkSnapshotId!), {
    description: `written-to check snapshot ${checkSnapshotId} of ${vid} to complete`,
    budgetMs: run.settings.budgets.snapshotMs,
    clock: run.clock,
    details: { snapshotId: checkSnapshotId, volumeId: vid },
    onPending: (_d, percent) =>
      run.reporter.progress({
        kind: 'item',
        item: eid,
        phase: 'check snapshot',
        ...(percent !== undefined ? { percent } : {}),
      }),
  });

  return checkSnapshotId;
}

/** Compare the check snapshot with the evidence snapshot (unavailable when that is not known). */
async function compareWithEvidence(
  run: CloseRun,
  vol: WorkingVolume,
  evidenceSnapshotId: string | undefined,
  checkSnapshotId: string,
): Promise<CompareResult> {
  const { evidenceId: eid, volumeId: vid } = vol;
  let result: CompareResult;
  if (!evidenceSnapshotId) {
    result = {
      method: 'unavailable',
      reason: `the evidence snapshot volume ${vid} was made from is not known (the volume has no SnapshotId and the record names none)`,
    };
  } else {
    run.reporter.progress({
      kind: 'item',
      item: eid,
      phase: 'comparing',
      message: `${evidenceSnapshotId} vs ${checkSnapshotId}`,
    });
    result = await compareSnapshots(run.account, evidenceSnapshotId, checkSnapshotId, {
      concurrency: run.settings.compareConcurrency,
      onProgress: (done, total) =>
        run.reporter.progress({ kind: 'item', item: eid, phase: 'hashing blocks', percent: (100 * done) / total }),
    });
  }
  return result;
}

/** Tag and warn when the volume was written to (or the check could not run), and record the check. */
async function reportCheck(
  run: CloseRun,
  check: WrittenCheck & { checkSnapshotId: string },
  account: string,
  volRef: ResourceRef,
): Promise<void> {
  const { evidenceId: eid, volumeId: vid, evidenceSnapshotId, checkSnapshotId } = check;
  if (check.identical === false) {
    await run.account.ec2.createTags({
      Resources: [vid, checkSnapshotId],
      Tags: [{ Key: TAG_WRITTEN, Value: 'true' }],
    });
    run.warn(
      `WORKING VOLUME ${vid} (${eid}) WAS WRITTEN TO while in the room: ${check.changedBlocks} block(s) differ from evidence snapshot ${evidenceSnapshotId} (first: ${check.changedBlockIndexes?.slice(0, 8).join(', ')}; ${check.method}). The evidence snapshot itself is unchanged. The volume is kept and tagged ${TAG_WRITTEN}=true.`,
    );
  } else if (check.identical !== true) {
    run.warn(
      `The written-to check of working volume ${vid} (${eid}) could not run: ${check.reason}. Recorded as unavailable — NOT as identical.`,
    );
  }
  const snapRefs: ResourceRef[] = [
    ...(evidenceSnapshotId ? [resourceRef('ec2:snapshot', evidenceSnapshotId, account, run.account.region)] : []),
    resourceRef('ec2:snapshot', checkSnapshotId, account, run.account.region),
  ];
  await run.record(keys.check(eid, vid), 'case.close.written-check', [volRef, ...snapRefs], {
    status: check.identical === true ? 'succeeded' : check.identical === false ? 'failed' : 'skipped',
    details: { ...check } as Record<string, unknown>,
    ...(check.identical === false
      ? {
          error: {
            code: 'VOLUME_WRITTEN',
            message: `${check.changedBlocks} block(s) of ${vid} differ from ${evidenceSnapshotId}`,
          },
        }
      : {}),
  });
}

async function deleteWorkingVolume(
  run: CloseRun,
  eid: string,
  vid: string,
  volRef: ResourceRef,
  check: WrittenCheck,
  accepted: 'written' | 'unverified' | undefined,
): Promise<boolean> {
  const key = keys.delete(eid, vid);
  const r = await run.guard(key, 'case.close.delete-volume', vid, [volRef], async () => {
    run.reporter.progress({ kind: 'item', item: eid, phase: 'deleting', message: vid });
    try {
      await run.account.ec2.deleteVolume({ VolumeId: vid });
    } catch (e) {
      if (!isAwsCode(e, 'InvalidVolume.NotFound')) throw e;
    }
    await waitFor(() => pollGone(run, vid), {
      description: `volume ${vid} (${eid}) to be deleted`,
      budgetMs: run.settings.budgets.deleteVolumeMs,
      clock: run.clock,
      details: { volumeId: vid },
    });
    await run.record(
      key,
      'case.close.delete-volume',
      [volRef],
      {
        status: 'succeeded',
        details: {
          evidenceId: eid,
          volumeId: vid,
          writtenCheck: summary(check),
          evidence: { evidenceId: eid, state: 'volume-deleted' },
        },
      },
      accepted ? { accepted } : undefined,
    );
    return true;
  });
  return r === true;
}

function summary(c: WrittenCheck): Record<string, unknown> {
  return {
    method: c.method,
    identical: c.identical ?? null,
    ...(c.changedBlocks !== undefined ? { changedBlocks: c.changedBlocks } : {}),
  };
}

function checkFromEvent(e: RecordedEvent | undefined): WrittenCheck | undefined {
  const d = e?.outcome.details;
  if (!d || typeof d['method'] !== 'string') return undefined;
  return d as unknown as WrittenCheck;
}

/** The wait for a deleted volume to be gone. */
async function pollGone(run: CloseRun, vid: string): Promise<PollResult<true>> {
  const [v] = await describeVolumes(run.account, [{ Name: 'volume-id', Values: [vid] }]);
  return !v || v.State === 'deleted'
    ? { state: 'done', value: true }
    : { state: 'pending', detail: v.State ?? 'unknown' };
}

async function pollSnapshot(run: CloseRun, snapshotId: string): Promise<PollResult<true>> {
  const [s] = await describeSnapshots(run.account, [{ Name: 'snapshot-id', Values: [snapshotId] }]);
  if (!s) return { state: 'pending', detail: 'not visible yet' };
  if (s.State === 'completed') return { state: 'done', value: true };
  if (s.State === 'error') {
    return {
      state: 'failed',
      error: new CleanroomError(
        'SNAPSHOT_ERROR',
        `Written-to check snapshot ${snapshotId} ended in state error${s.StateMessage ? `: ${s.StateMessage}` : ''}; run close again to take a new one.`,
        { details: { snapshotId } },
      ),
    };
  }
  const pct = Number.parseFloat(String(s.Progress ?? '').replace('%', ''));
  return {
    state: 'pending',
    detail: `${s.State}${s.Progress ? ` ${s.Progress}` : ''}`,
    ...(Number.isFinite(pct) ? { percent: pct } : {}),
  };
}
