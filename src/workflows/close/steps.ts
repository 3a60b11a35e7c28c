/**
 * The named steps of `case close` (workflows/close/index.ts runs them in order). Each takes only what it
 * uses — the step recorder, the accounts' narrow ports — so each can be tested on its own.
 */
import type { AwsAccount } from '../../aws/ports.js';
import type { RecordedEvent } from '../../domain/recorder.js';
import type { StepRecorder } from '../../domain/step-recorder.js';
import { mapPool } from '../../domain/pool.js';
import type { CaseKey } from '../../resources/case-key.js';
import type { CaseSnapshot, CaseState } from './discover.js';
import {
  findTemporaryKeys,
  recordedKeys,
  retiredInRecord,
  scheduleKeyDeletions,
  type KeyOutcome,
  type KeyReader,
  type TemporaryKey,
  type UnreachableKey,
} from './keys.js';
import type { CloseRun } from './run.js';
import {
  recordedSharingCopies,
  retireSharingCopies,
  type SharingCopyOutcome,
  type UnreachableItem,
} from './sharing.js';
import { lockSnapshots, retainSnapshots, type LockOutcome } from './snapshots.js';
import { closeGoneVolume, closeVolume, type VolumeOutcome } from './volumes.js';
import { ROLE } from '../../domain/tags.js';

/** Where an account is: its id and region. */
export type AccountPlace = Pick<AwsAccount, 'accountId' | 'region'>;

/** The temporary keys of the case in the forensic account and in each source account (read-only). */
export async function findCaseKeys<A extends KeyReader>(
  run: Pick<StepRecorder, 'warn'>,
  forensic: KeyReader,
  sources: readonly A[],
  caseId: string,
  events: readonly RecordedEvent[],
  caseKey: CaseKey | undefined,
): Promise<{ forensicKeys: TemporaryKey[]; sourceKeys: Array<{ account: A; keys: TemporaryKey[] }> }> {
  const forensicKeys = await findTemporaryKeys(forensic, caseId, events, caseKey, (m) => run.warn(m));
  const sourceKeys: Array<{ account: A; keys: TemporaryKey[] }> = [];
  for (const s of sources)
    sourceKeys.push({ account: s, keys: await findTemporaryKeys(s, caseId, events, undefined, (m) => run.warn(m)) });
  return { forensicKeys, sourceKeys };
}

/** Steps 2–3: each working volume detached, checked and deleted (or kept); a failed one is outstanding. */
export async function closeVolumes(
  run: CloseRun,
  state: Pick<CaseState, 'volumes' | 'goneVolumes' | 'evidence'>,
): Promise<VolumeOutcome[]> {
  run.step(`working volumes: ${state.volumes.length} to detach, check and delete`);
  const settled = await mapPool(state.volumes, run.settings.volumeConcurrency, (vol) =>
    closeVolume(run, vol, state.evidence.get(vol.evidenceId)),
  );
  const volumes: VolumeOutcome[] = settled.map((s) =>
    s.ok
      ? s.value
      : { volumeId: s.item.volumeId, evidenceId: s.item.evidenceId, deleted: false, keptBecause: 'failed' as const },
  );
  for (const s of settled) if (!s.ok) run.outstanding.push(`working volume ${s.item.volumeId}: ${s.error.message}`);
  for (const g of state.goneVolumes) volumes.push(await closeGoneVolume(run, g.evidenceId, g.volumeId));
  return volumes;
}

/** The snapshots close keeps: the evidence snapshots, and the written-to check snapshots (found or made now). */
export function snapshotsToRetain(
  state: Pick<CaseState, 'evidenceSnapshots' | 'checkSnapshots'>,
  volumes: readonly VolumeOutcome[],
): CaseSnapshot[] {
  const toRetain = [...state.evidenceSnapshots, ...state.checkSnapshots];
  for (const v of volumes) {
    const id = v.check?.checkSnapshotId;
    if (id && !toRetain.some((x) => x.snapshotId === id))
      toRetain.push({
        snapshotId: id,
        evidenceId: v.evidenceId,
        role: ROLE.writtenCheck,
        state: 'completed',
        tags: {},
      });
  }
  return toRetain;
}

/** Step 4: the snapshots retained, and the evidence snapshots locked when asked. */
export async function keepEvidenceSnapshots(
  run: CloseRun,
  state: Pick<CaseState, 'evidenceSnapshots' | 'checkSnapshots'>,
  volumes: readonly VolumeOutcome[],
): Promise<{ retained: string[]; locks: LockOutcome[] }> {
  run.step(`evidence snapshots: ${state.evidenceSnapshots.length} to keep`);
  const retained = await retainSnapshots(run, snapshotsToRetain(state, volumes));
  const { snapshotLockDays: days, snapshotLockMode: mode } = run.settings;
  const locks = days ? await lockSnapshots(run, state.evidenceSnapshots, days, mode) : [];
  return { retained, locks };
}

