/**
 * Protect the evidence snapshots at close: tag every snapshot the case keeps
 * `cleanroom:retained=true`, and, when asked (`--snapshot-lock-days`), lock the evidence snapshots
 * with EBS snapshot lock (governance or compliance mode) so they cannot be deleted before the
 * lock expires. Where the endpoint does not support the lock, the record says so.
 */
import { AwsError, asError } from '../../domain/errors.js';
import type { CaseSnapshot } from './discover.js';
import { TAG_RETAINED } from '../../domain/tags.js';
import type { CloseRun } from './run.js';
import { idempotencyKeys, markKey } from '../../domain/idempotency-keys.js';
import { resourceRef } from '../../resources/refs.js';

export interface LockOutcome {
  snapshotId: string;
  status: 'locked' | 'already-locked' | 'unsupported' | 'failed';
  lockState?: string;
  lockExpiresOn?: string;
  reason?: string;
}

export const snapshotKeys = { retain: idempotencyKeys.close.retainSnapshot, lock: idempotencyKeys.close.lockSnapshot };

/** Tag each snapshot retained (idempotent); returns the ids that carry the tag. */
export async function retainSnapshots(run: CloseRun, snapshots: readonly CaseSnapshot[]): Promise<string[]> {
  const account = await run.account.accountId();
  const retained: string[] = [];
  for (const s of snapshots) {
    const key = snapshotKeys.retain(s.snapshotId);
    const ref = resourceRef('ec2:snapshot', s.snapshotId, account, run.account.region);
    const tagged = s.tags[TAG_RETAINED] === 'true';
    if (tagged && run.done(key)) {
      retained.push(s.snapshotId);
      continue;
    }
    const ok = await run.guard(key, 'case.close.retain-snapshot', s.snapshotId, [ref], async () => {
      if (!tagged)
        await run.account.ec2.createTags({ Resources: [s.snapshotId], Tags: [{ Key: TAG_RETAINED, Value: 'true' }] });
      await run.record(key, 'case.close.retain-snapshot', [ref], {
        status: 'succeeded',
        details: {
          snapshotId: s.snapshotId,
          evidenceId: s.evidenceId,
          role: s.role ?? 'evidence',
          tag: `${TAG_RETAINED}=true`,
          ...(s.role ? {} : { evidence: { evidenceId: s.evidenceId, state: 'retained' } }),
        },
      });
      return true;
    });
    if (ok) retained.push(s.snapshotId);
  }
  return retained;
}

/** Lock each evidence snapshot for `days` days (skip those already locked at least that long). */
export async function lockSnapshots(
  run: CloseRun,
  snapshots: readonly CaseSnapshot[],
  days: number,
  mode: 'compliance' | 'governance',
): Promise<LockOutcome[]> {
  const account = await run.account.accountId();
  const out: LockOutcome[] = [];
  for (const s of snapshots) {
    const id = s.snapshotId;
    const key = snapshotKeys.lock(id);
    const ref = resourceRef('ec2:snapshot', id, account, run.account.region);
    const prior = run.done(key);
    if (prior) {
      out.push({
        snapshotId: id,
        status: 'already-locked',
        ...(typeof prior.outcome.details?.['lockExpiresOn'] === 'string'
          ? { lockExpiresOn: prior.outcome.details['lockExpiresOn'] as string }
          : {}),
      });
      continue;
    }
    const r = await run.guard(key, 'case.close.lock-snapshot', id, [ref], async (): Promise<LockOutcome> => {
      const wantUntil = run.clock ? run.clock.now() + days * 86_400_000 : Date.now() + days * 86_400_000;
      const current = await describeLock(run, id);
      if (
        current?.LockState &&
        current.LockState !== 'expired' &&
        current.LockExpiresOn &&
        current.LockExpiresOn.getTime() >= wantUntil - 86_400_000
      ) {
        const o: LockOutcome = {
          snapshotId: id,
          status: 'already-locked',
          lockState: current.LockState,
          lockExpiresOn: current.LockExpiresOn.toISOString(),
        };
        await run.record(
          key,
          'case.close.lock-snapshot',
          [ref],
          { status: 'succeeded', details: { ...o, mode } },
          { days, mode },
        );
        return o;
      }
      let res: Awaited<ReturnType<CloseRun['account']['ec2']['lockSnapshot']>>;
      try {
        res = await run.account.ec2.lockSnapshot({ SnapshotId: id, LockMode: mode, LockDuration: days });
      } catch (e) {
        if (!isUnsupported(e)) throw e;
        const reason = asError(e).message.replace(/\s+/g, ' ').trim();
        const o: LockOutcome = { snapshotId: id, status: 'unsupported', reason };
        await run.record(
          markKey(key, 'unsupported'),
          'case.close.lock-snapshot',
          [ref],
          { status: 'failed', error: { code: 'SNAPSHOT_LOCK_UNSUPPORTED', message: reason }, details: { ...o } },
          { days, mode },
        );
        run.outstanding.push(
          `Evidence snapshot ${id} could not be locked: the endpoint does not support EBS snapshot lock (${reason}). It is kept and tagged ${TAG_RETAINED}=true; lock it where supported, or close without --snapshot-lock-days.`,
        );
        run.warn(`EBS snapshot lock is not available for ${id}: ${reason}`);
        return o;
      }
      const o: LockOutcome = {
        snapshotId: id,
        status: 'locked',
        ...(res.LockState ? { lockState: res.LockState } : {}),
        ...(res.LockExpiresOn ? { lockExpiresOn: new Date(res.LockExpiresOn).toISOString() } : {}),
      };
      await run.record(
        key,
        'case.close.lock-snapshot',
        [ref],
        { status: 'succeeded', details: { ...o, mode, days } },
        { days, mode },
      );
      return o;
    });
    out.push(r ?? { snapshotId: id, status: 'failed' });
  }
  return out;
}

async function describeLock(run: CloseRun, snapshotId: string) {
  try {
    const r = await run.account.ec2.describeLockedSnapshots({ SnapshotIds: [snapshotId] });
    return r.Snapshots?.find((s) => s.SnapshotId === snapshotId);
  } catch {
    // No lock information (the feature may be unavailable here): LockSnapshot itself says which.
    return undefined;
  }
}

/**
 * The endpoint does not offer LockSnapshot: an "unknown action" error code, or an answer that is
 * not an EC2 API response at all (`UnreadableResponse`, from the account adapter, after the SDK's
 * retries: an endpoint that lacks the action answers with an error page).
 */
export function isUnsupported(e: unknown): boolean {
  return (
    e instanceof AwsError &&
    [
      'UnsupportedOperation',
      'InvalidAction',
      'NotImplemented',
      'UnknownOperationException',
      'UnreadableResponse',
    ].includes(e.awsCode)
  );
}
