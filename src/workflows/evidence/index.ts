/**
 * The evidence workflows: `evidence list` (in `list.ts`, exported here), and
 * `evidence attach` / `evidence detach`: put a preserved evidence item in front of the analyst
 * again (a working volume made from its forensic snapshot in the room's AZ, attached, read-only
 * confirmed inside), or take it away. The room must be up and pass its audit before anything is
 * attached. Both are safe to run again: they find what is there, and record only what changes.
 */
import type { AwsAccount } from '../../aws/ports.js';
import type { CustodyRecorder } from '../../domain/recorder.js';
import { assertCaseId } from '../../domain/case-id.js';
import { UsageError } from '../../domain/errors.js';
import { foldEvidence, type EvidencePatch } from '../../domain/evidence.js';
import type { Reporter } from '../../domain/reporter.js';
import type { RoomGate } from '../../domain/room.js';
import { handOffClock, systemClock, type Clock } from '../../domain/waiter.js';
import { withCustodySession, type CustodySession, type SealState } from '../../custody/session.js';
import { abortableClock } from '../../domain/abort.js';
import { checkWaitMode, type WaitMode } from '../../domain/hand-off.js';
import { describeVolumes } from '../../resources/volumes.js';
import { findCaseKey } from '../../resources/case-key.js';
import { retrying } from '../../evidence/create-once.js';
import { confirmAndRecord, type ReadOnlyAnswer } from '../../evidence/readonly.js';
import { verifyAndRecord, type RoomHashAnswer } from '../../evidence/room-hash.js';
import { roomForAttach } from '../../evidence/room.js';
import { EvidenceRun, type EvidenceBudgets } from '../../evidence/run.js';
import { attachWorkingVolume, cycles, ensureWorkingVolume, volumeKeys } from '../../evidence/volume.js';
import { detachAndWait, liveAttachments } from '../../evidence/detach.js';
import type { WatcherOptions } from '../../evidence/watch.js';

export { listEvidence, type EvidenceList, type ListedEvidence } from './list.js';
import { recordedItem } from './recorded.js';
export { checkEvidenceId, recordedItem } from './recorded.js';
export {
  hashEvidence,
  checkEvidenceHashOptions,
  type EvidenceHashDeps,
  type EvidenceHashOptions,
  type EvidenceHashResult,
  type HashCheck,
  type HashCheckResult,
} from './hash.js';
export {
  hashEvidenceStep,
  type HashEvidenceStepDeps,
  type HashEvidenceStepOptions,
  type HashEvidenceStepResult,
  type HashResume,
} from './hash-step.js';

export interface EvidenceDeps {
  forensic: AwsAccount;
  custody: CustodyRecorder;
  room: RoomGate;
  reporter?: Reporter;
  clock?: Clock;
}

export interface EvidenceOptions {
  caseId: string;
  evidenceId: string;
  /** Overrides of the library's wait budgets (see `evidenceBudgets`). */
  budgets?: Partial<EvidenceBudgets>;
  watcher?: WatcherOptions;
  /** Stops the run at the next step boundary (INTERRUPTED); what was recorded is sealed. */
  signal?: AbortSignal;
  /**
   * How waits wait (domain/hand-off.ts): `block` (default, the CLI) sleeps until done; `hand-off`
   * throws WaitHandedOffError (code WAIT_HANDED_OFF: what it waits for, retryAfterSeconds) where it
   * would sleep, after recording and sealing what it did; the same call again resumes.
   */
  waits?: WaitMode;
}

export interface AttachResult {
  case: string;
  evidence: EvidencePatch;
  readOnly: ReadOnlyAnswer;
  /** The disk's SHA-256 read inside the room against the acquisition hash (after the read-only check). */
  roomHash: RoomHashAnswer;
  warnings: string[];
  /** Whether the custody manifest seals the record after this run (and why not). */
  seal: SealState;
}

/** Attach an evidence item (a working volume from its forensic snapshot, read-only confirmed inside); seals the record on the way out. */
export async function attachEvidence(deps: EvidenceDeps, o: EvidenceOptions): Promise<AttachResult> {
  const caseId = assertCaseId(o.caseId);
  return withCustodySession(deps.custody, o.signal, (session) =>
    attachSteps(
      { ...deps, clock: handOffClock(abortableClock(deps.clock ?? systemClock, o.signal), checkWaitMode(o.waits)) },
      o,
      caseId,
      session,
    ),
  );
}

