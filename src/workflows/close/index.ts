/**
 * `case close`: tear the room down, keep the evidence and seal the record.
 *
 * 1. Refuse to start (exit 3, nothing changed, nothing appended) when the custody record does not
 *    verify or the vault fails its audit: closing must not bury a problem.
 * 2. Detach each working volume (wait `available`); 3. prove it was not written to (a snapshot of
 *    it compared with the evidence snapshot it was made from, see `evidence/volume-compare.ts`) and delete
 *    it — or keep it, tagged, when the proof says otherwise or could not be made.
 * 4. Tag the evidence snapshots retained and, when asked, lock them (EBS snapshot lock).
 * 5. Delete the room stack, wait DELETE_COMPLETE; name what will not delete.
 * 6. Schedule the deletion of the case's temporary KMS keys — never the case key.
 * 7. Record the closing event, re-sign the manifest, verify the record again.
 *
 * Every step is a custody event under an idempotency key and first checks AWS and the record for
 * its own earlier result, so an interrupted close finishes on the next run without repeating
 * anything; a closed case (closing event present) is reported as closed with no new events.
 */
import { createHash } from 'node:crypto';
import type { AwsAccount } from '../../aws/ports.js';
import type { CustodyRecorder, RecordedEvent } from '../../domain/recorder.js';
import { CleanroomError, PartialFailureError, UsageError, VerificationFailedError } from '../../domain/errors.js';
import { assertCaseId, roomStackName } from '../../domain/case-id.js';
import { casePrefix } from '../../domain/vault-name.js';
import { silentReporter, type Reporter } from '../../domain/reporter.js';
import { systemClock, type Clock } from '../../domain/waiter.js';
import { withCustodySession, type SealState } from '../../custody/session.js';
import { abortableClock, throwIfAborted } from '../../domain/abort.js';
import { requireApproval, type Approve } from '../../domain/approval.js';
import { caseKeyAlias } from '../../resources/case-key.js';
import { discoverCase, type CaseState } from './discover.js';
import { CloseRun, DEFAULT_BUDGETS, type CloseBudgets, type CloseSettings, type StepFailure } from './run.js';
import type { VolumeOutcome, WrittenCheck } from './volumes.js';
import type { LockOutcome } from './snapshots.js';
import { closeVolumes, findCaseKeys, keepEvidenceSnapshots, nameUnreachable, retireLeftovers } from './steps.js';
import { deleteRoomStack, type StackOutcome } from './stack.js';
import type { KeyOutcome, TemporaryKey, UnreachableKey } from './keys.js';
import type { SharingCopyOutcome, UnreachableItem } from './sharing.js';
import { idempotencyKeys } from '../../domain/idempotency-keys.js';
import { resourceRef } from '../../resources/refs.js';

export { DEFAULT_BUDGETS, type CloseBudgets } from './run.js';
export type { WrittenCheck } from './volumes.js';
export type { SharingCopyOutcome, UnreachableItem } from './sharing.js';

/** The idempotency key of the closing event: its presence means the case is closed. */
export const CLOSE_KEY = idempotencyKeys.close.closed();
export const VERIFY_KEY = idempotencyKeys.close.verify();

/** What `custody verify` found (the subset close reads). */
export interface CustodyVerification {
  ok: boolean;
  findings: ReadonlyArray<{ code: string; seq?: number | null; message: string }>;
  head?: unknown;
  events?: number;
}

/** What the vault audit found (the subset close reads). */
export interface VaultAudit {
  ok: boolean;
  checks: ReadonlyArray<{ id: string; ok: boolean; detail: string }>;
}

export interface CloseDeps {
  /** The forensic account (room, working volumes, evidence snapshots, case key, vault). */
  account: AwsAccount;
  /** The source account of the evidence, when reachable: its temporary sharing keys are scheduled too. */
  sourceAccounts?: AwsAccount[];
  custody: CustodyRecorder & { sealManifest(): Promise<unknown>; readonly bucket?: string };
  /** `custody verify` of this case (re-reads the stored record). */
  verifyCustody(): Promise<CustodyVerification>;
  /** The vault audit (`vault verify`). */
  auditVault(): Promise<VaultAudit>;
  /** Approve the deletions (the request's plan is the {@link ClosePlan}); without it close refuses (CONFIRMATION_REQUIRED) before changing anything. */
  approve?: Approve;
  reporter?: Reporter;
  clock?: Clock;
}