/**
 * Step 6: what acquisition left — the sharing copies in each source account, then the temporary
 * keys (a source account's sharing key stays while a copy made under it is kept).
 */
export async function retireLeftovers(
  run: CloseRun,
  forensic: AwsAccount,
  sources: readonly AwsAccount[],
  found: { forensicKeys: TemporaryKey[]; sourceKeys: Array<{ account: AwsAccount; keys: TemporaryKey[] }> },
  evidenceSnapshots: readonly CaseSnapshot[],
): Promise<{ sharingCopies: SharingCopyOutcome[]; keys: KeyOutcome[] }> {
  const sharingCopies: SharingCopyOutcome[] = [];
  const keptCopyIn = new Set<AwsAccount>();
  for (const s of sources) {
    run.step(`sharing copies of ${run.caseId} left in account ${await s.accountId()} (${s.region})`);
    const got = await retireSharingCopies(
      run,
      s,
      evidenceSnapshots,
      (eid) => evidenceSnapshots.find((x) => x.evidenceId === eid)?.state,
    );
    if (got.some((c) => c.status === 'kept' || c.status === 'failed')) keptCopyIn.add(s);
    sharingCopies.push(...got);
  }
  run.step('temporary KMS keys of the case (never the case key)');
  const keys = [...(await scheduleKeyDeletions(run, forensic, found.forensicKeys))];
  for (const s of found.sourceKeys) {
    if (keptCopyIn.has(s.account)) {
      for (const k of s.keys.filter((x) => x.state !== 'PendingDeletion'))
        run.outstanding.push(
          `Temporary key ${k.arn} in account ${k.account} is kept while a sharing copy made under it is kept; run close again.`,
        );
      continue;
    }
    keys.push(...(await scheduleKeyDeletions(run, s.account, s.keys)));
  }
  return { sharingCopies, keys };
}

/**
 * What the record names in accounts close could not reach and does not show finished: temporary
 * keys not retired and sharing copies not deleted. Each is warned about and left outstanding.
 */
export async function nameUnreachable(
  run: Pick<StepRecorder, 'warn' | 'outstanding'>,
  forensic: AccountPlace,
  sources: readonly AccountPlace[],
  events: readonly RecordedEvent[],
): Promise<{ unreachableKeys: UnreachableKey[]; unreachable: UnreachableItem[] }> {
  const reachable = new Set<string>(
    await Promise.all([forensic, ...sources].map(async (s) => `${await s.accountId()}/${s.region}`)),
  );
  const reached = (acct?: string, region?: string) =>
    !acct || [...reachable].some((r) => r === `${acct}/${region ?? r.split('/')[1]}`);
  const unreachableKeys: UnreachableKey[] = recordedKeys(events)
    .filter((k) => !reached(k.account, k.region))
    .map((k) => ({ ...k, retiredInRecord: retiredInRecord(events, k.arn) }));
  const unreachable: UnreachableItem[] = [];
  const how = (acct?: string, region?: string) =>
    `close cannot reach account ${acct ?? '?'}${region ? ` (${region})` : ''}: run close again with --source-profile or --source-role-arn${region && region !== forensic.region ? ` and --source-region ${region}` : ''} for it`;
  for (const k of unreachableKeys.filter((u) => !u.retiredInRecord)) {
    unreachable.push({
      what: `temporary KMS key ${k.arn}`,
      ...(k.account ? { account: k.account } : {}),
      ...(k.region ? { region: k.region } : {}),
      why: `the record does not show it retired, and ${how(k.account, k.region)}`,
    });
  }
  for (const c of recordedSharingCopies(events).filter((x) => !x.retired && !reached(x.account, x.region))) {
    unreachable.push({
      what: `sharing copy ${c.snapshotId} (${c.evidenceId})`,
      ...(c.account ? { account: c.account } : {}),
      ...(c.region ? { region: c.region } : {}),
      why: `the record does not show it deleted, and ${how(c.account, c.region)}`,
    });
  }
  for (const u of unreachable) {
    const m = `${u.what} in account ${u.account ?? '?'}: ${u.why}.`;
    run.warn(m);
    run.outstanding.push(m);
  }
  return { unreachableKeys, unreachable };
}