async function attachSteps(
  deps: EvidenceDeps,
  o: EvidenceOptions,
  caseId: string,
  session: CustodySession,
): Promise<Omit<AttachResult, 'seal'>> {
  const item = recordedItem(deps.custody, caseId, o.evidenceId);
  if (!item.forensicSnapshotId) {
    throw new UsageError(
      'NOT_PRESERVED',
      `Evidence ${o.evidenceId} of case ${caseId} is not preserved yet (it is ${item.state ?? 'unknown'}): run the same \`cleanroom acquire\` again to finish it, then attach.`,
      {
        details: { evidenceId: o.evidenceId, state: item.state ?? null },
      },
    );
  }
  const run = new EvidenceRun({
    caseId,
    forensic: deps.forensic,
    custody: deps.custody,
    reporter: deps.reporter,
    clock: deps.clock,
    budgets: o.budgets,
    watcher: o.watcher,
  });
  const target = await roomForAttach(run, deps.room);
  const keyArn = item.kmsKeyArn ?? (await findCaseKey(deps.forensic, caseId))?.arn;
  if (!keyArn)
    throw new UsageError(
      'NO_CASE_KEY',
      `Case ${caseId} has no case key (alias/cleanroom/case/${caseId}) in ${deps.forensic.region}: bring the room up first.`,
      { details: { caseId } },
    );
  session.checkpoint('the working volume');
  const vol = await ensureWorkingVolume(run, item, target, keyArn);
  session.checkpoint('attaching the working volume');
  const att = await attachWorkingVolume(run, item.evidenceId, vol, target);
  session.checkpoint('the read-only check');
  const attached = [{ evidenceId: item.evidenceId, ...att }];
  const ro = await confirmAndRecord(run, target.instance.instanceId, attached);
  session.checkpoint('the in-room hash');
  const hashed = await verifyAndRecord(run, target.instance.instanceId, attached, ro);
  return {
    case: caseId,
    evidence: foldEvidence(deps.custody.events()).get(item.evidenceId)!,
    readOnly: ro.get(item.evidenceId)!,
    roomHash: hashed.get(item.evidenceId)!,
    warnings: run.warnings,
  };
}

export interface DetachResult {
  case: string;
  evidence: EvidencePatch;
  /** False when it was not attached (nothing was changed). */
  detached: boolean;
  warnings: string[];
  /** Whether the custody manifest seals the record after this run (and why not). */
  seal: SealState;
}

/** Detach an evidence item from the forensic instance; seals the record on the way out. */
export async function detachEvidence(deps: Omit<EvidenceDeps, 'room'>, o: EvidenceOptions): Promise<DetachResult> {
  const caseId = assertCaseId(o.caseId);
  return withCustodySession(deps.custody, o.signal, (session) =>
    detachSteps(
      { ...deps, clock: handOffClock(abortableClock(deps.clock ?? systemClock, o.signal), checkWaitMode(o.waits)) },
      o,
      caseId,
      session,
    ),
  );
}

async function detachSteps(
  deps: Omit<EvidenceDeps, 'room'>,
  o: EvidenceOptions,
  caseId: string,
  session: CustodySession,
): Promise<Omit<DetachResult, 'seal'>> {
  const item = recordedItem(deps.custody, caseId, o.evidenceId);
  const eid = item.evidenceId;
  const vid = item.volumeId;
  if (!vid)
    throw new UsageError(
      'NO_WORKING_VOLUME',
      `Evidence ${eid} of case ${caseId} has no working volume, so there is nothing to detach (it is ${item.state ?? 'unknown'}).`,
      { details: { evidenceId: eid } },
    );
  const run = new EvidenceRun({
    caseId,
    forensic: deps.forensic,
    custody: deps.custody,
    reporter: deps.reporter,
    clock: deps.clock,
    budgets: o.budgets,
    watcher: o.watcher,
  });
  const [vol] = await describeVolumes(deps.forensic, [{ Name: 'volume-id', Values: [vid] }]);
  if (!vol) {
    throw new UsageError(
      'WORKING_VOLUME_GONE',
      `The working volume ${vid} of ${eid} no longer exists (deleted by case close, or outside cleanroom); the evidence snapshot ${item.forensicSnapshotId ?? ''} is unaffected. \`cleanroom evidence attach\` makes a new one.`,
      {
        details: { evidenceId: eid, volumeId: vid },
      },
    );
  }
  const accountId = await deps.forensic.accountId();
  const region = deps.forensic.region;
  const live = (vol.Attachments ?? []).filter((a) => a.InstanceId && a.State !== 'detached');
  const { attaches, detaches } = cycles(run, eid, vid);
  if (live.length === 0) {
    // Not attached. If the record still says attached (an interrupted detach), record what is true now.
    if (attaches > detaches) {
      await run.recordEvidence(
        volumeKeys.detach(eid, vid, attaches),
        'evidence.detach',
        [run.ref('ec2:volume', vid, accountId, region)],
        { evidenceId: eid, volumeId: vid, state: 'detached' },
        { foundDetached: true },
      );
    }
    return {
      case: caseId,
      evidence: foldEvidence(deps.custody.events()).get(eid)!,
      detached: false,
      warnings: run.warnings,
    };
  }
  session.checkpoint(`detaching ${vid}`);
  await detachAndWait(deps.forensic, vid, liveAttachments(vol), {
    item: eid,
    budgetMs: run.budgets.volumeMs,
    clock: run.clock,
    reporter: run.reporter,
    send: (what, call) => retrying(what, call, run.budgets.apiMs, run.clock, { volumeId: vid }),
  });
  await run.recordEvidence(
    volumeKeys.detach(eid, vid, Math.max(1, attaches)),
    'evidence.detach',
    [
      run.ref('ec2:volume', vid, accountId, region),
      ...live.map((a) => run.ref('ec2:instance', a.InstanceId!, accountId, region)),
    ],
    { evidenceId: eid, volumeId: vid, state: 'detached' },
    { from: live.map((a) => ({ instanceId: a.InstanceId, device: a.Device ?? null })) },
  );
  return {
    case: caseId,
    evidence: foldEvidence(deps.custody.events()).get(eid)!,
    detached: true,
    warnings: run.warnings,
  };
}

export {
  exportEvidence,
  type ExportDeps,
  type ExportOptions,
  type ExportResult,
  type ExportTarget,
} from './export.js';