export interface CloseOptions {
  caseId: string;
  acceptWritten?: boolean;
  acceptUnverified?: boolean;
  snapshotLockDays?: number;
  snapshotLockMode?: 'compliance' | 'governance';
  keyDeletionWindowDays?: number;
  budgets?: Partial<CloseBudgets>;
  compareConcurrency?: number;
  volumeConcurrency?: number;
  /** Stops the run at the next step boundary (INTERRUPTED); what was recorded is sealed. */
  signal?: AbortSignal;
}

/** What close will do, for the confirmation. */
export interface ClosePlan {
  case: string;
  region: string;
  delete: {
    stack?: { stackName: string; status: string };
    volumes: Array<{ volumeId: string; evidenceId: string; attachedTo: string[] }>;
    keys: Array<{ arn: string; aliases: string[]; role?: string }>;
  };
  keep: {
    evidenceSnapshots: Array<{ snapshotId: string; evidenceId: string }>;
    vault?: string;
    caseKey?: { alias: string; arn: string };
  };
  snapshotLockDays?: number;
}

export interface KeptItem {
  kind: 'snapshot' | 'volume' | 'vault' | 'kms-key' | 'stack-resource';
  id: string;
  where: string;
  why: string;
}

export interface CloseResult {
  case: string;
  /** The case was closed before this run: nothing was done. */
  alreadyClosed: boolean;
  /** The room stack is gone (deleted now, or already). */
  roomDeleted: boolean;
  /** Working volume ids deleted (now or by an earlier, interrupted close). */
  volumesDeleted: string[];
  /** Evidence snapshot ids tagged retained. */
  evidenceRetained: string[];
  /** The record's head after the close, as `custody verify` reports it. */
  head: unknown;
  /** True when something is left to do (named in `outstanding`); no closing event was written. */
  incomplete: boolean;
  outstanding: string[];
  kept: KeptItem[];
  writtenChecks: WrittenCheck[];
  locks: LockOutcome[];
  keys: KeyOutcome[];
  /** Temporary keys in accounts close could not reach (name them for the responder). */
  unreachableKeys: UnreachableKey[];
  /** Sharing copies acquisition left in a source account, and what close did with them. */
  sharingCopies: SharingCopyOutcome[];
  /** What the record names in accounts close could not reach and does not show finished (the close is incomplete). */
  unreachable: UnreachableItem[];
  stack?: StackOutcome;
  failures: StepFailure[];
  warnings: string[];
  /** Whether the custody manifest seals the record after this run (and why not). */
  seal: SealState;
}

/** Check the options (exit 2 on bad values) before any AWS call. */
export function checkCloseOptions(o: CloseOptions): void {
  settingsFrom(o);
}

function settingsFrom(o: CloseOptions): CloseSettings {
  for (const [name, v] of Object.entries(o.budgets ?? {})) {
    if (v !== undefined && (!Number.isFinite(v) || v < 0))
      throw new UsageError(
        'INVALID_BUDGET',
        `The time budget ${name} must be a number ≥ 0 (--wait-minutes), got ${v}.`,
      );
  }
  const days = o.keyDeletionWindowDays ?? 30;
  if (!Number.isInteger(days) || days < 7 || days > 30) {
    throw new UsageError(
      'INVALID_KEY_WINDOW',
      `--key-deletion-window-days must be a whole number from 7 to 30 (KMS ScheduleKeyDeletion), got ${days}.`,
    );
  }
  if (
    o.snapshotLockDays !== undefined &&
    (!Number.isInteger(o.snapshotLockDays) || o.snapshotLockDays < 1 || o.snapshotLockDays > 36500)
  ) {
    throw new UsageError(
      'INVALID_LOCK_DAYS',
      `--snapshot-lock-days must be a whole number from 1 to 36500 (EBS snapshot lock), got ${o.snapshotLockDays}.`,
    );
  }
  return {
    caseId: assertCaseId(o.caseId),
    acceptWritten: o.acceptWritten ?? false,
    acceptUnverified: o.acceptUnverified ?? false,
    ...(o.snapshotLockDays !== undefined ? { snapshotLockDays: o.snapshotLockDays } : {}),
    snapshotLockMode: o.snapshotLockMode ?? 'governance',
    keyDeletionWindowDays: days,
    budgets: { ...DEFAULT_BUDGETS, ...o.budgets },
    compareConcurrency: o.compareConcurrency ?? 16,
    volumeConcurrency: o.volumeConcurrency ?? 4,
  };
}

