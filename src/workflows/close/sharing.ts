/**
 * What a cross-account acquisition leaves in the SOURCE account that close must finish: the
 * temporary sharing copies (snapshots re-encrypted under the sharing key, tagged
 * `cleanroom:role=sharing-copy`). Acquisition deletes them once the forensic copy is complete, but
 * an interrupted or failed run leaves them "for the next run or case close". Close deletes those
 * whose forensic copy is not still reading from them, recorded under acquisition's own
 * idempotency key (`acquire:sharing-copy-retire:<eid>:<snap>`), so a later acquire and a rerun of
 * close both see them retired. The source snapshots themselves are evidence and stay.
 *
 * Where the source account is not reachable (no --source-profile/--source-role-arn for it), what
 * the record names there and does not show retired — sharing copies and temporary keys — is named,
 * and the close is incomplete.
 */
import type { AwsAccount } from '../../aws/ports.js';
import type { RecordedEvent, ResourceRef } from '../../domain/recorder.js';
import { resourceRef } from '../../resources/refs.js';
import { isAwsCode } from '../../aws/errors.js';
import { TAG_CASE, TAG_EVIDENCE, TAG_ROLE, tagMap, ROLE } from '../../domain/tags.js';
import { eventsOfFamily, idempotencyKeys } from '../../domain/idempotency-keys.js';
import type { CaseSnapshot } from './discover.js';
import { describeSnapshots } from '../../resources/snapshots.js';
import type { CloseRun } from './run.js';

export interface SharingCopyOutcome {
  snapshotId: string;
  evidenceId: string;
  account: string;
  region: string;
  status: 'deleted' | 'already-gone' | 'kept' | 'failed';
  reason?: string;
}

/** Something close should have finished in an account it could not reach. */
export interface UnreachableItem {
  what: string;
  account?: string;
  region?: string;
  why: string;
}

/** Sharing copies the record names (`acquire:sharing-copy:<eid>:<snap>`), with where they are. */
export function recordedSharingCopies(
  events: readonly RecordedEvent[],
): Array<{ evidenceId: string; snapshotId: string; account?: string; region?: string; retired: boolean }> {
  const out = new Map<
    string,
    { evidenceId: string; snapshotId: string; account?: string; region?: string; retired: boolean }
  >();
  const keys = new Set(events.map((e) => e.idempotencyKey ?? ''));
  for (const { event: e, fields } of eventsOfFamily(events, 'acquire.sharing-copy')) {
    const evidenceId = fields['evidenceId']!;
    const snapshotId = fields['snapshotId']!;
    const ref = e.resources.find((r) => r.type === 'ec2:snapshot' && r.id === snapshotId);
    out.set(snapshotId, {
      evidenceId,
      snapshotId,
      ...(ref?.account ? { account: ref.account } : {}),
      ...(ref?.region ? { region: ref.region } : {}),
      retired: keys.has(idempotencyKeys.acquire.retireSharingCopy(evidenceId, snapshotId)),
    });
  }
  return [...out.values()];
}

/** Delete the case's sharing copies left in one source account (and record the ones found gone). */
export async function retireSharingCopies(
  run: CloseRun,
  source: AwsAccount,
  evidenceSnapshots: readonly CaseSnapshot[],
  forensicSnapshotState: (evidenceId: string) => string | undefined,
): Promise<SharingCopyOutcome[]> {
  const accountId = await source.accountId();
  const region = source.region;
  const ref = (id: string): ResourceRef => resourceRef('ec2:snapshot', id, accountId, region);
  const live = await describeSnapshots(source, [
    { Name: `tag:${TAG_CASE}`, Values: [run.caseId] },
    { Name: `tag:${TAG_ROLE}`, Values: [ROLE.sharingCopy] },
  ]);
  const out: SharingCopyOutcome[] = [];
  const liveIds = new Set(live.map((s) => s.SnapshotId!));
  // Recorded here, gone, retirement not recorded: a run was killed between DeleteSnapshot and its event.
  for (const r of recordedSharingCopies(run.custody.events())) {
    if (
      r.retired ||
      liveIds.has(r.snapshotId) ||
      (r.account && r.account !== accountId) ||
      (r.region && r.region !== region)
    )
      continue;
    await run.record(
      idempotencyKeys.acquire.retireSharingCopy(r.evidenceId, r.snapshotId),
      'evidence.share.retire',
      [ref(r.snapshotId)],
      {
        status: 'succeeded',
        details: {
          evidenceId: r.evidenceId,
          sharingSnapshotId: r.snapshotId,
          foundDeleted: true,
          reason: 'no longer exists (deleted by an interrupted run)',
          by: 'case close',
        },
      },
    );
    out.push({
      snapshotId: r.snapshotId,
      evidenceId: r.evidenceId,
      account: accountId,
      region,
      status: 'already-gone',
    });
  }
  for (const s of live) {
    const id = s.SnapshotId!;
    const eid = tagMap(s.Tags)[TAG_EVIDENCE] ?? 'unknown';
    const fcState = forensicSnapshotState(eid);
    if (fcState === 'pending') {
      const reason = `the forensic copy of ${eid} is still being made from it; run close again when it is complete`;
      run.outstanding.push(`Sharing copy ${id} (${eid}) in account ${accountId} (${region}) is kept: ${reason}.`);
      out.push({ snapshotId: id, evidenceId: eid, account: accountId, region, status: 'kept', reason });
      continue;
    }
    const key = idempotencyKeys.acquire.retireSharingCopy(eid, id);
    const ok = await run.guard(key, 'evidence.share.retire', id, [ref(id)], async () => {
      run.reporter.progress({
        kind: 'item',
        item: eid,
        phase: 'retiring sharing copy',
        message: `${id} in account ${accountId}`,
      });
      try {
        await source.ec2.deleteSnapshot({ SnapshotId: id });
      } catch (e) {
        if (!isAwsCode(e, 'InvalidSnapshot.NotFound')) throw e;
      }
      await run.record(key, 'evidence.share.retire', [ref(id)], {
        status: 'succeeded',
        details: {
          evidenceId: eid,
          sharingSnapshotId: id,
          forensicSnapshotId: evidenceSnapshots.find((x) => x.evidenceId === eid)?.snapshotId ?? null,
          forensicCopyState: fcState ?? 'none',
          reason: fcState === 'completed' ? 'the forensic copy is complete' : 'no forensic copy reads from it',
          by: 'case close',
        },
      });
      return true;
    });
    out.push({ snapshotId: id, evidenceId: eid, account: accountId, region, status: ok ? 'deleted' : 'failed' });
  }
  return out;
}