/**
 * Close a case; see the module comment. A close that leaves something to do throws
 * {@link PartialFailureError} with the close's result as `result`. The record is sealed on the way
 * out, also after a failure or a stop.
 */
export async function closeCase(deps: CloseDeps, options: CloseOptions): Promise<CloseResult> {
  return withCustodySession(deps.custody, options.signal, () =>
    closeCaseSteps({ ...deps, clock: abortableClock(deps.clock ?? systemClock, options.signal) }, options),
  );
}

async function closeCaseSteps(deps: CloseDeps, options: CloseOptions): Promise<Omit<CloseResult, 'seal'>> {
  const settings = settingsFrom(options);
  const caseId = settings.caseId;
  const reporter = deps.reporter ?? silentReporter;
  const { account, custody } = deps;

  // A closed case: say so, append nothing.
  const closing = custody.find(CLOSE_KEY);
  if (closing) {
    const v = await verifySealed(deps, caseId, reporter);
    if (!v.ok) throw recordFailsVerify(caseId, v, 'The case is closed, but its record');
    return alreadyClosedResult(caseId, closing, v, deps);
  }

  const events = custody.events();
  const state = await discoverCase(account, caseId, events);
  if (events.length === 0 && !state.stack && state.volumes.length === 0 && state.evidenceSnapshots.length === 0) {
    throw new UsageError(
      'UNKNOWN_CASE',
      `There is no case ${caseId} to close: no custody record under ${deps.custody.bucket ? `s3://${deps.custody.bucket}/` : ''}${casePrefix(caseId)} and no room stack ${roomStackName(caseId)} or evidence in ${account.region}. Check the case id, --region and --bucket.`,
      { details: { caseId, region: account.region } },
    );
  }

  // 1. Refuse before changing anything.
  const { v, vault } = await refuseUnlessClean(deps, caseId, reporter);

  const run = new CloseRun(settings, account, custody, reporter, deps.clock);
  const sources = (deps.sourceAccounts ?? []).filter((a) => a !== account);
  const found = await findCaseKeys(run, account, sources, caseId, events, state.caseKey);
  const plan = buildPlan(
    caseId,
    account.region,
    state,
    [...found.forensicKeys, ...found.sourceKeys.flatMap((s) => s.keys)],
    deps.custody.bucket,
    settings,
  );
  if (!state.stack) run.step(`the room of ${caseId} is already gone; closing what is left`);
  if (plan.delete.stack || plan.delete.volumes.length || plan.delete.keys.length)
    await requireApproval(deps.approve, { action: 'case.close', caseId, question: closePlanText(plan), plan });
  throwIfAborted(options.signal, 'closing');

  await run.record(VERIFY_KEY, 'case.close.verify', [resourceRef('s3:prefix', casePrefix(caseId))], {
    status: 'succeeded',
    details: { events: v.events ?? events.length, head: (v.head ?? null) as unknown, vaultChecks: vault.checks.length },
  });
  // 2–3. Working volumes: detach, written-to check, delete or keep.
  const volumes = await closeVolumes(run, state);
  // 4. Evidence snapshots: retained, and locked when asked.
  const { retained, locks } = await keepEvidenceSnapshots(run, state, volumes);
  // 5. The room stack.
  const stack = await deleteRoomStack(run, state.stack);
  // 6. What acquisition left in the source accounts, the temporary keys, what close cannot reach.
  const { sharingCopies, keys } = await retireLeftovers(run, account, sources, found, state.evidenceSnapshots);
  const { unreachableKeys, unreachable } = await nameUnreachable(run, account, sources, events);

  // 7. The closing event (only when nothing is left), the seal, the verification.
  const result = await finishClose(deps, run, state, {
    volumes,
    retained,
    locks,
    stack,
    sharingCopies,
    keys,
    unreachableKeys,
    unreachable,
  });
  if (result.incomplete) throw incompleteClose(result);
  return result;
}

/** What the steps of a close came to. */
interface StepOutcomes {
  volumes: VolumeOutcome[];
  retained: string[];
  locks: LockOutcome[];
  stack: StackOutcome;
  sharingCopies: SharingCopyOutcome[];
  keys: KeyOutcome[];
  unreachableKeys: UnreachableKey[];
  unreachable: UnreachableItem[];
}

/** Step 7: the closing event (or, when something is left, the incomplete one), the seal, the verification, the result. */
async function finishClose(
  deps: CloseDeps,
  run: CloseRun,
  state: CaseState,
  o: StepOutcomes,
): Promise<Omit<CloseResult, 'seal'>> {
  const caseId = run.caseId;
  const evidenceIds = state.evidenceSnapshots.map((s) => s.snapshotId);
  const evidenceRetained = o.retained.filter((id) => evidenceIds.includes(id));
  const volumesDeleted = o.volumes.filter((x) => x.deleted).map((x) => x.volumeId);
  const kept = keptItems(caseId, deps.account, state, o.volumes, o.locks, deps.custody.bucket);
  const incomplete = run.outstanding.length > 0 || !o.stack.deleted;
  const summary = {
    roomDeleted: o.stack.deleted,
    volumesDeleted,
    evidenceRetained,
    kept: kept.map((k) => ({ kind: k.kind, id: k.id })),
    writtenChecks: o.volumes
      .filter((x) => x.check)
      .map((x) => ({
        volumeId: x.volumeId,
        evidenceId: x.evidenceId,
        method: x.check!.method,
        identical: x.check!.identical ?? null,
      })),
    keysScheduled: o.keys.filter((k) => k.status !== 'failed').map((k) => k.arn),
  };
  const caseRef = resourceRef('s3:prefix', casePrefix(caseId));
  if (incomplete) {
    // One event per distinct set of things left to do, so rerunning into the same state adds nothing.
    const digest = createHash('sha256').update(JSON.stringify(run.outstanding)).digest('hex').slice(0, 16);
    await run.record(idempotencyKeys.close.incomplete(digest), 'case.close.incomplete', [caseRef], {
      status: 'partial',
      details: { ...summary, incomplete: true, outstanding: run.outstanding },
    });
  } else {
    await run.record(CLOSE_KEY, 'case.close', [caseRef], {
      status: 'succeeded',
      details: { ...summary, incomplete: false },
    });
  }
  await deps.custody.sealManifest();
  const after = await deps.verifyCustody();
  if (!after.ok) throw recordFailsVerify(caseId, after, 'After the close, the custody record');
  return {
    case: caseId,
    alreadyClosed: false,
    roomDeleted: o.stack.deleted,
    volumesDeleted,
    evidenceRetained,
    head: after.head ?? null,
    incomplete,
    outstanding: [
      ...run.outstanding,
      ...(!o.stack.deleted && !run.outstanding.length ? [`room stack ${o.stack.stackName} was not deleted`] : []),
    ],
    kept,
    writtenChecks: o.volumes.flatMap((x) => (x.check ? [x.check] : [])),
    locks: o.locks,
    keys: o.keys,
    unreachableKeys: o.unreachableKeys,
    sharingCopies: o.sharingCopies,
    unreachable: o.unreachable,
    stack: o.stack,
    failures: run.failures,
    warnings: run.warnings,
  };
}

/**
 * A close that left something to do is a partial success, reported the one way every workflow
 * reports one: a {@link PartialFailureError} (exit 1) whose `result` is the close's result (what
 * was done, what is kept, and `outstanding`: what is left). The record is sealed and verified.
 */
function incompleteClose(r: Omit<CloseResult, 'seal'>): PartialFailureError<Omit<CloseResult, 'seal'>> {
  return new PartialFailureError(
    `Case ${r.case} is not closed: ${r.outstanding.length} thing(s) left to do (${r.outstanding.join(' ')}). What was done is recorded; run close again to finish.`,
    r.failures.map((f) => ({ item: f.item, error: new CleanroomError(f.code, f.message) })),
    { case: r.case, outstanding: r.outstanding },
    r,
  );
}

/** Step 1: the record verifies (re-sealed if only its seal is behind) and the vault passes its audit — or close refuses (exit 3). */
async function refuseUnlessClean(
  deps: CloseDeps,
  caseId: string,
  reporter: Reporter,
): Promise<{ v: CustodyVerification; vault: VaultAudit }> {
  reporter.progress({ kind: 'step', message: `verifying the custody record of ${caseId} and the vault` });
  const v = await verifySealed(deps, caseId, reporter);
  if (!v.ok) throw recordFailsVerify(caseId, v, 'The custody record');
  const vault = await deps.auditVault();
  if (!vault.ok) {
    const failed = vault.checks.filter((c) => !c.ok);
    throw new VerificationFailedError(
      'VAULT_AUDIT_FAILED',
      `The evidence vault fails its audit (${failed.map((c) => `${c.id}: ${c.detail}`).join('; ')}), so close refuses to start: closing must not bury a problem. Nothing was changed and nothing was appended to the record. Fix the vault (see \`cleanroom vault verify\`), then close again.`,
      { caseId, failedChecks: failed.map((c) => c.id) },
    );
  }
  return { v, vault };
}

/** Findings that only mean a writer died before re-signing the manifest over its last events. */
const UNSEALED = new Set(['MANIFEST_STALE', 'MANIFEST_MISSING']);

/**
 * `custody verify`; when the only findings say the manifest does not seal the newest events (a
 * writer — an interrupted close among them — was killed between its last append and the seal),
 * re-sign the manifest (what `custody seal` does; the recorder refuses a chain that does not check)
 * and verify again. Any other finding stands.
 */
async function verifySealed(deps: CloseDeps, caseId: string, reporter: Reporter): Promise<CustodyVerification> {
  const v = await deps.verifyCustody();
  if (v.ok || v.findings.length === 0 || !v.findings.every((f) => UNSEALED.has(f.code))) return v;
  reporter.progress({
    kind: 'step',
    message: `the manifest of ${caseId} does not seal its newest events (a writer was interrupted): re-signing it, then verifying again`,
  });
  await deps.custody.sealManifest();
  return deps.verifyCustody();
}

function recordFailsVerify(caseId: string, v: CustodyVerification, subject: string): VerificationFailedError {
  const first = v.findings
    .slice(0, 5)
    .map((f) => `${f.code}${f.seq !== undefined && f.seq !== null ? ` at seq ${f.seq}` : ''}: ${f.message}`);
  return new VerificationFailedError(
    'CUSTODY_INVALID',
    `${subject} of case ${caseId} does not verify (${v.findings.length} finding(s): ${first.join('; ')}${v.findings.length > 5 ? '; …' : ''}). close refuses to go on: closing must not bury a problem, and nothing is appended to a record that fails verification. Nothing was changed. Investigate with \`cleanroom custody verify --case ${caseId}\`.`,
    { caseId, findings: v.findings.map((f) => f.code) },
  );
}

function alreadyClosedResult(
  caseId: string,
  closing: RecordedEvent,
  v: CustodyVerification,
  deps: CloseDeps,
): Omit<CloseResult, 'seal'> {
  const d = closing.outcome.details ?? {};
  const arr = (x: unknown) => (Array.isArray(x) ? x.filter((y): y is string => typeof y === 'string') : []);
  return {
    case: caseId,
    alreadyClosed: true,
    roomDeleted: d['roomDeleted'] === true,
    volumesDeleted: arr(d['volumesDeleted']),
    evidenceRetained: arr(d['evidenceRetained']),
    head: v.head ?? null,
    incomplete: false,
    outstanding: [],
    kept: Array.isArray(d['kept'])
      ? (d['kept'] as Array<{ kind: KeptItem['kind']; id: string }>).map((k) => ({
          ...k,
          where: deps.account.region,
          why: `kept at close (seq ${closing.seq}, ${closing.time})`,
        }))
      : [],
    writtenChecks: [],
    locks: [],
    keys: [],
    unreachableKeys: [],
    sharingCopies: [],
    unreachable: [],
    failures: [],
    warnings: [],
  };
}

function buildPlan(
  caseId: string,
  region: string,
  state: CaseState,
  keys: TemporaryKey[],
  bucket: string | undefined,
  s: CloseSettings,
): ClosePlan {
  return {
    case: caseId,
    region,
    delete: {
      ...(state.stack ? { stack: { stackName: state.stack.stackName, status: state.stack.status } } : {}),
      volumes: state.volumes.map((v) => ({
        volumeId: v.volumeId,
        evidenceId: v.evidenceId,
        attachedTo: v.attachments.map((a) => a.instanceId),
      })),
      keys: keys
        .filter((k) => k.state !== 'PendingDeletion')
        .map((k) => ({ arn: k.arn, aliases: k.aliases, ...(k.role ? { role: k.role } : {}) })),
    },
    keep: {
      evidenceSnapshots: state.evidenceSnapshots.map((x) => ({ snapshotId: x.snapshotId, evidenceId: x.evidenceId })),
      ...(bucket ? { vault: `s3://${bucket}/${casePrefix(caseId)}` } : {}),
      ...(state.caseKey ? { caseKey: { alias: caseKeyAlias(caseId), arn: state.caseKey.arn } } : {}),
    },
    ...(s.snapshotLockDays ? { snapshotLockDays: s.snapshotLockDays } : {}),
  };
}

/** The confirmation text: what will be deleted and what kept. */
export function closePlanText(p: ClosePlan): string {
  const lines = [`Close case ${p.case} in ${p.region}.`, 'This will DELETE:'];
  if (p.delete.stack)
    lines.push(
      `  - the room stack ${p.delete.stack.stackName} (${p.delete.stack.status}) and everything in it: the forensic instance, its network, endpoints and flow-log group`,
    );
  for (const v of p.delete.volumes)
    lines.push(
      `  - working volume ${v.volumeId} (${v.evidenceId})${v.attachedTo.length ? `, detached from ${v.attachedTo.join(', ')} first` : ''} — only if the written-to check proves it unchanged`,
    );
  for (const k of p.delete.keys)
    lines.push(
      `  - temporary KMS key ${k.arn}${k.aliases.length ? ` (${k.aliases.join(', ')})` : ''}: scheduled for deletion`,
    );
  if (lines.length === 2) lines.push('  (nothing)');
  lines.push('and KEEP:');
  for (const s of p.keep.evidenceSnapshots)
    lines.push(
      `  - evidence snapshot ${s.snapshotId} (${s.evidenceId}), tagged retained${p.snapshotLockDays ? `, locked for ${p.snapshotLockDays} days` : ''}`,
    );
  if (p.keep.vault) lines.push(`  - the custody record and vault objects in ${p.keep.vault}`);
  if (p.keep.caseKey)
    lines.push(`  - the case key ${p.keep.caseKey.alias} (${p.keep.caseKey.arn}), which encrypts the evidence`);
  return lines.join('\n');
}

function keptItems(
  caseId: string,
  account: AwsAccount,
  state: CaseState,
  volumes: VolumeOutcome[],
  locks: LockOutcome[],
  bucket: string | undefined,
): KeptItem[] {
  const where = account.region;
  const out: KeptItem[] = [];
  for (const s of state.evidenceSnapshots) {
    const lock = locks.find((l) => l.snapshotId === s.snapshotId);
    out.push({
      kind: 'snapshot',
      id: s.snapshotId,
      where,
      why: `evidence ${s.evidenceId}${lock && (lock.status === 'locked' || lock.status === 'already-locked') ? `, locked${lock.lockExpiresOn ? ` until ${lock.lockExpiresOn}` : ''}` : ''}`,
    });
  }
  for (const s of state.otherSnapshots)
    out.push({
      kind: 'snapshot',
      id: s.snapshotId,
      where,
      why: `${s.role ?? 'snapshot'} of ${s.evidenceId} (not touched by close)`,
    });
  const checkIds = new Set([
    ...state.checkSnapshots.map((s) => s.snapshotId),
    ...volumes.flatMap((v) => (v.check?.checkSnapshotId ? [v.check.checkSnapshotId] : [])),
  ]);
  for (const id of checkIds)
    out.push({ kind: 'snapshot', id, where, why: 'written-to check snapshot (the comparison can be run again)' });
  for (const v of volumes) {
    if (v.deleted) continue;
    const why =
      v.keptBecause === 'written'
        ? 'WRITTEN TO while in the room (tagged cleanroom:written=true)'
        : v.keptBecause === 'unverified'
          ? 'the written-to check could not run'
          : 'a step failed (see failures)';
    out.push({ kind: 'volume', id: v.volumeId, where, why: `working volume of ${v.evidenceId}: ${why}` });
  }
  if (bucket)
    out.push({
      kind: 'vault',
      id: `s3://${bucket}/${casePrefix(caseId)}`,
      where: 'S3 Object Lock',
      why: 'the custody record and manifest',
    });
  if (state.caseKey)
    out.push({
      kind: 'kms-key',
      id: state.caseKey.arn,
      where,
      why: `the case key ${caseKeyAlias(caseId)}, which encrypts the evidence (never deleted by close)`,
    });
  return out;
}
